"""One run per config at a time (validate_config/runs.py): claim and release against moto S3 and Step Functions.

moto's Step Functions here runs no interpreter: an execution it starts stays RUNNING until it is stopped, which is
how these tests hold a run "still going".
"""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest

from shared.contract import PollingBudgetExceeded
from shared.run_claims import erasure_record
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.personalize import ACCOUNT, REGION
from training_pipeline.validate_config import handler, runs

KEY = "train/bingewatch/config.json"
UPLOAD = {"etag": "e1", "versionId": "", "lastModified": "2026-12-01T10:00:00+00:00"}
BUDGET = 3600


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        fake.training_environment(POLLING_BUDGET_SECONDS=str(BUDGET))
        sfn = boto3.client("stepfunctions", region_name=REGION)
        fake.machine = sfn.create_state_machine(
            name="training", roleArn=f"arn:aws:iam::{ACCOUNT}:role/w",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
        fake.sfn = sfn
        yield fake


def execution(aws) -> str:
    """A new execution, RUNNING until stopped."""
    return aws.sfn.start_execution(stateMachineArn=aws.machine)["executionArn"]


def claim(arn: str, *, upload: dict = UPLOAD, started: dt.datetime | None = None, waits: int = 0) -> dict:
    started = started or dt.datetime.now(dt.timezone.utc)
    return handler.handler({"action": "claim", "bucket": BUCKET, "key": KEY, "upload": upload, "executionArn": arn,
                            "executionStartTime": started.isoformat(), "waits": waits}, None)


def release(arn: str) -> dict:
    return handler.handler({"action": "release", "bucket": BUCKET, "key": KEY, "executionArn": arn}, None)


def held(aws) -> dict | None:
    try:
        return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=runs.claim_key(KEY))["Body"].read())
    except aws.s3.exceptions.NoSuchKey:
        return None


def test_the_first_run_claims_its_config_and_its_deadline_counts_from_the_claim(aws):
    first = execution(aws)
    before = dt.datetime.now(dt.timezone.utc)
    answer = claim(first, started=before - dt.timedelta(hours=5))
    assert answer["state"] == "claimed"
    deadline = dt.datetime.fromisoformat(answer["deadline"])
    assert before + dt.timedelta(seconds=BUDGET) <= deadline <= before + dt.timedelta(seconds=BUDGET + 60)
    assert held(aws) == {"executionArn": first, "configUri": f"s3://{BUCKET}/{KEY}", "upload": UPLOAD,
                         "claimedAt": held(aws)["claimedAt"]}
    assert runs.claim_key(KEY).startswith("runs/") and runs.claim_key(KEY) != runs.claim_key("train/other/config.json")


def test_a_retried_claim_of_the_holder_keeps_its_first_deadline(aws):
    first = execution(aws)
    deadline = claim(first)["deadline"]
    assert claim(first) == {"state": "claimed", "deadline": deadline, "waits": 0}


def test_a_new_upload_queues_behind_the_running_run_and_a_duplicate_delivery_joins_it(aws):
    first, second, duplicate = execution(aws), execution(aws), execution(aws)
    claim(first)
    newer = {**UPLOAD, "etag": "e2", "lastModified": "2026-12-01T11:00:00+00:00"}
    assert claim(second, upload=newer) == {"state": "queued", "holder": first, "waits": 1}
    assert claim(second, upload=newer, waits=1) == {"state": "queued", "holder": first, "waits": 2}
    assert claim(duplicate) == {"state": "joined", "holder": first, "waits": 0}
    # the same bytes uploaded again (new CSVs beside them) are a new upload: a new time
    assert claim(duplicate, upload={**UPLOAD, "lastModified": "2026-12-01T12:00:00+00:00"})["state"] == "queued"
    assert held(aws)["executionArn"] == first


def test_once_the_holder_ends_however_it_ended_one_waiter_takes_the_claim_over(aws):
    first, second, third = execution(aws), execution(aws), execution(aws)
    claim(first)
    aws.sfn.stop_execution(executionArn=first)  # timed out, aborted or failed outside its Catch: never released
    assert claim(second)["state"] == "claimed"
    assert held(aws)["executionArn"] == second
    assert claim(third, upload={**UPLOAD, "etag": "e3"})["state"] == "queued"


def test_a_claim_naming_an_execution_that_no_longer_exists_is_taken_over(aws):
    first = execution(aws)
    aws.s3.put_object(Bucket=BUCKET, Key=runs.claim_key(KEY), Body=json.dumps({
        "executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:replaced:gone", "upload": UPLOAD,
        "claimedAt": "2026-01-01T00:00:00+00:00"}).encode())
    assert claim(first)["state"] == "claimed"


def test_two_waiters_of_an_ended_run_never_both_win(aws, monkeypatch):
    first, second, third = execution(aws), execution(aws), execution(aws)
    claim(first)
    aws.sfn.stop_execution(executionArn=first)
    real_read = runs._read
    # both read the ended holder's claim before either writes: the second conditional write must lose
    seen = real_read(BUCKET, runs.claim_key(KEY))
    monkeypatch.setattr(runs, "_read", lambda bucket, key: seen)
    answers = [claim(second)["state"], claim(third)["state"]]
    assert sorted(answers) == ["claimed", "queued"]


def test_a_queued_run_fails_once_it_has_waited_its_whole_budget(aws):
    first, second = execution(aws), execution(aws)
    claim(first)
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=BUDGET + 1)
    with pytest.raises(PollingBudgetExceeded, match="another run of this config .* held it for this run's whole"):
        claim(second, upload={**UPLOAD, "etag": "e2"}, started=started)


def test_release_deletes_the_runs_own_claim_only(aws):
    first, second = execution(aws), execution(aws)
    claim(first)
    assert release(second) == {"released": False}
    assert held(aws)["executionArn"] == first
    assert release(first) == {"released": True}
    assert held(aws) is None
    assert release(first) == {"released": False}  # nothing left: a second release is harmless
    assert claim(second)["state"] == "claimed"


def erasure_claim(aws, lease_until: dt.datetime) -> str:
    """The claim of an erasure (user_erasure/personalize) whose Step Functions execution this role may not describe:
    an ARN of a state machine that does not exist here, which DescribeExecution would call ended."""
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:erasure:request-1"
    now = dt.datetime.now(dt.timezone.utc)
    aws.s3.put_object(Bucket=BUCKET, Key=runs.claim_key(KEY), Body=json.dumps(
        erasure_record(arn, "ab" * 32, now, lease_until)).encode())
    return arn


def test_a_run_queues_behind_an_erasure_until_its_lease_lapses_without_asking_step_functions(aws):
    first = execution(aws)
    erasure = erasure_claim(aws, dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    assert claim(first) == {"state": "queued", "holder": erasure, "waits": 1}
    assert release(first) == {"released": False} and held(aws)["executionArn"] == erasure


def test_a_run_takes_over_the_claim_of_an_erasure_whose_lease_lapsed(aws):
    first, second = execution(aws), execution(aws)
    erasure_claim(aws, dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
    assert claim(first)["state"] == "claimed" and held(aws)["executionArn"] == first
    assert claim(second, upload={**UPLOAD, "etag": "e2"})["state"] == "queued"


def test_a_run_queued_behind_an_erasure_fails_once_it_has_waited_its_whole_budget(aws):
    erasure_claim(aws, dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1))
    with pytest.raises(PollingBudgetExceeded):
        claim(execution(aws), started=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=BUDGET + 1))

"""Erasure step 2 (``lambda_src/user_erasure/personalize``) against moto S3 and Step Functions and the in-process
Personalize: the dataset groups of the training configs, the lock shared with the training pipeline's runs, and the
data deletion jobs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from types import SimpleNamespace

import boto3
import pytest

from shared.contract import PollingBudgetExceeded, ResourceFailed, ServiceLimitExceeded
from shared.run_claims import claim_key
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, ROLE_ARN, fake_aws
from tests.fakes.personalize import ACCOUNT, REGION
from training_pipeline.validate_config import runs
from user_erasure.personalize import handler

PREFIX = "train/"
BUDGET = 3600
CONTEXT = SimpleNamespace(invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:erasure-personalize")
REQUEST = "ab" * 32
WORK = {"bucket": BUCKET, "key": f"erasure/_work/{REQUEST}/users.csv"}
USERS = ["u1", "u2", "u3"]
UPLOAD = {"etag": "e1", "versionId": "", "lastModified": "2026-12-01T10:00:00+00:00"}


def erasure_environment(monkeypatch) -> None:
    """The Personalize function's environment as UserErasure synthesizes it (this test's bucket and role in place of
    the references, a shorter lease), and the training pipeline's claim step's (``runs.claim``) budget."""
    function_environment.use(monkeypatch, "user_erasure.personalize", "training_pipeline.validate_config",
                             SOURCE_BUCKET=BUCKET, TRAINING_PREFIX=PREFIX, PERSONALIZE_ROLE_ARN=ROLE_ARN,
                             DELETION_BUDGET_SECONDS=str(BUDGET))


@pytest.fixture
def aws(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    with fake_aws(monkeypatch) as fake:
        erasure_environment(monkeypatch)
        fake.sfn = boto3.client("stepfunctions", region_name=REGION)
        definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        fake.machines = {name: fake.sfn.create_state_machine(name=name, roleArn=f"arn:aws:iam::{ACCOUNT}:role/w",
                                                             definition=definition)["stateMachineArn"]
                         for name in ("training", "erasure")}
        fake.s3.put_object(Bucket=WORK["bucket"], Key=WORK["key"], Body="\n".join(["USER_ID", *USERS, ""]).encode())
        yield fake
        logged = caplog.text + " ".join(str(vars(record)) for record in caplog.records)
        assert not [user for user in USERS if f"{user}" in logged.replace(REQUEST, "")], "a user ID was logged"


def execution(aws, machine: str) -> str:
    """A new execution, RUNNING until stopped."""
    return aws.sfn.start_execution(stateMachineArn=aws.machines[machine])["executionArn"]


def config(aws, key: str, group: str) -> str:
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(
        {"datasetGroup": {"serviceConfig": {"name": group}}, "datasets": {}}).encode())
    return key


def dataset_group(aws, name: str) -> str:
    return aws.personalize.client.create_dataset_group(name=name)["datasetGroupArn"]


def group(aws, *config_keys: str, name: str = "bingewatch") -> dict:
    arn = f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/{name}"
    if arn not in aws.personalize.resources:
        dataset_group(aws, name)
    return {"datasetGroupArn": arn, "name": name, "configKeys": list(config_keys)}


def call(action: str, **event) -> dict:
    return handler.handler({"action": action, **event}, CONTEXT)


def lock(target: dict, arn: str) -> dict:
    return call("lock", group=target, executionArn=arn, requestId=REQUEST)


def train(config_key: str, arn: str) -> dict:
    """The training pipeline's claim step for the config (``runs.claim``)."""
    return runs.claim({"bucket": BUCKET, "key": config_key, "upload": UPLOAD, "executionArn": arn,
                       "executionStartTime": dt.datetime.now(dt.timezone.utc).isoformat(), "waits": 0})


def held(aws, config_key: str) -> dict | None:
    try:
        return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=claim_key(config_key))["Body"].read())
    except aws.s3.exceptions.NoSuchKey:
        return None


# ------------------------------------------------------------------ groups


def test_groups_are_those_the_training_configs_name_that_exist(aws):
    dataset_group(aws, "bingewatch")
    dataset_group(aws, "shop")
    keys = [config(aws, f"{PREFIX}bingewatch/config.json", "bingewatch"),
            config(aws, f"{PREFIX}bingewatch-weekly/config.json", "bingewatch"),
            config(aws, f"{PREFIX}shop/config.json", "shop"), config(aws, f"{PREFIX}gone/config.json", "never-made")]
    aws.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}shop/broken.json", Body=b"{not json")
    aws.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}shop/list.json", Body=b"[1, 2]")
    aws.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}shop/interactions.csv", Body=b"USER_ID,ITEM_ID\n")
    config(aws, "elsewhere/config.json", "shop")
    assert call("groups") == {"groups": [
        {"datasetGroupArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/bingewatch", "name": "bingewatch",
         "configKeys": sorted(keys[:2])},
        {"datasetGroupArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/shop", "name": "shop",
         "configKeys": [keys[2]]}]}


# ------------------------------------------------------------------ the lock


def test_the_lock_waits_behind_a_running_training_run_and_takes_over_a_dead_ones_claim(aws):
    key = f"{PREFIX}bingewatch/config.json"
    training, erasure = execution(aws, "training"), execution(aws, "erasure")
    assert train(key, training)["state"] == "claimed"
    target = group(aws, key)
    assert lock(target, erasure) == {"state": "waiting", "holder": training}
    aws.sfn.stop_execution(executionArn=training)  # ended without releasing its claim
    locked = lock(target, erasure)
    claim = held(aws, key)
    assert locked == {"state": "locked", "until": claim["leaseUntil"]}
    assert claim["kind"] == "erasure" and claim["executionArn"] == erasure and claim["requestId"] == REQUEST
    until = dt.datetime.fromisoformat(claim["leaseUntil"]) - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(seconds=BUDGET - 60) < until <= dt.timedelta(seconds=BUDGET)


def test_the_lock_holds_the_configs_in_order_keeps_them_while_waiting_and_renews_them(aws):
    first, second = f"{PREFIX}a/config.json", f"{PREFIX}b/config.json"
    training, erasure = execution(aws, "training"), execution(aws, "erasure")
    train(second, training)
    target = group(aws, second, first)
    assert lock(target, erasure) == {"state": "waiting", "holder": training}
    taken = held(aws, first)
    assert taken["executionArn"] == erasure
    runs_release = {"bucket": BUCKET, "key": second, "executionArn": training}
    assert runs.release(runs_release) == {"released": True}
    assert lock(target, erasure)["state"] == "locked"
    renewed = held(aws, first)
    assert renewed["claimedAt"] == taken["claimedAt"] and renewed["leaseUntil"] >= taken["leaseUntil"]
    assert held(aws, second)["executionArn"] == erasure


def test_the_lock_waits_for_another_erasures_lease_and_takes_it_over_once_lapsed(aws):
    key = f"{PREFIX}bingewatch/config.json"
    target, other, erasure = group(aws, key), execution(aws, "erasure"), execution(aws, "erasure")
    assert lock(target, other)["state"] == "locked"
    assert lock(target, erasure) == {"state": "waiting", "holder": other}
    lapsed = {**held(aws, key), "leaseUntil": "2026-01-01T00:00:00+00:00"}
    aws.s3.put_object(Bucket=BUCKET, Key=claim_key(key), Body=json.dumps(lapsed).encode())
    assert lock(target, erasure)["state"] == "locked" and held(aws, key)["executionArn"] == erasure


def test_a_training_run_queues_behind_an_erasure_and_takes_over_its_lapsed_lease(aws):
    key = f"{PREFIX}bingewatch/config.json"
    erasure, training = execution(aws, "erasure"), execution(aws, "training")
    lock(group(aws, key), erasure)
    assert train(key, training) == {"state": "queued", "holder": erasure, "waits": 1}
    aws.sfn.stop_execution(executionArn=erasure)  # the lease alone counts: the training side never asks
    assert train(key, training)["state"] == "queued"
    lapsed = {**held(aws, key), "leaseUntil": "2026-01-01T00:00:00+00:00"}
    aws.s3.put_object(Bucket=BUCKET, Key=claim_key(key), Body=json.dumps(lapsed).encode())
    assert train(key, training)["state"] == "claimed" and held(aws, key)["executionArn"] == training


def test_unlock_deletes_the_executions_own_claims_only(aws):
    mine, theirs = f"{PREFIX}a/config.json", f"{PREFIX}b/config.json"
    training, erasure = execution(aws, "training"), execution(aws, "erasure")
    train(theirs, training)
    target = group(aws, mine, theirs)
    lock(target, erasure)
    assert call("unlock", group=target, executionArn=erasure) == {"released": 1}
    assert held(aws, mine) is None and held(aws, theirs)["executionArn"] == training
    assert call("unlock", group=target, executionArn=erasure) == {"released": 0}


# ------------------------------------------------------------------ the job


def test_start_creates_one_job_per_request_and_group_and_status_follows_it_to_completed(aws):
    target = group(aws, f"{PREFIX}bingewatch/config.json")
    started = call("start", group=target, requestId=REQUEST, erased=WORK)
    assert call("start", group=target, requestId=REQUEST, erased=WORK) == started  # a retried task
    name = started["jobArn"].rsplit("/", 1)[1]
    assert started["jobArn"] == f"arn:aws:personalize:{REGION}:{ACCOUNT}:data-deletion-job/{name}"
    assert name.startswith(f"erasure-{REQUEST[:20]}-") and len(name) <= 63
    _, request = aws.personalize.created("CreateDataDeletionJob")[0]
    assert request == {"jobName": name, "datasetGroupArn": target["datasetGroupArn"], "roleArn": ROLE_ARN,
                       "dataSource": {"dataLocation": f"s3://{WORK['bucket']}/{WORK['key']}"}}
    statuses = [call("status", jobArn=started["jobArn"]) for _ in range(5)]
    assert [s["status"] for s in statuses] == ["PENDING", "PENDING", "IN_PROGRESS", "COMPLETED", "COMPLETED"]
    assert statuses[-1]["numDeleted"] == 3 and aws.personalize.deleted_users[target["datasetGroupArn"]] == set(USERS)
    assert call("start", group=target, requestId=REQUEST, erased=WORK, attempt=2)["jobArn"].endswith(f"{name}-2")


def test_a_failed_job_raises_with_the_services_reason(aws):
    target = group(aws, f"{PREFIX}bingewatch/config.json")
    aws.personalize.fail["erasure-"] = "Insufficient permissions on the input bucket"
    arn = call("start", group=target, requestId=REQUEST, erased=WORK)["jobArn"]
    with pytest.raises(ResourceFailed, match="Insufficient permissions on the input bucket"):
        for _ in range(5):
            call("status", jobArn=arn)
    assert aws.personalize.deleted_users[target["datasetGroupArn"]] == set()


def test_a_full_quota_of_jobs_is_retried_by_the_workflow(aws):
    aws.personalize.limit["CreateDataDeletionJob"] = 1
    with pytest.raises(ServiceLimitExceeded):
        call("start", group=group(aws, f"{PREFIX}bingewatch/config.json"), requestId=REQUEST, erased=WORK)


def test_a_job_still_running_when_its_lock_lapses_raises(aws):
    arn = call("start", group=group(aws, f"{PREFIX}bingewatch/config.json"), requestId=REQUEST, erased=WORK)["jobArn"]
    assert call("status", jobArn=arn, deadline="2999-01-01T00:00:00+00:00")["status"] == "PENDING"
    with pytest.raises(PollingBudgetExceeded, match="lock against training lapsed"):
        call("status", jobArn=arn, deadline="2026-01-01T00:00:00+00:00")

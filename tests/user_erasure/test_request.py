"""An erasure request's life (``lambda_src/user_erasure/request``) against moto S3 and Step Functions: accepted once
per set of users, suppressed, recorded, completed or failed, the IDs never in the audit record or a log."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging

import boto3
import pytest

from batch_segment_postprocessor.export.segments import load_suppression
from shared.contract import ErasureRejected
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.personalize import ACCOUNT, REGION
from user_erasure.request import handler, suppression

PREFIX = "erasure/"
LIST_KEY = "erasure/_erased/users.csv"
STARTED = "2026-12-01T10:00:00.000Z"
USERS = ["u3", "u1", "user \"two\"", "u1"]  # one duplicate; one ID CSV-quoted in the work file
UNIQUE = sorted(set(USERS))


def erasure_environment(monkeypatch) -> None:
    """The request function's environment as UserErasure synthesizes it, this test's bucket and list in place of the
    references."""
    function_environment.use(monkeypatch, "user_erasure.request", SOURCE_BUCKET=BUCKET, ERASURE_PREFIX=PREFIX,
                             ERASED_USERS_URI=f"s3://{BUCKET}/{LIST_KEY}")


@pytest.fixture
def aws(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    with fake_aws(monkeypatch) as fake:
        erasure_environment(monkeypatch)
        fake.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        fake.sfn = boto3.client("stepfunctions", region_name=REGION)
        fake.machine = fake.sfn.create_state_machine(
            name="erasure", roleArn=f"arn:aws:iam::{ACCOUNT}:role/w",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
        yield fake
        logged = caplog.text + " ".join(str(vars(record)) for record in caplog.records)  # extra= fields too
        assert not [user for user in UNIQUE + ["u9"] if user in logged], "a user ID was logged"


def execution(aws) -> str:
    """A new execution, RUNNING until stopped."""
    return aws.sfn.start_execution(stateMachineArn=aws.machine)["executionArn"]


def request_file(aws, body: str | bytes, key: str = f"{PREFIX}requests/r1.csv") -> dict:
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body)
    return {"bucket": BUCKET, "key": key}


def accept(source: dict, arn: str, days: int = 30, started: str = STARTED) -> dict:
    """The workflow's Accept step: the request as the trigger gave it, under ``request``."""
    return handler.handler({"action": "accept", "request": source, "executionArn": arn, "startTime": started,
                            "deadlineDays": days}, None)


def versions(aws, key: str) -> list:
    found = aws.s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    return [v for v in found.get("Versions", []) + found.get("DeleteMarkers", []) if v["Key"] == key]


def read(aws, key: str) -> bytes:
    return aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def audit(aws, request_id: str) -> dict:
    return json.loads(read(aws, f"{PREFIX}_audit/{request_id}.json"))


def every_audit_object(aws) -> str:
    """Every version of everything under the audit prefix, as text."""
    found = aws.s3.list_object_versions(Bucket=BUCKET, Prefix=f"{PREFIX}_audit/").get("Versions", [])
    return " ".join(aws.s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"].read().decode()
                    for v in found)


def csv_ids(body: bytes) -> list[str]:
    return [row[0] for row in csv.reader(io.StringIO(body.decode()))]


# ------------------------------------------------------------------ accept


def test_a_request_file_is_accepted_its_work_file_written_and_every_version_of_it_deleted(aws):
    first = execution(aws)
    request_file(aws, "an earlier upload")
    source = request_file(aws, "\ufeffUSER_ID\r\n" + "\r\n".join(USERS) + "\r\n\r\n")
    answer = accept(source, first)
    request_id = hashlib.sha256("\n".join(UNIQUE).encode()).hexdigest()
    work = f"{PREFIX}_work/{request_id}/users.csv"
    assert answer == {"state": "accepted", "requestId": request_id, "users": 3, "attempt": 1,
                      "erased": {"bucket": BUCKET, "key": work}, "deadline": "2026-12-31T10:00:00+00:00",
                      "atRisk": "2026-12-25T10:00:00+00:00"}
    assert csv_ids(read(aws, work)) == ["USER_ID", *UNIQUE]
    assert versions(aws, source["key"]) == []  # both versions, no delete marker left either
    assert audit(aws, request_id) == {
        "requestId": request_id, "users": 3, "source": f"s3://{BUCKET}/{source['key']}",
        "receivedAt": "2026-12-01T10:00:00+00:00", "deadline": "2026-12-31T10:00:00+00:00", "executionArn": first,
        "status": "RUNNING", "steps": {}, "attempts": 1}


def test_the_event_and_a_plain_file_of_the_same_users_are_one_request(aws):
    by_event = accept({"userIds": USERS}, execution(aws))
    by_file = accept(request_file(aws, "\n".join(reversed(USERS))), execution(aws))
    assert by_event["requestId"] == by_file["requestId"]
    assert by_event["state"] == "accepted" and by_file["state"] == "running"
    assert audit(aws, by_event["requestId"])["source"] == "event"
    holder = audit(aws, by_event["requestId"])["executionArn"]
    flat = handler.handler({"action": "accept", "userIds": USERS, "executionArn": holder, "startTime": STARTED,
                            "deadlineDays": 30}, None)
    assert flat == by_event  # the request's fields at the top level: the same


@pytest.mark.parametrize("body, where", [
    ("USER_ID\nu1\n" + "x" * 257 + "\n", "row 3: the user ID is longer than 256 characters"),
    ("u1\nu\x07bell\n", "row 2: the user ID holds a control character"),
    ("USER_ID\nu1\nbell \n", "row 3: the user ID starts or ends with a space"),
    ("USER_ID\nu1\nu2\nu3,u4\n", "row 4: more than one column"),
    ("USER_ID\n\n", "holds no user ID"),
    (b"u1\n\xff\xfeu2\n", "row 2: not UTF-8 text"),
    ("".join(f"u{n}\n" for n in range(100_001)), "row 100001: s3://segmentation-data/erasure/requests/r.csv holds more "
                                                 "than 100,000 user IDs"),
])
def test_a_bad_request_file_is_rejected_with_its_row_and_without_the_id(aws, body, where):
    source = request_file(aws, body, key=f"{PREFIX}requests/r.csv")
    with pytest.raises(ErasureRejected) as rejected:
        accept(source, execution(aws))
    assert where in str(rejected.value)
    assert not any(word in str(rejected.value) for word in ("bell", "xxxx", "u4", "u100000"))
    assert read(aws, source["key"])  # kept: the sender fixes it


@pytest.mark.parametrize("user_ids, where", [
    ("u1", "userIds must be a list"),
    (["u1", 7], "userIds[1] is not a string"),
    (["u1", " "], "userIds[1]: the user ID is empty"),
    (["u1", "u,9"], "userIds[1]: the user ID holds a comma"),
    ([], "the request holds no user ID"),
])
def test_a_bad_request_event_is_rejected_with_its_item_and_without_the_id(aws, user_ids, where):
    with pytest.raises(ErasureRejected) as rejected:
        accept({"userIds": user_ids}, execution(aws))
    assert where in str(rejected.value) and "u,9" not in str(rejected.value)


def test_a_request_completed_before_is_a_duplicate_and_its_new_file_is_deleted(aws):
    first = accept({"userIds": USERS}, execution(aws))
    handler.handler({"action": "complete", "requestId": first["requestId"], "erased": first["erased"]}, None)
    source = request_file(aws, "\n".join(USERS))
    again = accept(source, execution(aws))
    assert again["state"] == "duplicate" and again["requestId"] == first["requestId"]
    assert versions(aws, first["erased"]["key"]) == []  # no work file written again
    assert versions(aws, source["key"]) == []


def test_a_request_another_execution_is_running_is_left_to_it_and_its_new_file_goes(aws):
    holder, second = execution(aws), execution(aws)
    accept({"userIds": USERS}, holder)
    source = request_file(aws, "\n".join(USERS))
    answer = accept(source, second)
    assert answer["state"] == "running" and answer["holder"] == holder
    assert audit(aws, answer["requestId"])["executionArn"] == holder
    assert versions(aws, source["key"]) == []  # the running request's work file holds its IDs


def test_a_new_file_of_a_request_whose_work_file_is_not_written_yet_is_kept(aws):
    holder = execution(aws)
    first = accept({"userIds": USERS}, holder)
    aws.s3.delete_object(Bucket=BUCKET, Key=first["erased"]["key"])  # as if the holder had not written it yet
    source = request_file(aws, "\n".join(USERS))
    assert accept(source, execution(aws))["state"] == "running"
    assert read(aws, source["key"])  # the only copy of the IDs but the holder's memory


def test_a_failed_request_is_taken_over_and_keeps_its_first_deadline(aws):
    first = accept({"userIds": USERS}, execution(aws), days=30)
    handler.handler({"action": "fail", "requestId": first["requestId"], "error": "ResourceFailed",
                     "cause": "the data deletion job failed"}, None)
    retry = execution(aws)
    answer = accept({"userIds": USERS}, retry, days=10)
    assert answer["state"] == "accepted" and answer["attempt"] == 2 and answer["deadline"] == first["deadline"]
    record = audit(aws, first["requestId"])
    assert record["executionArn"] == retry and record["status"] == "RUNNING" and "error" not in record


def test_a_request_of_an_execution_that_ended_without_reporting_is_taken_over(aws):
    gone = execution(aws)
    accept({"userIds": USERS}, gone)
    aws.sfn.stop_execution(executionArn=gone)  # timed out or stopped: it never failed the record
    assert accept({"userIds": USERS}, execution(aws))["state"] == "accepted"


def test_a_retried_accept_after_the_file_was_deleted_answers_as_before(aws):
    arn = execution(aws)
    source = request_file(aws, "\n".join(USERS))
    first = accept(source, arn)
    assert accept(source, arn) == first  # the answer was lost and the task retried
    assert accept(source, execution(aws))["state"] == "running"  # a second delivery of the same S3 event
    handler.handler({"action": "fail", "requestId": first["requestId"], "error": "ErasureFailed", "cause": ""}, None)
    retried = accept(source, execution(aws))  # the failed request run again by hand, from the same event
    assert retried["state"] == "accepted" and retried["attempt"] == 2 and "error" not in audit(aws, first["requestId"])


def test_a_file_of_the_erasures_own_folders_is_no_request(aws):
    with pytest.raises(ErasureRejected, match="erasure's own files"):
        accept({"bucket": BUCKET, "key": f"{PREFIX}_work/x/users.csv"}, execution(aws))


# ------------------------------------------------------------------ suppress


def suppress(answer: dict) -> dict:
    return handler.handler({"action": "suppress", "requestId": answer["requestId"], "erased": answer["erased"]}, None)


def test_suppress_creates_the_list_the_export_reads(aws):
    answer = accept({"userIds": USERS}, execution(aws))
    assert suppress(answer) == {"added": 3, "alreadySuppressed": 0}
    listed = read(aws, LIST_KEY).decode()
    assert all(user in load_suppression(io.StringIO(listed)) for user in UNIQUE)
    assert suppress(answer) == {"added": 0, "alreadySuppressed": 3}  # a retry adds none twice
    assert read(aws, LIST_KEY).decode() == listed


def test_suppress_keeps_the_lists_lines_as_they_are_and_adds_only_the_new_ids(aws):
    existing = b'\xef\xbb\xbfuser_id\r\nold1\r\n"u1"\r\n  u3 ,note\r\nold2'  # no line end at the end
    aws.s3.put_object(Bucket=BUCKET, Key=LIST_KEY, Body=existing)
    answer = accept({"userIds": USERS}, execution(aws))
    assert suppress(answer) == {"added": 1, "alreadySuppressed": 2}
    assert read(aws, LIST_KEY) == existing + b'\n"user ""two"""\n'
    listed = load_suppression(io.StringIO(read(aws, LIST_KEY).decode()))
    assert all(user in listed for user in [*UNIQUE, "old1", "old2"]) and len(listed) == 5


def test_suppress_reads_the_list_again_when_it_changed_meanwhile(aws, monkeypatch):
    aws.s3.put_object(Bucket=BUCKET, Key=LIST_KEY, Body=b"old1\n")
    answer = accept({"userIds": USERS}, execution(aws))
    real = suppression.object_or_none
    stale = real(BUCKET, LIST_KEY)
    aws.s3.put_object(Bucket=BUCKET, Key=LIST_KEY, Body=b"old1\nanother-request\n")  # another request's addition
    reads = iter([stale])
    monkeypatch.setattr(suppression, "object_or_none", lambda bucket, key: next(reads, None) or real(bucket, key))
    assert suppress(answer) == {"added": 3, "alreadySuppressed": 0}
    assert read(aws, LIST_KEY).startswith(b"old1\nanother-request\n")


# ------------------------------------------------------------------ record, complete, fail


def test_steps_are_recorded_as_counts_and_the_audit_record_never_holds_an_id(aws):
    answer = accept(request_file(aws, "\n".join(USERS)), execution(aws))
    request_id = answer["requestId"]
    step = {"action": "record", "requestId": request_id}
    handler.handler({**step, "step": "suppress", "counts": suppress(answer)}, None)
    assert handler.handler({**step, "step": "personalize", "counts": {"numDeleted": 3}}, None) == {"steps": {
        "suppress": {"added": 3, "alreadySuppressed": 0}, "personalize": {"numDeleted": 3}}}
    with pytest.raises(ValueError, match="counts only"):
        handler.handler({**step, "step": "scrub", "counts": {"first": "u1"}}, None)
    done = handler.handler({"action": "complete", "requestId": request_id, "erased": answer["erased"]}, None)
    assert done["status"] == "COMPLETED" and audit(aws, request_id)["completedAt"] == done["completedAt"]
    assert done["steps"] == audit(aws, request_id)["steps"] and set(done["steps"]) == {"suppress", "personalize"}
    assert versions(aws, answer["erased"]["key"]) == []
    text = every_audit_object(aws)
    assert request_id in text and not [user for user in UNIQUE if user in text]


def test_a_failure_is_recorded_with_its_cause_cut_and_the_work_file_kept(aws):
    answer = accept({"userIds": USERS}, execution(aws))
    failed = handler.handler({"action": "fail", "requestId": answer["requestId"], "error": "ResourceFailed",
                              "cause": "job failed: " + "x" * 2000}, None)
    record = audit(aws, answer["requestId"])
    assert failed["status"] == record["status"] == "FAILED" and record["error"] == "ResourceFailed"
    assert len(record["cause"]) == 1000 and read(aws, answer["erased"]["key"])


def test_a_cause_naming_an_erased_user_is_withheld(aws):
    answer = accept({"userIds": ["u9", "u1"]}, execution(aws))
    handler.handler({"action": "fail", "requestId": answer["requestId"], "error": "ImportFailed",
                     "cause": '{"errorMessage": "profile u9 could not be updated"}'}, None)
    record = audit(aws, answer["requestId"])
    assert record["error"] == "ImportFailed" and "cause" not in record and "u9" not in every_audit_object(aws)


def test_a_cause_naming_an_erased_user_where_it_would_be_cut_is_withheld_too(aws):
    answer = accept({"userIds": ["user-at-the-cut", "u1"]}, execution(aws))
    cause = "x" * 990 + " profile user-at-the-cut could not be updated"  # the cut at 1,000 falls inside the ID
    handler.handler({"action": "fail", "requestId": answer["requestId"], "error": "ImportFailed", "cause": cause},
                    None)
    assert "cause" not in audit(aws, answer["requestId"]) and "user-at" not in every_audit_object(aws)


def test_a_request_past_its_at_risk_time_is_told_once(aws):
    now = dt.datetime.now(dt.timezone.utc)
    fresh = accept({"userIds": ["u1"]}, execution(aws), started=now.isoformat())
    assert handler.handler({"action": "risk", "requestId": fresh["requestId"]}, None) == {"notify": False}
    late = accept({"userIds": USERS}, execution(aws), days=10, started=(now - dt.timedelta(days=9)).isoformat())
    risk = {"action": "risk", "requestId": late["requestId"]}
    assert [handler.handler(risk, None) for _ in range(2)] == [{"notify": True}, {"notify": False}]
    assert audit(aws, late["requestId"])["atRiskAt"] >= late["atRisk"]

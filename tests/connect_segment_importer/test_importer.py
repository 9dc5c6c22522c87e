"""Customer Profiles import handler against moto S3, an in-process Customer Profiles checked against
botocore's model, and a local HTTP server standing in for the pre-signed upload location."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from botocore.exceptions import ClientError

from connect_segment_importer.importer import handler as connect_handler
from connect_segment_importer.importer import upload
from shared import aws as lambda_clients
from shared import claims
from shared.contract import ImportFailed, ImportStarting, PollingBudgetExceeded, ServiceThrottled
from tests.fakes import function_environment
from tests.fakes.audience_events import KEY, NAME, Steps
from tests.fakes.customer_profiles import FakeCustomerProfiles
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.workflow import FunctionTimedOut

steps = Steps(connect_handler.handler)
redeliver, poll = steps.deliver, steps.poll


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        function_environment.use(monkeypatch, "connect_segment_importer.importer", AUDIENCE_BUCKET=BUCKET,
                                 DOMAIN_NAME="audiences-domain")
        fake.profiles = FakeCustomerProfiles(lambda_clients.client("customer-profiles"))
        yield fake
        fake.profiles.uploads.close()


def deliver(aws, body: bytes = b"User.UserId\nu1\n\"u,2\"\nu3\n") -> tuple[dict, dict]:
    """The file written, then checked and its import started: (audience, import state)."""
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    return steps.deliver()


def imported(aws, body: bytes = b"User.UserId\nu1\n\"u,2\"\nu3\n") -> dict:
    return poll(*deliver(aws, body))


def test_an_audience_becomes_a_segment_of_exactly_its_users(aws):
    aws.profiles.profiles["u3"] = {"Attributes": {"Email": "kept"}}  # an existing profile is updated, not replaced
    audience, started = deliver(aws)
    assert audience["problem"] is None and started["state"] == "STARTED"
    (request,) = aws.profiles.created()
    assert request["DataExpiry"] == 90 and request["DisplayName"] == NAME and request["UniqueKey"] == "UserId"
    assert request["Fields"]["UserId"] == {"Source": "_source.UserId", "Target": "_profile.AccountNumber",
                                           "ContentType": "STRING"}
    done = poll(audience, started)
    assert done["done"] is True and done["state"] == "IMPORTED" and done["importJobId"] == started["importJobId"]
    assert done["size"] == 3 and done["failedRecords"] == 0
    assert done["segmentArn"].endswith(f":domains/audiences-domain/segment-definitions/{NAME}")
    assert aws.profiles.members(done["segmentId"]) == {"u1", "u,2", "u3"}
    assert aws.profiles.profiles["u3"]["Attributes"]["Email"] == "kept"


def test_the_import_is_claimed_under_the_connect_markers(aws):
    audience, started = deliver(aws)
    assert started["marker"] == f"audiences/genre-job/_imports/connect/{NAME}/{audience['etag']}.json"


def test_the_upload_renames_the_dotted_header_and_marks_every_row_with_the_batch(aws):
    _, started = deliver(aws)
    (uploaded,) = aws.profiles.uploads.files.values()
    batch = started["batch"]
    assert uploaded.decode() == f"UserId,PersonalizeSegmentBatch\nu1,{batch}\n\"u,2\",{batch}\nu3,{batch}\n"


def test_the_same_file_delivered_twice_is_one_import_and_one_segment(aws):
    audience, first = deliver(aws)
    again, second = redeliver()
    assert second["state"] == "STARTED" and second["importJobId"] == first["importJobId"]
    poll(audience, first)
    poll(again, second)  # a racing poll of the same job keeps the definition as it is
    _, third = redeliver()
    assert third["state"] == "ALREADY_IMPORTED"
    assert len(aws.profiles.created()) == 1 and list(aws.profiles.definitions) == [NAME]


def test_a_new_version_of_the_file_replaces_the_segment_with_its_users_only(aws):
    imported(aws, b"User.UserId\nu1\nu2\n")
    second = imported(aws, b"User.UserId\nu2\nu9\n")
    assert second["state"] == "IMPORTED" and second["size"] == 2
    assert aws.profiles.members(NAME) == {"u2", "u9"}
    assert list(aws.profiles.definitions) == [NAME]


def test_a_refused_upload_stops_the_job_and_the_retry_imports_with_a_new_one(aws):
    aws.profiles.uploads.refuse_next = (403, "SignatureDoesNotMatch")
    with pytest.raises(upload.UploadRejected, match="SignatureDoesNotMatch"):
        deliver(aws)
    (job,) = aws.profiles.jobs.values()
    assert job["Status"] == "STOPPED"
    audience, retried = redeliver()
    assert retried["state"] == "STARTED" and poll(audience, retried)["state"] == "IMPORTED"
    assert [j["Status"] for j in aws.profiles.jobs.values()] == ["STOPPED", "SUCCEEDED"]


def test_a_refused_upload_whose_stop_fails_leaves_its_job_to_the_retry_which_resumes_it(aws):
    aws.profiles.uploads.refuse_next = (403, "SignatureDoesNotMatch")
    aws.profiles.unavailable["StopUploadJob"] = 1  # the stop fails: the job stays CREATED
    with pytest.raises(upload.UploadRejected, match="SignatureDoesNotMatch"):
        deliver(aws)
    (job,) = aws.profiles.jobs.values()
    assert job["Status"] == "CREATED"
    audience, retried = redeliver()
    assert retried["importJobId"] == job["JobId"] and poll(audience, retried)["state"] == "IMPORTED"
    assert [j["Status"] for j in aws.profiles.jobs.values()] == ["SUCCEEDED"]  # no job left behind
    assert aws.profiles.members(NAME) == {"u1", "u,2", "u3"}


@pytest.mark.parametrize("dies_at, after", [
    ("get_upload_job_path", False),  # its job created and recorded, nothing uploaded
    ("start_upload_job", False),  # uploaded, not started
    ("start_upload_job", True),  # started, the import not recorded: the job ingests on its own
])
def test_a_start_that_died_after_creating_its_upload_job_is_resumed_and_ingests_the_file_once(aws, monkeypatch,
                                                                                             dies_at, after):
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"User.UserId\nu1\nu2\n")
    audience = steps.check()
    profiles, died = connect_handler.profiles, []

    def times_out_once(operation, **params):
        if operation == dies_at and not died:
            died.append(operation)
            if after:
                profiles(operation, **params)
            raise FunctionTimedOut(operation)  # Lambda stops the invocation: nothing after runs
        return profiles(operation, **params)

    monkeypatch.setattr(connect_handler, "profiles", times_out_once)
    with pytest.raises(FunctionTimedOut):
        steps.start(audience)
    with pytest.raises(ImportStarting):  # it may still be running
        steps.start(audience)
    monkeypatch.setattr(claims, "STALE", dt.timedelta(0))  # as if written 16 minutes ago
    started = steps.start(audience)
    (job,) = aws.profiles.jobs.values()
    assert started["importJobId"] == job["JobId"] and poll(audience, started)["state"] == "IMPORTED"
    assert job["Status"] == "SUCCEEDED" and aws.profiles.members(NAME) == {"u1", "u2"}


@pytest.mark.parametrize("batch, accepted", [(None, True), ("0123456789abcdef", False)])
def test_a_segment_definition_another_poll_created_meanwhile_is_accepted_if_it_is_this_imports(aws, monkeypatch,
                                                                                              batch, accepted):
    """Two polls of one import (a delivery and one that joined it) both find no definition and both create it; the
    second create answers BadRequestException. The definition is this import's (its batch): accepted. Another's (an
    earlier file version racing): the error stands."""
    audience, started = deliver(aws)
    profiles, raced = connect_handler.profiles, []

    def the_other_poll_creates_it_first(operation, **params):
        if operation == "create_segment_definition" and not raced:
            raced.append(True)
            groups = copy.deepcopy(params["SegmentGroups"])
            if batch:
                (attribute,) = groups["Groups"][0]["Dimensions"][0]["ProfileAttributes"]["Attributes"].values()
                attribute["Values"] = [batch]
            profiles(operation, **{**params, "SegmentGroups": groups})
        return profiles(operation, **params)

    monkeypatch.setattr(connect_handler, "profiles", the_other_poll_creates_it_first)
    if accepted:
        done = poll(audience, started)
        assert done["state"] == "IMPORTED" and done["segmentArn"].endswith(f"/segment-definitions/{NAME}")
        assert aws.profiles.members(NAME) == {"u1", "u,2", "u3"}
    else:
        with pytest.raises(ClientError, match="BadRequestException"):
            poll(audience, started)


def test_throttling_is_a_retryable_error_that_leaves_nothing_behind(aws):
    aws.profiles.throttle["CreateUploadJob"] = 1  # the fake answers above botocore's own retries
    with pytest.raises(ServiceThrottled):
        deliver(aws)
    assert aws.profiles.jobs == {}
    assert deliver(aws)[1]["state"] == "STARTED"


def test_a_failed_upload_job_raises_the_services_reason_and_can_be_retried(aws):
    aws.profiles.fail[NAME] = "VALIDATION_FAILURE"
    with pytest.raises(ImportFailed, match="ended FAILED: the file did not pass Customer Profiles' validation"):
        imported(aws)
    assert aws.profiles.definitions == {}
    del aws.profiles.fail[NAME]
    assert poll(*redeliver())["state"] == "IMPORTED"


def test_a_partly_ingested_file_defines_the_segment_and_counts_the_failures(aws):
    aws.profiles.refuse_keys = {"u3"}
    done = imported(aws, b"User.UserId\nu1\n\"\"\nu3\nu4\n")  # the empty ID is left out of the upload
    assert done["state"] == "IMPORTED" and done["size"] == 2 and done["failedRecords"] == 1
    assert aws.profiles.members(NAME) == {"u1", "u4"}


def test_a_file_of_which_no_profile_was_written_is_a_failure(aws):
    aws.profiles.refuse_keys = {"u1", "u,2", "u3"}
    with pytest.raises(ImportFailed, match=r"ended PARTIALLY_SUCCEEDED: .*\(3 records failed, 0 written\)"):
        imported(aws)
    assert aws.profiles.definitions == {}


def test_an_import_past_its_budget_fails(aws):
    aws.profiles.polls_to_complete = 100
    audience, started = deliver(aws)
    polled = poll(audience, started)
    assert polled["done"] is False and polled["status"] == "IN_PROGRESS"
    with pytest.raises(PollingBudgetExceeded, match="was still IN_PROGRESS"):
        poll(audience, {**polled, "deadline": "2000-01-01T00:00:00+00:00"})
    assert redeliver()[1]["importJobId"] == started["importJobId"]  # the job still runs: a new delivery follows it


def test_long_audience_names_become_valid_segment_definition_names():
    name = "a" * 60 + "-genres-action-8006038a"
    short = connect_handler.definition_name(name)
    assert len(short) == 64 and short != connect_handler.definition_name(name + "b")
    assert connect_handler.definition_name(NAME) == NAME


def test_sse_c_headers_follow_the_client_token():
    headers = upload.sse_c_headers("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
    assert headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert headers["x-amz-server-side-encryption-customer-key-MD5"] == "hRasmdxgYDKV3nvbahU1MA=="

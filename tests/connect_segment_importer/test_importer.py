"""Customer Profiles import handler against moto S3, an in-process Customer Profiles checked against
botocore's model, and a local HTTP server standing in for the pre-signed upload location."""

from __future__ import annotations

import pytest

from connect_segment_importer.importer import handler as connect_handler
from connect_segment_importer.importer import upload
from shared import aws as lambda_clients
from shared.contract import PollingBudgetExceeded, ServiceThrottled
from shared.imports import ImportFailed
from tests.fakes.customer_profiles import FakeCustomerProfiles
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.audience_events import KEY, NAME, ready_event
from tests.fakes.audience_events import CONNECT_ENVIRONMENT as ENVIRONMENT

@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        for name, value in ENVIRONMENT.items():
            monkeypatch.setenv(name, value)
        fake.profiles = FakeCustomerProfiles(lambda_clients.client("customer-profiles"))
        yield fake
        fake.profiles.uploads.close()


def start(aws, body: bytes = b"User.UserId\nu1\n\"u,2\"\nu3\n") -> dict:
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    return connect_handler.handler({"action": "start", **ready_event()}, None)


def poll(state: dict) -> dict:
    return connect_handler.handler({"action": "poll", "import": state}, None)


def test_an_audience_becomes_a_segment_of_exactly_its_users(aws):
    aws.profiles.profiles["u3"] = {"Attributes": {"Email": "kept"}}  # an existing profile is updated, not replaced
    started = start(aws)
    assert started["state"] == "STARTED"
    (request,) = aws.profiles.created()
    assert request["DataExpiry"] == 90 and request["DisplayName"] == NAME and request["UniqueKey"] == "UserId"
    assert request["Fields"]["UserId"] == {"Source": "_source.UserId", "Target": "_profile.AccountNumber",
                                           "ContentType": "STRING"}
    done = poll(started)
    assert done["done"] is True and done["state"] == "IMPORTED"
    assert done["size"] == 3 and done["failedRecords"] == 0
    assert done["segmentArn"].endswith(f":domains/audiences-domain/segment-definitions/{NAME}")
    assert aws.profiles.members(done["segmentId"]) == {"u1", "u,2", "u3"}
    assert aws.profiles.profiles["u3"]["Attributes"]["Email"] == "kept"


def test_the_upload_renames_the_dotted_header_and_marks_every_row_with_the_batch(aws):
    started = start(aws)
    (uploaded,) = aws.profiles.uploads.files.values()
    batch = started["batch"]
    assert uploaded.decode() == f"UserId,PersonalizeSegmentBatch\nu1,{batch}\n\"u,2\",{batch}\nu3,{batch}\n"


def test_the_same_file_delivered_twice_is_one_import_and_one_segment(aws):
    first = start(aws)
    second = connect_handler.handler({"action": "start", **ready_event()}, None)
    assert second["state"] == "STARTED" and second["importJobId"] == first["importJobId"]
    poll(first)
    poll(second)  # a racing poll of the same job keeps the definition as it is
    third = connect_handler.handler({"action": "start", **ready_event()}, None)
    assert third["state"] == "ALREADY_IMPORTED"
    assert len(aws.profiles.created()) == 1 and list(aws.profiles.definitions) == [NAME]


def test_a_new_version_of_the_file_replaces_the_segment_with_its_users_only(aws):
    poll(start(aws, b"User.UserId\nu1\nu2\n"))
    second = poll(start(aws, b"User.UserId\nu2\nu9\n"))
    assert second["state"] == "IMPORTED" and second["size"] == 2
    assert aws.profiles.members(NAME) == {"u2", "u9"}
    assert list(aws.profiles.definitions) == [NAME]


@pytest.mark.parametrize("body, reason", [
    (b"", "is empty"),
    (b"UserId\nu1\n", "must start with the header User.UserId alone"),
    (b"User.UserId\nu1\n\xff\xfe\n", "is not UTF-8 (byte 15)"),
    (b"User.UserId\n", "has the header and no users"),
])
def test_a_malformed_file_is_rejected_with_the_reason_and_nothing_is_uploaded(aws, body, reason):
    result = start(aws, body)
    assert result["state"] == "REJECTED" and reason in result["reason"]
    assert aws.profiles.created() == [] and aws.profiles.uploads.files == {}


def test_a_refused_upload_stops_the_job_and_unclaims_the_file(aws):
    aws.profiles.uploads.refuse_next = (403, "SignatureDoesNotMatch")
    with pytest.raises(upload.UploadRejected, match="SignatureDoesNotMatch"):
        start(aws)
    (job,) = aws.profiles.jobs.values()
    assert job["Status"] == "STOPPED"
    retried = connect_handler.handler({"action": "start", **ready_event()}, None)
    assert retried["state"] == "STARTED" and poll(retried)["state"] == "IMPORTED"


def test_throttling_is_a_retryable_error_that_leaves_nothing_behind(aws):
    aws.profiles.throttle["CreateUploadJob"] = 1  # the fake answers above botocore's own retries
    with pytest.raises(ServiceThrottled):
        start(aws)
    assert aws.profiles.jobs == {}
    assert start(aws)["state"] == "STARTED"


def test_a_failed_upload_job_raises_the_services_reason_and_can_be_retried(aws):
    aws.profiles.fail[NAME] = "VALIDATION_FAILURE"
    with pytest.raises(ImportFailed, match="ended FAILED: the file did not pass Customer Profiles' validation"):
        poll(start(aws))
    assert aws.profiles.definitions == {}
    del aws.profiles.fail[NAME]
    assert poll(connect_handler.handler({"action": "start", **ready_event()}, None))["state"] == "IMPORTED"


def test_a_partly_ingested_file_defines_the_segment_and_counts_the_failures(aws):
    aws.profiles.refuse_keys = {"u3"}
    done = poll(start(aws, b"User.UserId\nu1\n\"\"\nu3\nu4\n"))  # the empty ID is left out of the upload
    assert done["state"] == "IMPORTED" and done["size"] == 2 and done["failedRecords"] == 1
    assert aws.profiles.members(NAME) == {"u1", "u4"}


def test_a_file_of_which_no_profile_was_written_is_a_failure(aws):
    aws.profiles.refuse_keys = {"u1", "u,2", "u3"}
    with pytest.raises(ImportFailed, match=r"ended PARTIALLY_SUCCEEDED: .*\(3 records failed, 0 written\)"):
        poll(start(aws))
    assert aws.profiles.definitions == {}


def test_an_import_past_its_budget_fails(aws):
    aws.profiles.polls_to_complete = 100
    started = start(aws)
    assert poll(started)["done"] is False
    with pytest.raises(PollingBudgetExceeded, match="was still IN_PROGRESS"):
        poll({**started, "deadline": "2000-01-01T00:00:00+00:00"})


def test_long_audience_names_become_valid_segment_definition_names():
    name = "a" * 60 + "-genres-action-8006038a"
    short = connect_handler.definition_name(name)
    assert len(short) == 64 and short != connect_handler.definition_name(name + "b")
    assert connect_handler.definition_name(NAME) == NAME


def test_sse_c_headers_follow_the_client_token():
    headers = upload.sse_c_headers("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
    assert headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert headers["x-amz-server-side-encryption-customer-key-MD5"] == "hRasmdxgYDKV3nvbahU1MA=="

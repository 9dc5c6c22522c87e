"""Pinpoint import handler against moto S3 and an in-process Pinpoint checked against botocore's model."""

from __future__ import annotations

import pytest

from pinpoint_segment_importer.importer import handler as pinpoint_handler
from shared import aws as lambda_clients
from shared.contract import PollingBudgetExceeded, ServiceLimitExceeded
from shared.imports import ImportFailed, ImportStarting
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.pinpoint import FakePinpoint
from tests.fakes.audience_events import KEY, NAME, dropped_event, ready_event

@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        monkeypatch.setenv("AUDIENCE_BUCKET", BUCKET)
        monkeypatch.setenv("AUDIENCE_PREFIX", "audiences/")
        monkeypatch.setenv("PINPOINT_APPLICATION_ID", "0123456789abcdef0123456789abcdef")
        monkeypatch.setenv("IMPORT_ROLE_ARN", "arn:aws:iam::123456789012:role/pinpoint-import")
        monkeypatch.setenv("IMPORT_BUDGET_SECONDS", "3600")
        fake.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"))
        yield fake


def start(aws, body: bytes = b"User.UserId\nu1\nu,2\nu3\n") -> dict:
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    return pinpoint_handler.handler({"action": "start", **ready_event()}, None)


def poll(state: dict) -> dict:
    return pinpoint_handler.handler({"action": "poll", "import": state}, None)


def test_an_audience_becomes_a_user_id_segment_named_after_it(aws):
    started = start(aws)
    assert started["state"] == "STARTED"
    (request,) = aws.pinpoint.created()
    assert request == {"Format": "CSV", "S3Url": f"s3://{BUCKET}/{KEY}", "RoleArn": "arn:aws:iam::123456789012:role/pinpoint-import",
                       "DefineSegment": True, "SegmentName": NAME, "RegisterEndpoints": False}
    done = poll(started)
    assert done["done"] is True and done["state"] == "IMPORTED" and done["segmentId"].startswith("seg-")
    assert done["size"] == 3


def test_the_same_file_delivered_twice_is_imported_once(aws):
    first = start(aws)
    second = pinpoint_handler.handler({"action": "start", **ready_event()}, None)
    assert second["state"] == "STARTED" and second["importJobId"] == first["importJobId"]
    poll(first)
    third = pinpoint_handler.handler({"action": "start", **ready_event()}, None)
    assert third["state"] == "ALREADY_IMPORTED" and third["segmentId"].startswith("seg-")
    assert len(aws.pinpoint.created()) == 1


@pytest.mark.parametrize("body, reason", [
    (b"", "is empty"),
    (b"UserId\nu1\n", "must start with the header User.UserId alone"),
    (b"\xef\xbb\xbfUser.UserId\nu1\n", "(it starts with a byte-order mark)"),
    (b"User.UserId\nu1\n\xff\xfe\n", "is not UTF-8 (byte 15)"),
    (b"User.UserId\n", "has the header and no users"),
])
def test_a_malformed_file_is_rejected_with_the_reason_and_nothing_is_imported(aws, body, reason):
    result = start(aws, body)
    assert result["state"] == "REJECTED" and reason in result["reason"]
    assert aws.pinpoint.created() == []


def test_a_rejection_never_quotes_the_file(aws):
    result = start(aws, b"alice@example.com\nbob@example.com\n")
    assert "example.com" not in result["reason"]


def test_a_full_import_quota_is_a_retryable_error(aws):
    aws.pinpoint.busy = 1
    with pytest.raises(ServiceLimitExceeded):
        start(aws)
    assert start(aws)["state"] == "STARTED"  # the retry: the claim made before did not block it
    assert len(aws.pinpoint.created()) == 2 and len(aws.pinpoint.jobs) == 1  # one refused, one started


def test_a_delivery_racing_the_one_that_claimed_the_import_waits_and_joins_it(aws):
    first = start(aws)
    marker = first["marker"]
    aws.s3.put_object(Bucket=BUCKET, Key=marker, Body=b"{}")  # as between the winner's claim and its create
    with pytest.raises(ImportStarting):
        pinpoint_handler.handler({"action": "start", **ready_event()}, None)
    aws.s3.put_object(Bucket=BUCKET, Key=marker, Body=b'{"importJobId": "%s", "marker": "%s"}'
                      % (first["importJobId"].encode(), marker.encode()))
    assert pinpoint_handler.handler({"action": "start", **ready_event()}, None)["importJobId"] == first["importJobId"]
    assert len(aws.pinpoint.jobs) == 1


def test_a_failed_import_raises_pinpoints_reason(aws):
    aws.pinpoint.fail[NAME] = "No endpoints found for the user IDs"
    with pytest.raises(ImportFailed, match="No endpoints found for the user IDs"):
        poll(start(aws))


def test_an_import_past_its_budget_fails(aws):
    aws.pinpoint.polls_to_complete = 100
    started = start(aws)
    assert poll(started)["done"] is False
    with pytest.raises(PollingBudgetExceeded):
        poll({**started, "deadline": "2000-01-01T00:00:00+00:00"})


def test_a_failed_import_is_unclaimed_so_delivering_the_file_again_retries_it(aws):
    aws.pinpoint.fail[NAME] = "No endpoints found for the user IDs"
    with pytest.raises(ImportFailed):
        poll(start(aws))
    del aws.pinpoint.fail[NAME]
    retried = pinpoint_handler.handler({"action": "start", **ready_event()}, None)
    assert retried["state"] == "STARTED" and poll(retried)["state"] == "IMPORTED"
    assert len(aws.pinpoint.jobs) == 2


def test_a_csv_dropped_by_hand_is_imported_as_a_segment_named_after_the_file(aws):
    aws.s3.put_object(Bucket=BUCKET, Key="manual/Spring Promo!.csv", Body=b"User.UserId\nu1\n")
    started = pinpoint_handler.handler({"action": "start", **dropped_event("manual/Spring+Promo%21.csv")}, None)
    assert started["state"] == "STARTED" and started["segmentName"] == "Spring-Promo"
    (request,) = aws.pinpoint.created()
    assert request["S3Url"] == f"s3://{BUCKET}/manual/Spring Promo!.csv" and request["SegmentName"] == "Spring-Promo"
    assert started["marker"].startswith("audiences/dropped/_imports/pinpoint/Spring-Promo/")


def test_a_stale_poll_of_a_failed_import_leaves_the_claim_of_a_later_delivery_alone(aws):
    aws.pinpoint.fail[NAME] = "No endpoints found for the user IDs"
    first = start(aws)
    with pytest.raises(ImportFailed):
        poll(first)
    del aws.pinpoint.fail[NAME]
    second = pinpoint_handler.handler({"action": "start", **ready_event()}, None)
    with pytest.raises(ImportFailed):
        poll(first)  # a delivery that had joined the failed import polls it once more
    assert aws.s3.get_object(Bucket=BUCKET, Key=second["marker"])["Body"].read() != b""  # still claimed
    assert poll(second)["state"] == "IMPORTED"
    assert pinpoint_handler.handler({"action": "start", **ready_event()}, None)["state"] == "ALREADY_IMPORTED"

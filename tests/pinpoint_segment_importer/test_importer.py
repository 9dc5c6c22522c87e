"""Pinpoint import handler against moto S3 and an in-process Pinpoint checked against botocore's model."""

from __future__ import annotations

import pytest

from pinpoint_segment_importer.importer import handler as pinpoint_handler
from shared import aws as lambda_clients
from shared.contract import ImportFailed, PollingBudgetExceeded, ServiceThrottled
from tests.fakes import function_environment
from tests.fakes.audience_events import KEY, NAME, Steps
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.pinpoint import FakePinpoint

steps = Steps(pinpoint_handler.handler)
redeliver, poll = steps.deliver, steps.poll


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        # user-ID segments: the example stack's endpoint-ID function without what only those read
        function_environment.use(monkeypatch, "pinpoint_segment_importer.importer", AUDIENCE_BUCKET=BUCKET,
                                 PINPOINT_APPLICATION_ID="0123456789abcdef0123456789abcdef",
                                 IMPORT_ROLE_ARN="arn:aws:iam::123456789012:role/pinpoint-import",
                                 SEGMENT_KIND="user-id", EXPORT_ROLE_ARN=None, ENDPOINT_CHANNELS=None)
        fake.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"))
        yield fake


def deliver(aws, body: bytes = b"User.UserId\nu1\nu,2\nu3\n") -> tuple[dict, dict]:
    """The file written, then checked and its import started: (audience, import state)."""
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    return steps.deliver()


def test_an_audience_becomes_a_user_id_segment_named_after_it(aws):
    audience, started = deliver(aws)
    assert started["state"] == "STARTED"
    assert started["marker"] == f"audiences/genre-job/_imports/pinpoint/{NAME}/{audience['etag']}.json"
    (request,) = aws.pinpoint.created()
    assert request == {"Format": "CSV", "S3Url": f"s3://{BUCKET}/{KEY}",
                       "RoleArn": "arn:aws:iam::123456789012:role/pinpoint-import",
                       "DefineSegment": True, "SegmentName": NAME, "RegisterEndpoints": False}
    done = poll(audience, started)
    assert done["done"] is True and done["state"] == "IMPORTED" and done["segmentId"].startswith("seg-")
    assert done["size"] == 3 and done["importJobId"] == started["importJobId"]


def test_the_same_file_delivered_twice_is_imported_once(aws):
    audience, first = deliver(aws)
    _, second = redeliver()
    assert second["state"] == "STARTED" and second["importJobId"] == first["importJobId"]
    poll(audience, first)
    _, third = redeliver()
    assert third["state"] == "ALREADY_IMPORTED" and third["segmentId"].startswith("seg-")
    assert len(aws.pinpoint.created()) == 1


def test_a_full_import_quota_is_a_retryable_error(aws):
    """Pinpoint answers TooManyRequestsException with 2 imports running: shared.aws.call maps it, as any throttling,
    to ServiceThrottled, which the workflow retries with backoff like ServiceLimitExceeded."""
    aws.pinpoint.busy = 1
    with pytest.raises(ServiceThrottled, match="2 import jobs are running"):
        deliver(aws)
    assert redeliver()[1]["state"] == "STARTED"  # the retry: the claim made before did not block it
    assert len(aws.pinpoint.created()) == 2 and len(aws.pinpoint.jobs) == 1  # one refused, one started


def test_a_failed_import_raises_pinpoints_reason(aws):
    aws.pinpoint.fail[NAME] = "No endpoints found for the user IDs"
    with pytest.raises(ImportFailed, match="No endpoints found for the user IDs"):
        poll(*deliver(aws))


def test_an_import_past_its_budget_fails(aws):
    aws.pinpoint.polls_to_complete = 100
    audience, started = deliver(aws)
    polled = poll(audience, started)
    assert polled["done"] is False and polled["status"] == "PROCESSING"
    with pytest.raises(PollingBudgetExceeded, match=r"Pinpoint import \w+ of .* was still PROCESSING"):
        poll(audience, {**polled, "deadline": "2000-01-01T00:00:00+00:00"})
    assert redeliver()[1]["importJobId"] == started["importJobId"]  # the job still runs: a new delivery follows it


def test_a_failed_import_is_unclaimed_so_delivering_the_file_again_retries_it(aws):
    aws.pinpoint.fail[NAME] = "No endpoints found for the user IDs"
    with pytest.raises(ImportFailed):
        poll(*deliver(aws))
    del aws.pinpoint.fail[NAME]
    audience, retried = redeliver()
    assert retried["state"] == "STARTED" and poll(audience, retried)["state"] == "IMPORTED"
    assert len(aws.pinpoint.jobs) == 2


def test_a_csv_dropped_by_hand_is_imported_as_a_segment_named_after_the_file(aws):
    aws.s3.put_object(Bucket=BUCKET, Key="manual/Spring Promo!.csv", Body=b"User.UserId\nu1\n")
    audience, started = redeliver({"bucket": BUCKET, "audienceKey": "manual/Spring+Promo%21.csv"})
    assert audience["audienceKey"] == "manual/Spring Promo!.csv" and audience["segmentName"] == "Spring-Promo"
    assert started["state"] == "STARTED"
    (request,) = aws.pinpoint.created()
    assert request["S3Url"] == f"s3://{BUCKET}/manual/Spring Promo!.csv" and request["SegmentName"] == "Spring-Promo"
    assert started["marker"].startswith("audiences/dropped/_imports/pinpoint/Spring-Promo/")
    assert poll(audience, started)["state"] == "IMPORTED"


def refresh(aws, job: str, users: bytes) -> tuple[dict, dict]:
    """The same audience exported again by a later run (its own job folder, the audience's stable name), imported."""
    key = f"audiences/{job}/{NAME}.csv"
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=users)
    audience, started = steps.deliver({"bucket": BUCKET, "audienceKey": key, "segmentName": NAME, "jobName": job})
    return audience, poll(audience, started)


def test_each_refresh_of_an_audience_updates_its_one_segment_in_place(aws):
    audience, started = deliver(aws)
    first = poll(audience, started)
    _, second = refresh(aws, "genre-job-2", b"User.UserId\nu1\nu4\n")
    _, third = refresh(aws, "genre-job-3", b"User.UserId\nu4\nu5\nu6\n")
    assert first["segmentId"] == second["segmentId"] == third["segmentId"]
    requests = aws.pinpoint.created()
    assert "SegmentId" not in requests[0]  # the first import defines the segment
    assert [r["SegmentId"] for r in requests[1:]] == [first["segmentId"]] * 2  # the others import into it
    assert aws.pinpoint.segments == {first["segmentId"]} and third["size"] == 3


def test_a_segment_deleted_by_hand_is_defined_again_by_the_next_refresh(aws):
    audience, started = deliver(aws)
    first = poll(audience, started)
    aws.pinpoint.segments.clear()  # someone deleted it in Pinpoint
    _, second = refresh(aws, "genre-job-2", b"User.UserId\nu1\n")
    assert second["state"] == "IMPORTED" and second["segmentId"] != first["segmentId"]
    _, third = refresh(aws, "genre-job-3", b"User.UserId\nu2\n")
    assert third["segmentId"] == second["segmentId"]

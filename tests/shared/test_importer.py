"""The import loop every destination shares (``shared/importer.py``): the file check, claims, joins, failures and
deadlines, with a minimal destination against moto S3."""

from __future__ import annotations

import json

import pytest

from shared import claims, importer
from shared.contract import Env, ImportFailed, ImportStarting, PollingBudgetExceeded
from shared.importer import Done, Failed, Running
from tests.fakes.audience_events import KEY, NAME, Steps, ready_audience
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.workflow import FunctionTimedOut

USERS = b"User.UserId\nu1\nu2\n"
PAST = "2000-01-01T00:00:00+00:00"


class FakeDestination:
    """Starts an import job per call, or resumes the one ``begun``; reports what ``progress`` says; remembers what
    each start was given and what it cleaned up. ``records_job``: a start records its job before it fails (an
    upload after the create, as Connect's)."""

    name = "fake"

    def __init__(self) -> None:
        self.started: list[str] = []
        self.begun: list[dict] = []
        self.cleaned: list[dict] = []
        self.progress: Running | Done | Failed = Running("fake import", "RUNNING")
        self.start_fails: BaseException | None = None
        self.records_job = False
        self.job_key = "importJobId"  # "exportJobId": a first phase before the destination's import job
        self.jobs = 0

    def start(self, audience: dict, marker: str, begun: dict, record) -> dict:
        self.begun.append(begun)
        if self.start_fails and not self.records_job:  # refused before anything was created
            raise self.start_fails
        job = begun.get(self.job_key)
        if not job:
            self.jobs += 1
            job = f"job-{self.jobs}"
            if self.records_job:
                record({self.job_key: job, "phase": "uploading"})
        if self.start_fails:
            raise self.start_fails
        self.started.append(marker)
        return {self.job_key: job}

    def status(self, audience: dict, state: dict):
        return self.progress

    def cleanup(self, audience: dict, state: dict) -> None:
        self.cleaned.append(state)


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        monkeypatch.setenv(Env.AUDIENCE_BUCKET, BUCKET)
        monkeypatch.setenv(Env.AUDIENCE_PREFIX, "audiences/")
        monkeypatch.setenv(Env.IMPORT_BUDGET_SECONDS, "3600")
        fake.destination = FakeDestination()
        fake.steps = Steps(lambda event, context: importer.handle(event, fake.destination))
        yield fake


def deliver(aws, body: bytes = USERS) -> tuple[dict, dict]:
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    return aws.steps.deliver()


def marker_of(aws, marker: str) -> dict:
    return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=marker)["Body"].read())


def claimed(aws, marker: str) -> bool:
    return bool(aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=marker).get("Contents"))


# ---------------------------------------------------------------- check


def test_an_importable_file_is_answered_with_its_version_and_no_problem(aws):
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=USERS)
    etag = aws.s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"].strip('"')
    assert aws.steps.check() == {"bucket": BUCKET, "audienceKey": KEY, "segmentName": NAME, "jobName": "genre-job",
                                 "etag": etag, "problem": None}


@pytest.mark.parametrize("body, reason", [
    (b"", "is empty"),
    (b"UserId\nu1\n", "must start with the header User.UserId alone"),
    (b"\xef\xbb\xbfUser.UserId\nu1\n", "(it starts with a byte-order mark)"),
    (b"User.UserId\nu1\n\xff\xfe\n", "is not UTF-8 (byte 15)"),
    (b"User.UserId\nu1\n\xc3", "is not UTF-8 (it ends inside a character)"),
    (b"User.UserId\n", "has the header and no users"),
])
def test_a_malformed_file_is_rejected_with_the_reason_and_nothing_is_started(aws, body, reason):
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    audience = aws.steps.check()
    assert reason in audience["problem"] and audience["audienceKey"] == KEY and audience["etag"]
    with pytest.raises(ValueError, match="cannot be imported"):  # the workflow never starts it; nor would start
        aws.steps.start(audience)
    assert aws.destination.started == [] and aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="audiences/genre-job/_")\
        .get("Contents") is None


def test_a_file_of_1_gb_or_more_is_rejected_unread(aws, monkeypatch):
    monkeypatch.setattr(importer, "MAX_BYTES", len(USERS))  # stands for 1 GB
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=USERS)
    assert aws.steps.check()["problem"] == f"{KEY} is {len(USERS)} bytes; imports take files under 1 GB"


def test_a_rejection_never_quotes_the_file(aws):
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"alice@example.com\nbob@example.com\n")
    assert "example.com" not in aws.steps.check()["problem"]


@pytest.mark.parametrize("created, delivered_key, name", [
    ("manual/Spring Promo!.csv", "manual/Spring+Promo%21.csv", "Spring-Promo"),  # URL-encoded by the S3 event
    ("manual/a+b.csv", "manual/a+b.csv", "a-b"),  # a key that exists as delivered is the file
    ("manual/!!!.csv", "manual/%21%21%21.csv", "audience"),  # nothing left of the name
])
def test_a_csv_dropped_by_hand_is_the_file_that_exists_named_after_it(aws, created, delivered_key, name):
    aws.s3.put_object(Bucket=BUCKET, Key=created, Body=USERS)
    audience, started = aws.steps.deliver({"bucket": BUCKET, "audienceKey": delivered_key})
    assert audience["audienceKey"] == created and audience["segmentName"] == name
    assert audience["jobName"] == "dropped" and audience["problem"] is None
    assert started["marker"] == f"audiences/dropped/_imports/fake/{name}/{audience['etag']}.json"


# ---------------------------------------------------------------- start: claims and joins


def test_an_import_is_claimed_per_file_version_and_recorded_in_its_marker(aws):
    audience, started = deliver(aws)
    marker = f"audiences/genre-job/_imports/fake/{NAME}/{audience['etag']}.json"
    assert started["state"] == "STARTED" and started["marker"] == marker and started["importJobId"] == "job-1"
    assert started["deadline"] > "2000" and aws.destination.started == [marker]
    assert marker_of(aws, marker) == {"importJobId": "job-1", "marker": marker, "claimId": started["claimId"]}


def test_a_duplicate_delivery_joins_the_import_and_once_imported_stops(aws):
    audience, first = deliver(aws)
    _, second = aws.steps.deliver()
    assert second["state"] == "STARTED" and second["importJobId"] == first["importJobId"]
    assert second["claimId"] == first["claimId"] and len(aws.destination.started) == 1
    aws.destination.progress = Done({"segmentId": "segment-1", "size": 2})
    aws.steps.poll(audience, first)
    _, third = aws.steps.deliver()
    assert third["state"] == "ALREADY_IMPORTED" and third["segmentId"] == "segment-1" and third["size"] == 2
    assert len(aws.destination.started) == 1


def test_a_new_version_of_the_file_is_a_new_import(aws):
    deliver(aws)
    audience, second = deliver(aws, b"User.UserId\nu3\n")
    assert second["state"] == "STARTED" and second["importJobId"] == "job-2"
    assert second["marker"].endswith(f"/{audience['etag']}.json") and len(aws.destination.started) == 2


def test_a_claim_whose_invocation_died_before_recording_its_import_is_taken_over_once_stale(aws, monkeypatch):
    """A timeout or an out-of-memory kill between the claim and the record leaves a claim with no import behind it:
    every delivery would answer ImportStarting forever. Once older than any invocation runs, it is taken over."""
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=USERS)
    audience = aws.steps.check()
    aws.destination.start_fails = MemoryError("killed")  # stands for the invocation dying before the record
    with pytest.raises(MemoryError):
        aws.steps.start(audience)
    marker = f"audiences/genre-job/_imports/fake/{NAME}/{audience['etag']}.json"
    aws.s3.put_object(Bucket=BUCKET, Key=marker, Body=json.dumps({"claimId": "dead"}).encode())  # a kill releases nothing
    aws.destination.start_fails = None
    with pytest.raises(ImportStarting):  # not stale yet: the claimer may still be starting it
        aws.steps.start(audience)
    monkeypatch.setattr(claims, "STALE", importer.dt.timedelta(0))  # as if written 16 minutes ago
    started = aws.steps.start(audience)
    assert started["state"] == "STARTED" and started["claimId"] != "dead" and len(aws.destination.started) == 1
    assert marker_of(aws, marker)["importJobId"] == started["importJobId"]


def test_a_recorded_import_is_never_taken_over_however_old(aws, monkeypatch):
    audience, first = deliver(aws)
    monkeypatch.setattr(claims, "STALE", importer.dt.timedelta(0))
    again = aws.steps.start(audience)
    assert again["importJobId"] == first["importJobId"] and len(aws.destination.started) == 1


def test_a_delivery_racing_the_one_that_claimed_the_import_waits_and_joins_it(aws):
    audience, first = deliver(aws)
    aws.s3.put_object(Bucket=BUCKET, Key=first["marker"], Body=b"{}")  # as between the winner's claim and its start
    with pytest.raises(ImportStarting, match=f"the import of {NAME} is being started by another delivery"):
        aws.steps.start(audience)
    aws.s3.put_object(Bucket=BUCKET, Key=first["marker"], Body=json.dumps(
        {"importJobId": first["importJobId"], "marker": first["marker"], "claimId": first["claimId"]}).encode())
    assert aws.steps.start(audience)["importJobId"] == first["importJobId"]
    assert len(aws.destination.started) == 1


def test_a_start_that_fails_releases_the_claim_and_the_retry_starts(aws):
    aws.destination.start_fails = RuntimeError("the destination refused")
    with pytest.raises(RuntimeError, match="the destination refused"):
        deliver(aws)
    assert not claimed(aws, "audiences/genre-job/_imports/")
    aws.destination.start_fails = None
    _, retried = aws.steps.deliver()
    assert retried["state"] == "STARTED" and retried["importJobId"] == "job-1"


def marker_for(audience: dict) -> str:
    return f"audiences/genre-job/_imports/fake/{NAME}/{audience['etag']}.json"


def test_a_start_that_fails_after_recording_its_job_leaves_it_to_the_next_delivery_to_resume(aws):
    """A start that created its job, then failed (its upload refused, say, and the job's stop failed too): the claim
    is marked abandoned with the job, so the next delivery takes it over at once and resumes that job instead of
    leaving it behind and creating another."""
    aws.destination.records_job = True
    aws.destination.start_fails = RuntimeError("the upload was refused")
    with pytest.raises(RuntimeError, match="the upload was refused"):
        deliver(aws)
    audience = aws.steps.check()
    left = marker_of(aws, marker_for(audience))
    assert left == {"importJobId": "job-1", "phase": "uploading", "claimId": left["claimId"], "abandoned": True}
    aws.destination.start_fails = None
    started = aws.steps.start(audience)
    assert started["state"] == "STARTED" and started["importJobId"] == "job-1" and started["claimId"] != left["claimId"]
    assert aws.destination.begun == [{}, {"importJobId": "job-1", "phase": "uploading"}] and aws.destination.jobs == 1
    assert marker_of(aws, marker_for(audience)) == {"importJobId": "job-1", "marker": marker_for(audience),
                                                    "claimId": started["claimId"]}


def test_a_start_that_died_after_recording_its_job_is_resumed_once_stale_and_never_begun_twice(aws, monkeypatch):
    """A timeout after the job was created (during its upload, or after the destination started it) runs no clean-up:
    the claim holds the job, unfinished. Deliveries wait for it (ImportStarting) until no invocation can still be
    starting it, then the one that takes it over resumes (or follows) that job."""
    aws.destination.records_job = True
    aws.destination.start_fails = FunctionTimedOut("upload")  # Lambda stops the invocation: nothing after runs
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=USERS)
    audience = aws.steps.check()
    with pytest.raises(FunctionTimedOut):
        aws.steps.start(audience)
    aws.destination.start_fails = None
    with pytest.raises(ImportStarting):  # not stale yet: it may still be uploading
        aws.steps.start(audience)
    monkeypatch.setattr(claims, "STALE", importer.dt.timedelta(0))  # as if written 16 minutes ago
    started = aws.steps.start(audience)
    assert started["state"] == "STARTED" and started["importJobId"] == "job-1" and aws.destination.jobs == 1
    assert aws.destination.begun[-1] == {"importJobId": "job-1", "phase": "uploading"}
    assert aws.steps.start(audience)["claimId"] == started["claimId"]  # recorded now: followed, never taken over


# ---------------------------------------------------------------- poll


def test_an_import_in_progress_answers_its_status_then_done_records_it(aws):
    audience, started = deliver(aws)
    polled = aws.steps.poll(audience, started)
    assert polled == {**started, "done": False, "status": "RUNNING"}
    aws.destination.progress = Done({"segmentId": "segment-1", "size": 2})
    done = aws.steps.poll(audience, polled)
    assert {k: v for k, v in done.items() if k != "status"} == {**started, "state": "IMPORTED", "done": True,
                                                                 "segmentId": "segment-1", "size": 2}
    assert marker_of(aws, started["marker"]) == {"importJobId": "job-1", "marker": started["marker"],
                                                 "claimId": started["claimId"], "state": "IMPORTED",
                                                 "segmentId": "segment-1", "size": 2,
                                                 "reportedBy": started["delivery"]}
    assert [s["importJobId"] for s in aws.destination.cleaned] == ["job-1"]  # what it left is removed


def test_of_two_deliveries_following_one_import_to_its_end_the_first_reports_it_the_other_already_imported(aws):
    audience, first = deliver(aws)
    _, joined = aws.steps.deliver()
    aws.destination.progress = Done({"segmentId": "segment-1", "size": 2})
    assert aws.steps.poll(audience, joined)["state"] == "IMPORTED"  # the delivery that joined gets there first
    late = aws.steps.poll(audience, first)
    assert late["state"] == "ALREADY_IMPORTED" and late["done"] is True and late["segmentId"] == "segment-1"
    assert aws.steps.poll(audience, joined)["state"] == "IMPORTED"  # its poll retried after its answer was lost
    assert marker_of(aws, first["marker"])["reportedBy"] == joined["delivery"] != first["delivery"]


def test_a_failure_the_destination_reports_is_cleaned_up_unclaimed_and_retried_by_a_new_delivery(aws):
    audience, started = deliver(aws)
    aws.destination.progress = Failed("the service said no", {"left": "a work file"})
    with pytest.raises(ImportFailed, match="^the service said no$"):
        aws.steps.poll(audience, started)
    assert aws.destination.cleaned == [{**started, "left": "a work file"}] and not claimed(aws, started["marker"])
    aws.destination.progress = Running("fake import", "RUNNING")
    _, retried = aws.steps.deliver()
    assert retried["state"] == "STARTED" and retried["importJobId"] == "job-2"


def test_a_stale_poll_of_a_failed_import_leaves_the_claim_of_a_later_delivery_alone(aws):
    audience, first = deliver(aws)
    aws.destination.progress = Failed("the service said no")
    with pytest.raises(ImportFailed):
        aws.steps.poll(audience, first)
    aws.destination.progress = Running("fake import", "RUNNING")
    _, second = aws.steps.deliver()
    aws.destination.progress = Failed("the service said no")
    with pytest.raises(ImportFailed):
        aws.steps.poll(audience, first)  # a delivery that had joined the failed import polls it once more
    assert marker_of(aws, second["marker"])["claimId"] == second["claimId"]  # still claimed
    aws.destination.progress = Done({"segmentId": "segment-2", "size": 2})
    assert aws.steps.poll(audience, second)["state"] == "IMPORTED"
    assert aws.steps.deliver()[1]["state"] == "ALREADY_IMPORTED"


def test_past_its_deadline_a_started_import_keeps_its_claim_for_a_later_delivery_to_follow(aws):
    audience, started = deliver(aws)
    with pytest.raises(PollingBudgetExceeded, match="^fake import was still RUNNING$"):
        aws.steps.poll(audience, {**started, "deadline": PAST})
    assert aws.destination.cleaned == [] and claimed(aws, started["marker"])
    _, later = aws.steps.deliver()
    assert later["state"] == "STARTED" and later["importJobId"] == started["importJobId"]


def test_past_its_deadline_an_import_before_its_import_job_is_cleaned_up_and_unclaimed(aws):
    aws.destination.job_key = "exportJobId"  # e.g. Pinpoint's endpoint export, before the import job
    audience, started = deliver(aws)
    with pytest.raises(PollingBudgetExceeded, match="was still RUNNING"):
        aws.steps.poll(audience, {**started, "deadline": PAST})
    assert [s["exportJobId"] for s in aws.destination.cleaned] == ["job-1"] and not claimed(aws, started["marker"])
    assert aws.steps.deliver()[1]["exportJobId"] == "job-2"  # a later delivery starts anew


def test_a_poll_that_started_something_is_progress_the_deadline_applies_from_the_next_one(aws):
    aws.destination.job_key = "exportJobId"
    audience, started = deliver(aws)
    aws.destination.progress = Running("fake import", "CREATED", {"importJobId": "job-9"})
    polled = aws.steps.poll(audience, {**started, "deadline": PAST})
    assert polled["done"] is False and polled["importJobId"] == "job-9" and polled["status"] == "CREATED"
    aws.destination.progress = Running("fake import", "RUNNING")
    with pytest.raises(PollingBudgetExceeded):
        aws.steps.poll(audience, polled)
    assert claimed(aws, started["marker"])  # the import job runs: a later delivery follows it


def test_an_unknown_action_is_an_error(aws):
    with pytest.raises(ValueError, match="unknown action 'import'"):
        importer.handle({"action": "import", "audience": ready_audience()}, aws.destination)

"""The start and poll steps every destination's import function shares.

``begin`` takes an ``Audience Segment Ready`` event's detail, or the same shape for a CSV a team
dropped by hand (``dropped``: the name comes from the file name). It checks the audience file and
claims the import once per file version (an S3 conditional write of a marker next to the file), or
joins the import an earlier delivery started. ``starting`` releases the claim if starting the import
fails, so the retry (or a later delivery) can start it; ``failed`` does the same for a failure the
destination reports. ``past_deadline`` bounds the poll loop. The workflow routes on the returned ``state``
(``REJECTED``, ``ALREADY_IMPORTED``, ``STARTED``) and ``done``; see
``segmentation_constructs/_audience_import.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import re
from typing import Iterator, Optional
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from shared.audiences import job_folder
from shared.destinations import check_audience_file, claim, exists, read_marker, release, write_marker


class ImportStarting(Exception):
    """Another delivery of this file claimed the import and is starting it: retried, then joined."""


class ImportFailed(Exception):
    """The destination reported the import failed; the message carries its reason."""


@dataclasses.dataclass
class Ticket:
    """One delivery's view of an import: what to report, or the claim to start it under."""

    base: dict
    marker: str
    etag: str = ""
    answer: Optional[dict] = None  # set when there is nothing to start

    def started(self, state: dict) -> dict:
        """Record the started import in the marker (later deliveries join it) and report it."""
        state = {**state, "marker": self.marker}
        write_marker(self.marker, state)
        return {**self.base, **state, "state": "STARTED"}


def dropped(bucket: str, key: str) -> tuple[str, str]:
    """(readable name, key) of a CSV a team dropped by hand: the file name without ``.csv``, made safe as
    a segment name. S3 events may carry the key URL-encoded; then the decoded key is the file."""
    if unquote_plus(key) != key and not exists(bucket, key):
        key = unquote_plus(key)
    base = key.rsplit("/", 1)[-1].removesuffix(".csv")
    return re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-_")[:100] or "audience", key


def begin(detail: dict, destination: str) -> Ticket:
    segment, bucket = detail["segment"], detail["bucket"]
    name, key = segment["name"], segment["audienceKey"]
    if detail.get("dropped"):
        name, key = dropped(bucket, key)
    deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=int(os.environ["IMPORT_BUDGET_SECONDS"]))
    base = {"segmentName": name, "audienceKey": key, "bucket": bucket, "jobName": detail["jobName"],
            "deadline": deadline.isoformat()}
    problem, etag = check_audience_file(bucket, key)
    marker = f"{job_folder(detail['jobName'])}_imports/{destination}/{name}/{etag}.json"
    if problem:
        return Ticket(base, marker, etag, {**base, "state": "REJECTED", "reason": problem})
    if claim(marker):
        return Ticket(base, marker, etag)
    previous = read_marker(marker)  # this file version was delivered before: join that import
    if previous.get("state") == "IMPORTED":
        return Ticket(base, marker, etag, {**base, **previous, "state": "ALREADY_IMPORTED"})
    if any(previous.get(k) for k in JOB_KEYS):
        return Ticket(base, marker, etag, {**base, **previous, "state": "STARTED"})
    raise ImportStarting(f"the import of {name} is being started by another delivery")


@contextlib.contextmanager
def starting(ticket: Ticket) -> Iterator[None]:
    """Unclaim the file version if starting the import fails, then let the error through."""
    try:
        yield
    except Exception:
        release(ticket.marker)
        raise


def imported(event: dict, state: dict) -> dict:
    """The import succeeded: record it so a later delivery of the same file stops at ALREADY_IMPORTED."""
    state = {**state, "state": "IMPORTED"}
    write_marker(event["marker"], {**state, "importJobId": event["importJobId"], "marker": event["marker"]})
    return {**event, **state, "done": True}


JOB_KEYS = ("exportJobId", "importJobId")  # what an import's marker records first: the import it belongs to


def ours(event: dict, state: dict) -> bool:
    """Whether the marker's ``state`` is of the import this event follows (not of a later delivery's)."""
    key = next((k for k in JOB_KEYS if event.get(k)), None)
    return key is not None and state.get(key) == event[key]


def unclaim(event: dict) -> None:
    """Release the file version's claim, so delivering it again starts anew; a claim a later delivery has
    made since is left alone."""
    try:
        state = read_marker(event["marker"])
    except ClientError:  # already released
        return
    if ours(event, state):
        release(event["marker"])


def failed(event: dict, message: str) -> ImportFailed:
    """The destination reported a failure: unclaim the file version, so delivering it again retries."""
    unclaim(event)
    return ImportFailed(message)


def past_deadline(event: dict) -> bool:
    return dt.datetime.now(dt.timezone.utc) > dt.datetime.fromisoformat(event["deadline"].replace("Z", "+00:00"))

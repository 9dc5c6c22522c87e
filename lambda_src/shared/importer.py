"""One audience import, whatever the destination: the loop every import function runs, and what a destination
implements (``Destination``). A function's ``handler.py`` is its destination plus
``def handler(event, context): return importer.handle(event, DESTINATION)``.

Its workflow calls it once per step (``contract.ImportRequest``):

- ``check`` the delivered audience (``contract.DeliveredAudience``): which file exists (a CSV dropped by hand may
  arrive with its key URL-encoded; it is named after its file and kept under the job folder ``dropped``), its version
  (ETag) and what is wrong with it (``problem``, None for a file that can be imported). The answer is the
  ``contract.Audience`` the later steps get. The file is streamed, never held; a problem never quotes a line.
- ``start`` the import, once per file version: the delivery that claims the marker
  ``<prefix><job>/_imports/<destination>/<segment>/<etag>.json`` (``shared/claims.py``) starts the destination's
  import and records it there. A later delivery of the same version joins it (``STARTED`` with its fields), stops at
  ``ALREADY_IMPORTED`` once it is imported, and gets ``ImportStarting`` (retried) while it is being started. The
  destination records its import job as soon as it exists (``record``), before the rest of its start (an upload):
  a start that fails marks the claim abandoned (or releases it, when nothing was recorded), a start that dies (a
  timeout) leaves it to be taken over once stale; either way the delivery that takes it over resumes or follows the
  recorded job (``begun``) instead of starting a second one.
- ``poll`` it until the destination reports it done (``IMPORTED``, recorded in the marker), or failed
  (``ImportFailed`` with the destination's reason; the claim is released, so delivering the file again retries), or
  ``IMPORT_BUDGET_SECONDS`` run out (``PollingBudgetExceeded``; the claim of an import the destination started is kept,
  so a later delivery follows it, while one given up before, e.g. during Pinpoint's endpoint export, is released).
  Once an import is over, done or given up, the destination cleans up what it left behind. Of the deliveries that
  follow one import to its end, the first to record it reports it (``IMPORTED``); the others answer
  ``ALREADY_IMPORTED`` (done), so one import is reported once.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import os
import re
import uuid
from typing import Callable, Optional, Protocol, Union
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from shared import claims
from shared.audiences import job_folder, s3
from shared.aws import logger
from shared.contract import (ALREADY_IMPORTED, AUDIENCE_HEADER, IMPORTED, STARTED, Audience, DeliveredAudience, Env,
                             ImportFailed, ImportRequest, ImportStarting, ImportState, PollingBudgetExceeded)

MAX_BYTES = 1024 ** 3  # Pinpoint and Customer Profiles both take files under 1 GB
DROPPED_JOB = "dropped"  # the job folder of CSVs dropped by hand: their markers are under <prefix>dropped/_imports/
TRANSIENT = ("deadline", "done", "status", "delivery")  # of one delivery's answers, never recorded in the marker
log = logger(__name__)


# ---------------------------------------------------------------- what a destination implements


@dataclasses.dataclass(frozen=True)
class Running:
    """In progress: ``status`` is the service's word for it, ``what`` names it in the timeout message. ``fields``:
    what this poll started (a job); such a poll made progress, so the deadline is checked from the next one on."""

    what: str
    status: str
    fields: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Done:
    """Imported: ``fields`` are ``segmentId``, ``size`` and the destination's own, answered and recorded."""

    fields: dict


@dataclasses.dataclass(frozen=True)
class Failed:
    """The import failed: ``reason`` says why (never quoting a user ID); ``fields``, what ``cleanup`` needs to know."""

    reason: str
    fields: dict = dataclasses.field(default_factory=dict)


Progress = Union[Running, Done, Failed]


class Destination(Protocol):
    """Where audiences are imported: one module, the import function's ``handler.py``."""

    name: str  # its markers' folder, <prefix><job>/_imports/<name>/, which its construct grants

    def start(self, audience: Audience, marker: str, begun: dict, record: Callable[[dict], None]) -> dict:
        """Start importing the checked ``audience`` (claimed by ``marker``); the fields to record, ``importJobId``
        once the destination's own import job exists. A start that goes on after creating its job (an upload)
        records it at once (``record(fields)``); ``begun`` is what an earlier start of this claim recorded so and
        did not finish (it failed, or died): resume or follow that job rather than create another. A start that
        fails stops what it began, then raises."""

    def status(self, audience: Audience, state: ImportState) -> Progress:
        """How the started import is doing; it may take it a step further (define the segment, start the next job)."""

    def cleanup(self, audience: Audience, state: ImportState) -> None:
        """Remove what the import left behind, once it is over: done, failed, or given up before its import job."""


# ---------------------------------------------------------------- the loop


def handle(event: ImportRequest, destination: Destination) -> Union[Audience, ImportState]:
    """One step of an import function's workflow."""
    match event["action"]:
        case "check":
            return check(event["audience"])
        case "start":
            return start(destination, event["audience"])
        case "poll":
            return poll(destination, event["audience"], event["import"])
    raise ValueError(f"unknown action {event['action']!r}: check, start or poll")


def check(delivered: DeliveredAudience) -> Audience:
    bucket, key, name = delivered["bucket"], delivered["audienceKey"], delivered.get("segmentName")
    if not name:  # a CSV dropped by hand (S3 events may carry its key URL-encoded: then the decoded key is the file)
        if unquote_plus(key) != key and not exists(bucket, key):
            key = unquote_plus(key)
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", key.rsplit("/", 1)[-1].removesuffix(".csv")).strip("-_")[:100] \
            or "audience"
    problem, etag = check_audience_file(bucket, key)
    return {"bucket": bucket, "audienceKey": key, "segmentName": name,
            "jobName": delivered.get("jobName") or DROPPED_JOB, "etag": etag, "problem": problem}


def start(destination: Destination, audience: Audience) -> ImportState:
    if audience["problem"]:
        raise ValueError(f"{audience['audienceKey']} cannot be imported: {audience['problem']}")
    marker = (f"{job_folder(audience['jobName'])}_imports/{destination.name}/{audience['segmentName']}/"
              f"{audience['etag']}.json")
    deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=int(os.environ[Env.IMPORT_BUDGET_SECONDS]))
    answer = {"marker": marker, "deadline": deadline.isoformat(), "delivery": uuid.uuid4().hex}
    claim_id = uuid.uuid4().hex
    begun = claims.lease(marker, {"claimId": claim_id}, takeover=abandoned)
    if begun is None:  # this file version was delivered before: join that import
        found = claims.held(marker)  # None: released meanwhile by a start that failed, whose retry starts it again
        previous = found.content if found else {}
        if previous.get("state") == IMPORTED:
            return {**previous, **answer, "state": ALREADY_IMPORTED}
        if recorded(previous):
            return {**previous, **answer, "state": STARTED}
        raise ImportStarting(f"the import of {audience['segmentName']} is being started by another delivery")
    begun = {k: v for k, v in begun.items() if k not in ("claimId", "abandoned")}
    kept = dict(begun)  # what the claim holds of this import, for a takeover to resume

    def record(fields: dict) -> None:
        kept.update(fields)
        claims.write(marker, {**kept, "claimId": claim_id})

    try:
        state = {**destination.start(audience, marker, begun, record), "marker": marker, "claimId": claim_id}
        claims.write(marker, state)
    except Exception:
        unclaim(marker, {**kept, "claimId": claim_id})
        raise
    return {**state, **answer, "state": STARTED}


def recorded(held: dict) -> bool:
    """Whether a claim's content is a started import (recorded by its start, once the destination's start ended)."""
    return "marker" in held


def abandoned(held: dict, stale: bool) -> bool:
    """Whether the claim ``held`` may be taken over: its start failed (and said so), or it died before recording its
    import and no invocation can still be running it. A recorded import is followed, never taken over."""
    return bool(held.get("abandoned")) or (stale and not recorded(held))


def unclaim(marker: str, kept: dict) -> None:
    """After a failed start: release the claim, or, when the destination recorded a job, mark it abandoned so the
    next delivery takes it over at once and resumes that job. Never raises: the start's error is the one to report
    (a claim left as it was is taken over once stale)."""
    try:
        if set(kept) - {"claimId"}:
            claims.write(marker, {**kept, "abandoned": True})
        else:
            claims.release(marker)
    except Exception:
        log.warning("could not give up the claim", extra={"marker": marker}, exc_info=True)


def poll(destination: Destination, audience: Audience, state: ImportState) -> ImportState:
    progress = destination.status(audience, state)
    state = {**state, **progress.fields}
    match progress:
        case Failed(reason=reason):
            give_up(destination, audience, state)
            raise ImportFailed(reason)
        case Done():
            destination.cleanup(audience, state)
            return imported(state)
        case Running(what=what, status=status) if not progress.fields and past_deadline(state):
            if not state.get("importJobId"):  # nothing to follow yet: a later delivery starts anew
                give_up(destination, audience, state)
            raise PollingBudgetExceeded(f"{what} was still {status}")
    return {**state, "done": False, "status": progress.status}


def imported(state: ImportState) -> ImportState:
    """Record the import done; the first delivery to record it reports it (``IMPORTED``, again on a retry of its
    poll), any other that followed the same import answers ``ALREADY_IMPORTED``."""
    done = {**state, "state": IMPORTED, "done": True}
    while True:
        found = claims.held(state["marker"])
        held = found.content if found else {}
        if held.get("state") == IMPORTED and held.get("reportedBy") != state.get("delivery"):
            return {**done, "state": ALREADY_IMPORTED}
        record = {**{k: v for k, v in done.items() if k not in TRANSIENT}, "reportedBy": state.get("delivery")}
        if claims.write(state["marker"], record, **({"IfMatch": found.etag} if found else {"IfNoneMatch": "*"})):
            return done


def give_up(destination: Destination, audience: Audience, state: ImportState) -> None:
    """Clean up, then unclaim the file version, so delivering it again starts anew; a claim a later delivery has
    made since is left alone."""
    destination.cleanup(audience, state)
    try:
        held = claims.read(state["marker"])
    except ClientError:  # already released (or unreadable: the failure is the one to report)
        return
    if ours(state, held):
        claims.release(state["marker"])


def ours(state: ImportState, recorded: dict) -> bool:
    """Whether the marker's ``recorded`` state is of the import ``state`` follows (not of a later delivery's)."""
    return recorded.get("claimId") == state.get("claimId")


def past_deadline(state: ImportState) -> bool:
    return dt.datetime.now(dt.timezone.utc) > dt.datetime.fromisoformat(state["deadline"].replace("Z", "+00:00"))


# ---------------------------------------------------------------- the audience file and the markers


def check_audience_file(bucket: str, key: str) -> tuple[Optional[str], str]:
    """(problem or None, ETag) of the audience file at ``s3://bucket/key``, read as a stream. It is accepted only as
    the post-processor writes it: UTF-8 without BOM, the header alone on the first line, at least one user."""
    obj = s3().get_object(Bucket=bucket, Key=key)
    etag = obj["ETag"].strip('"')
    if obj["ContentLength"] >= MAX_BYTES:
        obj["Body"].close()
        return f"{key} is {obj['ContentLength']:,} bytes; imports take files under 1 GB", etag
    decoder = codecs.getincrementaldecoder("utf-8")()
    first_line, header_done, has_users, offset = b"", False, False, 0
    for chunk in obj["Body"].iter_chunks(chunk_size=1024 * 1024):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            return f"{key} is not UTF-8 (byte {offset + exc.start:,})", etag
        rest = chunk
        if not header_done:
            newline = chunk.find(b"\n")
            first_line += chunk if newline < 0 else chunk[:newline]
            header_done, rest = newline >= 0, (b"" if newline < 0 else chunk[newline + 1:])
        has_users = has_users or bool(rest.strip())
        offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return f"{key} is not UTF-8 (it ends inside a character)", etag
    if not offset:
        return f"{key} is empty", etag
    if first_line.rstrip(b"\r") != AUDIENCE_HEADER.encode():
        # never quote the line: without a header it is a user ID
        what = " (it starts with a byte-order mark)" if first_line.startswith(b"\xef\xbb\xbf") else ""
        return f"{key} must start with the header {AUDIENCE_HEADER} alone{what}", etag
    if not has_users:
        return f"{key} has the header and no users", etag
    return None, etag


def exists(bucket: str, key: str) -> bool:
    """Whether ``key`` exists, asked by listing: a function allowed to list only some prefixes gets 403, not 404, for
    a missing key."""
    listed = s3().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    return bool(listed) and listed[0]["Key"] == key

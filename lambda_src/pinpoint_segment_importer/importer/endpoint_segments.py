"""Endpoint-ID segments: one endpoint export per import, joined with the audience, imported once.

For the import claimed by the marker ``<prefix><job>/_imports/pinpoint/<name>/<etag>.json``:

    <prefix>_exports/pinpoint/<job>/<name>/<etag>/<export>/   Pinpoint's export (every endpoint's address):
                              deleted once joined, or when the import fails; a lifecycle rule expires what
                              a timeout, or an export still writing after its import gave up, leaves
    <marker without .json>/endpoint-ids.csv          the joined file (header ``Id``) that is imported
    <marker without .json>/resolving                 the lock under which one delivery joins and imports

``start`` starts the export; ``poll`` follows it, then joins (``endpoints.py``), deletes the export and
starts the import, once, however many deliveries of the file poll the same export. Later polls follow
the import like any other (``handler.py``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from typing import Iterator

from botocore.exceptions import ClientError

from pinpoint_segment_importer.importer import endpoints, jobs
from shared import imports
from shared.audiences import s3
from shared.aws import logger
from shared.destinations import MAX_BYTES, claim, exists, read_marker, release, write_marker
from shared.contract import PollingBudgetExceeded
from shared.s3_stream import MultipartWriter

log = logger(__name__)
EXPORTS = "_exports/pinpoint/"
STALE_LOCK = dt.timedelta(minutes=16)  # Lambda runs at most 15 minutes
TAKEN = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404", "AccessDenied", "403")


def bucket() -> str:
    return os.environ["AUDIENCE_BUCKET"]


def export_prefix(marker: str) -> str:
    """Where the exports of one file version go (each export in a folder of its own below)."""
    prefix = os.environ.get("AUDIENCE_PREFIX", "audiences/")
    relative = marker.removeprefix(prefix).removesuffix(".json").replace("/_imports/pinpoint/", "/", 1)
    return f"{prefix}{EXPORTS}{relative}/"


def work(marker: str, name: str) -> str:
    return f"{marker.removesuffix('.json')}/{name}"


def ids_key(marker: str) -> str:
    """The joined file that is imported: header ``Id``, one endpoint a row."""
    return work(marker, "endpoint-ids.csv")


def start(ticket: imports.Ticket) -> dict:
    delete(export_prefix(ticket.marker))  # what an earlier, failed import of this file version may have left
    export = f"{export_prefix(ticket.marker)}{uuid.uuid4().hex[:16]}/"  # never shared with an earlier export
    job = jobs.call("create_export_job", ExportJobRequest={
        "RoleArn": os.environ["EXPORT_ROLE_ARN"], "S3UrlPrefix": f"s3://{bucket()}/{export}"})["ExportJobResponse"]
    log.info("endpoint export started", extra={"segment": ticket.base["segmentName"], "exportJobId": job["Id"]})
    return ticket.started({"exportJobId": job["Id"], "exportPrefix": export})


def poll(event: dict) -> dict:
    marker, export = event["marker"], event["exportPrefix"]
    state = recorded(event)
    if state.get("importJobId"):
        return joined(event, state)
    job = jobs.call("get_export_job", JobId=event["exportJobId"])["ExportJobResponse"]
    what = f"Pinpoint endpoint export {job['Id']} for {event['segmentName']}"
    if job["JobStatus"] == jobs.FAILED:
        delete(export)
        raise imports.failed(event, f"{what} failed: {jobs.failures(job)}")
    if job["JobStatus"] != jobs.DONE:
        if imports.past_deadline(event):  # give up: a new delivery exports anew, into a folder of its own
            delete(export)  # what it wrote so far; the lifecycle rule expires anything written later
            imports.unclaim(event)
            raise PollingBudgetExceeded(f"{what} was still {job['JobStatus']}")
        return {**event, "done": False, "status": job["JobStatus"]}
    with exclusively(work(marker, "resolving")):
        state = recorded(event)
        if state.get("importJobId"):
            return joined(event, state)
        if "resolved" not in state:
            state = {**state, "resolved": resolve(event)}
            write_marker(marker, state)
        delete(export)  # on every pass: a retry after a failed delete removes it too
        counts = state["resolved"]
        if not counts["endpoints"]:
            s3().delete_object(Bucket=bucket(), Key=ids_key(marker))
            raise imports.failed(event, f"none of the {counts['users']:,} users of {event['segmentName']} has an "
                                 f"endpoint Pinpoint can message ({skipped(counts)})")
        state["importJobId"] = jobs.create_import(bucket(), ids_key(marker), event["segmentName"])
        write_marker(marker, state)
    return joined(event, state)


def recorded(event: dict) -> dict:
    """The marker of this event's import; a failure that says so if a failure released it meanwhile, or a
    later delivery claimed the file version for an import of its own."""
    try:
        state = read_marker(event["marker"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NoSuchKey", "404", "AccessDenied", "403") \
                or exists(bucket(), event["marker"]):
            raise
        raise imports.ImportFailed(f"another delivery of {event['segmentName']} failed and gave the import up; "
                                   "deliver the file again to retry") from None
    if not imports.ours(event, state):
        raise imports.ImportFailed(f"a later delivery of {event['segmentName']} started an import of its own; "
                                   "this one stops")
    return state


def joined(event: dict, state: dict) -> dict:
    """Follow the import this or another delivery started (done already, if it finished meanwhile)."""
    if state.get("state") == "IMPORTED":
        return {**event, **state, "done": True}
    return {**event, "importJobId": state["importJobId"], "resolved": state["resolved"], "done": False,
            "status": "CREATED"}


def skipped(counts: dict) -> str:
    return (f"{counts['inactive']:,} inactive, {counts['opted_out']:,} opted out, "
            f"{counts['other_channel']:,} on other channels")


@contextlib.contextmanager
def exclusively(lock: str) -> Iterator[None]:
    """One delivery at a time past this point (S3 conditional writes); the others retry, then join. A lock
    older than any invocation can run was left by one that timed out: it is taken over, conditionally on
    it being that very lock (each lock holds a token of its own, so its ETag is unique)."""
    token = uuid.uuid4().hex.encode()
    if not claim(lock, token):
        try:
            held = s3().head_object(Bucket=bucket(), Key=lock)
            if dt.datetime.now(dt.timezone.utc) - held["LastModified"] < STALE_LOCK:
                raise imports.ImportStarting("another delivery of this file is resolving its endpoints")
            s3().put_object(Bucket=bucket(), Key=lock, Body=token, IfMatch=held["ETag"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in TAKEN:
                raise
            raise imports.ImportStarting("another delivery of this file took the lock just now") from None
        log.warning("took over a lock left by a timed-out invocation", extra={"lock": lock})
    try:
        yield
    finally:
        release(lock)


def resolve(event: dict) -> dict:
    """Join the audience with every exported endpoint into ``endpoint-ids.csv``; return the counts. A join
    that cannot succeed on a retry (an unreadable export, a file over 1 GB) fails and cleans up."""
    marker = event["marker"]
    audience = s3().get_object(Bucket=event["bucket"], Key=event["audienceKey"])["Body"]
    users = endpoints.audience_users(audience.iter_lines(chunk_size=1 << 20, keepends=True))
    channels = frozenset(c for c in os.environ.get("ENDPOINT_CHANNELS", "").split(",") if c) or None
    exported = list(keys(event["exportPrefix"]))
    files = ((key, s3().get_object(Bucket=bucket(), Key=key)["Body"]) for key in exported)
    writer = MultipartWriter(s3(), bucket(), ids_key(marker))
    try:
        if not exported:
            raise endpoints.JoinFailed(f"Pinpoint's export {event['exportJobId']} left no files under "
                                       f"{event['exportPrefix']}: the project has no endpoints, or they expired")
        result = endpoints.resolve(users, files, writer.write, channels)
        if writer.bytes_written >= MAX_BYTES:
            raise endpoints.JoinFailed(
                f"the endpoint IDs of {event['segmentName']} make {writer.bytes_written:,} bytes; Pinpoint imports "
                "files under 1 GB (keep fewer channels, or split the audience)")
    except endpoints.JoinFailed as exc:
        writer.abort()
        delete(event["exportPrefix"])
        raise imports.failed(event, str(exc)) from None
    except Exception:
        writer.abort()
        raise
    writer.close()
    log.info("endpoints resolved", extra={"segment": event["segmentName"], **result.as_state()})
    return result.as_state()


def keys(prefix: str) -> Iterator[str]:
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket(), Prefix=prefix):
        yield from (o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))


def delete(prefix: str) -> None:
    """Remove an endpoint export (on a versioned bucket the lifecycle rule expires the old versions)."""
    found = list(keys(prefix))
    for start in range(0, len(found), 1000):
        s3().delete_objects(Bucket=bucket(), Delete={"Objects": [{"Key": k} for k in found[start:start + 1000]],
                                                     "Quiet": True})


def finished(event: dict) -> None:
    """The import ended: its joined file (endpoint IDs) is not needed any more."""
    s3().delete_object(Bucket=bucket(), Key=ids_key(event["marker"]))

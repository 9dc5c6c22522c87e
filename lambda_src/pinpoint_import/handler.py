"""Import one audience file into Amazon Pinpoint as a user-ID or an endpoint-ID segment.

Called by the import workflow with ``action``:
- ``start`` (input: the ``Audience Segment Ready`` event): checks the file and claims the import once per
  file version (``shared/imports.py``). User-ID segments: ``CreateImportJob`` (DefineSegment, the
  segment's readable name, no endpoint registration) on the file as it is. Endpoint-ID segments:
  ``CreateExportJob`` of the project's endpoints instead. Output ``state``: ``REJECTED`` (with
  ``reason``), ``ALREADY_IMPORTED`` or ``STARTED``.
- ``poll`` (input: ``import``, what ``start`` or the last poll returned): while an endpoint export runs,
  ``GetExportJob``; once it completes, the export is joined with the audience as a stream
  (``endpoints.py``) into an ``Id`` file next to the import marker, the export (personal data) is
  deleted, and ``CreateImportJob`` defines the segment from that file. Then ``GetImportJob``: ``done``
  when COMPLETED, ``ImportFailed`` with Pinpoint's reasons when FAILED, ``PollingBudgetExceeded`` past
  the deadline.

A user-ID segment (header ``User.UserId``) needs no lookup: Pinpoint finds the users' endpoints itself.
An endpoint-ID segment costs one export per import, never one ``GetUserEndpoints`` call per user, and
can keep only some channels. Logs carry names, job IDs and counts, never a user or endpoint ID.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from typing import Iterator

from botocore.exceptions import ClientError

from pinpoint_import import endpoints
from shared import imports
from shared.audiences import s3
from shared.aws import client, logger
from shared.destinations import MAX_BYTES, claim, read_marker, release, write_marker
from shared.errors import PollingBudgetExceeded, ServiceLimitExceeded, ServiceThrottled
from shared.s3_stream import MultipartWriter

log = logger(__name__)
DONE, FAILED = "COMPLETED", "FAILED"
ENDPOINT_ID = "endpoint-id"
STALE_LOCK = dt.timedelta(minutes=16)  # Lambda runs at most 15 minutes


def _call(operation: str, **params) -> dict:
    try:
        return getattr(client("pinpoint"), operation)(ApplicationId=os.environ["PINPOINT_APPLICATION_ID"], **params)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "TooManyRequestsException":  # also Pinpoint's answer when 2 imports already run
            raise ServiceLimitExceeded(f"{operation}: {exc.response['Error'].get('Message', '')}") from exc
        if code in ("ThrottlingException", "Throttling"):
            raise ServiceThrottled(operation) from exc
        raise


def _work(marker: str, name: str = "") -> str:
    """Where an endpoint-ID import keeps its files: next to its marker, one folder per file version."""
    return f"{marker.removesuffix('.json')}/{name}"


def _create_import(bucket: str, key: str, name: str) -> str:
    job = _call("create_import_job", ImportJobRequest={
        "Format": "CSV", "S3Url": f"s3://{bucket}/{key}", "RoleArn": os.environ["IMPORT_ROLE_ARN"],
        "DefineSegment": True, "SegmentName": name, "RegisterEndpoints": False})["ImportJobResponse"]
    log.info("import started", extra={"segment": name, "importJobId": job["Id"]})
    return job["Id"]


def start(event: dict) -> dict:
    ticket = imports.begin(event["detail"], "pinpoint")
    if ticket.answer:
        return ticket.answer
    name, base = ticket.base["segmentName"], ticket.base
    with imports.starting(ticket):
        if os.environ.get("SEGMENT_KIND") != ENDPOINT_ID:
            return ticket.started({"importJobId": _create_import(base["bucket"], base["audienceKey"], name)})
        job = _call("create_export_job", ExportJobRequest={
            "RoleArn": os.environ["EXPORT_ROLE_ARN"],
            "S3UrlPrefix": f"s3://{os.environ['AUDIENCE_BUCKET']}/{_work(ticket.marker, 'export/')}"})
        log.info("endpoint export started", extra={"segment": name, "exportJobId": job["ExportJobResponse"]["Id"]})
        return ticket.started({"exportJobId": job["ExportJobResponse"]["Id"]})


def poll(event: dict) -> dict:
    if not event.get("importJobId"):
        return poll_export(event)
    job = _call("get_import_job", JobId=event["importJobId"])["ImportJobResponse"]
    status = job["JobStatus"]
    if status == FAILED:
        raise imports.failed(event, f"Pinpoint import {job['Id']} of {event['segmentName']} failed: "
                             + ("; ".join(job.get("Failures") or []) or "no reason given"))
    if status == DONE:
        return imports.imported(event, {"segmentId": job["Definition"].get("SegmentId"),
                                        "size": job.get("TotalProcessed", 0)})
    if imports.past_deadline(event):
        raise PollingBudgetExceeded(f"Pinpoint import {job['Id']} of {event['segmentName']} was still {status}")
    return {**event, "done": False, "status": status}


# ---------------------------------------------------------------- endpoint-ID segments


def poll_export(event: dict) -> dict:
    """Follow the endpoint export; once it is complete, resolve the endpoint IDs and start the import
    exactly once, however many deliveries of the file poll the same export."""
    if _recorded(event).get("importJobId"):
        return _joined(event)
    job = _call("get_export_job", JobId=event["exportJobId"])["ExportJobResponse"]
    what = f"Pinpoint endpoint export {job['Id']} for {event['segmentName']}"
    if job["JobStatus"] == FAILED:
        _delete(_work(event["marker"], "export/"))
        raise imports.failed(event, f"{what} failed: " + ("; ".join(job.get("Failures") or []) or "no reason given"))
    if job["JobStatus"] != DONE:
        if imports.past_deadline(event):
            raise PollingBudgetExceeded(f"{what} was still {job['JobStatus']}")
        return {**event, "done": False, "status": job["JobStatus"]}
    with _exclusively(_work(event["marker"], "resolving")):
        state = _recorded(event)
        if state.get("importJobId"):
            return _joined(event)
        if "resolved" not in state:
            state = {**state, "resolved": _resolve(event)}
            write_marker(event["marker"], state)
            _delete(_work(event["marker"], "export/"))
        counts = state["resolved"]
        if not counts["endpoints"]:
            _delete(_work(event["marker"]))
            raise imports.failed(event, f"none of the {counts['users']:,} users of {event['segmentName']} has an "
                                 f"endpoint Pinpoint can message ({_skipped(counts)})")
        state["importJobId"] = _create_import(os.environ["AUDIENCE_BUCKET"], _work(event["marker"], "endpoint-ids.csv"),
                                              event["segmentName"])
        write_marker(event["marker"], state)
    return _joined(event)


def _recorded(event: dict) -> dict:
    try:
        return read_marker(event["marker"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
            raise
        raise imports.ImportFailed(f"another delivery of {event['segmentName']} failed and gave the import up; "
                                   "deliver the file again to retry") from None


def _joined(event: dict) -> dict:
    state = _recorded(event)
    return {**event, "importJobId": state["importJobId"], "resolved": state["resolved"], "done": False, "status": "CREATED"}


def _skipped(counts: dict) -> str:
    return (f"{counts['inactive']:,} inactive, {counts['opted_out']:,} opted out, "
            f"{counts['other_channel']:,} on other channels")


@contextlib.contextmanager
def _exclusively(lock: str) -> Iterator[None]:
    """One delivery at a time past this point (an S3 conditional write); the others retry, then join.
    A lock older than any invocation can run was left by one that timed out: it is taken over."""
    if not claim(lock):
        held = s3().head_object(Bucket=os.environ["AUDIENCE_BUCKET"], Key=lock)["LastModified"]
        if dt.datetime.now(dt.timezone.utc) - held < STALE_LOCK:
            raise imports.ImportStarting("another delivery of this file is resolving its endpoints")
        log.warning("taking over a lock left by a timed-out invocation", extra={"lock": lock})
        release(lock)
        if not claim(lock):
            raise imports.ImportStarting("another delivery of this file is resolving its endpoints")
    try:
        yield
    finally:
        release(lock)


def _resolve(event: dict) -> dict:
    """Join the audience with every exported endpoint into ``endpoint-ids.csv``; return the counts."""
    bucket, export = os.environ["AUDIENCE_BUCKET"], _work(event["marker"], "export/")
    audience = s3().get_object(Bucket=event["bucket"], Key=event["audienceKey"])["Body"]
    users = endpoints.audience_users(audience.iter_lines(chunk_size=1 << 20, keepends=True))
    channels = frozenset(c for c in os.environ.get("ENDPOINT_CHANNELS", "").split(",") if c) or None
    files = ((key, s3().get_object(Bucket=bucket, Key=key)["Body"]) for key in _keys(export))
    writer = MultipartWriter(s3(), bucket, _work(event["marker"], "endpoint-ids.csv"))
    try:
        result = endpoints.resolve(users, files, writer.write, channels)
    except endpoints.ExportUnreadable as exc:
        writer.abort()
        raise imports.failed(event, str(exc)) from None
    except Exception:
        writer.abort()
        raise
    if writer.bytes_written >= MAX_BYTES:
        writer.abort()
        raise imports.failed(event, f"the endpoint IDs of {event['segmentName']} make {writer.bytes_written:,} bytes; "
                             "Pinpoint imports files under 1 GB (keep fewer channels, or split the audience)")
    writer.close()
    log.info("endpoints resolved", extra={"segment": event["segmentName"], **result.as_state()})
    return result.as_state()


def _keys(prefix: str) -> Iterator[str]:
    pages = s3().get_paginator("list_objects_v2").paginate(Bucket=os.environ["AUDIENCE_BUCKET"], Prefix=prefix)
    for page in pages:
        yield from (o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))


def _delete(prefix: str) -> None:
    """Remove the endpoint export: it holds every endpoint's address and attributes."""
    keys = list(_keys(prefix))
    for start in range(0, len(keys), 1000):
        s3().delete_objects(Bucket=os.environ["AUDIENCE_BUCKET"],
                            Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})


def handler(event, context):
    if event["action"] == "poll":
        return poll(event["import"])
    return start(event)

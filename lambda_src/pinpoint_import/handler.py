"""Import one audience file into Amazon Pinpoint as a user-ID segment.

Called by the import workflow with ``action``:
- ``start`` (input: the ``Audience Segment Ready`` event): checks the file, claims the import once per
  file version, and calls ``CreateImportJob`` (DefineSegment, the segment's readable name, no endpoint
  registration). Output ``state``: ``REJECTED`` (with ``reason``), ``ALREADY_IMPORTED`` or ``STARTED``.
- ``poll`` (input: ``import``, what ``start`` or the last poll returned): ``GetImportJob``; ``done`` when COMPLETED, an
  ``ImportFailed`` error with Pinpoint's reasons when FAILED, ``PollingBudgetExceeded`` past the deadline.

A user-ID segment is the file as the post-processor writes it (header ``User.UserId``): Pinpoint looks the
users' endpoints up itself, so nothing is resolved here, one user at a time or otherwise.
"""

from __future__ import annotations

import datetime as dt
import os

from botocore.exceptions import ClientError

from shared.audiences import job_folder
from shared.aws import client, logger
from shared.destinations import check_audience_file, claim, read_marker, release, write_marker
from shared.errors import PollingBudgetExceeded, ServiceLimitExceeded, ServiceThrottled

log = logger(__name__)
DONE, FAILED = "COMPLETED", "FAILED"


class ImportFailed(Exception):
    """Pinpoint reported the import job FAILED; the message carries its reasons."""


class ImportStarting(Exception):
    """Another delivery of this file claimed the import and is starting it: retried, then joined."""


def _call(operation: str, **params) -> dict:
    try:
        return getattr(client("pinpoint"), operation)(**params)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "TooManyRequestsException":  # also Pinpoint's answer when 2 imports already run
            raise ServiceLimitExceeded(f"{operation}: {exc.response['Error'].get('Message', '')}") from exc
        if code in ("ThrottlingException", "Throttling"):
            raise ServiceThrottled(operation) from exc
        raise


def start(event: dict) -> dict:
    detail = event["detail"]
    segment, bucket = detail["segment"], detail["bucket"]
    name, key = segment["name"], segment["audienceKey"]
    deadline = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=int(os.environ["IMPORT_BUDGET_SECONDS"]))
    base = {"segmentName": name, "audienceKey": key, "jobName": detail["jobName"], "deadline": deadline.isoformat()}
    problem, etag = check_audience_file(bucket, key)
    if problem:
        return {**base, "state": "REJECTED", "reason": problem}
    marker = f"{job_folder(detail['jobName'])}_imports/pinpoint/{name}/{etag}.json"
    if not claim(marker):  # this file version was delivered before: join that import
        previous = read_marker(marker)
        if previous.get("state") == "IMPORTED":
            return {**base, **previous, "state": "ALREADY_IMPORTED"}
        if previous.get("importJobId"):
            return {**base, **previous, "state": "STARTED"}
        raise ImportStarting(f"the import of {name} is being started by another delivery")
    try:
        response = _call("create_import_job", ApplicationId=os.environ["PINPOINT_APPLICATION_ID"], ImportJobRequest={
            "Format": "CSV", "S3Url": f"s3://{bucket}/{key}", "RoleArn": os.environ["IMPORT_ROLE_ARN"],
            "DefineSegment": True, "SegmentName": name, "RegisterEndpoints": False})["ImportJobResponse"]
    except Exception:
        release(marker)  # unclaimed again, so the retry (or a later delivery) can start it
        raise
    state = {"importJobId": response["Id"], "marker": marker}
    write_marker(marker, state)
    log.info("import started", extra={"segment": name, "importJobId": response["Id"]})
    return {**base, **state, "state": "STARTED"}


def poll(event: dict) -> dict:
    job = _call("get_import_job", ApplicationId=os.environ["PINPOINT_APPLICATION_ID"],
                JobId=event["importJobId"])["ImportJobResponse"]
    status = job["JobStatus"]
    if status == FAILED:
        raise ImportFailed(f"Pinpoint import {job['Id']} of {event['segmentName']} failed: "
                           + ("; ".join(job.get("Failures") or []) or "no reason given"))
    if status == DONE:
        state = {"state": "IMPORTED", "importJobId": job["Id"], "segmentId": job["Definition"].get("SegmentId"),
                 "size": job.get("TotalProcessed", 0)}
        write_marker(event["marker"], state)
        return {**event, **state, "done": True}
    if dt.datetime.now(dt.timezone.utc) > dt.datetime.fromisoformat(event["deadline"].replace("Z", "+00:00")):
        raise PollingBudgetExceeded(f"Pinpoint import {job['Id']} of {event['segmentName']} was still {status}")
    return {**event, "done": False, "status": status}


def handler(event, context):
    if event["action"] == "poll":
        return poll(event["import"])
    return start(event)

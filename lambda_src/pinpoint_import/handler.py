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

import os

from botocore.exceptions import ClientError

from shared import imports
from shared.aws import client, logger
from shared.errors import PollingBudgetExceeded, ServiceLimitExceeded, ServiceThrottled

log = logger(__name__)
DONE, FAILED = "COMPLETED", "FAILED"


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
    ticket = imports.begin(event["detail"], "pinpoint")
    if ticket.answer:
        return ticket.answer
    name = ticket.base["segmentName"]
    with imports.starting(ticket):
        response = _call("create_import_job", ApplicationId=os.environ["PINPOINT_APPLICATION_ID"], ImportJobRequest={
            "Format": "CSV", "S3Url": f"s3://{ticket.base['bucket']}/{ticket.base['audienceKey']}",
            "RoleArn": os.environ["IMPORT_ROLE_ARN"], "DefineSegment": True, "SegmentName": name,
            "RegisterEndpoints": False})["ImportJobResponse"]
    log.info("import started", extra={"segment": name, "importJobId": response["Id"]})
    return ticket.started({"importJobId": response["Id"]})


def poll(event: dict) -> dict:
    job = _call("get_import_job", ApplicationId=os.environ["PINPOINT_APPLICATION_ID"],
                JobId=event["importJobId"])["ImportJobResponse"]
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


def handler(event, context):
    if event["action"] == "poll":
        return poll(event["import"])
    return start(event)

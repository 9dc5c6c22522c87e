"""Import one audience file into Amazon Connect Customer Profiles and define its segment.

Called by the import workflow with ``action``:
- ``start`` (input: the ``Audience Segment Ready`` event): checks the file and claims the import once per
  file version (see ``shared/imports.py``), then ``CreateUploadJob`` (the team's ``DataExpiry``, the user ID
  mapped to the profile key the team chose, and a batch marker mapped to a profile attribute of this
  segment) → ``GetUploadJobPath`` → upload (``upload.py``) → ``StartUploadJob``. If any step after the
  create fails, the job is stopped and the claim released, so nothing is left half-started.
- ``poll`` (input: ``import``): ``GetUploadJob``. Once SUCCEEDED (or PARTIALLY_SUCCEEDED with profiles
  written), the segment definition is created, or replaced when it selected an earlier file version:
  profiles whose segment attribute holds this import's batch marker. FAILED or STOPPED raises
  ``ImportFailed`` with the service's reason; ``PollingBudgetExceeded`` past the deadline.

Segment definition names follow the audience names (``[A-Za-z0-9_-]``, at most 64 characters, shortened
with a hash when longer). Logs carry names, job IDs and counts, never a user ID.
"""

from __future__ import annotations

import hashlib
import os

from botocore.exceptions import ClientError

from connect_segment_importer.importer import upload
from shared import imports
from shared.audiences import s3
from shared.aws import client, logger
from shared.contract import PollingBudgetExceeded, ServiceThrottled

log = logger(__name__)
WRITTEN, FAILED = ("SUCCEEDED", "PARTIALLY_SUCCEEDED"), ("FAILED", "STOPPED")
REASONS = {"VALIDATION_FAILURE": "the file did not pass Customer Profiles' validation",
           "INTERNAL_FAILURE": "Customer Profiles failed internally"}
NAME_MAX = 64
ATTRIBUTE_PREFIX = "PersonalizeSegment_"


def _call(operation: str, **params) -> dict:
    try:
        return getattr(client("customer-profiles"), operation)(DomainName=os.environ["DOMAIN_NAME"], **params)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ThrottlingException", "TooManyRequestsException"):
            raise ServiceThrottled(operation) from exc
        raise


def definition_name(segment_name: str) -> str:
    if len(segment_name) <= NAME_MAX:
        return segment_name
    digest = hashlib.sha256(segment_name.encode()).hexdigest()[:8]
    return f"{segment_name[:NAME_MAX - 9].rstrip('-_')}-{digest}"


def fields(attribute: str) -> dict:
    return {upload.USER_COLUMN: {"Source": f"_source.{upload.USER_COLUMN}", "Target": os.environ["USER_ID_TARGET"],
                                 "ContentType": "STRING"},
            upload.BATCH_COLUMN: {"Source": f"_source.{upload.BATCH_COLUMN}",
                                  "Target": f"_profile.Attributes.{attribute}", "ContentType": "STRING"}}


def start(event: dict) -> dict:
    ticket = imports.begin(event["detail"], "connect")
    if ticket.answer:
        return ticket.answer
    name, bucket, key = ticket.base["segmentName"], ticket.base["bucket"], ticket.base["audienceKey"]
    definition = definition_name(name)
    state = {"segmentDefinitionName": definition, "attribute": f"{ATTRIBUTE_PREFIX}{definition}",
             "batch": hashlib.sha256(f"{key}\0{ticket.etag}".encode()).hexdigest()[:16]}
    with imports.starting(ticket):
        job_id = _call("create_upload_job", DisplayName=name, Fields=fields(state["attribute"]),
                       UniqueKey=upload.USER_COLUMN, DataExpiry=int(os.environ["DATA_EXPIRY_DAYS"]))["JobId"]
        try:
            path = _call("get_upload_job_path", JobId=job_id)

            def rows():
                body = s3().get_object(Bucket=bucket, Key=key, IfMatch=ticket.etag)["Body"]
                return upload.rows_for_upload(body.iter_lines(chunk_size=upload.PIECE, keepends=True), state["batch"])

            sent = upload.put(path["Url"], path.get("ClientToken"), rows)
            _call("start_upload_job", JobId=job_id)
        except Exception:
            _stop(job_id)
            raise
    log.info("upload job started", extra={"segment": name, "uploadJobId": job_id, "bytes": sent})
    return ticket.started({"importJobId": job_id, **state})


def _stop(job_id: str) -> None:
    try:
        _call("stop_upload_job", JobId=job_id)
    except Exception:  # the original error is the one to report
        log.warning("could not stop upload job", extra={"uploadJobId": job_id}, exc_info=True)


def poll(event: dict) -> dict:
    job = _call("get_upload_job", JobId=event["importJobId"])
    status, summary = job["Status"], job.get("ResultsSummary") or {}
    written = summary.get("CreatedRecords", 0) + summary.get("UpdatedRecords", 0)
    about = f"Customer Profiles upload job {event['importJobId']} of {event['segmentName']}"
    if status in FAILED or (status in WRITTEN and not written):
        reason = REASONS.get(job.get("StatusReason"), job.get("StatusReason") or "no reason given")
        raise imports.failed(event, f"{about} ended {status}: {reason} "
                                    f"({summary.get('FailedRecords', 0)} records failed, {written} written)")
    if status in WRITTEN:
        arn = define_segment(event)
        log.info("segment defined", extra={"segment": event["segmentName"], "written": written,
                                           "failed": summary.get("FailedRecords", 0)})
        return imports.imported(event, {"segmentId": event["segmentDefinitionName"], "segmentArn": arn,
                                        "size": written, "failedRecords": summary.get("FailedRecords", 0)})
    if imports.past_deadline(event):
        raise PollingBudgetExceeded(f"{about} was still {status}")
    return {**event, "done": False, "status": status}


def define_segment(event: dict) -> str:
    """The segment of this import's profiles: created, kept if it already is, or replaced."""
    groups = {"Include": "ALL", "Groups": [{"Type": "ALL", "Dimensions": [{"ProfileAttributes": {"Attributes": {
        event["attribute"]: {"DimensionType": "INCLUSIVE", "Values": [event["batch"]]}}}}]}]}
    name = event["segmentDefinitionName"]
    try:
        existing = _call("get_segment_definition", SegmentDefinitionName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        existing = None
    if existing and existing.get("SegmentGroups") == groups:
        return existing["SegmentDefinitionArn"]
    if existing:  # an earlier file version of this audience: the definition has no update call
        _call("delete_segment_definition", SegmentDefinitionName=name)
    return _call("create_segment_definition", SegmentDefinitionName=name, DisplayName=event["segmentName"],
                 Description=f"Amazon Personalize audience {event['segmentName']} "
                             f"(s3://{event['bucket']}/{event['audienceKey']})",
                 SegmentGroups=groups)["SegmentDefinitionArn"]


def handler(event, context):
    if event["action"] == "poll":
        return poll(event["import"])
    return start(event)

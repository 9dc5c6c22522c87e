"""Import one audience file into Amazon Connect Customer Profiles and define its segment (the loop, the file check
and the claims: ``shared/importer.py``).

- ``start``: ``CreateUploadJob`` (the team's ``DataExpiry``, the user ID mapped to the profile key the team chose,
  and a batch marker mapped to a profile attribute of this segment), recorded in the claim at once →
  ``GetUploadJobPath`` → upload (``upload.py``) → ``StartUploadJob``. If any step after the create fails, the job is
  stopped. A start that takes over the claim of one that failed or died finds its job recorded (``begun``): it
  follows a job already started, resumes one still CREATED (its stop failed, or its start died before
  ``StartUploadJob``) and creates a new one only in place of a STOPPED job: no file is ingested twice, and no job
  is left CREATED (but by a start that died between CreateUploadJob's answer and its record: that job never runs).
- ``status``: ``GetUploadJob``. Once SUCCEEDED (or PARTIALLY_SUCCEEDED with profiles written), the segment
  definition is created, or replaced when it selected an earlier file version: profiles whose segment attribute
  holds this import's batch marker. Two deliveries following one import may both find it missing and create it:
  the second create fails, and the definition is accepted when it is the one wanted. FAILED or STOPPED is a
  failure with the service's reason.
- ``cleanup``: nothing; an upload job that ended leaves nothing behind.

Segment definition names follow the audience names (``[A-Za-z0-9_-]``, at most 64 characters, shortened with a hash
when longer). Logs carry names, job IDs and counts, never a user ID.
"""

from __future__ import annotations

import hashlib
import os
from typing import Callable

from botocore.exceptions import ClientError

from connect_segment_importer.importer import upload
from shared import importer
from shared.audiences import s3
from shared.aws import call, logger
from shared.contract import Audience, Env, ImportState

log = logger(__name__)
WRITTEN, FAILED = ("SUCCEEDED", "PARTIALLY_SUCCEEDED"), ("FAILED", "STOPPED")
REASONS = {"VALIDATION_FAILURE": "the file did not pass Customer Profiles' validation",
           "INTERNAL_FAILURE": "Customer Profiles failed internally"}
NAME_MAX = 64
ATTRIBUTE_PREFIX = "PersonalizeSegment_"


def profiles(operation: str, **params) -> dict:
    """``operation`` on this importer's domain (throttling becomes ``ServiceThrottled``: ``shared.aws.call``)."""
    return call("customer-profiles", operation, DomainName=os.environ[Env.DOMAIN_NAME], **params)


def definition_name(segment_name: str) -> str:
    if len(segment_name) <= NAME_MAX:
        return segment_name
    digest = hashlib.sha256(segment_name.encode()).hexdigest()[:8]
    return f"{segment_name[:NAME_MAX - 9].rstrip('-_')}-{digest}"


def fields(attribute: str) -> dict:
    return {upload.USER_COLUMN: {"Source": f"_source.{upload.USER_COLUMN}",
                                 "Target": os.environ[Env.USER_ID_TARGET], "ContentType": "STRING"},
            upload.BATCH_COLUMN: {"Source": f"_source.{upload.BATCH_COLUMN}",
                                  "Target": f"_profile.Attributes.{attribute}", "ContentType": "STRING"}}


class Connect:
    name = "connect"

    def start(self, audience: Audience, marker: str, begun: dict, record: Callable[[dict], None]) -> dict:
        name, bucket, key, etag = audience["segmentName"], audience["bucket"], audience["audienceKey"], audience["etag"]
        definition = definition_name(name)
        state = {"segmentDefinitionName": definition, "attribute": f"{ATTRIBUTE_PREFIX}{definition}",
                 "batch": hashlib.sha256(f"{key}\0{etag}".encode()).hexdigest()[:16]}
        job_id = begun.get("importJobId")
        if job_id:
            status = profiles("get_upload_job", JobId=job_id)["Status"]
            log.info("upload job of an earlier start found", extra={"segment": name, "uploadJobId": job_id,
                                                                    "status": status})
            if status == "STOPPED":  # stopped by the start that failed: nothing of it was ingested
                job_id = None
            elif status != "CREATED":  # started before that start could record it (ended since, maybe): follow it
                return {"importJobId": job_id, **state}
        if not job_id:
            job_id = profiles("create_upload_job", DisplayName=name, Fields=fields(state["attribute"]),
                              UniqueKey=upload.USER_COLUMN, DataExpiry=int(os.environ[Env.DATA_EXPIRY_DAYS]))["JobId"]
            record({"importJobId": job_id, **state})
        try:
            path = profiles("get_upload_job_path", JobId=job_id)

            def rows():
                body = s3().get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"]
                return upload.rows_for_upload(body.iter_lines(chunk_size=upload.PIECE, keepends=True), state["batch"])

            sent = upload.put(path["Url"], path.get("ClientToken"), rows)
            profiles("start_upload_job", JobId=job_id)
        except Exception:
            stop(job_id)
            raise
        log.info("upload job started", extra={"segment": name, "uploadJobId": job_id, "bytes": sent})
        return {"importJobId": job_id, **state}

    def status(self, audience: Audience, state: ImportState) -> importer.Progress:
        job = profiles("get_upload_job", JobId=state["importJobId"])
        status, summary = job["Status"], job.get("ResultsSummary") or {}
        written = summary.get("CreatedRecords", 0) + summary.get("UpdatedRecords", 0)
        failed = summary.get("FailedRecords", 0)
        what = f"Customer Profiles upload job {state['importJobId']} of {audience['segmentName']}"
        if status in FAILED or (status in WRITTEN and not written):
            reason = REASONS.get(job.get("StatusReason"), job.get("StatusReason") or "no reason given")
            return importer.Failed(f"{what} ended {status}: {reason} ({failed} records failed, {written} written)")
        if status in WRITTEN:
            arn = define_segment(audience, state)
            log.info("segment defined", extra={"segment": audience["segmentName"], "written": written,
                                               "failed": failed})
            return importer.Done({"segmentId": state["segmentDefinitionName"], "segmentArn": arn, "size": written,
                                  "failedRecords": failed})
        return importer.Running(what, status)

    def cleanup(self, audience: Audience, state: ImportState) -> None:
        """An upload job that ended leaves nothing behind (``start`` stops one it could not start)."""


def stop(job_id: str) -> None:
    try:
        profiles("stop_upload_job", JobId=job_id)
    except Exception:  # the original error is the one to report
        log.warning("could not stop upload job", extra={"uploadJobId": job_id}, exc_info=True)


def define_segment(audience: Audience, state: ImportState) -> str:
    """The segment of this import's profiles: created, kept if it already is, or replaced."""
    groups = {"Include": "ALL", "Groups": [{"Type": "ALL", "Dimensions": [{"ProfileAttributes": {"Attributes": {
        state["attribute"]: {"DimensionType": "INCLUSIVE", "Values": [state["batch"]]}}}}]}]}
    name = state["segmentDefinitionName"]
    existing = segment_definition(name)
    if existing and existing.get("SegmentGroups") == groups:
        return existing["SegmentDefinitionArn"]
    if existing:  # an earlier file version of this audience: the definition has no update call
        absent_ok("delete_segment_definition", SegmentDefinitionName=name)  # or another poll deleted it
    try:
        return profiles("create_segment_definition", SegmentDefinitionName=name, DisplayName=audience["segmentName"],
                        Description=f"Amazon Personalize audience {audience['segmentName']} "
                                    f"(s3://{audience['bucket']}/{audience['audienceKey']})",
                        SegmentGroups=groups)["SegmentDefinitionArn"]
    except ClientError as exc:  # it exists: another poll of this import defined it meanwhile, as wanted or not
        if exc.response["Error"]["Code"] != "BadRequestException":
            raise
        existing = segment_definition(name)
        if existing and existing.get("SegmentGroups") == groups:
            return existing["SegmentDefinitionArn"]
        raise


def segment_definition(name: str) -> dict | None:
    return absent_ok("get_segment_definition", SegmentDefinitionName=name)


def absent_ok(operation: str, **params) -> dict | None:
    """``operation``'s answer, or None when its resource does not exist (ResourceNotFoundException)."""
    try:
        return profiles(operation, **params)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return None


DESTINATION = Connect()


def handler(event, context):
    return importer.handle(event, DESTINATION)

"""The Pinpoint calls of the importer: errors the workflow retries, and the segment import itself."""

from __future__ import annotations

import os

from botocore.exceptions import ClientError

from shared.aws import client, logger
from shared.contract import ServiceLimitExceeded, ServiceThrottled

log = logger(__name__)
DONE, FAILED = "COMPLETED", "FAILED"


def call(operation: str, **params) -> dict:
    """``operation`` on this importer's project; quota and throttling answers become retried errors."""
    try:
        return getattr(client("pinpoint"), operation)(ApplicationId=os.environ["PINPOINT_APPLICATION_ID"], **params)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "TooManyRequestsException":  # also Pinpoint's answer when 2 imports already run
            raise ServiceLimitExceeded(f"{operation}: {exc.response['Error'].get('Message', '')}") from exc
        if code in ("ThrottlingException", "Throttling"):
            raise ServiceThrottled(operation) from exc
        raise


def create_import(bucket: str, key: str, name: str) -> str:
    """A segment named ``name`` from the CSV at ``s3://bucket/key``; its import job ID."""
    job = call("create_import_job", ImportJobRequest={
        "Format": "CSV", "S3Url": f"s3://{bucket}/{key}", "RoleArn": os.environ["IMPORT_ROLE_ARN"],
        "DefineSegment": True, "SegmentName": name, "RegisterEndpoints": False})["ImportJobResponse"]
    log.info("import started", extra={"segment": name, "importJobId": job["Id"]})
    return job["Id"]


def failures(job: dict) -> str:
    return "; ".join(job.get("Failures") or []) or "no reason given"

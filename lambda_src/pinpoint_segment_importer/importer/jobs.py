"""The Pinpoint calls of the importer, on its project: the segment import, and the job states it polls."""

from __future__ import annotations

import os

from shared.aws import call, logger
from shared.contract import Env

log = logger(__name__)
DONE, FAILED = "COMPLETED", "FAILED"


def pinpoint(operation: str, **params) -> dict:
    """``operation`` on this importer's project (throttling, and Pinpoint's answer while it runs 2 imports, become
    ``ServiceThrottled``: ``shared.aws.call``)."""
    return call("pinpoint", operation, ApplicationId=os.environ[Env.PINPOINT_APPLICATION_ID], **params)


def create_import(bucket: str, key: str, name: str) -> str:
    """A segment named ``name`` from the CSV at ``s3://bucket/key``; its import job ID."""
    job = pinpoint("create_import_job", ImportJobRequest={
        "Format": "CSV", "S3Url": f"s3://{bucket}/{key}", "RoleArn": os.environ[Env.IMPORT_ROLE_ARN],
        "DefineSegment": True, "SegmentName": name, "RegisterEndpoints": False})["ImportJobResponse"]
    log.info("import started", extra={"segment": name, "importJobId": job["Id"]})
    return job["Id"]


def failures(job: dict) -> str:
    return "; ".join(job.get("Failures") or []) or "no reason given"

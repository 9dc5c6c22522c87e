"""The Pinpoint calls of the importer, on its project: the segment import, and the job states it polls.

Each audience has one Pinpoint segment, updated in place by every refresh: the first import defines it, and its ID is
kept at ``<audience prefix>_segments/pinpoint/<audience>.json``; later imports name it (``ImportJobRequest.SegmentId``),
so Pinpoint adds a version of it instead of a new segment. A segment deleted by hand is defined again.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from botocore.exceptions import ClientError

from shared.audiences import audience_bucket, s3
from shared.aws import call, logger
from shared.contract import Env

log = logger(__name__)
DONE, FAILED = "COMPLETED", "FAILED"


def pinpoint(operation: str, **params) -> dict:
    """``operation`` on this importer's project (throttling, and Pinpoint's answer while it runs 2 imports, become
    ``ServiceThrottled``: ``shared.aws.call``)."""
    return call("pinpoint", operation, ApplicationId=os.environ[Env.PINPOINT_APPLICATION_ID], **params)


def segment_key(name: str) -> str:
    return f"{os.environ[Env.AUDIENCE_PREFIX]}_segments/pinpoint/{name}.json"


def known_segment(name: str) -> Optional[str]:
    """The ID of the audience's Pinpoint segment, once an import defined it."""
    try:
        return json.loads(s3().get_object(Bucket=audience_bucket(), Key=segment_key(name))["Body"].read())["segmentId"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def remember_segment(name: str, segment_id: str) -> None:
    s3().put_object(Bucket=audience_bucket(), Key=segment_key(name), ContentType="application/json",
                    Body=json.dumps({"segmentName": name, "segmentId": segment_id}).encode())


def create_import(bucket: str, key: str, name: str) -> str:
    """The audience ``name``'s segment, from the CSV at ``s3://bucket/key``: a new version of the segment an earlier
    import defined, or a new segment; its import job ID."""
    request = {"Format": "CSV", "S3Url": f"s3://{bucket}/{key}", "RoleArn": os.environ[Env.IMPORT_ROLE_ARN],
               "DefineSegment": True, "SegmentName": name, "RegisterEndpoints": False}
    segment = known_segment(name)
    try:
        job = pinpoint("create_import_job", ImportJobRequest={**request, **({"SegmentId": segment} if segment else {})})
    except ClientError as exc:
        if not segment or exc.response["Error"]["Code"] != "NotFoundException":
            raise
        log.warning("the audience's segment was deleted; defining it again", extra={"segment": name})
        job = pinpoint("create_import_job", ImportJobRequest=request)
    job = job["ImportJobResponse"]
    log.info("import started", extra={"segment": name, "importJobId": job["Id"], "inPlace": bool(segment)})
    return job["Id"]


def failures(job: dict) -> str:
    return "; ".join(job.get("Failures") or []) or "no reason given"

"""First pass over a completed batch segment job: one work item per output line.

Input: the triggering event, either the MPEwML ``Personalize Batch Segment Job State Change``
(``detail.Arn``) or an S3 ``Object Created`` event for a ``.out`` file. Reads
``DescribeBatchSegmentJob`` and lists the job's output path (no file name is assumed),
then scans each ``.out`` file for line boundaries only. Output: ``jobName``, ``jobArn``,
``itemsKey`` (a JSON array of line items for the Distributed Map, each with the ``audienceScope`` its
audiences are named after: the job's solution), ``lines``, ``sourceId``
and ``skip`` (true when this exact output was already exported and announced).
"""

from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from shared.audiences import MAX_USERS_PER_LINE, audience_bucket, manifest_key, s3, split_s3_uri, work_key
from shared.s3_stream import line_ranges
from shared.aws import call, logger
from shared.contract import S3_SOURCE, Env

log = logger(__name__)
ABSENT = ("NoSuchKey", "404", "403", "AccessDenied")
NOTHING_TO_EXPORT = {"skip": True, "lines": 0, "itemsKey": None}  # the workflow's AlreadyExported? choice


def _watched(bucket: str, prefix: str) -> bool:
    """Whether a job's output lands where this post-processor watches (its source bucket and output prefix).
    Every post-processor on a bus hears every job's event; each exports only its own jobs."""
    return bucket == os.environ[Env.SOURCE_BUCKET] and prefix.startswith(os.environ[Env.BATCH_OUTPUT_PREFIX])


def _job_from_arn(arn: str) -> dict | None:
    job = call("personalize", "describe_batch_segment_job", batchSegmentJobArn=arn)["batchSegmentJob"]
    if job["status"] != "ACTIVE":
        raise ValueError(f"batch segment job {arn} is {job['status']}, not ACTIVE")
    bucket, prefix = split_s3_uri(job["jobOutput"]["s3DataDestination"]["path"])
    if not _watched(bucket, prefix):
        log.info("not this post-processor's job", extra={"jobArn": arn, "outputBucket": bucket})
        return None
    files = []
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        files += [(bucket, o["Key"], o["ETag"]) for o in page.get("Contents", []) if o["Key"].endswith(".out")]
    if not files:
        raise ValueError(f"no .out file under s3://{bucket}/{prefix} for {arn}")
    # the audiences' identity: the solution (every version and run of it), whose ARN also names its dataset group
    return {"jobName": job["jobName"], "jobArn": arn, "capacity": job.get("numResults") or MAX_USERS_PER_LINE,
            "files": files, "audienceScope": job["solutionVersionArn"].rsplit("/", 1)[0]}


def _job_from_object(bucket: str, key: str) -> dict:
    try:
        head = s3().head_object(Bucket=bucket, Key=key)
    except ClientError as exc:  # S3 event keys may arrive URL-encoded: then the decoded key exists
        if exc.response["Error"]["Code"] not in ABSENT or unquote_plus(key) == key:
            raise
        key = unquote_plus(key)
        head = s3().head_object(Bucket=bucket, Key=key)
    folders = [f for f in key.split("/")[:-1] if f]
    folder = folders[-2] if len(folders) >= 2 and folders[-1] == "output" else (folders[-1] if folders else "")
    stem = key.rsplit("/", 1)[-1].removesuffix(".out").removesuffix(".json")
    # the folder, and the file unless it is the job_config.json convention: two files never share a name
    name = folder if folder and stem == "job_config" else "-".join(p for p in (folder, stem) if p)
    return {"jobName": name, "jobArn": None, "capacity": MAX_USERS_PER_LINE, "files": [(bucket, key, head["ETag"])],
            "audienceScope": name}


def _already_exported(job_name: str, source_id: str) -> bool:
    try:
        body = s3().get_object(Bucket=audience_bucket(), Key=manifest_key(job_name))["Body"].read()
    except ClientError as exc:
        # Without s3:ListBucket, S3 answers a missing key with 403, not 404.
        if exc.response["Error"]["Code"] in ABSENT:
            return False
        raise
    manifest = json.loads(body)
    return manifest.get("sourceId") == source_id and manifest.get("eventsPublished") is True


def handler(event, context):
    detail = event.get("detail", {})
    if event.get("source") == S3_SOURCE:
        job = _job_from_object(detail["bucket"]["name"], detail["object"]["key"])
    else:
        job = _job_from_arn(detail["Arn"])
        if job is None:  # written elsewhere: another post-processor's job
            return {"jobName": None, "jobArn": detail["Arn"], "sourceId": None, "sourceFiles": [], **NOTHING_TO_EXPORT,
                    "reason": "output outside this post-processor's bucket and prefix"}
    source_id = hashlib.sha256(json.dumps(sorted(job["files"])).encode()).hexdigest()[:16]
    result = {"jobName": job["jobName"], "jobArn": job["jobArn"], "sourceId": source_id,
              "sourceFiles": [f"s3://{b}/{k}" for b, k, _ in job["files"]]}
    if _already_exported(job["jobName"], source_id):
        log.info("already exported", extra={"job": job["jobName"], "sourceId": source_id})
        return {**result, **NOTHING_TO_EXPORT}
    items = []
    for bucket, key, _ in job["files"]:
        body = s3().get_object(Bucket=bucket, Key=key)["Body"]
        for number, start, end in line_ranges(body.iter_chunks(chunk_size=8 * 1024 * 1024)):
            # ordinal: the segment's position in the whole job, stable across reruns
            items.append({"bucket": bucket, "key": key, "line": number, "start": start, "end": end,
                          "ordinal": len(items) + 1, "jobName": job["jobName"], "capacity": job["capacity"],
                          "sourceId": source_id, "audienceScope": job["audienceScope"]})
    items_key = work_key(job["jobName"], f"items-{source_id}.json")  # read by the Distributed Map
    s3().put_object(Bucket=audience_bucket(), Key=items_key, Body=json.dumps(items).encode(),
                    ContentType="application/json")
    log.info("planned", extra={"job": job["jobName"], "lines": len(items), "files": len(job["files"])})
    return {**result, "skip": False, "lines": len(items), "itemsKey": items_key}

"""Write the job's manifest and announce each audience once.

Input: the plan's output (``jobName``, ``jobArn``, ``sourceId``, ``sourceFiles``). Reads every
per-line entry, writes ``manifest.json`` and puts one ``Audience Segment Ready`` event per
non-empty audience file. A publish marker, created only if absent (S3 conditional write), makes
sure a duplicate delivery of the same job output announces nothing twice.
"""

from __future__ import annotations

import json
import os

from botocore.exceptions import ClientError

from shared.audiences import audience_bucket, manifest_key, s3, work_key

from shared.aws import call, logger
from shared.contract import AUDIENCE_SOURCE, SEGMENT_READY, Env

log = logger(__name__)
EVENTS_PER_CALL = 10  # PutEvents takes at most 10 entries


def _entries(job_name: str, source_id: str) -> list[dict]:
    bucket, prefix, found = audience_bucket(), work_key(job_name, f"{source_id}/entries/"), []
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found.append(json.loads(s3().get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()))
    return sorted(found, key=lambda e: e["ordinal"])


def _claim(job_name: str, source_id: str) -> bool:
    """True for the one run that may announce this output."""
    try:
        s3().put_object(Bucket=audience_bucket(), Key=work_key(job_name, f"published-{source_id}"), Body=b"",
                        IfNoneMatch="*")
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise


def _announce(plan: dict, manifest_uri: str, segments: list[dict]) -> None:
    entries = [{
        "Source": AUDIENCE_SOURCE, "DetailType": SEGMENT_READY, "EventBusName": os.environ[Env.EVENT_BUS_NAME],
        "Resources": [plan["jobArn"]] if plan.get("jobArn") else [],
        "Detail": json.dumps({"jobName": plan["jobName"], "jobArn": plan.get("jobArn"), "manifestUri": manifest_uri,
                              "bucket": audience_bucket(), "segment": segment}),
    } for segment in segments]
    for start in range(0, len(entries), EVENTS_PER_CALL):
        response = call("events", "put_events", Entries=entries[start:start + EVENTS_PER_CALL])
        if response.get("FailedEntryCount"):
            failed = [e for e in response["Entries"] if e.get("ErrorCode")]
            raise RuntimeError(f"EventBridge rejected {len(failed)} segment-ready events: {failed[0]}")


def handler(plan, context):
    job, bucket = plan["jobName"], audience_bucket()
    segments = _entries(job, plan["sourceId"])
    manifest = {"jobName": job, "jobArn": plan.get("jobArn"), "sourceId": plan["sourceId"],
                "sourceFiles": plan["sourceFiles"], "audienceFormat": "CSV, UTF-8, header User.UserId",
                "segments": segments, "eventsPublished": False}
    ready, files = [], set()  # one event per audience file (lines claim their names: two entries never share one)
    for segment in segments:
        if segment["audienceKey"] and not segment["error"] and segment["audienceKey"] not in files:
            files.add(segment["audienceKey"])
            ready.append(segment)
    key = manifest_key(job)
    manifest_uri = f"s3://{bucket}/{key}"
    s3().put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode(),
                    ContentType="application/json")
    announced = 0
    if _claim(job, plan["sourceId"]):
        try:
            _announce(plan, manifest_uri, ready)
        except Exception:
            s3().delete_object(Bucket=bucket, Key=work_key(job, f"published-{plan['sourceId']}"))
            raise
        announced = len(ready)
        # Only the run that announced marks the manifest: a racing run that lost the claim must not
        # mark it for a winner that may still fail.
        manifest["eventsPublished"] = True
        s3().put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode(),
                        ContentType="application/json")
    log.info("published", extra={"job": job, "segments": len(segments), "announced": announced})
    return {"manifestUri": manifest_uri, "segments": len(segments), "ready": len(ready),
            "errors": sum(1 for s in segments if s["error"]), "announced": announced}

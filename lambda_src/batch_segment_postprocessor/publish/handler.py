"""Write the job's manifest and announce each audience once.

Input: the plan's output (``jobName``, ``jobArn``, ``sourceId``, ``sourceFiles``) and the execution's ARN
(``executionArn``). Reads every per-line entry, writes ``manifest.json`` and puts one ``Audience Segment Ready``
event per non-empty audience file, each a new ``version`` of its audience linked to its ``previousVersion``
(``versions.py``), then marks the manifest (``eventsPublished``), which tells a later delivery of the same output
there is nothing new.

The publish claim ``_work/published-<sourceId>`` (``shared/claims.py``) makes sure the deliveries of one output
announce once: only the run holding it writes the manifest and announces, then records the claim published (with
the ETag of the manifest it wrote, so whoever finds it published can mark that manifest if its run died first). A
run that fails releases it; one whose invocation timed out is taken over by its execution's retry (the claim
records the execution) or, by any later delivery, once stale. A run that timed out between PutEvents and its record
is announced again by its retry: at least once, and the importers take a file version once however often announced.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid

from botocore.exceptions import ClientError

from batch_segment_postprocessor.publish import holds, versions
from shared import claims
from shared.audiences import audience_bucket, manifest_key, s3, split_s3_uri, work_key
from shared.aws import call, logger
from shared.contract import AUDIENCE_SOURCE, REFRESH_HELD, RELEASE_REQUESTED, SEGMENT_READY, Env

log = logger(__name__)
EVENTS_PER_CALL = 10  # PutEvents takes at most 10 entries


def _entries(job_name: str, source_id: str) -> list[dict]:
    bucket, prefix, found = audience_bucket(), work_key(job_name, f"{source_id}/entries/"), []
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found.append(json.loads(s3().get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()))
    return sorted(found, key=lambda e: e["ordinal"])


def _announce(plan: dict, manifest_uri: str, segments: list[dict], held: tuple[dict, ...] = ()) -> None:
    def entry(detail_type: str, detail: dict) -> dict:
        return {"Source": AUDIENCE_SOURCE, "DetailType": detail_type, "EventBusName": os.environ[Env.EVENT_BUS_NAME],
                "Resources": [plan["jobArn"]] if plan.get("jobArn") else [], "Detail": json.dumps(detail)}

    entries = [entry(SEGMENT_READY, {"jobName": plan["jobName"], "jobArn": plan.get("jobArn"),
                                     "manifestUri": manifest_uri, "bucket": audience_bucket(), "segment": segment})
               for segment in segments] + [entry(REFRESH_HELD, detail) for detail in held]
    for start in range(0, len(entries), EVENTS_PER_CALL):
        response = call("events", "put_events", Entries=entries[start:start + EVENTS_PER_CALL])
        if response.get("FailedEntryCount"):
            failed = [e for e in response["Entries"] if e.get("ErrorCode")]
            raise RuntimeError(f"EventBridge rejected {len(failed)} segment-ready events: {failed[0]}")


def handler(event, context):
    if event.get("detail-type") == RELEASE_REQUESTED:
        return release(event["detail"]["audience"])
    return publish(event)


def release(name: str) -> dict:
    """Publish the audience's held refresh (``holds.py``): its next version, announced; nothing if none is held."""
    record = holds.pending(name)
    if record is None:
        log.info("no held refresh to release", extra={"audience": name})
        return {"released": None}
    segment = {k: v for k, v in record["segment"].items() if k != "held"}
    if segment["audienceKey"]:  # an empty refresh has nothing to announce: releasing it clears the hold
        segment.update(versions.publish(segment, record["jobName"]))
        _announce({"jobName": record["jobName"], "jobArn": record.get("jobArn")}, record["manifestUri"], [segment])
    _record_release(record["manifestUri"], {**segment, "released": {
        "at": dt.datetime.now(dt.timezone.utc).isoformat(), "heldFor": record["reason"]}})
    holds.clear(name)
    log.info("released", extra={"audience": name, "job": record["jobName"], "version": segment.get("version")})
    return {"released": name, "jobName": record["jobName"], "version": segment.get("version")}


def _record_release(manifest_uri: str, released: dict) -> None:
    """The held job's manifest entry of the audience becomes ``released`` (its version, when it was released and
    why it had been held) in place of ``held``: readers of the manifest see what was published. Conditional on the
    copy read; a manifest gone (expired) is left so."""
    _, key = split_s3_uri(manifest_uri)  # in the audience bucket, as every manifest
    for _ in range(versions.ATTEMPTS):
        found = claims.held(key)
        if found is None:
            return
        manifest = found.content
        manifest["segments"] = [released if s.get("name") == released["name"] and s.get("held") else s
                                for s in manifest.get("segments", [])]
        try:
            _put_manifest(key, manifest, IfMatch=found.etag)
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in claims.LOST:
                raise
    raise RuntimeError(f"{manifest_uri} kept changing: the release of {released['name']} is not recorded in it")


def publish(plan: dict) -> dict:
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
    # an audience that came back empty (no file, no error) may be held too
    empty = [s for s in segments if not s["audienceKey"] and not s["error"] and s.get("name")]
    key = manifest_key(job)
    announced, held = _announce_once(plan, key, manifest, ready, empty)
    log.info("published", extra={"job": job, "segments": len(segments), "announced": announced, "held": len(held)})
    return {"manifestUri": f"s3://{bucket}/{key}", "segments": len(segments), "ready": len(ready),
            "errors": sum(1 for s in segments if s["error"]), "announced": announced, "held": held}


def _announce_once(plan: dict, key: str, manifest: dict, ready: list[dict], empty: list[dict]) -> tuple[int, list]:
    """Write the manifest at ``key`` and announce ``ready`` (but the refreshes the guard holds), if this run holds the
    publish claim; (how many it announced, the held refreshes)."""
    marker, owner = work_key(plan["jobName"], f"published-{plan['sourceId']}"), plan.get("executionArn")
    claim = {"claimId": uuid.uuid4().hex, "owner": owner}
    if claims.lease(marker, claim, takeover=lambda held, stale: _abandoned(held, stale, owner)) is None:
        # Announced, or being announced, by another run: its manifest is its own (a run that lost the claim never
        # writes one, so never unmarks the winner's). One that died before marking it is marked here.
        found = claims.held(marker)
        if found and found.content.get("published"):
            _mark(key, manifest, found.content)
        return 0, []
    manifest_uri, job, announce, held = f"s3://{audience_bucket()}/{key}", plan["jobName"], [], []
    for segment in ready + empty:
        detail = holds.hold_if_needed(segment, job, plan.get("jobArn"), manifest_uri)
        if detail:  # written, not announced: it waits for a release (holds.py)
            held.append(detail)
        elif segment["audienceKey"]:  # the audience's new version, linked to the one before (versions.py)
            segment.update(versions.publish(segment, job))
            holds.clear(segment["name"])  # a hold this refresh replaces
            announce.append(segment)
    unmarked = _put_manifest(key, manifest)
    try:
        _announce(plan, manifest_uri, announce, tuple(held))
    except Exception:
        claims.release(marker)
        raise
    published = {**claim, "published": True, "manifestETag": unmarked}
    claims.write(marker, published)
    _mark(key, manifest, published)
    return len(announce), held


def _abandoned(held: dict, stale: bool, owner: str | None) -> bool:
    """Whether the publish claim ``held`` may be taken over: not published, and either this execution's own (a retry
    after its invocation timed out: nothing of it still runs) or stale (its run cannot be running any more). A
    claim without a claimId is one written before claims had content: left alone."""
    if "claimId" not in held or held.get("published"):
        return False
    return stale or (owner is not None and held.get("owner") == owner)


def _put_manifest(key: str, manifest: dict, **condition: str) -> str:
    """Write the manifest; its ETag."""
    return s3().put_object(Bucket=audience_bucket(), Key=key, Body=json.dumps(manifest, indent=2).encode(),
                           ContentType="application/json", **condition)["ETag"]


def _mark(key: str, manifest: dict, published: dict) -> None:
    """Mark the manifest the published run wrote (``eventsPublished``), if it still is that very one: a later
    output's manifest, or one marked already, is left alone."""
    try:
        _put_manifest(key, {**manifest, "eventsPublished": True}, IfMatch=published["manifestETag"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in claims.LOST:
            raise

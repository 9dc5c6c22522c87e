"""Endpoint-ID segments: one endpoint export per import, joined with the audience, imported once.

For the import claimed by the marker ``<prefix><job>/_imports/pinpoint/<name>/<etag>.json``:

    <prefix>_exports/pinpoint/<job>/<name>/<etag>/<export>/   Pinpoint's export (every endpoint's address):
                              deleted once joined, or when the import fails; a lifecycle rule expires what
                              a timeout, or an export still writing after its import gave up, leaves
    <marker without .json>/endpoint-ids.csv          the joined file (header ``Id``) that is imported
    <marker without .json>/resolving                 the lock under which one delivery joins and imports

``start`` starts the export; ``status`` follows it, then joins (``endpoints.py``), deletes the export and
starts the import, once, however many deliveries of the file poll the same export. Later polls follow
the import like any other (``handler.py``); ``cleanup`` removes the export and the joined file of an import
that is over.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator

from botocore.exceptions import ClientError

from pinpoint_segment_importer.importer import endpoints, jobs
from shared import claims
from shared.audiences import audience_bucket, s3
from shared.aws import logger
from shared.contract import IMPORTED, Audience, Env, ImportFailed, ImportStarting, ImportState
from shared.importer import MAX_BYTES, Done, Failed, Progress, Running, exists, ours
from shared.s3_stream import MultipartWriter

log = logger(__name__)
EXPORTS = "_exports/pinpoint/"


def export_prefix(marker: str) -> str:
    """Where the exports of one file version go (each export in a folder of its own below)."""
    prefix = os.environ[Env.AUDIENCE_PREFIX]
    relative = marker.removeprefix(prefix).removesuffix(".json").replace("/_imports/pinpoint/", "/", 1)
    return f"{prefix}{EXPORTS}{relative}/"


def work(marker: str, name: str) -> str:
    return f"{marker.removesuffix('.json')}/{name}"


def ids_key(marker: str) -> str:
    """The joined file that is imported: header ``Id``, one endpoint a row."""
    return work(marker, "endpoint-ids.csv")


def start(audience: Audience, marker: str) -> dict:
    delete(export_prefix(marker))  # what an earlier, failed import of this file version may have left
    export = f"{export_prefix(marker)}{uuid.uuid4().hex[:16]}/"  # never shared with an earlier export
    job = jobs.pinpoint("create_export_job", ExportJobRequest={
        "RoleArn": os.environ[Env.EXPORT_ROLE_ARN], "S3UrlPrefix": f"s3://{audience_bucket()}/{export}",
    })["ExportJobResponse"]
    log.info("endpoint export started", extra={"segment": audience["segmentName"], "exportJobId": job["Id"]})
    return {"exportJobId": job["Id"], "exportPrefix": export}


def status(audience: Audience, state: ImportState) -> Progress:
    """The export phase: follow the export; once it completed, join it and start the import, under a lock."""
    marker, name = state["marker"], audience["segmentName"]
    recorded = own(audience, state)
    if recorded.get("importJobId"):
        return joined(audience, recorded)
    job = jobs.pinpoint("get_export_job", JobId=state["exportJobId"])["ExportJobResponse"]
    what = f"Pinpoint endpoint export {job['Id']} for {name}"
    if job["JobStatus"] == jobs.FAILED:
        return Failed(f"{what} failed: {jobs.failures(job)}")
    if job["JobStatus"] != jobs.DONE:
        return Running(what, job["JobStatus"])  # past the deadline, the loop gives the file up for a fresh export
    with exclusively(work(marker, "resolving")):
        recorded = own(audience, state)
        if recorded.get("importJobId"):
            return joined(audience, recorded)
        if "resolved" not in recorded:
            try:
                recorded = {**recorded, "resolved": resolve(audience, state)}
            except endpoints.JoinFailed as exc:
                return Failed(str(exc))
            claims.write(marker, recorded)
        counts = recorded["resolved"]
        if not counts["endpoints"]:
            return Failed(f"none of the {counts['users']:,} users of {name} has an endpoint Pinpoint can message "
                          f"({skipped(counts)})", {"resolved": counts})
        delete(state["exportPrefix"])  # on every pass: a retry after a failed delete removes it too
        recorded["importJobId"] = jobs.create_import(audience_bucket(), ids_key(marker), name)
        claims.write(marker, recorded)
    return joined(audience, recorded)


def own(audience: Audience, state: ImportState) -> dict:
    """The marker of this import; a failure that says so if a failure released it meanwhile, or a later delivery
    claimed the file version for an import of its own."""
    try:
        recorded = claims.read(state["marker"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("NoSuchKey", "404", "AccessDenied", "403") \
                or exists(audience_bucket(), state["marker"]):
            raise
        raise ImportFailed(f"another delivery of {audience['segmentName']} failed and gave the import up; "
                           "deliver the file again to retry") from None
    if not ours(state, recorded):
        raise ImportFailed(f"a later delivery of {audience['segmentName']} started an import of its own; "
                           "this one stops")
    return recorded


def joined(audience: Audience, recorded: dict) -> Progress:
    """Follow the import this or another delivery started (done already, if it finished meanwhile)."""
    if recorded.get("state") == IMPORTED:
        return Done(recorded)
    return Running(f"Pinpoint import {recorded['importJobId']} of {audience['segmentName']}", "CREATED",
                   {"importJobId": recorded["importJobId"], "resolved": recorded["resolved"]})


def skipped(counts: dict) -> str:
    return (f"{counts['inactive']:,} inactive, {counts['optedOut']:,} opted out, "
            f"{counts['otherChannel']:,} on other channels")


@contextlib.contextmanager
def exclusively(lock: str) -> Iterator[None]:
    """One delivery at a time past this point (S3 conditional writes); the others retry, then join. A lock
    older than any invocation can run was left by one that timed out: it is taken over, conditionally on
    it being that very lock (each lock holds a token of its own, so its ETag is unique)."""
    if claims.lease(lock, {"token": uuid.uuid4().hex}) is None:
        raise ImportStarting("another delivery of this file is resolving its endpoints")
    try:
        yield
    finally:
        claims.release(lock)


def resolve(audience: Audience, state: ImportState) -> dict:
    """Join the audience with every exported endpoint into ``endpoint-ids.csv``; return the counts. A join that
    cannot succeed on a retry (an unreadable export, a file over 1 GB) raises ``JoinFailed``, leaving no file."""
    marker, export = state["marker"], state["exportPrefix"]
    body = s3().get_object(Bucket=audience["bucket"], Key=audience["audienceKey"])["Body"]
    users = endpoints.audience_users(body.iter_lines(chunk_size=1 << 20, keepends=True))
    channels = frozenset(c for c in os.environ.get(Env.ENDPOINT_CHANNELS, "").split(",") if c) or None
    exported = list(keys(export))
    files = ((key, s3().get_object(Bucket=audience_bucket(), Key=key)["Body"]) for key in exported)
    writer = MultipartWriter(s3(), audience_bucket(), ids_key(marker))
    try:
        if not exported:
            raise endpoints.JoinFailed(f"Pinpoint's export {state['exportJobId']} left no files under {export}: "
                                       "the project has no endpoints, or they expired")
        result = endpoints.resolve(users, files, writer.write, channels)
        if writer.bytes_written >= MAX_BYTES:
            raise endpoints.JoinFailed(
                f"the endpoint IDs of {audience['segmentName']} make {writer.bytes_written:,} bytes; Pinpoint imports "
                "files under 1 GB (keep fewer channels, or split the audience)")
    except Exception:
        writer.abort()
        raise
    writer.close()
    log.info("endpoints resolved", extra={"segment": audience["segmentName"], **result.as_state()})
    return result.as_state()


def keys(prefix: str) -> Iterator[str]:
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=audience_bucket(), Prefix=prefix):
        yield from (o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/"))


def delete(prefix: str) -> None:
    """Remove an endpoint export (on a versioned bucket the lifecycle rule expires the old versions)."""
    found = list(keys(prefix))
    for start in range(0, len(found), 1000):
        batch = [{"Key": k} for k in found[start:start + 1000]]
        s3().delete_objects(Bucket=audience_bucket(), Delete={"Objects": batch, "Quiet": True})


def cleanup(state: ImportState) -> None:
    """What an import that is over leaves: its export until the join deleted it (a lifecycle rule expires what an
    export still writing after its import gave up leaves), and the joined file once written."""
    if not state.get("importJobId"):
        delete(state["exportPrefix"])
    if "resolved" in state:
        s3().delete_object(Bucket=audience_bucket(), Key=ids_key(state["marker"]))

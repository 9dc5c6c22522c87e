"""Export one output line (one query) of a batch segment job as an audience file.

Input: a work item of the plan (``bucket``, ``key``, ``line``, ``start``, ``end``, ``ordinal``,
``jobName``, ``capacity``). Streams the line's bytes with a ranged GET (a second one for a line
whose fast read needs the reference's word, see ``segments``), parses it as it arrives and writes
the audience (and, with holdout, the control group) by multipart upload straight to its final,
query-derived name when the query comes first, else to a work key then copied there. A line
Personalize marked as failed, or that does not parse, leaves no file and is recorded with its line
number, its error and no users.

A query appears once in the audiences: the first line to read it claims its name (an S3 conditional
write under ``_work/<sourceId>/queries/``) and only that line writes the file; another line of the same
query (any line, since lines are exported at once) stops there and is recorded as a duplicate of it.
An audience with a previous version also gets who joined and who left since (``deltas``).
Output (also written to ``_work/entries/``): the line's manifest entry.
"""

from __future__ import annotations

import json
import os
import time
from typing import Optional

from botocore.exceptions import ClientError

from shared.audiences import audience_bucket, job_folder, s3, split_s3_uri, work_key
from shared.s3_stream import MultipartWriter
from batch_segment_postprocessor.export.deltas import audience_deltas, no_deltas
from batch_segment_postprocessor.export.segments import (NO_SUPPRESSION, SuppressionList, export_line, holdout_salt,
                                                         load_suppression, segment_name)

from shared.aws import logger
from shared.contract import Env

log = logger(__name__)
_suppression: dict[tuple, SuppressionList] = {}
CLAIM_ATTEMPTS, CLAIM_BACKOFF = 5, 0.2  # a claim racing another is read back once it exists


def suppression() -> SuppressionList:
    """The users no audience may hold: the team's suppression list (``SUPPRESSION_LIST_URI``) and the users erased
    on request (``ERASED_USERS_URI``, written by UserErasure: absent until the first erasure), as fingerprints,
    loaded once per warm container and pair of ETags."""
    lists = [_opened(os.environ.get(Env.SUPPRESSION_LIST_URI), required=True),
             _opened(os.environ.get(Env.ERASED_USERS_URI), required=False)]
    found = [obj for obj in lists if obj is not None]
    if not found:
        return NO_SUPPRESSION
    etags = tuple(obj["ETag"] for obj in found)
    if etags not in _suppression:
        _suppression.clear()
        _suppression[etags] = load_suppression(*((raw.decode("utf-8") for raw in obj["Body"].iter_lines(keepends=True))
                                                 for obj in found))
    for obj in found:
        obj["Body"].close()
    return _suppression[etags]


def _opened(uri: Optional[str], *, required: bool) -> Optional[dict]:
    """The object at ``uri`` (None when no URI is set); a missing one is None only when not ``required``."""
    if not uri:
        return None
    bucket, key = split_s3_uri(uri)
    try:
        return s3().get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if required or exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
            raise
        return None


def _finish(writer: MultipartWriter, final_key: str) -> None:
    """Close; a file written under a work key (its query came after its users) is moved to its name."""
    writer.close()
    if writer.key == final_key:
        return
    bucket = audience_bucket()
    s3().copy_object(Bucket=bucket, Key=final_key, CopySource={"Bucket": bucket, "Key": writer.key},
                     ContentType="text/csv; charset=utf-8", MetadataDirective="REPLACE")
    s3().delete_object(Bucket=bucket, Key=writer.key)


def _claim(item: dict, name: str, kind: str, query: str) -> Optional[str]:
    """None if this line may write the audience ``name`` (it claimed it, now or on an earlier attempt); else why not.

    One claim per name and job output, created only if absent: of two lines with one query, the first to read it
    keeps it, and the other never writes the file."""
    bucket, key = audience_bucket(), work_key(item["jobName"], f"{item['sourceId']}/queries/{name}.json")
    source = f"s3://{item['bucket']}/{item['key']}"
    mine = {"ordinal": item["ordinal"], "line": item["line"], "source": source, "queryKind": kind, "query": query}
    for _ in range(CLAIM_ATTEMPTS):
        try:
            s3().put_object(Bucket=bucket, Key=key, Body=json.dumps(mine).encode(), IfNoneMatch="*",
                            ContentType="application/json")
            return None
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
        try:
            owner = json.loads(s3().get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:  # the other claim is still being written: try again
            if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
            time.sleep(CLAIM_BACKOFF)
            continue
        if owner["ordinal"] == item["ordinal"]:
            return None  # this line, exported again
        where = f"line {owner['line']} of {owner['source'].rsplit('/', 1)[-1]}"
        if (owner["queryKind"], owner["query"]) != (kind, query):  # two queries whose names share a hash
            return f"line {item['line']}: its audience name is taken by {where}, another query; skipped"
        return f"line {item['line']}: the same query as {where}, which has its audience; skipped"
    raise RuntimeError(f"could not claim the audience name {name} for line {item['line']}")


def handler(item, context):
    bucket, job, ordinal = audience_bucket(), item["jobName"], item["ordinal"]
    holdout = float(os.environ[Env.HOLDOUT_PERCENT])
    run = item["sourceId"]  # work files of one job output never mix with another's
    audience = MultipartWriter(s3(), bucket, work_key(job, f"{run}/lines/{ordinal:06d}.csv"))
    control = MultipartWriter(s3(), bucket, work_key(job, f"{run}/lines/{ordinal:06d}.control.csv"))

    def read_line():
        return s3().get_object(Bucket=item["bucket"], Key=item["key"],
                               Range=f"bytes={item['start']}-{item['end'] - 1}")["Body"]

    def on_query(kind: str, query: str) -> Optional[str]:
        name = segment_name(item["audienceScope"], kind, query)
        refused = _claim(item, name, kind, query)
        if refused:
            return refused
        # Write straight to the final names: always when the query comes first (the usual shape); a writer
        # already uploading under its work key is copied there at the end.
        for writer, key in ((audience, f"{job_folder(job)}{name}.csv"),
                            (control, f"{job_folder(job)}control/{name}.csv")):
            try:
                writer.retarget(key)
            except RuntimeError:
                pass
        return None

    body = read_line()
    result = export_line(body, reopen=read_line, line=item["line"], audience=audience.write,
                         control=control.write, on_query=on_query,
                         salt=holdout_salt(job, ordinal), holdout_percent=holdout,
                         suppression=suppression(),
                         # a user ID takes at least 4 bytes of the line ("x",): no larger table than that
                         capacity=min(item["capacity"], (item["end"] - item["start"]) // 4 + 1))
    body.close()  # a line that stopped early (a duplicate query) leaves the rest unread
    entry = {"line": item["line"], "ordinal": ordinal, "source": f"s3://{item['bucket']}/{item['key']}",
             "queryKind": result.query_kind, "query": result.query, "name": None, "audienceKey": None,
             "controlKey": None, "userCount": result.users, "controlCount": result.control,
             "suppressedCount": result.suppressed, "duplicateCount": result.duplicates,
             "invalidCount": result.invalid, "error": result.error, **no_deltas()}
    if result.error or result.users + result.control == 0:
        audience.abort()
        control.abort()
        if result.query is not None:
            entry["name"] = segment_name(item["audienceScope"], result.query_kind, result.query)
    else:
        name = segment_name(item["audienceScope"], result.query_kind, result.query)
        entry.update(name=name, audienceKey=f"{job_folder(job)}{name}.csv")
        _finish(audience, entry["audienceKey"])
        if holdout:
            entry["controlKey"] = f"{job_folder(job)}control/{name}.csv"
            _finish(control, entry["controlKey"])
        else:
            control.abort()
        # who joined and left since the last version (no suppressed user among those who left)
        entry.update(audience_deltas(job, name, entry["audienceKey"], suppression()))
    s3().put_object(Bucket=bucket, Key=work_key(job, f"{run}/entries/{ordinal:06d}.json"),
                    Body=json.dumps(entry).encode(), ContentType="application/json")
    # Counts and names only: never user IDs.
    log.info("exported", extra={"segment": entry["name"], **{k: entry[k] for k in (
        "ordinal", "userCount", "controlCount", "suppressedCount", "duplicateCount", "invalidCount", "joinedCount",
        "leftCount", "error")}})
    return {"ordinal": ordinal, "name": entry["name"], "userCount": entry["userCount"], "error": entry["error"]}

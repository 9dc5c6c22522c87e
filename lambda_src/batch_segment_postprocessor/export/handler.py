"""Export one output line (one query) of a batch segment job as an audience file.

Input: a work item of the plan (``bucket``, ``key``, ``line``, ``start``, ``end``, ``ordinal``,
``jobName``, ``capacity``). Streams the line's bytes with a ranged GET, parses it as it
arrives and writes the audience (and, with holdout, the control group) by multipart upload
to a work key, then copies it to its final, query-derived name. A line Personalize marked
as failed, or that does not parse, leaves no file and is recorded with its line number.
Output (also written to ``_work/entries/``): the line's manifest entry.
"""

from __future__ import annotations

import json
import os

from shared.audiences import audience_bucket, job_folder, s3, split_s3_uri, work_key
from shared.s3_stream import MultipartWriter
from batch_segment_postprocessor.export.segments import export_line, holdout_salt, load_suppression, segment_name

from shared.aws import logger
from shared.contract import Env

log = logger(__name__)
_suppression: dict[str, frozenset[int]] = {}


def suppression() -> frozenset[int]:
    """The suppression list's fingerprints, loaded once per warm container and ETag."""
    uri = os.environ.get(Env.SUPPRESSION_LIST_URI)
    if not uri:
        return frozenset()
    bucket, key = split_s3_uri(uri)
    obj = s3().get_object(Bucket=bucket, Key=key)
    if obj["ETag"] not in _suppression:
        _suppression.clear()
        lines = (raw.decode("utf-8") for raw in obj["Body"].iter_lines(keepends=True))
        _suppression[obj["ETag"]] = load_suppression(lines)
    else:
        obj["Body"].close()
    return _suppression[obj["ETag"]]


def _finish(writer: MultipartWriter, final_key: str) -> None:
    """Close; a file written under a work key (its query came after its users) is moved to its name."""
    writer.close()
    if writer.key == final_key:
        return
    bucket = audience_bucket()
    s3().copy_object(Bucket=bucket, Key=final_key, CopySource={"Bucket": bucket, "Key": writer.key},
                     ContentType="text/csv; charset=utf-8", MetadataDirective="REPLACE")
    s3().delete_object(Bucket=bucket, Key=writer.key)


def handler(item, context):
    bucket, job, ordinal = audience_bucket(), item["jobName"], item["ordinal"]
    holdout = float(os.environ[Env.HOLDOUT_PERCENT])
    run = item["sourceId"]  # work files of one job output never mix with another's
    audience = MultipartWriter(s3(), bucket, work_key(job, f"{run}/lines/{ordinal:06d}.csv"))
    control = MultipartWriter(s3(), bucket, work_key(job, f"{run}/lines/{ordinal:06d}.control.csv"))
    body = s3().get_object(Bucket=item["bucket"], Key=item["key"],
                           Range=f"bytes={item['start']}-{item['end'] - 1}")["Body"]

    def on_query(kind: str, query: str) -> None:  # the usual shape: write straight to the final names
        name = segment_name(job, kind, query)
        audience.retarget(f"{job_folder(job)}{name}.csv")
        control.retarget(f"{job_folder(job)}control/{name}.csv")

    result = export_line(body, line=item["line"], audience=audience.write, control=control.write, on_query=on_query,
                         salt=holdout_salt(job, ordinal), holdout_percent=holdout,
                         suppression=suppression(),
                         # a user ID takes at least 4 bytes of the line ("x",): no larger table than that
                         capacity=min(item["capacity"], (item["end"] - item["start"]) // 4 + 1))
    entry = {"line": item["line"], "ordinal": ordinal, "source": f"s3://{item['bucket']}/{item['key']}",
             "queryKind": result.query_kind, "query": result.query, "name": None, "audienceKey": None,
             "controlKey": None, "userCount": result.users, "controlCount": result.control,
             "suppressedCount": result.suppressed, "duplicateCount": result.duplicates, "error": result.error}
    if result.error or result.users + result.control == 0:
        audience.abort()
        control.abort()
        if result.query is not None:
            entry["name"] = segment_name(job, result.query_kind, result.query)
    else:
        name = segment_name(job, result.query_kind, result.query)
        entry.update(name=name, audienceKey=f"{job_folder(job)}{name}.csv")
        _finish(audience, entry["audienceKey"])
        if holdout:
            entry["controlKey"] = f"{job_folder(job)}control/{name}.csv"
            _finish(control, entry["controlKey"])
        else:
            control.abort()
    s3().put_object(Bucket=bucket, Key=work_key(job, f"{run}/entries/{ordinal:06d}.json"),
                    Body=json.dumps(entry).encode(), ContentType="application/json")
    # Counts and names only: never user IDs.
    log.info("exported", extra={"segment": entry["name"], **{k: entry[k] for k in (
        "ordinal", "userCount", "controlCount", "suppressedCount", "duplicateCount", "error")}})
    return {"ordinal": ordinal, "name": entry["name"], "userCount": entry["userCount"], "error": entry["error"]}

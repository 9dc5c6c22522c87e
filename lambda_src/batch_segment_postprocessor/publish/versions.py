"""Each audience's versions: a refresh publishes a new version of the same audience, linked to the one before.

``<audience prefix>_audiences/<audience>.json`` holds the audience's latest published version (``version``, the
``jobName`` and files that wrote it, ``userCount``) and the one before it (``previous``). Publishing a job output
advances it, conditionally on the copy read (two outputs of one audience publishing at once take turns); publishing
the same output again leaves it as it is. The files of the version it replaced are tagged ``superseded`` (with
``supersededAt``), which the bucket's lifecycle rule expires after the construct's ``superseded_retention``.
"""

from __future__ import annotations

import datetime as dt
import json

from botocore.exceptions import ClientError

from shared import claims
from shared.audiences import audience_bucket, latest_version, s3, version_key

SUPERSEDED_TAG = "segmentation-superseded"  # the lifecycle rule's tag (segmentation_constructs)
ATTEMPTS = 5
VERSION_FIELDS = ("version", "jobName", "audienceKey", "controlKey", "userCount", "publishedAt")


def publish(segment: dict, job: str) -> dict:
    """Make ``segment`` (a manifest entry of ``job``) the audience's latest version; its ``version`` and
    ``previousVersion`` (None for the first), as the manifest and the event carry them."""
    for _ in range(ATTEMPTS):
        index, etag = latest_version(segment["name"])
        if index is not None and index["jobName"] == job:  # this output, published before
            return {"version": index["version"], "previousVersion": index.get("previous")}
        previous = {k: index.get(k) for k in VERSION_FIELDS} if index else None
        record = {"name": segment["name"], "version": (previous["version"] + 1) if previous else 1, "jobName": job,
                  "audienceKey": segment["audienceKey"], "controlKey": segment.get("controlKey"),
                  "userCount": segment["userCount"], "publishedAt": dt.datetime.now(dt.timezone.utc).isoformat(),
                  "previous": previous}
        try:
            s3().put_object(Bucket=audience_bucket(), Key=version_key(segment["name"]), ContentType="application/json",
                            Body=json.dumps(record).encode(), **({"IfMatch": etag} if etag else {"IfNoneMatch": "*"}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] in claims.LOST:
                continue  # another output of this audience published meanwhile: read again
            raise
        if previous:
            _supersede(previous)
        return {"version": record["version"], "previousVersion": previous}
    raise RuntimeError(f"could not publish a version of {segment['name']}: {ATTEMPTS} others came first")


def _supersede(version: dict) -> None:
    """Tag the replaced version's files for the lifecycle rule; a file already gone is skipped."""
    tags = {"TagSet": [{"Key": SUPERSEDED_TAG, "Value": "true"}]}
    for key in (version.get("audienceKey"), version.get("controlKey")):
        if not key:
            continue
        try:
            s3().put_object_tagging(Bucket=audience_bucket(), Key=key, Tagging=tags)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise

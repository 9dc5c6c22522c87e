"""Claims: which of several deliveries (or retries) of one piece of work does it, with S3 conditional writes.

A claim is a JSON object in the audience bucket, created only if absent (``claim``); its holder records its progress
in it (``write``) and deletes it to give the work up (``release``). ``lease`` also takes over a claim its holder can
no longer be working on, as the claim's content and age tell (``STALE``: older than any invocation runs), and only
that very copy of it (its ETag), so two deliveries never both take one over.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Callable, NamedTuple, Optional

from botocore.exceptions import ClientError

from shared.audiences import audience_bucket, s3
from shared.aws import logger, put_json

STALE = dt.timedelta(minutes=16)  # no invocation runs longer than 15 minutes
LOST = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404")  # a conditional write that lost
GONE = ("NoSuchKey", "404", "AccessDenied", "403")  # a read of a missing key (403 without s3:ListBucket)
log = logger(__name__)

# (content, stale) -> whether the claim may be taken over: by default once stale
Takeover = Callable[[dict, bool], bool]


def claim(key: str, body: dict) -> bool:
    """True for the one caller that creates ``key``."""
    return write(key, body, IfNoneMatch="*")


def lease(key: str, body: dict, takeover: Takeover = lambda held, stale: stale) -> Optional[dict]:
    """Hold ``key`` with ``body``: None when another holds it; else what this caller took over (the content of the
    claim it replaced, conditionally on it being that very copy), or ``{}`` when it created the claim. A claim is
    taken over when ``takeover(content, stale)`` says so; each holder's body is its own (an ID), so its ETag is."""
    if claim(key, body):
        return {}
    found = held(key)
    if found is None:  # gone meanwhile: its holder released it, and may retry
        return None
    stale = dt.datetime.now(dt.timezone.utc) - found.modified >= STALE
    if not takeover(found.content, stale) or not write(key, body, IfMatch=found.etag):
        return None
    log.warning("took over a claim", extra={"key": key, "stale": stale})
    return found.content


class Held(NamedTuple):
    content: dict
    etag: str
    modified: dt.datetime


def held(key: str) -> Optional[Held]:
    """The claim at ``key`` (its content, ETag and time written), or None if there is none."""
    try:
        found = s3().get_object(Bucket=audience_bucket(), Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in GONE:
            return None
        raise
    return Held(json.loads(found["Body"].read() or b"{}"), found["ETag"], found["LastModified"])


def write(key: str, content: dict, **condition: str) -> bool:
    """Write ``content`` at ``key`` of the audience bucket (``shared.aws.put_json``)."""
    return put_json(audience_bucket(), key, content, **condition)


def read(key: str) -> dict:
    return json.loads(s3().get_object(Bucket=audience_bucket(), Key=key)["Body"].read() or b"{}")


def release(key: str) -> None:
    s3().delete_object(Bucket=audience_bucket(), Key=key)

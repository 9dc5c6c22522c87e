"""The S3 side of a scrub: read a version, write its scrubbed copy over that very version only, and sweep the key's
older versions.

A scrubber (``tables.scrub``, ``batch_output.scrub``) turns a file's bytes into the same file less its erased users,
counting as it goes. A file is read once up to its first erased user (a file holding none is read once, never
written), then, if it holds one, read again and written by ``MultipartWriter`` with S3's ``IfMatch`` on the ETag
read: a version written by someone else meanwhile is never overwritten (``ObjectChanged``; the workflow retries).
"""

from __future__ import annotations

from contextlib import closing
from typing import Callable, Iterable, Iterator, Optional
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from shared.aws import MISSING_OBJECT, call, client, object_or_none
from shared import versions
from shared.contract import ObjectChanged
from shared.s3_stream import MultipartWriter
from user_erasure.scrub.counts import Counts, Unreadable
from user_erasure.scrub.erased import ErasedUsers

Scrubber = Callable[[Iterable[bytes], ErasedUsers, Counts], Iterator[bytes]]
READ_SIZE = 1024 * 1024
GONE = MISSING_OBJECT
# What S3 answers a conditional request whose object changed (or went) since it was read
CHANGED = frozenset(("PreconditionFailed", "412", "ConditionalRequestConflict", *GONE))


def current(bucket: str, key: str) -> Optional[dict]:
    """The GetObject answer for the key's current version, or None when it has none (deleted since it was listed)."""
    return object_or_none(bucket, key)


def read(found: dict, scrubber: Scrubber, erased: ErasedUsers) -> Counts:
    """The counts of the version ``found``, read up to its first erased user: ``removed`` is 0 only for a version
    that holds none, whose counts are then the whole file's."""
    counts = Counts()
    with closing(found["Body"]) as body:
        for _ in scrubber(body.iter_chunks(READ_SIZE), erased, counts):
            if counts.removed:
                break
    return counts


def rewrite(bucket: str, key: str, found: dict, scrubber: Scrubber, erased: ErasedUsers) -> Counts:
    """Writes the version ``found`` again less its erased users, over that version only (its content type and tags
    kept: the lifecycle rule reads the tags); the rewrite's counts. Raises ``ObjectChanged`` if it was replaced or
    deleted meanwhile, ``Unreadable`` if it turns out not to be its format: either way, nothing is written."""
    etag, version = found["ETag"], found.get("VersionId")
    tags = call("s3", "get_object_tagging", Bucket=bucket, Key=key,
                **({"VersionId": version} if version else {}))["TagSet"]
    writer = MultipartWriter(client("s3"), bucket, key, content_type=found["ContentType"], if_match=etag,
                             tagging=urlencode([(tag["Key"], tag["Value"]) for tag in tags]))
    counts = Counts()
    try:
        source = call("s3", "get_object", Bucket=bucket, Key=key, IfMatch=etag)
        with closing(source["Body"]) as body:
            for piece in scrubber(body.iter_chunks(READ_SIZE), erased, counts):
                writer.write_bytes(piece)
        writer.close()
    except ClientError as exc:
        writer.abort()
        if exc.response["Error"]["Code"] in CHANGED:
            raise ObjectChanged(f"s3://{bucket}/{key} changed since it was read (ETag {etag}): not rewritten, "
                                f"to be scrubbed again") from None
        raise
    except BaseException:
        writer.abort()
        raise
    return counts


def sweep(bucket: str, key: str, scrubber: Scrubber, erased: ErasedUsers,
          replaced: Optional[str] = None) -> tuple[int, int]:
    """Deletes each noncurrent version of the key that holds an erased user, and ``replaced`` (the version a rewrite
    just replaced) unread; keeps the others. (Versions deleted, versions kept as unreadable.)"""
    deleted = unreadable = 0
    # listed in full first: a page's marker must not be a version deleted since (delete markers hold nothing)
    noncurrent = [v["VersionId"] for v in versions.of(bucket, key) if "Size" in v and not v["IsLatest"]]
    for version in noncurrent:
        if version != replaced:
            found = object_or_none(bucket, key, VersionId=version)
            if found is None:  # expired by the lifecycle rule since it was listed
                continue
            try:
                if not read(found, scrubber, erased).removed:
                    continue
            except Unreadable:
                unreadable += 1
                continue
        versions.delete(bucket, key, version)
        deleted += 1
    return deleted, unreadable

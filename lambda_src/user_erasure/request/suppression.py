"""Erasure step 1: the request's IDs join the suppression list every audience export reads (``ERASED_USERS_URI``, which the export reads beside the team's own list),
so no audience published from now on holds them.

The list is one user ID a line, read as the export reads it (``load_suppression``: first column, quotes and spaces
removed, a BOM and a header skipped). It is streamed: each line is copied byte for byte to its new version while its
ID is struck off the request's, and the IDs not on it yet are appended at the end. The new version replaces only the
version read (S3 ``IfMatch`` on its ETag; ``IfNoneMatch`` when creating the list), so a change made meanwhile (another
request's) is never lost: the loser reads the list again, a few times, then the workflow retries.
"""

from __future__ import annotations

import csv
import io
from typing import Optional

from botocore.exceptions import ClientError

from shared.aws import call, client, object_or_none
from shared.contract import ServiceThrottled
from shared.s3_stream import MultipartWriter

HEADER = b"User.UserId\n"  # written atop a new list: the export skips it, and no first ID is ever taken for one
HEADERS = ("user.userid", "user_id", "userid")
CHANGED = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404")
ATTEMPTS = 4
READ_SIZE = 1024 * 1024


def listed_id(line: bytes, first: bool) -> Optional[str]:
    """The ID of a line of the list as the export reads it; None for a blank line or the header."""
    text = line.decode("utf-8")
    if first:
        text = text.lstrip("\ufeff")
    field = next(csv.reader([text]), [""])[0] if '"' in text else text.split(",", 1)[0]
    user = field.strip()
    if not user or (first and user.lower() in HEADERS):
        return None
    return user


def lines(users: list[str]) -> bytes:
    """``users`` one a line, CSV-quoted where needed."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([user] for user in users)
    return buffer.getvalue().encode()


def _create(bucket: str, key: str, users: list[str]) -> bool:
    """Create the list with ``users``; False when it was created meanwhile."""
    try:
        call("s3", "put_object", Bucket=bucket, Key=key, Body=HEADER + lines(users),
             ContentType="text/csv; charset=utf-8", IfNoneMatch="*")
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in CHANGED:
            return False
        raise


def _append(bucket: str, key: str, found: dict, users: list[str]) -> int:
    """Write the version ``found`` again with the ``users`` it lacks at its end; how many it already had. Raises
    ClientError (one of ``CHANGED``) when it changed since it was read. A list that lacks none is left as it is."""
    pending, already, last = set(users), 0, b"\n"
    writer = MultipartWriter(client("s3"), bucket, key, content_type=found.get("ContentType") or "text/csv",
                             if_match=found["ETag"])
    try:
        for number, line in enumerate(found["Body"].iter_lines(chunk_size=READ_SIZE, keepends=True)):
            writer.write_bytes(line)
            last = line[-1:]
            user = listed_id(line, number == 0)
            if user in pending:
                pending.discard(user)
                already += 1
        if not pending:
            writer.abort()
            return already
        writer.write_bytes(("" if last in (b"\n", b"\r") else "\n").encode() + lines(sorted(pending)))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return already


def add(bucket: str, key: str, users: list[str]) -> dict:
    """Add ``users`` to the list at ``key`` (created if absent): ``{"added", "alreadySuppressed"}``."""
    for _ in range(ATTEMPTS):
        found = object_or_none(bucket, key)
        if found is None:
            if _create(bucket, key, users):
                return {"added": len(users), "alreadySuppressed": 0}
            continue
        try:
            already = _append(bucket, key, found, users)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in CHANGED:
                continue
            raise
        return {"added": len(users) - already, "alreadySuppressed": already}
    raise ServiceThrottled(f"the suppression list s3://{bucket}/{key} changed under {ATTEMPTS} attempts in a row")

"""What every audience destination does the same way: check the file, claim the import once, report it.

An audience file is accepted only as the post-processor writes it: UTF-8 without BOM, the header
``User.UserId`` alone on the first line, at least one user. The check streams the file; it never
holds it, and its messages never quote a user ID.
"""

from __future__ import annotations

import codecs
import json
import os
from typing import Optional

from botocore.exceptions import ClientError

from shared.audiences import AUDIENCE_HEADER, s3

MAX_BYTES = 1024 ** 3  # Pinpoint and Customer Profiles both take files under 1 GB


def check_audience_file(bucket: str, key: str) -> tuple[Optional[str], str]:
    """(problem or None, ETag) for the audience file at ``s3://bucket/key``, read as a stream."""
    obj = s3().get_object(Bucket=bucket, Key=key)
    etag = obj["ETag"].strip('"')
    if obj["ContentLength"] >= MAX_BYTES:
        obj["Body"].close()
        return f"{key} is {obj['ContentLength']:,} bytes; imports take files under 1 GB", etag
    decoder = codecs.getincrementaldecoder("utf-8")()
    first_line, header_done, has_users, offset = b"", False, False, 0
    for chunk in obj["Body"].iter_chunks(chunk_size=1024 * 1024):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            return f"{key} is not UTF-8 (byte {offset + exc.start:,})", etag
        rest = chunk
        if not header_done:
            newline = chunk.find(b"\n")
            first_line += chunk if newline < 0 else chunk[:newline]
            header_done, rest = newline >= 0, (b"" if newline < 0 else chunk[newline + 1:])
        has_users = has_users or bool(rest.strip())
        offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return f"{key} is not UTF-8 (it ends inside a character)", etag
    if not offset:
        return f"{key} is empty", etag
    if first_line.rstrip(b"\r") != AUDIENCE_HEADER.encode():
        # never quote the line: without a header it is a user ID
        what = " (it starts with a byte-order mark)" if first_line.startswith(b"\xef\xbb\xbf") else ""
        return f"{key} must start with the header {AUDIENCE_HEADER} alone{what}", etag
    if not has_users:
        return f"{key} has the header and no users", etag
    return None, etag


def claim(marker_key: str, body: bytes = b"{}") -> bool:
    """True for the one delivery that may start this import (an S3 conditional write)."""
    try:
        s3().put_object(Bucket=os.environ["AUDIENCE_BUCKET"], Key=marker_key, Body=body, IfNoneMatch="*")
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise


def release(marker_key: str) -> None:
    s3().delete_object(Bucket=os.environ["AUDIENCE_BUCKET"], Key=marker_key)


def read_marker(marker_key: str) -> dict:
    return json.loads(s3().get_object(Bucket=os.environ["AUDIENCE_BUCKET"], Key=marker_key)["Body"].read() or b"{}")


def write_marker(marker_key: str, state: dict) -> None:
    s3().put_object(Bucket=os.environ["AUDIENCE_BUCKET"], Key=marker_key, Body=json.dumps(state).encode(),
                    ContentType="application/json")


def exists(bucket: str, key: str) -> bool:
    """Whether ``key`` exists, asked by listing: a function allowed to list only some prefixes gets 403,
    not 404, for a missing key."""
    listed = s3().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    return bool(listed) and listed[0]["Key"] == key

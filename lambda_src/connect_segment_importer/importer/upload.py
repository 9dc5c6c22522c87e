"""The audience file as Customer Profiles takes it, streamed to the upload job's pre-signed URL.

Customer Profiles does not ingest headers with dots, so ``User.UserId`` becomes ``UserId``; every row
gains the import's batch marker, the value the segment definition selects on. Rows are parsed and
written with the ``csv`` module (quoted IDs stay quoted), in 1 MB pieces: the file is never held.
The upload is one PUT with a known length and the SSE-C headers derived from the job's client token.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from typing import Callable, Iterable, Iterator

import urllib3

from shared.audiences import user_ids

USER_COLUMN = "UserId"
BATCH_COLUMN = "PersonalizeSegmentBatch"
PIECE = 1024 * 1024
_http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=10, read=300), retries=False)


class UploadRejected(Exception):
    """The pre-signed upload answered with an error; the message carries S3's code and message."""


def rows_for_upload(lines: Iterable[bytes], batch: str) -> Iterator[bytes]:
    """``UserId,PersonalizeSegmentBatch`` then one row per user, from the lines of an audience file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([USER_COLUMN, BATCH_COLUMN])
    for user in user_ids(lines):
        writer.writerow((user, batch))
        if buffer.tell() >= PIECE:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def sse_c_headers(client_token: str) -> dict[str, str]:
    """The client token is the base64 AES-256 key S3 encrypts the upload with (SSE-C)."""
    key = base64.b64decode(client_token, validate=True)
    return {"x-amz-server-side-encryption-customer-algorithm": "AES256",
            "x-amz-server-side-encryption-customer-key": client_token,
            "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(key).digest()).decode()}


def put(url: str, client_token: str | None, rows: Callable[[], Iterator[bytes]]) -> int:
    """PUT the rows to ``url``; ``rows`` is called twice (length, then body). Returns the bytes sent."""
    length = sum(len(piece) for piece in rows())
    headers = {"Content-Length": str(length), "Content-Type": "text/csv; charset=utf-8",
               **(sse_c_headers(client_token) if client_token else {})}
    response = _http.request("PUT", url, body=rows(), headers=headers, chunked=False)
    if response.status >= 300:
        text = response.data.decode("utf-8", "replace")
        code = _tag(text, "Code") or f"HTTP {response.status}"
        raise UploadRejected(f"the upload was refused: {code} {_tag(text, 'Message')}".strip())
    return length


def _tag(xml: str, name: str) -> str:
    start = xml.find(f"<{name}>")
    end = xml.find(f"</{name}>", start)
    return xml[start + len(name) + 2:end][:300] if start >= 0 and end > start else ""

"""Streaming S3 I/O: write an object in parts as text arrives; find the lines of a large object."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from typing import Iterable, Iterator, Optional

PART_SIZE = 8 * 1024 * 1024  # S3 needs at least 5 MiB for every part but the last
UTF8_BOM = b"\xef\xbb\xbf"


class MultipartWriter:
    """Buffers one part while the previous one uploads in the background (I/O overlaps parsing, at
    most two parts in memory); small objects become one PutObject. ``abort`` leaves nothing behind.

    ``if_match`` makes the write conditional (S3 ``IfMatch`` on PutObject / CompleteMultipartUpload): it replaces
    only the object with that ETag, else S3 refuses it (PreconditionFailed, or NoSuchKey once the key is gone).
    ``tagging`` (URL-encoded, as PutObject's ``Tagging``) tags the new object as it is written."""

    def __init__(self, s3, bucket: str, key: str, *, content_type: str = "text/csv; charset=utf-8",
                 part_size: int = PART_SIZE, if_match: Optional[str] = None, tagging: Optional[str] = None) -> None:
        self._s3, self.bucket, self.key = s3, bucket, key
        self._content_type, self._part_size = content_type, part_size
        self._condition = {"IfMatch": if_match} if if_match else {}
        self._tagging = {"Tagging": tagging} if tagging else {}
        self._buffer = bytearray()
        self._upload_id = None
        self._parts: list[dict] = []
        self._uploader = ThreadPoolExecutor(max_workers=1)
        self._in_flight: Optional[Future] = None
        self.bytes_written = 0

    def retarget(self, key: str) -> None:
        """Write to another key; only before anything was uploaded."""
        if self._upload_id is not None:
            raise RuntimeError(f"s3://{self.bucket}/{self.key} is already being uploaded")
        self.key = key

    def write(self, text: str) -> None:
        self.write_bytes(text.encode("utf-8"))

    def write_bytes(self, data: bytes) -> None:
        """Writes bytes as they are: a rewrite keeps what it copies byte for byte."""
        self._buffer += data
        self.bytes_written += len(data)
        if len(self._buffer) >= self._part_size:
            self._upload_part()

    def _upload_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self.bucket, Key=self.key, ContentType=self._content_type, **self._tagging)["UploadId"]
        self._wait()
        # the buffer itself is the part's body (no copy of it); writing goes on in a new one
        number, body, self._buffer = len(self._parts) + 1, self._buffer, bytearray()
        self._parts.append({"PartNumber": number})
        self._in_flight = self._uploader.submit(self._s3.upload_part, Bucket=self.bucket, Key=self.key,
                                                UploadId=self._upload_id, PartNumber=number, Body=body)

    def _wait(self) -> None:
        if self._in_flight is not None:
            future, self._in_flight = self._in_flight, None
            self._parts[-1]["ETag"] = future.result()["ETag"]

    def close(self) -> None:
        if self._upload_id is None:
            self._s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self._buffer),
                                ContentType=self._content_type, **self._condition, **self._tagging)
        else:
            if self._buffer:
                self._upload_part()
            self._wait()
            self._s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                               MultipartUpload={"Parts": self._parts}, **self._condition)
        self._buffer = bytearray()
        self._uploader.shutdown()

    def abort(self) -> None:
        try:
            self._wait()
        except Exception:  # the part failed anyway: the upload is being abandoned
            pass
        self._uploader.shutdown()
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)
        self._buffer = bytearray()


def line_ranges(chunks: Iterable[bytes]) -> Iterator[tuple[int, int, int]]:
    """(line number, start, end) byte ranges of the non-blank lines of a JSON Lines stream.

    Only newline bytes are looked at: a line of any size costs no memory. A UTF-8 byte-order mark at the start of
    the stream is no part of its first line (the range starts after it); anywhere else it is data.
    """
    chunks, head = iter(chunks), b""
    for chunk in chunks:  # the first bytes, however the stream is cut
        head += chunk
        if len(head) >= len(UTF8_BOM):
            break
    skip = len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0
    position, start, number, blank = skip, skip, 0, True
    for chunk in chain((head[skip:],), chunks):
        offset = 0
        while True:
            newline = chunk.find(b"\n", offset)
            stop = len(chunk) if newline < 0 else newline
            if blank and chunk[offset:stop].strip():
                blank = False
            if newline < 0:
                break
            number += 1
            if not blank:
                yield number, start, position + newline
            start, blank, offset = position + newline + 1, True, newline + 1
        position += len(chunk)
    if not blank:
        yield number + 1, start, position

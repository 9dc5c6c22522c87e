"""An erasure request's user IDs: read from the request (a file or the event), checked, and kept in the work file.

A request file is a CSV with the header ``USER_ID`` or plain lines, one ID a row (a UTF-8 byte-order mark, CRLF
line ends and blank rows are fine). An ID is a non-empty string of at most 256 characters without control characters
or commas; a request holds 1 to 100,000 of them. A request that breaks a rule is rejected (``ErasureRejected``) with
what is wrong and where (the row, or the item of ``userIds``), never the ID itself: the message reaches events,
notifications and logs.

The request's identity is the sha256 of its sorted unique IDs joined by line ends: the same set of users sent twice
is one request. The work file (``USER_ID`` then the IDs, sorted, CSV-quoted where needed) is the input of the
Personalize data deletion job and of every later step, the one place the IDs live once the request is deleted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from typing import Iterable, Iterator, Optional

from shared.contract import ErasureRejected

HEADER = "USER_ID"
MAX_USERS = 100_000
MAX_LENGTH = 256
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def problem(user_id: str) -> Optional[str]:
    """What is wrong with ``user_id`` (words without the ID), or None."""
    if not user_id.strip():
        return "is empty"
    if len(user_id) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    if CONTROL.search(user_id):
        return "holds a control character"
    if user_id != user_id.strip():  # the export strips it; the services and files would not find it
        return "starts or ends with a space"
    if "," in user_id:
        return "holds a comma"
    return None


def collect(ids: Iterable[tuple[str, str]], source: str) -> list[str]:
    """The sorted unique IDs of ``(where, ID)`` pairs, each checked; ``source`` names the request in messages."""
    unique: set[str] = set()
    where = source
    for where, user_id in ids:
        wrong = problem(user_id)
        if wrong:
            raise ErasureRejected(f"{where}: the user ID {wrong}")
        unique.add(user_id)
        if len(unique) > MAX_USERS:
            raise ErasureRejected(f"{where}: {source} holds more than {MAX_USERS:,} user IDs; split it")
    if not unique:
        raise ErasureRejected(f"{source} holds no user ID")
    return sorted(unique)


def from_event(user_ids) -> list[str]:
    """The IDs of an ``Erasure Requested`` event's ``userIds``."""
    if not isinstance(user_ids, list):
        raise ErasureRejected("userIds must be a list of user IDs")

    def items() -> Iterator[tuple[str, str]]:
        for index, user_id in enumerate(user_ids):
            if not isinstance(user_id, str):
                raise ErasureRejected(f"userIds[{index}] is not a string")
            yield f"userIds[{index}]", user_id

    return collect(items(), "the request")


def from_lines(lines: Iterable[bytes], source: str) -> list[str]:
    """The IDs of a request file, from its lines as read (line ends kept)."""
    number = 0

    def decoded() -> Iterator[str]:
        nonlocal number
        for number, line in enumerate(lines, start=1):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise ErasureRejected(f"{source} row {number}: not UTF-8 text") from None
            yield text.lstrip("\ufeff") if number == 1 else text

    def rows() -> Iterator[tuple[str, str]]:
        for row in csv.reader(decoded()):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank row
            if len(row) > 1:
                raise ErasureRejected(f"{source} row {number}: more than one column (a user ID holds no comma)")
            if number == 1 and row[0].strip().upper() == HEADER:
                continue
            yield f"{source} row {number}", row[0]

    return collect(rows(), source)


def request_id(users: list[str]) -> str:
    """The request's identity: the sha256 of its sorted unique IDs, one a line."""
    return hashlib.sha256("\n".join(users).encode()).hexdigest()


def work_file(users: list[str]) -> bytes:
    """The work file's content: the ``USER_ID`` header, then one ID a row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([HEADER])
    writer.writerows([user] for user in users)
    return buffer.getvalue().encode()


def read_work_file(body) -> Iterator[str]:
    """The IDs of a work file, from its S3 body, streamed."""
    rows = csv.reader(line.decode("utf-8") for line in body.iter_lines(keepends=True))
    next(rows, None)
    return (row[0] for row in rows if row and row[0])

"""CSV files with a user column, erased users' rows left out, streamed: memory does not grow with the file.

Which CSVs: those whose header names a user column, ``USER_ID`` (the training datasets: interactions, users) or
``User.UserId`` (the audience, control and delta files the post-processor writes). A CSV naming neither (items) holds
no user ID the library can find, and is not read past its header.

A kept row keeps its bytes: the output is the input with the erased users' rows cut out, quoting, line ends (LF or
CRLF) and a byte-order mark included. The file is read in blocks of whole records, each cut after a line end
outside quotes (an even count of quotes before it: RFC 4180 doubles a quote inside a quoted value). A block without
quotes (the usual) is split on line ends and its user column picked by one regular expression, both in C; a block
with quotes is read by the csv module, the bytes of each record kept by the lines it took.
"""

from __future__ import annotations

import csv
import re
from typing import Iterable, Iterator

from user_erasure.scrub.counts import Counts, Unreadable
from user_erasure.scrub.erased import ErasedUsers

USER_COLUMNS = {"USER_ID": "training", "User.UserId": "audience"}  # a user column's name → the file's format
FORMAT = "csv"  # a CSV without a user column (or that cannot be read)
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a record longer than this is no row of these files (an unclosed quote)


def blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The bytes of ``chunks`` again, in blocks of whole records (the last one as it ends)."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        if cut and not data.count(b'"', 0, cut) % 2:
            yield data[:cut]
            carry = data[cut:]
        else:
            carry = data
            if len(carry) > MAX_RECORD_BYTES:
                raise Unreadable(f"a CSV record longer than {MAX_RECORD_BYTES:,} bytes (an unclosed quote?)")
    if carry:
        yield carry


def user_column(header: bytes) -> tuple[str, int]:
    """The format a header line says (``USER_COLUMNS``, or ``FORMAT``) and the index of its user column."""
    try:
        names = next(csv.reader([header.decode("utf-8-sig")]), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Unreadable(f"its header is not CSV ({type(exc).__name__})") from None
    found = [(USER_COLUMNS[name.strip()], index) for index, name in enumerate(names) if name.strip() in USER_COLUMNS]
    if len(found) > 1:
        raise Unreadable("more than one user column")
    return found[0] if found else (FORMAT, -1)


def scrub(chunks: Iterable[bytes], erased: ErasedUsers, counts: Counts) -> Iterator[bytes]:
    """The file's bytes with the rows of erased users left out, block by block, counted in ``counts``.

    A file without a user column yields nothing (it is not read past its header): there is nothing to remove."""
    records = blocks(chunks)
    first = next(records, b"")
    end = first.find(b"\n") + 1 or len(first)
    counts.format, column = user_column(first[:end])
    if column < 0:
        return
    yield first[:end]
    pick = re.compile(rb"^(?:(?:[^,\n]*,){%d}([^,\r\n]*))?" % column, re.MULTILINE)
    if end < len(first):
        yield _rows(first[end:], column, pick, erased, counts)
    for block in records:
        yield _rows(block, column, pick, erased, counts)


def _rows(block: bytes, column: int, pick: re.Pattern, erased: ErasedUsers, counts: Counts) -> bytes:
    """A block's rows less the erased users'."""
    if b'"' in block:
        return _quoted_rows(block, column, erased, counts)
    lines = block.split(b"\n")
    users = pick.findall(block)  # one a line, in order: b"" where the row has no such column
    counts.rows += len(lines) - lines.count(b"") - lines.count(b"\r")
    counts.users += len(users) - users.count(b"")
    if erased.raw.isdisjoint(users):
        return block
    kept = [line for line, user in zip(lines, users) if user not in erased.raw]
    counts.removed += len(lines) - len(kept)
    return b"\n".join(kept)  # a block ends after a line end, or is the file's last line alone


def _quoted_rows(block: bytes, column: int, erased: ErasedUsers, counts: Counts) -> bytes:
    """``_rows`` for a block with quotes: each record parsed by the csv module, its lines kept or left out."""
    try:
        text = block.decode("utf-8")
        lines = _lines(text)
        reader = csv.reader(lines)
        kept, start, removed = [], 0, counts.removed
        for fields in reader:
            user = fields[column] if len(fields) > column else ""
            counts.rows += bool(fields)
            counts.users += bool(user)
            if user in erased.text:
                counts.removed += 1
            else:
                kept += lines[start:reader.line_num]
            start = reader.line_num
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Unreadable(f"not UTF-8 CSV ({type(exc).__name__})") from None
    return block if counts.removed == removed else "".join(kept).encode("utf-8")


def _lines(text: str) -> list[str]:
    """The lines of a text, each with its line end (a CR before an LF is part of it; a lone CR is not one)."""
    lines = [line + "\n" for line in text.split("\n")]
    last = lines.pop()[:-1]  # after the last line end: nothing, or a last line without one
    return lines + [last] if last else lines

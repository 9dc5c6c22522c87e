"""Batch segment output → audience files, streamed: memory does not grow with a segment.

One output line of a batch segment job holds one query and up to 5,000,000
user IDs (tens of MB of JSON on one line). ``export_line`` parses it with
ijson's C backend as it arrives and writes audience rows as they are parsed,
in parts, never holding the line or the segment.

Shapes read (all seen in the wild):
``{"input": {"itemAttributes"|"itemId": ...}, "output": {"recommendedUsers"|"usersList": [...]}}``,
``{"itemAttributes": ..., "output": {...}}`` and lines with an ``error`` field.

The audience file format, neutral for every destination: UTF-8 CSV without BOM,
LF line ends, one column with the header ``User.UserId`` (what Amazon Pinpoint
imports as a user-ID segment as is; Connect Customer Profiles maps the column),
values quoted by RFC 4180 only when they hold a comma, quote or line break.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
from itertools import islice
from typing import BinaryIO, Callable, Iterable, Optional

import ijson

from shared.audiences import MAX_USERS_PER_LINE, SeenUsers, csv_rows
from shared.contract import AUDIENCE_HEADER

USER_PREFIXES = ("output.recommendedUsers.item", "output.usersList.item")
QUERY_PREFIXES = {"itemAttributes": "itemAttributes", "input.itemAttributes": "itemAttributes",
                  "input.itemId": "itemId", "itemId": "itemId"}
ERROR_PREFIXES = ("error", "output.error", "errorMessage")
NAME_MAX = 100  # segment names: readable, and short enough for every destination
BATCH = 8192  # users handled per batch
SNIFF_BYTES = 65_536
READ_SIZE = 1024 * 1024  # bytes per read from S3: fewer, larger reads than ijson's 64 KB default
_QUERY = re.compile(rb'"(itemAttributes|itemId)"\s*:\s*("(?:[^"\\]|\\.)*")')
_USERS_KEY = re.compile(rb'"(recommendedUsers|usersList)"\s*:\s*\[')


# ---------------------------------------------------------------- names


def _slug(text: str) -> str:
    text = re.sub(r"ITEMS\.", "", text)
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def segment_name(job_name: str, query_kind: str, query: str) -> str:
    """``<job>-<query slug>-<hash>``: readable, unique per query, the same on every rerun.

    Safe as an S3 key part and as a Pinpoint or Customer Profiles segment name.
    """
    digest = hashlib.sha256(f"{query_kind}\0{query}".encode()).hexdigest()[:8]
    prefix = "item-" if query_kind == "itemId" else ""
    job = _slug(job_name)[:40].strip("-") or "job"
    room = NAME_MAX - len(job) - len(digest) - 2
    slug = (prefix + _slug(query))[:room].strip("-") or "query"
    return f"{job}-{slug}-{digest}"


# ---------------------------------------------------------------- holdout and suppression


def holdout_threshold(percent: float) -> int:
    if not 0 <= percent <= 50:
        raise ValueError(f"holdout percent must be from 0 to 50, not {percent}")
    return round(percent * 100)  # out of 10,000


def holdout_salt(job_name: str, line: int) -> bytes:
    """Per segment (a job's line is one segment), stable across reruns of the same job."""
    return hashlib.sha256(f"{job_name}\0{line}".encode()).digest()[:16]


def in_control_group(user_id: str, salt: bytes, threshold: int) -> bool:
    """Deterministic: the same user, segment and percent land in the same group on every rerun."""
    digest = hashlib.blake2b(user_id.encode(), digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "big") % 10_000 < threshold


def user_hash(user_id: str) -> int:
    """A stable 64-bit fingerprint (suppression lists are stored as these, never as IDs)."""
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big")


def load_suppression(lines: Iterable[str]) -> frozenset[int]:
    """User IDs one per line, as CSV (first column, quotes and spaces removed, a BOM and an
    optional ``User.UserId``/``user_id`` header skipped)."""
    fingerprints = set()
    for number, row in enumerate(csv.reader(line.lstrip("\ufeff") if n == 0 else line
                                            for n, line in enumerate(lines))):
        user = row[0].strip() if row else ""
        if not user or (number == 0 and user.lower() in ("user.userid", "user_id", "userid")):
            continue
        fingerprints.add(user_hash(user))
    return frozenset(fingerprints)


class _Replay:
    """A byte stream that first gives back what was already read from it."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            data, self._head = (self._head, b"") if size < 0 or size >= len(self._head) else \
                (self._head[:size], self._head[size:])
            return data
        return self._rest.read(size) if size >= 0 else self._rest.read()


# ---------------------------------------------------------------- writing


@dataclasses.dataclass
class LineResult:
    line: int
    query_kind: Optional[str] = None
    query: Optional[str] = None
    users: int = 0
    control: int = 0
    suppressed: int = 0
    duplicates: int = 0
    error: Optional[str] = None


def export_line(
    stream: BinaryIO,
    *,
    line: int,
    audience: Callable[[str], None],
    control: Callable[[str], None],
    salt: bytes,
    holdout_percent: float = 0,
    suppression: frozenset[int] = frozenset(),
    capacity: int = MAX_USERS_PER_LINE,
    on_query: Optional[Callable[[str, str], None]] = None,
) -> LineResult:
    """Parse one output line from ``stream`` and write its users as CSV text.

    ``audience`` and ``control`` receive CSV text (header first, then rows) as it is
    produced. ``salt`` is the segment's holdout salt; it must not depend on the query,
    which may come after the users in a line (``holdout_salt`` gives job name + line).
    A parse error is returned in ``LineResult.error``; the caller discards what was written.
    ``on_query(kind, query)`` is called before the first user is written when the query comes
    first in the line (the usual shape), so the caller can write straight to the final name.
    """
    result = LineResult(line=line)
    threshold = holdout_threshold(holdout_percent)
    seen = SeenUsers(capacity)
    pending: list[str] = []
    audience(AUDIENCE_HEADER + "\n")
    if threshold:
        control(AUDIENCE_HEADER + "\n")

    def flush() -> None:
        held: list[str] = []
        keep = seen.keep_new(pending)
        result.duplicates += len(pending) - len(keep)
        if suppression:
            allowed = [u for u in keep if user_hash(u) not in suppression]
            result.suppressed += len(keep) - len(allowed)
            keep = allowed
        if threshold and keep:
            flags = [in_control_group(u, salt, threshold) for u in keep]
            held = [u for u, c in zip(keep, flags) if c]
            keep = [u for u, c in zip(keep, flags) if not c]
            control(csv_rows(held))
        audience(csv_rows(keep))
        result.users += len(keep)
        result.control += len(held)
        pending.clear()

    head = stream.read(SNIFF_BYTES)
    query, users_key = _QUERY.search(head), _USERS_KEY.search(head)
    whole = _Replay(head, stream)
    try:
        if query and users_key and query.start() < users_key.start() and b'"error"' not in head:
            # The usual shape, query first: only the user array needs parsing (ijson's fastest path).
            result.query_kind, result.query = query.group(1).decode(), json.loads(query.group(2))
            if on_query:
                on_query(result.query_kind, result.query)
            users = ijson.items(whole, f"output.{users_key.group(1).decode()}.item", buf_size=READ_SIZE)
            while batch := list(islice(users, BATCH)):  # batches built in C
                try:
                    "".join(batch)  # all strings (the usual case), checked in C
                except TypeError:  # numeric IDs
                    batch = [str(u) for u in batch]
                pending.extend(batch)
                flush()
        else:
            for prefix, event, value in ijson.parse(whole, buf_size=READ_SIZE):
                if prefix in USER_PREFIXES:
                    if event in ("string", "number"):
                        pending.append(str(value))
                        if len(pending) >= BATCH:
                            flush()
                elif prefix in QUERY_PREFIXES and event in ("string", "number"):
                    result.query_kind, result.query = QUERY_PREFIXES[prefix], str(value)
                elif prefix in ERROR_PREFIXES and event == "string":
                    result.error = f"line {line}: Personalize reported: {value}"
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        # Never the parser's message: it quotes the bytes around the fault, i.e. user IDs.
        result.error = f"line {line}: not valid JSON ({type(exc).__name__})"
        return result
    if result.error:
        return result
    if result.query is None:
        result.error = f"line {line}: no itemAttributes or itemId query found"
        return result
    flush()
    return result

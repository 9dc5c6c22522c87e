"""Audience files: where the post-processor keeps them, their format, and the user sets read from them.

Standard library and boto3 only: every function that reads or writes audience files imports this, and only
the export function has the ijson layer (the streaming parse is in ``shared/segments.py``).

Where the post-processor keeps things: one folder per batch segment job under the audience prefix.

    <prefix><job>/<segment>.csv            the audience file of each query
    <prefix><job>/control/<segment>.csv    its holdout (control) group, when holdout is on
    <prefix><job>/manifest.json            every segment of the job, with counts and errors
    <prefix><job>/_work/...                work items, per-line results (per job output: <sourceId>/)
                                           and publish markers
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from array import array
from itertools import repeat
from operator import and_, itemgetter
from typing import Iterable, Iterator, Optional

from botocore.exceptions import ClientError

from shared.aws import client
from shared.contract import AUDIENCE_HEADER, Env

MAX_USERS_PER_LINE = 5_000_000  # Personalize's numResults limit: one query's users

def s3():
    return client("s3")


def user_ids(lines: Iterable[bytes]) -> Iterator[str]:
    """The user IDs of an audience file, from its lines as read (CSV: quoted IDs unquoted); the
    ``User.UserId`` header, checked before, is skipped, and so are empty rows."""
    reader = csv.reader(line.decode("utf-8") for line in lines)
    next(reader, None)
    return (row[0] for row in reader if row and row[0])


def user_id_batches(chunks: Iterable[bytes]) -> Iterator[list[str]]:
    """The user IDs of an audience file in batches (one a chunk, about), from its bytes in chunks of any size, as
    ``user_ids`` reads them but faster: a chunk without quotes or carriage returns (the usual) is split on line
    ends, in C; one with them is read as CSV. A chunk is cut at its last line end outside quotes (in RFC 4180 a
    quote inside a value is doubled: an odd count of quotes before a line end puts it inside a value). A UTF-8
    byte-order mark and a ``User.UserId`` header at the start are skipped, and so are empty rows; user IDs are
    never checked or changed otherwise."""
    carry, head = b"", True
    for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        if not cut or (b'"' in data and data.count(b'"', 0, cut) % 2):
            # no complete row yet, or the last line end is inside a quoted value: wait for more (an earlier
            # line end may do, but rows this long or quoted values over lines are rare: read on)
            carry = data
            continue
        carry = data[cut:]
        users = _rows(data[:cut], head)
        head = False
        if users:
            yield users
    if carry:
        users = _rows(carry, head)
        if users:
            yield users


def _rows(piece: bytes, head: bool) -> list[str]:
    text = piece.decode("utf-8")
    if head:
        text = text.removeprefix("\ufeff")
    if '"' in text or "\r" in text:
        users = [row[0] for row in csv.reader(io.StringIO(text, newline="")) if row]
    else:
        users = text.split("\n")
        if users[-1] == "":  # after the last line end
            users.pop()
    if head and users and users[0] == AUDIENCE_HEADER:
        del users[0]
    return users if all(users) else [u for u in users if u]


def audience_bucket() -> str:
    return os.environ[Env.AUDIENCE_BUCKET]


def job_folder(job_name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9\-_.]+", "-", job_name).strip("-") or "job"
    return f"{os.environ[Env.AUDIENCE_PREFIX]}{safe}/"


def work_key(job_name: str, name: str) -> str:
    return f"{job_folder(job_name)}_work/{name}"


def manifest_key(job_name: str) -> str:
    return f"{job_folder(job_name)}manifest.json"


def version_key(name: str) -> str:
    """The record of an audience's latest published version (batch_segment_postprocessor/publish/versions.py)."""
    return f"{os.environ[Env.AUDIENCE_PREFIX]}_audiences/{name}.json"


def latest_version(name: str) -> tuple[Optional[dict], Optional[str]]:
    """The audience's latest published version and the ETag of its record, or (None, None) before its first."""
    try:
        found = s3().get_object(Bucket=audience_bucket(), Key=version_key(name))
    except ClientError as exc:
        # without s3:ListBucket, S3 answers a missing key with 403, not 404
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "403", "AccessDenied"):
            return None, None
        raise
    return json.loads(found["Body"].read()), found["ETag"]


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def csv_rows(users: list[str]) -> str:
    """Rows for a batch: a plain join unless some ID needs RFC 4180 quoting."""
    joined = "\n".join(users)
    if "," not in joined and '"' not in joined and "\r" not in joined and joined.count("\n") == len(users) - 1:
        return joined + "\n" if users else ""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([u] for u in users)
    return buffer.getvalue()


EMPTY = -1  # a free slot of a SeenUsers table: hash() never returns -1 (CPython keeps it for errors)
PREFETCH = 1024  # users looked up together: their home slots read ahead in one C call (``gather``)


def gather(sequence, indexes: list[int]) -> tuple:
    """``sequence[i]`` for each of ``indexes``, in one C call: reading a table far larger than the CPU's caches at
    many places, the cache misses overlap, where a loop waits on each in turn."""
    if len(indexes) > 1:
        return itemgetter(*indexes)(sequence)
    return tuple(map(sequence.__getitem__, indexes))  # an itemgetter of one item returns it, of none fails


class SeenUsers:
    """Duplicate detection in compact memory: an open-addressing table (linear probing) of the users' 64-bit
    hashes, 8 bytes a slot, sized from the job's ``numResults`` (about 67 MB for 5,000,000 users) and
    doubled only if a line holds more users than that. Two different IDs sharing a 64-bit hash
    (odds about 1e-6 in a 5M segment) would count as one. The audience deltas (``place``, ``flag``) use it as a
    set of a file's users whose slots index arrays of their own.

    Users are looked up ``PREFETCH`` at a time: their hashes and home slots computed in C and the home slots read
    ahead (``gather``), then a loop of locals only probes and stores, user after user. The probe is written out in
    each method that walks the table, on purpose: a function call per user would cost more than the probe."""

    def __init__(self, capacity: int) -> None:
        self._allocate(1 << max(10, (max(capacity, 1) * 5 // 3).bit_length()))

    def _allocate(self, size: int) -> None:
        self._mask, self._count, self._limit = size - 1, 0, size * 7 // 10
        self._table = array("q", [EMPTY]) * size

    def _grow(self) -> None:
        old, count = self._table, self._count
        self._allocate(len(old) * 2)
        table, mask = self._table, self._mask
        for start in range(0, len(old), PREFETCH):  # a slice at a time: never every hash as an object at once
            hashes = list(filter(EMPTY.__ne__, old[start:start + PREFETCH]))
            homes = list(map(and_, hashes, repeat(mask)))
            gather(table, homes)  # read ahead: the loop below finds them cached
            for h, i in zip(hashes, homes):
                while table[i] != EMPTY:
                    i = (i + 1) & mask
                table[i] = h
        self._count = count

    def _parts(self, users: list[str]) -> Iterator[tuple[list[str], list[int], list[int]]]:
        """``users`` by ``PREFETCH``, each part with its hashes and home slots, these read ahead."""
        table, mask = self._table, self._mask
        for start in range(0, len(users), PREFETCH):
            part = users[start:start + PREFETCH]
            hashes = list(map(hash, part))
            homes = list(map(and_, hashes, repeat(mask)))
            gather(table, homes)  # read ahead: the loop below finds them cached
            yield part, hashes, homes

    def keep_new(self, users: list[str]) -> list[str]:
        """The users of a batch not seen before, in order."""
        while self._count + len(users) >= self._limit:
            self._grow()
        table, mask, kept = self._table, self._mask, []
        keep = kept.append
        for part, hashes, homes in self._parts(users):
            for user, h, i in zip(part, hashes, homes):
                v = table[i]
                if v == EMPTY:  # the usual case: a free home slot
                    table[i] = h
                    keep(user)
                elif v != h:  # another user's: probe on
                    i = (i + 1) & mask
                    v = table[i]
                    while v != h and v != EMPTY:
                        i = (i + 1) & mask
                        v = table[i]
                    if v == EMPTY:
                        table[i] = h
                        keep(user)
        self._count += len(kept)
        return kept

    @property
    def slots(self) -> int:
        """The table's size: an array of per-slot flags beside it has as many (and one more, see ``place``). The
        table grows only in ``keep_new``, which moves every hash: no flag or slot taken before it still holds."""
        return len(self._table)

    def room(self) -> int:
        """How many more users ``place`` takes (the table never grows there; ``keep_new`` grows it at its limit)."""
        return self._limit - 1 - self._count

    def place(self, users: list[str], places: array, repeat: int) -> int:
        """Adds ``users`` as ``keep_new`` does, but appends to ``places`` the slot of each one new to the table, and
        ``repeat`` for each one already in it (an ID listed again), in order; raises OverflowError, having added
        nothing, if ``users`` are more than ``room()``. Returns how many were new."""
        if len(users) > self.room():
            raise OverflowError(f"{len(users):,} users, room for {self.room():,}: a larger table is needed")
        table, mask, count = self._table, self._mask, self._count
        add = places.append
        for _, hashes, homes in self._parts(users):
            for h, i in zip(hashes, homes):
                v = table[i]
                while v != h and v != EMPTY:
                    i = (i + 1) & mask
                    v = table[i]
                if v == EMPTY:
                    table[i] = h
                    add(i)
                    count += 1
                else:
                    add(repeat)
        new, self._count = count - self._count, count
        return new

    def flag(self, users: list[str], flags: bytearray) -> list[str]:
        """Sets the flag of each of ``users`` in the table (``flags[slot] = 1``); returns those not in it, in order."""
        table, mask, unseen = self._table, self._mask, []
        add = unseen.append
        for part, hashes, homes in self._parts(users):
            for user, h, i in zip(part, hashes, homes):
                v = table[i]
                while v != h and v != EMPTY:
                    i = (i + 1) & mask
                    v = table[i]
                if v == EMPTY:
                    add(user)
                else:
                    flags[i] = 1
        return unseen

    def __contains__(self, user: str) -> bool:
        table, mask, h = self._table, self._mask, hash(user)
        i = h & mask
        v = table[i]
        while v != h:
            if v == EMPTY:
                return False
            i = (i + 1) & mask
            v = table[i]
        return True

    def __len__(self) -> int:
        return self._count

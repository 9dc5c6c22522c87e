"""Who joined and who left an audience since its previous version: two files next to the new one, and their counts.

After a line's audience file is written, if the audience has a previous published version (``publish/versions.py``:
the latest version, or, when that is this job's own, the one it replaced), the export writes

    <prefix><job>/deltas/<audience>.joined.csv   in this version's audience file, not in the previous one's
    <prefix><job>/deltas/<audience>.left.csv     in the previous one's, not in this one

in the audience file format (header ``User.UserId``, then one user ID a row), both always, header only when empty,
and the entry gets ``joinedCount``, ``leftCount``, ``joinedKey``, ``leftKey`` and ``deltaFrom`` (the previous
version's ``version``, ``jobName``, ``audienceKey`` and ``userCount``); all None for a first version, for a line
that leaves no file, and when the previous version's file is gone (its lifecycle rule expired it) or cannot be read
as an audience file (logged).

Memory does not grow with the user IDs: the previous file's users are held as 64-bit hashes (``SeenUsers``, 8 bytes
a slot: 67 MB for 5,000,000 users), with a byte of flags a slot and the slot of each of its rows (4 bytes a row):
about 95 MB in all for 5,000,000. Three streamed reads, each read ahead by a thread while the last chunk is worked
on:

1. the previous file: its users into the table, the slot of each row noted (a repeated ID, as a file edited by hand
   may have, notes a slot that is never flagged as left: it counts once);
2. this version's file: a user not in the table joined; one in it has its slot flagged;
3. the previous file again (that very object: its ETag): the rows whose slot is not flagged left, picked in C by
   their noted slots (no lookups).

Two IDs sharing a 64-bit hash count as one, as in the export's duplicate check (odds about 1e-6 at 5,000,000 users).
"""

from __future__ import annotations

import csv
from array import array
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from itertools import compress
from typing import Iterable, Iterator, Optional

from botocore.exceptions import ClientError

from shared.audiences import SeenUsers, audience_bucket, csv_rows, job_folder, latest_version, s3, user_id_batches
from shared.aws import logger
from shared.claims import GONE
from shared.contract import AUDIENCE_HEADER
from shared.s3_stream import MultipartWriter
from batch_segment_postprocessor.export.segments import NO_SUPPRESSION, SuppressionList

log = logger(__name__)
READ_SIZE = 1024 * 1024  # bytes per read of an audience file
READ_AHEAD = 4  # reads waiting at most: 4 MB
FIELDS = ("joinedCount", "leftCount", "joinedKey", "leftKey", "deltaFrom")
FROM_FIELDS = ("version", "jobName", "audienceKey", "userCount")
_FLIP = bytes.maketrans(b"\x00\x01", b"\x01\x00")


class _Unreadable(Exception):
    """The previous version's file is gone, or is no audience file: no deltas."""


def no_deltas() -> dict:
    """The entry's delta fields when there are none: a first version, or no file this time."""
    return dict.fromkeys(FIELDS)


def delta_keys(job: str, name: str) -> tuple[str, str]:
    """The keys of the joined and left files of the audience ``name`` in ``job``."""
    folder = f"{job_folder(job)}deltas/{name}"
    return f"{folder}.joined.csv", f"{folder}.left.csv"


def previous_version(name: str, job: str) -> Optional[dict]:
    """The published version that this job's version of the audience ``name`` follows: its latest, or the one
    before that if the latest is this job's own (published before, by another delivery of it, which publishing
    again does not make a new version: ``versions.publish``); None before a first version."""
    latest, _ = latest_version(name)  # None before a first version (a 403 without s3:ListBucket too)
    if latest is not None and latest.get("jobName") == job:
        latest = latest.get("previous")
    return latest if latest and latest.get("audienceKey") else None


def _get(key: str, etag: Optional[str] = None) -> dict:
    try:
        return s3().get_object(Bucket=audience_bucket(), Key=key, **({"IfMatch": etag} if etag else {}))
    except ClientError as exc:
        if exc.response["Error"]["Code"] in GONE:
            raise _Unreadable("is gone") from None
        raise


def _read_ahead(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks``, read by a thread up to ``READ_AHEAD`` ahead: the network overlaps the lookups (a read releases
    the GIL). Reads are made one at a time, in order."""
    chunks = iter(chunks)
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = deque(reader.submit(next, chunks, None) for _ in range(READ_AHEAD))
        try:
            while (chunk := pending.popleft().result()) is not None:
                pending.append(reader.submit(next, chunks, None))
                yield chunk
        finally:
            for read in pending:
                read.cancel()


def _users(found: dict) -> Iterator[list[str]]:
    """The user IDs of the audience file of a GetObject answer, in batches as its bytes arrive."""
    body = found["Body"]
    try:
        yield from user_id_batches(_read_ahead(body.iter_chunks(READ_SIZE)))
    except (UnicodeDecodeError, csv.Error) as exc:  # a file edited by hand: never the message (it may quote IDs)
        raise _Unreadable(f"is not an audience file ({type(exc).__name__})") from None
    finally:
        body.close()


def _load(key: str, capacity: int) -> tuple[SeenUsers, array, str]:
    """The users of the audience file at ``key`` as a table, the slot of each of its rows (``known.slots`` for a
    repeated ID) and the ETag of the object read. The table is sized for ``capacity`` users (its record's count);
    a file that holds more (edited by hand) is read again into a larger one."""
    while True:
        found = _get(key)
        known, places = SeenUsers(capacity), array("I")
        with closing(_users(found)) as batches:
            for users in batches:
                if len(users) > known.room():
                    break
                known.place(users, places, known.slots)
            else:
                return known, places, found["ETag"]
        capacity = 2 * (len(places) + len(users))  # twice the rows read so far


def _write(key: str, batches: Iterable[list[str]]) -> int:
    """Writes an audience file of the users of ``batches`` at ``key`` (header only if none); how many."""
    writer, count = MultipartWriter(s3(), audience_bucket(), key), 0
    try:
        writer.write(AUDIENCE_HEADER + "\n")
        for users in batches:
            if users:
                writer.write(csv_rows(users))
                count += len(users)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return count


def _picked(batches: Iterable[list[str]], places: array, keep: bytearray) -> Iterator[list[str]]:
    """The users of each batch (the rows of the file ``places`` was noted from, in order) whose slot ``keep`` flags."""
    at = 0
    for users in batches:
        yield list(compress(users, map(keep.__getitem__, places[at:at + len(users)])))
        at += len(users)
    if at != len(places):
        raise RuntimeError(f"the previous audience file read again has {at:,} rows, not {len(places):,}")


def audience_deltas(job: str, name: str, audience_key: str, suppressed: SuppressionList = NO_SUPPRESSION) -> dict:
    """Writes the joined and left files of the audience ``name`` of ``job``, whose file (just written) is
    ``audience_key``, against its previous version; the entry's delta fields (``no_deltas()`` if there is none).
    A user of the previous version who is now ``suppressed`` (opted out, or erased: its file may not be scrubbed
    yet) is in no left file: an erased ID is never written again."""
    previous = previous_version(name, job)
    if previous is None:
        return no_deltas()
    facts = {"segment": name, "previousVersion": previous.get("version"), "previousJob": previous.get("jobName")}
    if previous["audienceKey"] == audience_key:  # a record naming this very file: nothing to compare with
        log.warning("no audience deltas: the previous version's file is this one", extra=facts)
        return no_deltas()
    try:
        known, places, etag = _load(previous["audienceKey"], previous.get("userCount") or 0)
    except _Unreadable as exc:
        log.warning(f"no audience deltas: the previous version's file {exc}", extra=facts)
        return no_deltas()
    flags = bytearray(known.slots + 1)  # a slot's flag: its user is in this version; the last, a repeat's: set
    flags[-1] = 1
    joined_key, left_key = delta_keys(job, name)
    joined = _write(joined_key, (known.flag(users, flags) for users in _users(_get(audience_key))))
    flags = flags.translate(_FLIP)  # now: its user left
    gone = _picked(_users(_get(previous["audienceKey"], etag)), places, flags)
    left = _write(left_key, (suppressed.without(users) for users in gone))
    # Counts and names only: never user IDs.
    log.info("audience deltas", extra={**facts, "previousUsers": len(known), "previousRows": len(places),
                                       "joinedCount": joined, "leftCount": left})
    return {"joinedCount": joined, "leftCount": left, "joinedKey": joined_key, "leftKey": left_key,
            "deltaFrom": {k: previous.get(k) for k in FROM_FIELDS}}

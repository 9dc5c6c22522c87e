"""Batch segment output → audience files, streamed: memory does not grow with a segment.

One output line of a batch segment job holds one query and up to 5,000,000
user IDs (tens of MB of JSON on one line). ``export_line`` parses it with
ijson's C backend as it arrives and writes audience rows as they are parsed,
in parts, never holding the line or the segment.

Shapes read (all seen in the wild):
``{"input": {"itemAttributes"|"itemId": ...}, "output": {"recommendedUsers"|"usersList": [...]}}``,
``{"itemAttributes": ..., "output": {...}}`` and lines with an ``error`` field.

What a line means, whatever the order of its fields:

- its query is the ``itemAttributes`` or ``itemId`` field, at the top or in ``input`` (a string, or a number
  as its text); the same query repeated is one query, two different ones fail the line;
- its users are the items of its user list, ``output.recommendedUsers`` or ``output.usersList``: strings as
  they are, numbers as their text (``101``, ``2.50``); null, true/false, objects, arrays and empty strings are
  no user ID: skipped and counted (``invalid``). Two user lists (both names, or one twice) fail the line;
- an ``error`` or ``errorMessage`` field (at the top) or ``output.error``, anywhere in the line, fails it unless
  it is null, false, 0 or empty; a text error is quoted (Personalize's message), any other is not;
- a failed line (that error, JSON that does not parse, no query, a query the caller refuses) reports its
  error with every count zero: nothing of it is exported. Errors never quote the line (user IDs).

Two ways to read it, one result. The reference reads every parse event (``_Line``). The fast path, for the
usual shape (query first, then the user list), reads the head of the line that way up to the ``[`` that opens
the user list, then takes the list's items straight from C (``ijson.items``), and watches the bytes from that
``[`` on for a key (a string, then a colon). A line without one holds nothing after its user list but closing
brackets (or, the one key allowed, a final ``"error": null`` at the top), so both ways agree; a line with one
(an error or anything else after the list, objects in it) is read again by the reference, which says whether
it failed. The tests run every case both ways.

The audience file format, neutral for every destination: UTF-8 CSV without BOM,
LF line ends, one column with the header ``User.UserId`` (what Amazon Pinpoint
imports as a user-ID segment as is; Connect Customer Profiles maps the column),
values quoted by RFC 4180 only when they hold a comma, quote or line break.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import hashlib
import importlib
import importlib.machinery
import re
import warnings
from array import array
from decimal import Decimal
from itertools import compress, filterfalse, groupby, islice, repeat
from operator import and_, itemgetter, not_, rshift
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Optional

import ijson
from ijson.utils import sendable_list

from shared.audiences import MAX_USERS_PER_LINE, SeenUsers, csv_rows, gather
from shared.contract import AUDIENCE_HEADER

USER_LISTS = {"output.recommendedUsers": "output.recommendedUsers.item", "output.usersList": "output.usersList.item"}
USER_PREFIXES = frozenset(USER_LISTS.values())
QUERY_PREFIXES = {"itemAttributes": "itemAttributes", "input.itemAttributes": "itemAttributes",
                  "input.itemId": "itemId", "itemId": "itemId"}
ERROR_PREFIXES = frozenset(("error", "output.error", "errorMessage"))
NOT_A_USER = frozenset(("null", "boolean", "start_map", "start_array"))  # events of a user-list item that is no ID
ERROR_TEXT_MAX = 500  # characters of Personalize's message kept: the entry travels through the workflow's state
NAME_MAX = 100  # segment names: readable, and short enough for every destination
BATCH = 8192  # users handled per batch
SNIFF_BYTES = 65_536  # the head of a line, where the fast path looks for the query and the user list's start
READ_SIZE = 1024 * 1024  # bytes per read from S3: fewer, larger reads than ijson's 64 KB default
_KEY = re.compile(rb'"\s*:')  # a key ends so: a string, then a colon
_KEY_CONTINUED = re.compile(rb"\s*:")  # the colon of a key whose string ended in the previous read
# A line that ends its user list, its output and then says "error": null (as batch outputs may): nothing to verify.
_NULL_ERROR_END = re.compile(rb'\]\s*\}\s*,\s*"error"\s*:\s*null\s*\}\s*\Z')
TAIL_BYTES = 256
C_BACKEND = "yajl2_c"


# ---------------------------------------------------------------- the parser


def require_c_backend(module) -> None:
    """Fail (ImportError) unless ``module``, ijson, parses with its C backend: its pure-Python fallback reads a
    line about 16 times slower, which nothing would notice but the function's timeout on a large segment.

    One case only warns: an ijson whose C extension was built for another interpreter than this one, so that
    none can load here: the export layer's (arm64, the runtime's CPython) where the asset gate's stand-in runs
    it on this machine's. That the layer fits the function's CPU and Python is checked where it is tested
    (tests/deploy: ELF machine and CPython tag of every extension); in Lambda it loads, or this fails.
    """
    if module.backend == C_BACKEND:
        return
    backends = Path(module.__file__).parent / "backends"
    loadable = [backends / f"_yajl2{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    built = sorted(p.name for p in backends.glob("_yajl2.*") if p.suffix in (".so", ".pyd"))
    if built and not any(p.is_file() for p in loadable):
        warnings.warn(f"ijson parses with its {module.backend} backend, about 16 times slower than {C_BACKEND}: "
                      f"its C extension ({', '.join(built)}) is built for another interpreter than this one "
                      f"({importlib.machinery.EXTENSION_SUFFIXES[0]})", RuntimeWarning, stacklevel=2)
        return
    try:
        importlib.import_module(f"{module.__name__}.backends.{C_BACKEND}")
        reason = f"ijson chose its {module.backend} backend (IJSON_BACKEND?)"
    except Exception as exc:  # noqa: BLE001 - whatever stops the extension from loading is the message
        reason = f"{type(exc).__name__}: {exc}" if built else "ijson has no C extension here"
    raise ImportError(
        f"the audience export needs ijson's C backend ({C_BACKEND}), not its {module.backend} one, which parses "
        f"about 16 times slower: {reason}. In Lambda, ijson comes from the export function's layer "
        f"(lambda_src/vendor/ijson/, arm64 wheels for the runtime's Python: scripts/build_layers.py); elsewhere, "
        f"install an ijson wheel built for this platform.")


require_c_backend(ijson)


# ---------------------------------------------------------------- names


def _slug(text: str) -> str:
    text = re.sub(r"ITEMS\.", "", text)
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def segment_name(scope: str, query_kind: str, query: str) -> str:
    """``<solution>-<query slug>-<hash>``: an audience's identity, the same on every run, and its segment's name in
    every destination (which each run updates in place).

    ``scope`` is what the audience is of: the solution's ARN for a batch segment job's output (a solution belongs to
    one dataset group, so its ARN names that too; every version and run of one solution and query is one audience),
    or the name a dropped output file's folder gives it. The hash is of the scope and the query: two solutions whose
    names begin alike never share an audience. Safe as an S3 key part and as a Pinpoint or Customer Profiles
    segment name.
    """
    digest = hashlib.sha256(f"{scope}\0{query_kind}\0{query}".encode()).hexdigest()[:10]
    prefix = "item-" if query_kind == "itemId" else ""
    of = _slug(scope.rsplit("/", 1)[-1])[:40].strip("-") or "audience"
    room = NAME_MAX - len(of) - len(digest) - 2
    slug = (prefix + _slug(query))[:room].strip("-") or "query"
    return f"{of}-{slug}-{digest}"


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


def control_flags(users: list[str], salt: bytes, threshold: int) -> list[bool]:
    """``in_control_group`` of each of ``users``, the keyed BLAKE2b state made once and copied for each (making it
    takes about as long as hashing a user ID with it)."""
    keyed, flags = hashlib.blake2b(digest_size=8, key=salt), []
    flag = flags.append
    for user in users:
        state = keyed.copy()
        state.update(user.encode())
        flag(int.from_bytes(state.digest(), "big") % 10_000 < threshold)
    return flags


class SuppressionList:
    """User IDs to leave out, held as 8-byte fingerprints: a sorted ``array('q')`` of their 64-bit hashes, with a
    bitmap of 16 to 32 bits an ID that clears most IDs not on the list without a search, and where each range of
    hash values starts (about one byte an ID) so that a search looks at a few fingerprints: 10.5 to 13.5 bytes an
    ID in all (10.8 MB for 1,000,000); loading needs about 52 bytes an ID for a moment, to sort.

    The fingerprint is Python's own string hash (SipHash, 64 bits): the export has already computed it for its
    duplicate check, and a string keeps it, so a lookup costs no hashing. It is seeded per process, which is
    where the list is made and used; it is never stored. An ID outside the list sharing a fingerprint with one on
    it would be left out: odds about 1 in 3.7 million for a 5,000,000-user segment against 1,000,000 IDs.
    """

    def __init__(self, fingerprints: Iterable[int] = ()) -> None:
        ordered = sorted(fingerprints)
        self._fingerprints = found = array("q", map(itemgetter(0), groupby(ordered)))  # each once
        del ordered
        bits = 1 << max(6, (16 * len(found) - 1).bit_length())
        self._mask = mask = bits - 1
        self._bitmap = bitmap = bytearray(bits >> 3)
        ranges = max(0, (len(found) // 4).bit_length() - 1)  # 2**ranges ranges: about four fingerprints in each
        self._shift = 64 - ranges
        self._starts = starts = array("I", bytes(4 * ((1 << ranges) + 1)))
        at = 0
        for n, h in enumerate(found):
            b = h & mask
            bitmap[b >> 3] |= 1 << (b & 7)
            while at <= (h + _SIGN) >> self._shift:
                starts[at] = n
                at += 1
        while at < len(starts):
            starts[at] = len(found)
            at += 1

    def __len__(self) -> int:
        return len(self._fingerprints)

    def _listed(self, h: int) -> bool:
        r = (h + _SIGN) >> self._shift
        i = bisect.bisect_left(self._fingerprints, h, self._starts[r], self._starts[r + 1])
        return i < len(self._fingerprints) and self._fingerprints[i] == h

    def __contains__(self, user: str) -> bool:
        h = hash(user)
        b = h & self._mask
        return bool(self._bitmap[b >> 3] >> (b & 7) & 1) and self._listed(h)

    def without(self, users: list[str]) -> list[str]:
        """``users`` less those on the list, in order. The hot path: one bitmap test per ID, in C calls (bit ``b``
        of the bitmap is bit ``b & 7`` of its byte ``b >> 3``); a search only for the few the bitmap does not clear."""
        bits = list(map(and_, map(hash, users), repeat(self._mask)))
        found = gather(self._bitmap, list(map(rshift, bits, repeat(3))))
        maybe = compress(users, map(and_, map(rshift, found, map(and_, bits, repeat(7))), repeat(1)))
        listed = {u for u in maybe if self._listed(hash(u))}
        return list(filterfalse(listed.__contains__, users)) if listed else users


_SIGN = 1 << 63  # fingerprints are signed; their ranges count from the least


NO_SUPPRESSION = SuppressionList()


def load_suppression(*sources: Iterable[str]) -> SuppressionList:
    """User IDs one per line of each source, as CSV (first column, quotes and spaces removed, a BOM and an
    optional ``User.UserId``/``user_id`` header of each skipped)."""

    def fingerprints(lines: Iterable[str]) -> Iterable[int]:
        rows = csv.reader(line.lstrip("\ufeff") if n == 0 else line for n, line in enumerate(lines))
        for number, row in enumerate(rows):
            user = row[0].strip() if row else ""
            if user and not (number == 0 and user.lower() in ("user.userid", "user_id", "userid")):
                yield hash(user)

    return SuppressionList(fingerprint for lines in sources for fingerprint in fingerprints(lines))


# ---------------------------------------------------------------- reading a line


@dataclasses.dataclass
class LineResult:
    line: int
    query_kind: Optional[str] = None
    query: Optional[str] = None
    users: int = 0
    control: int = 0
    suppressed: int = 0
    duplicates: int = 0
    invalid: int = 0  # items of the user list that are no user ID: null, true/false, objects, arrays, ""
    error: Optional[str] = None


class _Refused(Exception):
    """The caller refused the line's query: read no further."""


def _no_users(users: list[str], invalid: int = 0) -> None:
    pass


class _Line:
    """What a line says, event by event: the reference. ``take(user_ids, invalid)`` receives the user IDs of the
    user list in order (with how many items before them were no ID); ``on_query`` as ``export_line``'s."""

    def __init__(self, line: int, take: Callable[..., None] = _no_users,
                 on_query: Optional[Callable[[str, str], Optional[str]]] = None) -> None:
        self.result, self.take, self.on_query = LineResult(line=line), take, on_query
        self.items: Optional[str] = None  # the prefix of the user list's items, once it has opened

    def fail(self, reason: str) -> None:
        if self.result.error is None:  # the first reason is the line's
            self.result.error = reason

    def event(self, prefix: str, kind: str, value) -> None:
        result = self.result
        if prefix in USER_PREFIXES:
            if kind == "string":
                self.take([value] if value else [], 0 if value else 1)
            elif kind == "number":
                self.take([str(value)])
            elif kind in NOT_A_USER:
                self.take([], 1)
        elif prefix in QUERY_PREFIXES:
            if kind == "string" or kind == "number":
                self.query(QUERY_PREFIXES[prefix], str(value))
        elif prefix in ERROR_PREFIXES:
            if kind == "string" and value:
                self.fail(f"line {result.line}: Personalize reported: {value[:ERROR_TEXT_MAX]}")
            elif kind in ("start_map", "start_array") or (kind in ("number", "boolean") and value):
                self.fail(f"line {result.line}: Personalize reported an error")
        elif kind == "start_array" and prefix in USER_LISTS:
            if self.items is not None:
                self.fail(f"line {result.line}: more than one user list")
            self.items = USER_LISTS[prefix]

    def query(self, kind: str, text: str) -> None:
        result = self.result
        if result.query is None:
            result.query_kind, result.query = kind, text
            refused = self.on_query(kind, text) if self.on_query else None
            if refused:
                self.fail(refused)
                raise _Refused
        elif (kind, text) != (result.query_kind, result.query):
            self.fail(f"line {result.line}: more than one query")


def _not_json(line: int, exc: Exception) -> str:
    # Never the parser's message: it quotes the bytes around the fault, i.e. user IDs.
    return f"line {line}: not valid JSON ({type(exc).__name__})"


def _reference_error(stream: BinaryIO, line: int) -> Optional[str]:
    """The line's error as the reference reads it (nothing written): the fast path's second opinion."""
    state = _Line(line)
    try:
        for prefix, kind, value in ijson.parse(stream, buf_size=READ_SIZE):
            if prefix not in USER_PREFIXES:  # the users make no error
                state.event(prefix, kind, value)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        state.fail(_not_json(line, exc))
    return state.result.error


def _user_list_opening(head: bytes) -> Optional[tuple[list[tuple], int]]:
    """The parse events of a line up to the ``[`` that opens its user list, and the offset just past that ``[``,
    if ``head`` holds it. Fed up to each ``[`` in turn, the parser reports the list's start as it reads it."""
    events, seen = sendable_list(), []
    parser, start = ijson.parse_coro(events), 0
    try:
        while (bracket := head.find(b"[", start)) >= 0:
            parser.send(head[start:bracket + 1])
            start = bracket + 1
            for n, (prefix, kind, _) in enumerate(events):
                if kind == "start_array" and prefix in USER_LISTS:
                    return seen + events[:n + 1], start
            seen += events
            events.clear()
    except (ijson.JSONError, UnicodeDecodeError):
        pass  # the reference says so
    return None


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


class _KeyWatch:
    """A byte stream that counts the keys (a string, then a colon) after its first ``skip`` bytes, and keeps its
    last bytes. Cheap: most reads hold no colon at all (a search in C). A colon at the start of a read counts
    too, since a key's string may have ended in the previous read (so may a string's colon: counted, it only
    costs the line a second reading)."""

    def __init__(self, stream: _Replay, skip: int) -> None:
        self._stream, self._skip, self.keys, self.tail = stream, skip, 0, b""

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        part, self._skip = data[self._skip:], max(0, self._skip - len(data))
        if b":" in part:
            self.keys += len(_KEY.findall(part)) + bool(_KEY_CONTINUED.match(part))
        self.tail = (self.tail + part[-TAIL_BYTES:])[-TAIL_BYTES:]
        return data

    def vouches(self) -> bool:
        """Whether nothing after the user list's start can change the line's result: no key, or only a final
        ``"error": null`` after the output object closed (one key, the line's last)."""
        return not self.keys or (self.keys == 1 and _NULL_ERROR_END.search(self.tail) is not None)


def _user_ids(items: list) -> tuple[list[str], int]:
    """The user IDs among user-list items as ``ijson.items`` builds them, and how many items were none."""
    try:
        "".join(items)  # all strings (the usual case), checked in C
        ids = items
    except TypeError:
        ids = [u if isinstance(u, str) else str(u) for u in items
               if isinstance(u, (str, Decimal)) or (isinstance(u, int) and not isinstance(u, bool))]
    if not all(ids):
        ids = [u for u in ids if u]
    return ids, len(items) - len(ids)


# ---------------------------------------------------------------- writing


def export_line(
    stream: BinaryIO,
    *,
    line: int,
    audience: Callable[[str], None],
    control: Callable[[str], None],
    salt: bytes,
    holdout_percent: float = 0,
    suppression: SuppressionList = NO_SUPPRESSION,
    capacity: int = MAX_USERS_PER_LINE,
    on_query: Optional[Callable[[str, str], Optional[str]]] = None,
    reopen: Optional[Callable[[], BinaryIO]] = None,
    fast: bool = True,
) -> LineResult:
    """Parse one output line from ``stream`` and write its users as CSV text (what a line means: the module's doc).

    ``audience`` and ``control`` receive CSV text (header first, then rows) as it is produced. ``salt`` is the
    segment's holdout salt; it must not depend on the query, which may come after the users in a line
    (``holdout_salt`` gives job name + line). A failed line's error is returned in ``LineResult.error`` with every
    count zero; the caller discards what was written. ``on_query(kind, query)`` is called once, as soon as the
    query is read: before the first user is written when it comes first (the usual shape), so the caller can
    write straight to the final name. It returns None to go on, or a reason: the line then fails with it at once.
    ``reopen()`` gives the line's bytes again: with it, the fast path is taken where it can be (the reference
    reads the line again if the fast path cannot vouch for it); ``fast=False`` takes the reference only.
    """
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
            allowed = suppression.without(keep)
            result.suppressed += len(keep) - len(allowed)
            keep = allowed
        if threshold and keep:
            flags = control_flags(keep, salt, threshold)
            held = list(compress(keep, flags))
            keep = list(compress(keep, map(not_, flags)))
            control(csv_rows(held))
        audience(csv_rows(keep))
        result.users += len(keep)
        result.control += len(held)
        pending.clear()

    def take(users: list[str], invalid: int = 0) -> None:
        if result.error:  # a failed line exports nothing: no need to go on writing
            return
        result.invalid += invalid
        pending.extend(users)
        if len(pending) >= BATCH:
            flush()

    state = _Line(line, take, on_query)
    result = state.result
    head = stream.read(SNIFF_BYTES)
    whole = _Replay(head, stream)
    opening = _user_list_opening(head) if fast and reopen is not None else None
    watch = None
    try:
        if opening:
            probe = _Line(line)  # the usual shape (query, then the user list, no error yet)?
            for event in opening[0]:
                probe.event(*event)
            if probe.result.query is None or probe.result.error:
                opening = None
        if opening is None:
            for prefix, kind, value in ijson.parse(whole, buf_size=READ_SIZE):
                if kind == "string" and value and prefix in USER_PREFIXES and not result.error:
                    pending.append(value)  # what state.event would do with a user ID, in fewer steps
                    if len(pending) >= BATCH:
                        flush()
                else:
                    state.event(prefix, kind, value)
        else:
            for event in opening[0]:
                state.event(*event)
            watch = _KeyWatch(whole, opening[1])
            items = ijson.items(watch, state.items, buf_size=READ_SIZE)
            while batch := list(islice(items, BATCH)):  # batches built in C
                take(*_user_ids(batch))
            if not watch.vouches():  # something after the user list's start: the reference says whether it failed
                reason = _reference_error(reopen(), line)
                if reason:
                    state.fail(reason)
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        # On the fast path, a key read before the fault may have been an error that came first: the reference knows.
        state.fail((watch is not None and watch.keys and _reference_error(reopen(), line)) or _not_json(line, exc))
    except _Refused:
        pass
    if result.query is None:
        state.fail(f"line {line}: no itemAttributes or itemId query found")
    if result.error:  # nothing of a failed line is exported: no counts
        return LineResult(line=line, query_kind=result.query_kind, query=result.query, error=result.error)
    flush()
    return result

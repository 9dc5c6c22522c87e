"""Raw batch segment output (``.out``, JSON Lines) with erased users left out of every line's user list, streamed.

One line holds one query and up to 5,000,000 user IDs (tens of MB on one line), in ``output.recommendedUsers`` or
``output.usersList`` (the shapes the export reads: ``batch_segment_postprocessor/export/segments.py``). The file's
bytes are pushed through ijson's C parser as they arrive, and each line is written again from its parse events,
compact: what it means is unchanged (a user ID is a string, or a number read as its text, as the export reads it),
its spacing and escapes may not be. Items of a user list are handled in batches (encoded by ``json`` in C); nothing
holds a line or a user list, so memory does not grow with a line. A line Personalize marked as failed (``error``)
is written again as it is, less any erased user it lists.
"""

from __future__ import annotations

import json
from typing import Iterable, Iterator

import ijson
from ijson.utils import sendable_list

from user_erasure.scrub.counts import Counts, Unreadable
from user_erasure.scrub.erased import ErasedUsers

FORMAT = "batch-output"
USER_ITEMS = frozenset(("output.recommendedUsers.item", "output.usersList.item"))
UTF8_BOM = b"\xef\xbb\xbf"
BATCH = 8192  # kept user IDs encoded at once
_COMPACT = {"separators": (",", ":")}
_SCALARS = {"null": lambda _: "null", "boolean": lambda value: "true" if value else "false", "number": str,
            "string": lambda value: json.dumps(value)}


class _JsonLines:
    """JSON text from parse events: the values of a JSON Lines file, one a line."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._empty = [True]  # per open container (the file outermost): nothing in it yet
        self._after_key = False
        self.batch: list[str] = []  # user IDs (strings) kept, not yet encoded

    def _separate(self) -> None:
        """A comma before a value or a key, unless it opens its container or follows its key."""
        if self._after_key:
            self._after_key = False
        elif self._empty[-1]:
            self._empty[-1] = False
        elif len(self._empty) > 1:
            self.parts.append(",")

    def _ended(self) -> bool:
        """Whether a value just ended a line (a value of the file itself)."""
        if len(self._empty) == 1:
            self.parts.append("\n")
            return True
        return False

    def flush(self) -> None:
        """Encodes the batch of kept user IDs."""
        if self.batch:
            self._separate()
            self.parts.append(json.dumps(self.batch, **_COMPACT)[1:-1])
            self.batch.clear()

    def event(self, kind: str, value) -> bool:
        """Writes one parse event; whether it ended a line."""
        self.flush()
        if kind == "map_key":
            self._separate()
            self.parts.append(json.dumps(value) + ":")
            self._after_key = True
        elif kind in ("start_map", "start_array"):
            self._separate()
            self.parts.append("{" if kind == "start_map" else "[")
            self._empty.append(True)
        elif kind in ("end_map", "end_array"):
            self._empty.pop()
            self.parts.append("}" if kind == "end_map" else "]")
            return self._ended()
        else:
            self._separate()
            self.parts.append(_SCALARS[kind](value))
            return self._ended()
        return False


def scrub(chunks: Iterable[bytes], erased: ErasedUsers, counts: Counts) -> Iterator[bytes]:
    """The file's lines written again without erased users, piece by piece as its bytes arrive, counted in
    ``counts`` (lines as rows, user IDs as users and removed). A byte-order mark at the start stays."""
    counts.format = FORMAT
    events, out = sendable_list(), _JsonLines()
    parser = ijson.parse_coro(events, multiple_values=True)
    head = True
    try:
        for chunk in chunks:
            if head and chunk.startswith(UTF8_BOM):
                out.parts.append(UTF8_BOM.decode("utf-8"))
                chunk = chunk[len(UTF8_BOM):]
            head = False
            parser.send(chunk)
            yield _written(events, out, erased, counts)
        parser.close()
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        # never the parser's message: it quotes the bytes around the fault, i.e. user IDs
        raise Unreadable(f"not JSON Lines after line {counts.rows} ({type(exc).__name__})") from None
    out.flush()
    yield _written(events, out, erased, counts)


def _written(events: list, out: _JsonLines, erased: ErasedUsers, counts: Counts) -> bytes:
    """The text of the events parsed so far, user lists less erased users (the hot loop: locals, few calls)."""
    batch, erased_ids = out.batch, erased.text
    for prefix, kind, value in events:
        if prefix in USER_ITEMS and (kind == "string" or kind == "number"):
            user = value if kind == "string" else str(value)
            counts.users += bool(user)
            if user in erased_ids:
                counts.removed += 1
                continue
            if kind == "string":
                batch.append(value)
                if len(batch) >= BATCH:
                    out.flush()
                continue
        counts.rows += out.event(kind, value)
    events.clear()
    text = "".join(out.parts)
    out.parts.clear()
    return text.encode("utf-8")

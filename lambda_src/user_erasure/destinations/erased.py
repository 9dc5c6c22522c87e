"""The erasure request's user IDs (``shared.erasure_file``) from a position on, in batches.

The file is streamed, never held: a request of 100,000 IDs is a few MB, and each invocation of the loop reads it
again up to its position, which costs far less than the calls it then makes.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterator

from shared.erasure_file import Location, user_ids


def user_ids_from(location: Location, start: int) -> Iterator[str]:
    """The IDs of the file from the ``start``-th on (0 is the first)."""
    return islice(user_ids(location), start, None)


def batches(ids: Iterator[str], size: int) -> Iterator[list[str]]:
    """``ids`` in lists of ``size`` (the last one shorter)."""
    while batch := list(islice(ids, size)):
        yield batch

"""The erasure request's user IDs: a CSV with the single column ``USER_ID``, one ID a row (at most about 100,000).

Held as sets for exact lookups (an ID is erased only if it is one of these strings, never a near match or a hash
collision: nothing that is not erased may be removed), loaded once per warm container and ETag of the file.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

from shared.aws import call
from shared.erasure_file import Location, user_ids


@dataclasses.dataclass(frozen=True)
class ErasedUsers:
    """The same IDs twice: as text, for values a parser decoded, and as UTF-8 bytes, for rows read as bytes."""

    text: frozenset[str]
    raw: frozenset[bytes]

    def __len__(self) -> int:
        return len(self.text)

    @classmethod
    def of(cls, ids: Iterable[str]) -> "ErasedUsers":
        text = frozenset(ids)
        return cls(text=text, raw=frozenset(user.encode("utf-8") for user in text))


_loaded: dict[str, ErasedUsers] = {}


def erased_users(location: Location) -> ErasedUsers:
    """The request's IDs, read again only when the file's ETag is not the one this container loaded."""
    etag = call("s3", "head_object", Bucket=location["bucket"], Key=location["key"])["ETag"]
    if etag not in _loaded:
        _loaded.clear()
        _loaded[etag] = ErasedUsers.of(user_ids(location))
    return _loaded[etag]

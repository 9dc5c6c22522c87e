"""What a scrub of one file counts, and why a file cannot be scrubbed: counts and reasons only, never a user ID."""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass
class Counts:
    """One read of a file. ``rows``: CSV records after the header (blank lines aside), or JSON Lines lines;
    ``users``: the user IDs among them (a CSV row with its user column filled, an item of a user list);
    ``removed``: those left out as erased (CSV rows, user-list items)."""

    format: Optional[str] = None
    rows: int = 0
    users: int = 0
    removed: int = 0


class Unreadable(Exception):
    """The file is not what its name says (not UTF-8, not CSV, not JSON Lines, ambiguous columns): it is left as it
    is and reported. The message is the reason, which never quotes the file (it may hold user IDs)."""

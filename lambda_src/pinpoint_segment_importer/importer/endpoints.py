"""An audience's Pinpoint endpoint IDs, from one endpoint export joined as a stream.

Pinpoint's export job writes every endpoint of the project to S3 as gzipped JSON lines. The audience's
user IDs are held as 64-bit fingerprints (``SeenUsers``: about 67 MB for 5,000,000 users); then each
exported endpoint is read once (its user ID found without parsing the line; only the audience's endpoints
are parsed in full), and its ``Id`` kept when its ``User.UserId`` is in the audience and the
endpoint can be messaged: ``EndpointStatus`` not INACTIVE, ``OptOut`` not ALL, and its ``ChannelType``
one of the channels asked for (every channel if none). Nothing is looked up one user at a time, and
neither file is held in memory. Counts only leave this module, never an ID.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from typing import Any, Callable, Iterable, Iterator, Optional

from shared.audiences import SeenUsers, csv_rows, user_ids

HEADER = "Id"
# An endpoint's user ID, the only "UserId" key with a string value (attribute values are lists), read
# without parsing the line: most endpoints of a project are not in a given audience.
USER_ID = re.compile(rb'"UserId"\s*:\s*"((?:[^"\\]|\\.)*)"')
BATCH = 10_000


class JoinFailed(Exception):
    """The join cannot succeed by retrying, e.g. a line of the export is not an endpoint (the message names
    the file and line, never its text)."""


@dataclasses.dataclass
class Resolution:
    users: int = 0  # distinct users of the audience
    users_matched: int = 0  # of them, with at least one endpoint kept
    endpoints: int = 0  # endpoint IDs written
    inactive: int = 0  # audience endpoints skipped: EndpointStatus INACTIVE
    opted_out: int = 0  # ... OptOut ALL
    other_channel: int = 0  # ... a channel not asked for

    @property
    def users_without_endpoints(self) -> int:
        return self.users - self.users_matched

    def as_state(self) -> dict:
        """The counts as the import's state carries them (camelCase, as every payload key)."""
        return {"users": self.users, "usersMatched": self.users_matched, "endpoints": self.endpoints,
                "inactive": self.inactive, "optedOut": self.opted_out, "otherChannel": self.other_channel,
                "usersWithoutEndpoints": self.users_without_endpoints}


def audience_users(lines: Iterable[bytes]) -> SeenUsers:
    """The fingerprints of an audience file's users (the header, checked before, skipped)."""
    users, batch = SeenUsers(1 << 16), []
    for user in user_ids(lines):
        batch.append(user)
        if len(batch) >= BATCH:
            users.keep_new(batch)
            batch = []
    users.keep_new(batch)
    return users


def export_lines(name: str, body) -> Iterator[bytes]:
    """The lines of one export file (an S3 body), gunzipped as they are read when it is ``.gz``; read in
    1 MB pieces (line by line, gzip's reader costs more than the join)."""
    stream = gzip.GzipFile(fileobj=body, mode="rb") if name.endswith(".gz") else body
    pending = b""
    while chunk := stream.read(1 << 20):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


_SCAN = json.JSONDecoder().raw_decode  # the C scanner, without json.loads's encoding sniffing and wrappers
_JSON_SPACE = " \t\n\r"  # the whitespace JSON allows around a value (json.loads's)


def _json(line: bytes):
    """``json.loads(line)``, the same value or ValueError, in less time for the usual line (an object in UTF-8)."""
    if line[:1] == b"{":
        try:
            text = line.decode("utf-8", "surrogatepass")  # what json.loads decodes a UTF-8 line with
            value, end = _SCAN(text)
        except ValueError:  # a UnicodeDecodeError too: json.loads says what fails
            pass
        else:
            if end == len(text) or not text[end:].strip(_JSON_SPACE):
                return value
    return json.loads(line)


def _endpoint(name: str, number: int, line: bytes) -> dict:
    try:
        endpoint = _json(line)
    except ValueError:
        endpoint = None
    if not isinstance(endpoint, dict):
        raise JoinFailed(f"{name} line {number:,} is not an endpoint as JSON")
    return endpoint


def resolve(audience: SeenUsers, export_files: Iterable[tuple[str, Any]], write: Callable[[str], None],
            channels: Optional[frozenset[str]] = None) -> Resolution:
    """Write ``Id`` and one row per kept endpoint; count what was kept and skipped."""
    result, matched, batch, users = Resolution(users=len(audience)), SeenUsers(1 << 16), [], []
    write(HEADER + "\n")
    for name, body in export_files:
        for number, line in enumerate(export_lines(name, body), start=1):
            if not line.strip():
                continue
            found = USER_ID.search(line)
            if found and b"\\" not in found.group(1):  # the common case: only members are parsed in full
                user = found.group(1).decode("utf-8")
                if user not in audience:
                    continue
                endpoint = _endpoint(name, number, line)
            else:  # an escaped ID, or no user: parsed first
                endpoint = _endpoint(name, number, line)
                user = (endpoint.get("User") or {}).get("UserId")
                if not isinstance(user, str) or user not in audience:
                    continue
            if endpoint.get("EndpointStatus") == "INACTIVE":
                result.inactive += 1
            elif endpoint.get("OptOut") == "ALL":
                result.opted_out += 1
            elif channels and endpoint.get("ChannelType") not in channels:
                result.other_channel += 1
            elif endpoint.get("Id"):
                batch.append(endpoint["Id"])
                users.append(user)
                if len(batch) >= BATCH:
                    write(csv_rows(batch))
                    matched.keep_new(users)
                    result.endpoints += len(batch)
                    batch, users = [], []
    write(csv_rows(batch))
    matched.keep_new(users)
    result.endpoints += len(batch)
    result.users_matched = len(matched)
    return result

"""An erasure request's work file: a CSV with the single column ``USER_ID``, one user ID a row (at most 100,000).

``user_erasure.request`` writes it when it accepts a request (the format Personalize's data deletion jobs read);
every later step of the erasure reads it here, streamed line by line.
"""

from __future__ import annotations

import csv
from typing import Iterator, TypedDict

from shared.aws import call

HEADER = "USER_ID"


class Location(TypedDict):
    bucket: str
    key: str


class NotAnErasureFile(ValueError):
    """The file's header is not ``USER_ID``: a file of something else must not be taken for user IDs."""


def user_ids(location: Location) -> Iterator[str]:
    """The file's IDs in order (RFC 4180 quoting undone; empty rows are no IDs), after its header is checked."""
    body = call("s3", "get_object", Bucket=location["bucket"], Key=location["key"])["Body"]
    rows = csv.reader(line.decode("utf-8") for line in body.iter_lines(keepends=True))
    header = next(rows, None)
    if header is None or [name.lstrip("\ufeff").strip() for name in header] != [HEADER]:
        raise NotAnErasureFile(f"the erasure file s3://{location['bucket']}/{location['key']} must have the single "
                               f"column {HEADER}")  # its first row is not echoed: it may be an ID
    return (row[0] for row in rows if row and row[0])

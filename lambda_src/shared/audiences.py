"""Where the post-processor keeps things: one folder per batch segment job under the audience prefix.

    <prefix><job>/<segment>.csv            the audience file of each query
    <prefix><job>/control/<segment>.csv    its holdout (control) group, when holdout is on
    <prefix><job>/manifest.json            every segment of the job, with counts and errors
    <prefix><job>/_work/...                work items, per-line results (per job output: <sourceId>/)
                                           and publish markers
"""

from __future__ import annotations

import csv
import os
import re
from typing import Iterable, Iterator

from shared.aws import client

MAX_USERS_PER_LINE = 5_000_000  # Personalize's numResults limit: one query's users
AUDIENCE_HEADER = "User.UserId"  # the one column of every audience file (see shared/segments.py)
SOURCE = "segmentation.audiences"
SEGMENT_READY = "Audience Segment Ready"

def s3():
    return client("s3")


def user_ids(lines: Iterable[bytes]) -> Iterator[str]:
    """The user IDs of an audience file, from its lines as read (CSV: quoted IDs unquoted); the
    ``User.UserId`` header, checked before, is skipped, and so are empty rows."""
    reader = csv.reader(line.decode("utf-8") for line in lines)
    next(reader, None)
    return (row[0] for row in reader if row and row[0])


def audience_bucket() -> str:
    return os.environ["AUDIENCE_BUCKET"]


def job_folder(job_name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9\-_.]+", "-", job_name).strip("-") or "job"
    return f"{os.environ.get('AUDIENCE_PREFIX', 'audiences/')}{safe}/"


def work_key(job_name: str, name: str) -> str:
    return f"{job_folder(job_name)}_work/{name}"


def manifest_key(job_name: str) -> str:
    return f"{job_folder(job_name)}manifest.json"


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key

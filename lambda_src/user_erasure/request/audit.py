"""Where a request's files live in the data bucket, and its audit record, which outlives the IDs.

    <ERASURE_PREFIX><anything>                        requests (files of user IDs), deleted once accepted
    <ERASURE_PREFIX>_work/<requestId>/users.csv       the work file: the IDs, until the request completes
    <ERASURE_PREFIX>_audit/<requestId>.json           the audit record: times, counts, status; never an ID
    <ERASURE_PREFIX>_audit/sources/<sha256>.json      which request a request file was (its requestId): a retry or
                                                      a second delivery after the file was deleted finds it there

The audit record is created with a conditional write (one execution per request at a time) and changed only with
``IfMatch`` on the ETag read, retried a few times when another change came first.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Callable, Optional


from shared.aws import MISSING_OBJECT, object_or_none, put_json
from shared.contract import Env, ServiceThrottled

LOST = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404")
GONE = MISSING_OBJECT
ATTEMPTS = 5  # conditional changes lost in a row before giving up (the workflow retries ServiceThrottled)
RUNNING, COMPLETED, FAILED = "RUNNING", "COMPLETED", "FAILED"


def bucket() -> str:
    return os.environ[Env.SOURCE_BUCKET]


def _prefix() -> str:
    return os.environ[Env.ERASURE_PREFIX]


def work_key(request_id: str) -> str:
    return f"{_prefix()}_work/{request_id}/users.csv"


def audit_key(request_id: str) -> str:
    return f"{_prefix()}_audit/{request_id}.json"


def source_key(source: str) -> str:
    return f"{_prefix()}_audit/sources/{hashlib.sha256(source.encode()).hexdigest()}.json"


def is_own(key: str) -> bool:
    """Whether ``key`` is one of the library's files under the prefix (no request)."""
    return key.startswith((f"{_prefix()}_work/", f"{_prefix()}_audit/"))


def read(key: str) -> Optional[tuple[dict, str]]:
    """The JSON record at ``key`` and its ETag, or None when there is none."""
    found = object_or_none(bucket(), key)
    return None if found is None else (json.loads(found["Body"].read()), found["ETag"])


def write(key: str, record: dict, **condition: str) -> bool:
    """Write ``record`` at ``key`` of the data bucket (``claims.put_json``)."""
    return put_json(bucket(), key, record, **condition)


def update(request_id: str, change: Callable[[dict], dict]) -> dict:
    """The audit record once ``change`` is applied to it, written conditionally on the copy it was applied to (not
    at all when ``change`` gives back that very copy)."""
    key = audit_key(request_id)
    for _ in range(ATTEMPTS):
        found = read(key)
        if found is None:
            raise LookupError(f"no audit record for request {request_id}")
        record = change(found[0])
        if record is found[0] or write(key, record, IfMatch=found[1]):
            return record
    raise ServiceThrottled(f"the audit record of request {request_id} changed under {ATTEMPTS} attempts in a row")

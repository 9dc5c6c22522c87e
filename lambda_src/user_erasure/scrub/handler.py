"""Erasure steps 3 and 4: one S3 object less the erased users, and its older versions that hold one deleted.

Input: one key (``bucket``, ``key``), or ``action`` ``sweep`` with the ``areas`` to sweep key by key (``sweep``), and
``erased`` (``bucket``, ``key``: the request's CSV of user IDs, header ``USER_ID``). Nothing comes from the
environment.

What is scrubbed, by the key's suffix and then its content:

- ``.csv`` with a user column (``tables``): training datasets (``USER_ID``) and audience, control and delta files
  (``User.UserId``): the erased users' rows left out, every other byte kept. A CSV without one (items) is unchanged.
- ``.out`` (``batch_output``): raw batch segment output, the erased users left out of every line's user list.
- anything else (manifests, records, exports): skipped, never guessed at.

The current version is rewritten only if it holds an erased user, and only over the version read (``objects``);
a file left with its header alone stays. Then every noncurrent version of the key that holds an erased user is
deleted, and the version the rewrite replaced; those that hold none are kept.

Output, counts only (never a user ID): ``key``, ``format``, ``action`` (``rewritten``, ``unchanged``, ``skipped``,
or ``absent`` when the key has no current version any more), ``rows``, ``users``, ``removed``, ``versionsDeleted``,
``versionsSkipped`` (noncurrent versions kept because they could not be read as their format) and ``reason`` (why a
file was skipped, else None).
"""

from __future__ import annotations

import collections
from pathlib import PurePosixPath
from typing import Iterator, Optional, TypedDict

from shared.aws import call, logger
from shared.budget import Budget
from user_erasure.scrub import batch_output, objects, tables
from user_erasure.scrub.counts import Counts, Unreadable
from user_erasure.scrub.erased import ErasedUsers, Location, erased_users

log = logger(__name__)
FORMATS = {".csv": tables, ".out": batch_output}  # each with ``scrub`` and the ``FORMAT`` of a file it cannot read
OTHER = "other"
REWRITTEN, UNCHANGED, SKIPPED, ABSENT = "rewritten", "unchanged", "skipped", "absent"
# ``unreadable``: files of a format the library writes users to that could not be read (left as they are: the
# audit record says how many); ``versionsSkipped``: older versions of them kept for the same reason.
SWEEP_COUNTS = ("files", REWRITTEN, UNCHANGED, SKIPPED, ABSENT, "unreadable", "rowsRemoved", "versionsDeleted",
                "versionsSkipped")


class ScrubEvent(TypedDict):
    bucket: str
    key: str
    erased: Location


def _current(bucket: str, key: str, scrubber: objects.Scrubber,
             erased: ErasedUsers) -> tuple[str, Counts, Optional[str]]:
    """What became of the current version: (action, counts, the version a rewrite replaced)."""
    found = objects.current(bucket, key)
    if found is None:
        return ABSENT, Counts(), None
    counts = objects.read(found, scrubber, erased)
    if not counts.removed:
        return UNCHANGED, counts, None
    return REWRITTEN, objects.rewrite(bucket, key, found, scrubber, erased), found.get("VersionId")


def handler(event: dict, context) -> dict:
    """``sweep`` (``action``): the workflow's loop over the areas; else one key (``scrub``)."""
    return sweep(event, context) if event.get("action") == "sweep" else scrub(event)


def sweep(event: dict, context) -> dict:
    """Scrub every key under each of the event's ``areas`` (``bucket``, ``prefix``) in turn, as the invocation's time
    allows; the workflow calls again with the ``cursor`` answered (the area, the last key done, the counts so far)
    until ``done``. Keys come from the versions listing, so a key whose current version was deleted still has its
    older versions swept."""
    cursor = event.get("cursor") or {"area": 0, "after": "", "counts": dict.fromkeys(SWEEP_COUNTS, 0)}
    counts, budget = collections.Counter(cursor["counts"]), Budget.of(context)
    areas, area, after = event["areas"], cursor["area"], cursor["after"]
    while area < len(areas):
        for key in _keys(areas[area], after):
            result = budget.timed(scrub, {"bucket": areas[area]["bucket"], "key": key, "erased": event["erased"]})
            counts.update({"files": 1, result["action"]: 1, "rowsRemoved": result["removed"],
                           "versionsDeleted": result["versionsDeleted"], "versionsSkipped": result["versionsSkipped"],
                           "unreadable": int(result["action"] == SKIPPED and result["format"] != OTHER)})
            after = key
            if not budget.allows_another():
                return _swept(False, area, after, counts)
        area, after = area + 1, ""
    return _swept(True, area, "", counts)


def _keys(area: dict, after: str) -> Iterator[str]:
    """The distinct keys under the area's prefix after ``after``, in order, from every version of them."""
    marker = {"KeyMarker": after} if after else {}
    while True:
        page = call("s3", "list_object_versions", Bucket=area["bucket"], Prefix=area["prefix"], **marker)
        keys = sorted({v["Key"] for v in page.get("Versions", []) + page.get("DeleteMarkers", [])})
        yield from (key for key in keys if key > after)
        if not page.get("IsTruncated"):
            return
        after = page["NextKeyMarker"]
        marker = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}


def _swept(done: bool, area: int, after: str, counts: collections.Counter) -> dict:
    totals = {name: counts[name] for name in SWEEP_COUNTS}
    log.info("swept", extra={"done": done, "area": area, **totals})
    return {"done": done, "cursor": {"area": area, "after": after, "counts": totals}, "counts": totals}


def scrub(event: ScrubEvent) -> dict:
    """Scrubs the event's key and sweeps its noncurrent versions (what and how: the module's doc); its counts."""
    bucket, key = event["bucket"], event["key"]
    kind = FORMATS.get(PurePosixPath(key).suffix.lower())
    deleted = unreadable = 0
    reason = None
    if kind is None:
        action, counts, reason = SKIPPED, Counts(format=OTHER), "not a file the library writes user IDs to"
    else:
        erased = erased_users(event["erased"])
        try:
            action, counts, replaced = _current(bucket, key, kind.scrub, erased)
        except Unreadable as exc:
            action, counts, replaced, reason = SKIPPED, Counts(format=kind.FORMAT), None, str(exc)
        deleted, unreadable = objects.sweep(bucket, key, kind.scrub, erased, replaced)
    result = {"key": key, "format": counts.format, "action": action, "rows": counts.rows, "users": counts.users,
              "removed": counts.removed, "versionsDeleted": deleted, "versionsSkipped": unreadable, "reason": reason}
    log.info("scrubbed", extra=result)  # counts and the key: never a user ID
    return result

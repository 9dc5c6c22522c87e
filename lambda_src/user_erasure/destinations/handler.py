"""Erasure step 5, the destinations: the erased users leave the library's Customer Profiles domain or Pinpoint
project, in bounded invocations that the workflow loops over.

Input: ``{"destination": "connect" | "pinpoint", "erased": {"bucket", "key"}, "cursor": optional}``. What each
destination is comes from the environment UserErasure sets: the Customer Profiles ``DOMAIN_NAME``, the importer's
``USER_ID_TARGET`` and ``DELETE_PROFILES`` (whether profiles with others' data in them are deleted too); the Pinpoint
``PINPOINT_APPLICATION_ID``.

``erased`` is a CSV with the header ``USER_ID`` (``erased.py``). What is done to a user: ``profiles.py`` (Customer
Profiles) and ``endpoints.py`` (Pinpoint).

Output: ``{"destination", "done", "cursor", <counts>}``, counts only, never an ID, cumulative over the loop. The
cursor (``{"position": IDs done, "counts": {...}}``) goes back into the next invocation's event until ``done``. An
invocation works in batches while its time allows: it starts another only if the longest batch so far still ends
``RESERVE_SECONDS`` before the Lambda timeout (``FALLBACK_SECONDS`` of budget without a Lambda context), and always
does one, so the loop advances. Every step is idempotent: a batch redone after a failed invocation finds the
profiles it deleted gone and the marks it removed absent (the counts of such a batch count what remained).
"""

from __future__ import annotations

from collections import Counter
from typing import Optional, Protocol

from shared.aws import logger
from shared.budget import Budget
from user_erasure.destinations import endpoints, erased, profiles

log = logger(__name__)


class Erasure(Protocol):
    batch_size: int
    counts: tuple[str, ...]

    def erase(self, users: list[str]) -> Counter: ...


DESTINATIONS = {"connect": profiles.ConnectErasure, "pinpoint": endpoints.PinpointErasure}


def start(cursor: Optional[dict], counts: tuple[str, ...]) -> tuple[int, Counter]:
    """Where the loop stands: (IDs done, counts so far); the beginning without a cursor."""
    if cursor is None:
        return 0, Counter(dict.fromkeys(counts, 0))
    position = cursor.get("position")
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise ValueError("cursor.position must be a whole number: pass back the cursor an invocation answered")
    return position, Counter({name: int(cursor.get("counts", {}).get(name, 0)) for name in counts})


def handler(event, context):
    destination = event.get("destination")
    if destination not in DESTINATIONS:
        raise ValueError(f"destination must be one of {', '.join(DESTINATIONS)}")
    erasure: Erasure = DESTINATIONS[destination].of()
    position, counts = start(event.get("cursor"), erasure.counts)
    budget = Budget.of(context)
    batches = erased.batches(erased.user_ids_from(event["erased"], position), erasure.batch_size)
    done = True
    for batch in batches:
        counts.update(budget.timed(erasure.erase, batch))
        position += len(batch)
        if not budget.allows_another():
            done = next(batches, None) is None  # read again by the next invocation
            break
    totals = {name: counts[name] for name in erasure.counts}
    log.info("erasure from a destination", extra={"destination": destination, "done": done, "position": position,
                                                  **totals})
    return {"destination": destination, "done": done, "cursor": {"position": position, "counts": totals}, **totals}

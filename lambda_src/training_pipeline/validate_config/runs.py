"""One run per config at a time.

A valid run claims ``runs/<sha256 of the config key>.json`` in the data bucket (an S3 conditional write) before it
creates anything, and deletes it when it ends. While the holder's execution is RUNNING, a later run of the same
config

- **joins** it when it was started for the very upload the holder runs (the same ETag and version: a duplicate
  delivery of the S3 event): it ends at once, doing nothing twice;
- **queues** otherwise (a new upload of the config): it polls until the holder ends, for at most one polling budget
  from its own start, then fails with ``PollingBudgetExceeded``.

Whether the holder still runs is asked of Step Functions (``DescribeExecution``), not guessed from a lease: a holder
that timed out, was stopped by hand or failed outside its Catch never deleted its claim, and the next run takes it
over (conditionally on the copy it read, so two waiters never both win). A run's deadline counts from its claim.

An erasure (``"kind": "erasure"``, ``shared/run_claims.py``) holds the claim while its Personalize data deletion job
runs: a run queues behind it until its ``leaseUntil``, and takes over a lapsed lease as it does an ended run's claim.
"""

from __future__ import annotations

import datetime as dt
import os

from shared.aws import call, logger
from shared.contract import Env, PollingBudgetExceeded
from shared.run_claims import claim_key, holds, time_of, training_record
from shared.run_claims import read as _read
from shared.run_claims import write as _write

CLAIMED, JOINED, QUEUED = "claimed", "joined", "queued"

log = logger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _budget() -> dt.timedelta:
    return dt.timedelta(seconds=int(os.environ[Env.POLLING_BUDGET_SECONDS]))


def claim(event: dict) -> dict:
    """``claimed`` with the run's ``deadline``, ``joined`` or ``queued`` (with the ``holder`` and the ``waits`` so
    far). Input: ``bucket``, ``key``, ``upload`` (the validated config's identity), ``executionArn``,
    ``executionStartTime`` and ``waits``."""
    bucket, execution, upload = event["bucket"], event["executionArn"], event["upload"]
    key, now = claim_key(event["key"]), _now()
    record = training_record(execution, f"s3://{bucket}/{event['key']}", upload, now)

    def claimed(at: dt.datetime) -> dict:
        return {"state": CLAIMED, "deadline": (at + _budget()).isoformat(), "waits": event["waits"]}

    if _write(bucket, key, record, IfNoneMatch="*"):
        return claimed(now)
    held = _read(bucket, key)
    if held is None:  # deleted by its holder meanwhile: claim it at the next poll, without waiting long
        return {"state": QUEUED, "holder": None, "waits": event["waits"] + 1}
    holder, etag = held
    if holder.get("executionArn") == execution:  # this run's own claim (its answer was lost, the step retried)
        return claimed(time_of(holder["claimedAt"]))
    if holds(holder, now):
        if holder.get("upload") == upload:
            log.info("joined the run of the same upload", extra={"holder": holder["executionArn"]})
            return {"state": JOINED, "holder": holder["executionArn"], "waits": event["waits"]}
        if now > time_of(event["executionStartTime"]) + _budget():
            raise PollingBudgetExceeded(
                f"another run of this config ({holder['executionArn']}) held it for this run's whole polling budget; "
                "upload the config again once it has ended")
        return {"state": QUEUED, "holder": holder["executionArn"], "waits": event["waits"] + 1}
    if _write(bucket, key, record, IfMatch=etag):
        log.info("took over the claim of an ended run", extra={"holder": holder["executionArn"]})
        return claimed(now)
    return {"state": QUEUED, "holder": None, "waits": event["waits"] + 1}  # another waiter took it first


def release(event: dict) -> dict:
    """Delete this run's claim; a claim of another run (or none) is left alone. No run can take over the claim of a
    running execution, so the claim read is still this run's when it is deleted."""
    bucket, key = event["bucket"], claim_key(event["key"])
    held = _read(bucket, key)
    mine = held is not None and held[0].get("executionArn") == event["executionArn"]
    if mine:
        call("s3", "delete_object", Bucket=bucket, Key=key)
    return {"released": mine}

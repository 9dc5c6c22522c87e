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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import Optional

from botocore.exceptions import ClientError

from shared.aws import call, logger
from shared.contract import Env, PollingBudgetExceeded

RUNS_PREFIX = "runs/"
CLAIMED, JOINED, QUEUED = "claimed", "joined", "queued"
LOST = ("PreconditionFailed", "ConditionalRequestConflict")  # a conditional write another run won
GONE = ("NoSuchKey", "404")

log = logger(__name__)


def claim_key(config_key: str) -> str:
    return f"{RUNS_PREFIX}{hashlib.sha256(config_key.encode()).hexdigest()[:32]}.json"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _budget() -> dt.timedelta:
    return dt.timedelta(seconds=int(os.environ[Env.POLLING_BUDGET_SECONDS]))


def _write(bucket: str, key: str, record: dict, **condition: str) -> bool:
    """Write ``record`` under ``condition`` (IfNoneMatch or IfMatch); False when another run's write came first."""
    try:
        call("s3", "put_object", Bucket=bucket, Key=key, Body=json.dumps(record).encode(),
             ContentType="application/json", **condition)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in LOST + GONE:
            return False
        raise


def _read(bucket: str, key: str) -> Optional[tuple[dict, str]]:
    """The claim and its ETag, or None when there is none."""
    try:
        held = call("s3", "get_object", Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in GONE:
            return None
        raise
    return json.loads(held["Body"].read() or b"{}"), held["ETag"]


def _running(execution_arn: str) -> bool:
    try:
        return call("stepfunctions", "describe_execution", executionArn=execution_arn)["status"] == "RUNNING"
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":  # e.g. the state machine was replaced
            return False
        raise


def claim(event: dict) -> dict:
    """``claimed`` with the run's ``deadline``, ``joined`` or ``queued`` (with the ``holder`` and the ``waits`` so
    far). Input: ``bucket``, ``key``, ``upload`` (the validated config's identity), ``executionArn``,
    ``executionStartTime`` and ``waits``."""
    bucket, execution, upload = event["bucket"], event["executionArn"], event["upload"]
    key, now = claim_key(event["key"]), _now()
    record = {"executionArn": execution, "configUri": f"s3://{bucket}/{event['key']}", "upload": upload,
              "claimedAt": now.isoformat()}

    def claimed(at: dt.datetime) -> dict:
        return {"state": CLAIMED, "deadline": (at + _budget()).isoformat(), "waits": event["waits"]}

    if _write(bucket, key, record, IfNoneMatch="*"):
        return claimed(now)
    held = _read(bucket, key)
    if held is None:  # deleted by its holder meanwhile: claim it at the next poll, without waiting long
        return {"state": QUEUED, "holder": None, "waits": event["waits"] + 1}
    holder, etag = held
    if holder.get("executionArn") == execution:  # this run's own claim (its answer was lost, the step retried)
        return claimed(_time(holder["claimedAt"]))
    if _running(holder["executionArn"]):
        if holder.get("upload") == upload:
            log.info("joined the run of the same upload", extra={"holder": holder["executionArn"]})
            return {"state": JOINED, "holder": holder["executionArn"], "waits": event["waits"]}
        if now > _time(event["executionStartTime"]) + _budget():
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

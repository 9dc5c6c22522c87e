"""Run claims: who may work on a training config's Personalize dataset group now, one holder at a time.

A holder claims ``runs/<sha256 of the config key>.json`` in the data bucket with an S3 conditional write and deletes
it when it ends. Two kinds of holder share the claim:

- a **training run** (``training_pipeline/validate_config/runs.py``): it holds while its execution is RUNNING, as
  Step Functions tells (``DescribeExecution``);
- an **erasure** (``user_erasure/personalize``, ``"kind": "erasure"``): it holds until its ``leaseUntil``, so no
  import, training or batch job runs while its Personalize data deletion job does. The training pipeline may not
  describe the erasure workflow's executions, so the lease alone says whether it still holds.

A claim whose holder no longer holds is taken over, conditionally on the very copy read (its ETag), so two waiters
never both win. Standard library and boto3 only: both workflows' functions ship this module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Optional

from botocore.exceptions import ClientError

from shared.aws import CONDITION_LOST, MISSING_OBJECT, call, object_or_none, put_json

RUNS_PREFIX = "runs/"
ERASURE = "erasure"  # the ``kind`` of an erasure's claim; a training run's claim has none
GONE = MISSING_OBJECT


def claim_key(config_key: str) -> str:
    """The claim of the config at ``config_key``."""
    return f"{RUNS_PREFIX}{hashlib.sha256(config_key.encode()).hexdigest()[:32]}.json"


def training_record(execution_arn: str, config_uri: str, upload: dict, claimed_at: dt.datetime) -> dict:
    """A training run's claim: its execution, config and the upload it trains."""
    return {"executionArn": execution_arn, "configUri": config_uri, "upload": upload,
            "claimedAt": claimed_at.isoformat()}


def erasure_record(execution_arn: str, request_id: str, claimed_at: dt.datetime, lease_until: dt.datetime) -> dict:
    """An erasure's claim: its execution, request and when its lease lapses."""
    return {"executionArn": execution_arn, "kind": ERASURE, "requestId": request_id,
            "claimedAt": claimed_at.isoformat(), "leaseUntil": lease_until.isoformat()}


def time_of(text: str) -> dt.datetime:
    """An ISO time as written in a claim or by Step Functions (``...Z``)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def write(bucket: str, key: str, record: dict, **condition: str) -> bool:
    """Write ``record`` under ``condition`` (IfNoneMatch or IfMatch); False when another holder's write came first
    (or the claim read was deleted meanwhile): ``shared.aws.put_json``."""
    return put_json(bucket, key, record, **condition)


def read(bucket: str, key: str) -> Optional[tuple[dict, str]]:
    """The claim and its ETag, or None when there is none."""
    held = object_or_none(bucket, key)
    return None if held is None else (json.loads(held["Body"].read() or b"{}"), held["ETag"])


def delete(bucket: str, key: str, etag: str) -> bool:
    """Delete the claim if it is still the copy read (S3 conditional delete): a claim taken over meanwhile stays."""
    try:
        call("s3", "delete_object", Bucket=bucket, Key=key, IfMatch=etag)
        return True
    except ClientError as exc:
        if exc.response["Error"]["Code"] in CONDITION_LOST:  # taken over, or released, meanwhile
            return False
        raise


def running(execution_arn: str) -> bool:
    """Whether the Step Functions execution is RUNNING; one that no longer exists is not."""
    try:
        return call("stepfunctions", "describe_execution", executionArn=execution_arn)["status"] == "RUNNING"
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":  # e.g. the state machine was replaced
            return False
        raise


def is_erasure(holder: dict) -> bool:
    return holder.get("kind") == ERASURE


def holds(holder: dict, now: dt.datetime) -> bool:
    """Whether the claim's holder still holds it: an erasure until its lease lapses, a training run while its
    execution runs."""
    if is_erasure(holder):
        return now < time_of(holder["leaseUntil"])
    return running(holder["executionArn"])

"""Validate an uploaded training config before anything is created.

Input: ``bucket`` and ``key`` of the config (from the S3 "Object Created" event)
and ``executionStartTime``. Output: ``valid``, every ``errors`` entry with its
JSON path, ``warnings``, the ``plan`` the workflow executes and the run's
``deadline`` (start time plus the POLLING_BUDGET_SECONDS budget).
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Optional
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from shared.aws import client, logger
from shared.contract import Env
from training_pipeline.validate_config.training_config import validate

MAX_CONFIG_BYTES = 1_000_000
# A rejection travels in the workflow's state, its event and its notification: at most this many messages,
# each cut to this many characters, whatever the config (tests/deploy/test_workflow_state_size.py).
MAX_MESSAGES, MAX_MESSAGE_CHARS = 50, 1_000
HEADER_BYTES = 65_536  # a CSV header row is far shorter; never read the data itself
MISSING = {"NoSuchKey", "404", "403", "AccessDenied", "InvalidRange"}

log = logger(__name__)


def s3():
    return client("s3")


def read_text(bucket: str, key: str, *, max_bytes: int) -> Optional[str]:
    try:
        body = s3().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")["Body"].read()
    except ClientError as exc:
        error = exc.response["Error"]
        if error["Code"] in ("AccessDenied", "403", "KMS.KMSInvalidStateException") and "kms" in error.get("Message", "").lower():
            # S3 found the object and could not decrypt it: not a config mistake, a key this function may not use
            raise PermissionError(
                f"s3://{bucket}/{key} is encrypted with a KMS key this function may not use ({error['Message']}). "
                "Hand the bucket to PersonalizeTrainingPipeline with its key: s3.Bucket.from_bucket_attributes(..., "
                "encryption_key=<key>) or encryption_key=<key>, and let the key policy allow the account.") from exc
        if error["Code"] in MISSING:
            return None
        raise
    return body.decode("utf-8", errors="replace")


def handler(event, context):
    bucket = event["bucket"]
    # S3 event keys may arrive URL-encoded; use the raw key if it exists, else the decoded one.
    key = event["key"]
    text = read_text(bucket, key, max_bytes=MAX_CONFIG_BYTES + 1)
    if text is None and unquote_plus(key) != key:
        key = unquote_plus(key)
        text = read_text(bucket, key, max_bytes=MAX_CONFIG_BYTES + 1)
    started = dt.datetime.fromisoformat(event["executionStartTime"].replace("Z", "+00:00"))
    deadline = started + dt.timedelta(seconds=int(os.environ[Env.POLLING_BUDGET_SECONDS]))
    run = {"configUri": f"s3://{bucket}/{key}", "deadline": deadline.isoformat()}
    if text is None:
        return {"valid": False, "errors": [f"$: s3://{bucket}/{key} could not be read"], "warnings": [], "run": run}
    if len(text.encode()) > MAX_CONFIG_BYTES:
        return {"valid": False, "errors": [f"$: the config is over {MAX_CONFIG_BYTES:,} bytes"], "warnings": [], "run": run}

    def read_object(object_key: str) -> Optional[str]:
        limit = HEADER_BYTES if object_key.endswith(".csv") else MAX_CONFIG_BYTES
        return read_text(bucket, object_key, max_bytes=limit)

    result = validate(text, bucket=bucket, config_key=key, read_object=read_object)
    # Paths and messages describe the config's structure; CSV contents are never read past the header.
    log.info("validated", extra={"config": run["configUri"], "errors": len(result.errors),
                                    "warnings": len(result.warnings)})
    return {"valid": result.valid, "errors": bounded(result.errors), "warnings": bounded(result.warnings),
            "run": run, **({"plan": result.plan} if result.valid else {})}


def bounded(messages: list) -> list[str]:
    """The first MAX_MESSAGES messages, each at most MAX_MESSAGE_CHARS, and how many more there were."""
    shown = [text if len(text := str(m)) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS - 1] + "…"
             for m in messages[:MAX_MESSAGES]]
    if len(messages) > MAX_MESSAGES:
        shown.append(f"$: … and {len(messages) - MAX_MESSAGES:,} more (fix these and upload the config again)")
    return shown

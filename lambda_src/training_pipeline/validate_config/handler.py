"""Validate an uploaded training config before anything is created, and admit its run.

``action`` ``validate`` (the default): input ``bucket`` and ``key`` of the config (from the S3 "Object Created"
event). Output: ``valid``, every ``errors`` entry with its JSON path, ``warnings``, the ``plan`` the workflow
executes (all of it for an upload, a schedule's part for a ``trigger`` of kind ``schedule``: triggers.py) and
``upload``, the identity of the run: the config that was read (ETag, version, time) and its trigger.
``claim`` and ``release``: one run per config at a time (``runs.py``).
"""

from __future__ import annotations

import json
from typing import Optional
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from shared.aws import client, logger
from training_pipeline.validate_config import runs, triggers
from training_pipeline.validate_config.training_config import MAX_CONFIG_BYTES, validate

# A rejection travels in the workflow's state, its event and its notification (an SNS message of at most 256 KB):
# at most this many messages, each cut to this many characters, and at most MAX_REJECTION_BYTES of JSON for the
# errors and as many for the warnings, as json.dumps writes them (non-ASCII escaped: how moto measures a state),
# whatever the config (tests/training_pipeline/test_bad_configs.py, tests/deploy/test_workflow_state_size.py).
# Together 48,000 bytes: the validation result in the state, the event's Errors and the notification's text (the
# errors once more, escaped) stay far from 256 KiB.
MAX_MESSAGES, MAX_MESSAGE_CHARS = 50, 1_000
MAX_REJECTION_BYTES = 24_000
HEADER_BYTES = 65_536  # a CSV header row is far shorter; never read the data itself
MISSING = {"NoSuchKey", "404", "403", "AccessDenied", "InvalidRange"}

log = logger(__name__)


def s3():
    return client("s3")


def read_text(bucket: str, key: str, *, max_bytes: int) -> Optional[str]:
    """The first ``max_bytes`` of an object as text (bytes that are not UTF-8 replaced), or None when it is missing."""
    read = read_bytes(bucket, key, max_bytes=max_bytes)
    return None if read is None else read[0].decode("utf-8", errors="replace")


def read_bytes(bucket: str, key: str, *, max_bytes: int) -> Optional[tuple[bytes, dict]]:
    """The first ``max_bytes`` of an object and its identity (ETag, version and time), or None when it is missing."""
    try:
        response = s3().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes - 1}")
        body = response["Body"].read()
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
    # a duplicate delivery of one upload has all three the same; uploading the same bytes again (new CSVs beside
    # them) changes the time, and in a versioned bucket the version
    return body, {"etag": response["ETag"].strip('"'), "versionId": response.get("VersionId") or "",
                  "lastModified": response["LastModified"].isoformat()}


def handler(event, context):
    match event.get("action", "validate"):
        case "validate":
            return validated(event)
        case "claim":
            return runs.claim(event)
        case "release":
            return runs.release(event)
    raise ValueError(f"unknown action {event['action']!r}: validate, claim or release")


def validated(event: dict) -> dict:
    bucket = event["bucket"]
    # S3 event keys may arrive URL-encoded; use the raw key if it exists, else the decoded one.
    key = event["key"]
    read = read_bytes(bucket, key, max_bytes=MAX_CONFIG_BYTES + 1)
    if read is None and unquote_plus(key) != key:
        key = unquote_plus(key)
        read = read_bytes(bucket, key, max_bytes=MAX_CONFIG_BYTES + 1)
    config_uri = f"s3://{bucket}/{key}"

    def refused(message: str) -> dict:
        return {"valid": False, "errors": bounded([f"$: {message}"]), "warnings": [], "configUri": config_uri}

    if read is None:
        return refused(f"{config_uri} could not be read")
    body, upload = read
    if len(body) > MAX_CONFIG_BYTES:
        return refused(f"the config is over {MAX_CONFIG_BYTES:,} bytes, the most the pipeline reads; put long "
                       "query lists in job_config.json files")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return refused(f"the config is not UTF-8 text (byte {exc.start:,} cannot be decoded); save it as UTF-8")

    def read_object(object_key: str) -> Optional[str]:
        limit = HEADER_BYTES if object_key.endswith(".csv") else MAX_CONFIG_BYTES
        return read_text(bucket, object_key, max_bytes=limit)

    result = validate(text, bucket=bucket, config_key=key, read_object=read_object)
    # Paths and messages describe the config's structure; CSV contents are never read past the header.
    log.info("validated", extra={"config": config_uri, "errors": len(result.errors), "warnings": len(result.warnings)})
    answer = {"valid": result.valid, "errors": bounded(result.errors), "warnings": bounded(result.warnings),
              "configUri": config_uri}
    if not result.valid:
        return answer
    trigger = event.get("trigger") or triggers.UPLOAD
    plan, refusal = triggers.restrict(result.plan, trigger)
    if refusal:
        return {**answer, "valid": False, "errors": [refusal]}
    # what a run does: a duplicate delivery of one upload, or of one schedule's firing, is the same run
    return {**answer, "plan": plan, "upload": {**upload, "trigger": trigger}}


def bounded(messages: list) -> list[str]:
    """The first messages, at most MAX_MESSAGES of at most MAX_MESSAGE_CHARS each and MAX_REJECTION_BYTES of JSON in
    all, then how many more there were. The validator quotes users' values only in short excerpts; this bound holds
    whatever the messages are: one message of MAX_MESSAGE_CHARS takes at most 12 bytes a character as JSON (an
    escaped astral character), so the first always fits."""
    shown: list[str] = []
    size = 2 + 120  # the list's brackets, and room for the closing line
    for m in messages[:MAX_MESSAGES]:
        text = str(m)
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS - 1] + "…"
        size += len(json.dumps(text)) + 2  # and a separator
        if size > MAX_REJECTION_BYTES:
            break
        shown.append(text)
    if len(messages) > len(shown):
        shown.append(f"$: … and {len(messages) - len(shown):,} more (fix these and upload the config again)")
    return shown

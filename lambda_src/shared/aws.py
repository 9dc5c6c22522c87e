"""boto3 clients, the one place service errors become the workflow's retried errors, and loggers."""

from __future__ import annotations

import json
import logging
from typing import Optional

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.contract import ServiceLimitExceeded, ServiceThrottled, ServiceUnavailable

_clients: dict = {}
# Every call ends within the shortest function timeout (2 minutes): at most 3 attempts in all (standard mode: backoff
# with jitter, at most 20 s, on throttling, 5xx and connection errors) of at most 5 s to connect and 20 s between two
# reads: 3 x 25 s + 2 x 20 s = 115 s.
_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 3})

# Error codes of a throttled call, and of a full soft quota, across the services the functions call. Pinpoint answers
# TooManyRequestsException both when throttling and when its 2 concurrent imports are running; either way the
# workflow waits and retries.
THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"})
LIMIT_EXCEEDED = frozenset({"LimitExceededException"})


def client(service: str):
    """The container's client for ``service``: created on first use, reused by later invocations."""
    if service not in _clients:
        _clients[service] = boto3.client(service, config=_CONFIG)
    return _clients[service]


def call(service: str, operation: str, **params) -> dict:
    """``operation`` of ``service`` (snake_case, as boto3 names it); a throttled call raises ``ServiceThrottled``, a
    full quota ``ServiceLimitExceeded`` and a 5xx ``ServiceUnavailable``, which every workflow retries with backoff.
    Other errors pass unchanged."""
    try:
        return getattr(client(service), operation)(**params)
    except ClientError as exc:
        code, message = exc.response["Error"]["Code"], exc.response["Error"].get("Message", "")
        if code in THROTTLED:
            raise ServiceThrottled(f"{service} {operation}: {code} {message}".rstrip()) from exc
        if code in LIMIT_EXCEEDED:
            raise ServiceLimitExceeded(f"{service} {operation}: {message}") from exc
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            raise ServiceUnavailable(f"{service} {operation}: {code} {message}".rstrip()) from exc
        raise


MISSING_OBJECT = frozenset({"NoSuchKey", "NoSuchVersion", "404"})


def object_or_none(bucket: str, key: str, **params) -> Optional[dict]:
    """GetObject's answer (``call``), or None when there is no such object, or version (``VersionId``) of it."""
    try:
        return call("s3", "get_object", Bucket=bucket, Key=key, **params)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in MISSING_OBJECT:
            return None
        raise


CONDITION_LOST = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404"})


def put_json(bucket: str, key: str, content: dict, **condition: str) -> bool:
    """Write ``content`` as JSON at ``key``; with a condition (IfNoneMatch, IfMatch), False when it does not hold
    (another writer came first, or the object it was to replace is gone)."""
    try:
        call("s3", "put_object", Bucket=bucket, Key=key, Body=json.dumps(content, sort_keys=True).encode(),
             ContentType="application/json", **condition)
        return True
    except ClientError as exc:
        if condition and exc.response["Error"]["Code"] in CONDITION_LOST:
            return False
        raise


def logger(name: str) -> logging.Logger:
    """INFO and up; with the functions' JSON log format, ``extra`` fields become JSON keys."""
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    return log

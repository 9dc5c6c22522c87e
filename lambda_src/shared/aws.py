"""boto3 clients, the one place service errors become the workflow's retried errors, and loggers."""

from __future__ import annotations

import logging

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared.contract import ServiceLimitExceeded, ServiceThrottled

_clients: dict = {}
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})

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
    """``operation`` of ``service`` (snake_case, as boto3 names it); a throttled call raises ``ServiceThrottled`` and a
    full quota ``ServiceLimitExceeded``, which every workflow retries with backoff. Other errors pass unchanged."""
    try:
        return getattr(client(service), operation)(**params)
    except ClientError as exc:
        code, message = exc.response["Error"]["Code"], exc.response["Error"].get("Message", "")
        if code in THROTTLED:
            raise ServiceThrottled(f"{service} {operation}: {code} {message}".rstrip()) from exc
        if code in LIMIT_EXCEEDED:
            raise ServiceLimitExceeded(f"{service} {operation}: {message}") from exc
        raise


def logger(name: str) -> logging.Logger:
    """INFO and up; with the functions' JSON log format, ``extra`` fields become JSON keys."""
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    return log

"""boto3 clients and loggers for the handlers, created once per Lambda container."""

from __future__ import annotations

import logging

import boto3
from botocore.config import Config

_clients: dict = {}
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})


def client(service: str):
    """The container's client for ``service``: created on first use, reused by later invocations."""
    if service not in _clients:
        _clients[service] = boto3.client(service, config=_CONFIG)
    return _clients[service]


def logger(name: str) -> logging.Logger:
    """INFO and up; with the functions' JSON log format, ``extra`` fields become JSON keys."""
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    return log

"""A guard against bad refreshes: a refresh that changed an audience by more than ``HOLD_THRESHOLD`` of its users
(joined + left, against the previous version's user count), or that came back empty, is held.

A held refresh has its files written and its manifest entry marked ``held`` (with the reason), but it is not
announced and does not become the audience's latest version: ``<audience prefix>_holds/<audience>.json`` records it
(the latest held refresh of the audience), an ``Audience Refresh Held`` event says so with the counts, and the
workflow notifies the topic. Putting ``Audience Release Requested`` (detail ``{"audience": <name>}``) on the bus
releases it: it becomes the audience's next version and is announced, once. A later refresh that passes the guard
replaces a pending hold.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Optional

from botocore.exceptions import ClientError

from shared.audiences import audience_bucket, latest_version, s3
from shared.contract import Env

OFF = "off"


def hold_key(name: str) -> str:
    return f"{os.environ[Env.AUDIENCE_PREFIX]}_holds/{name}.json"


def hold_if_needed(segment: dict, job: str, job_arn: Optional[str], manifest_uri: str) -> Optional[dict]:
    """Hold this refresh of the audience if it must wait for a release (its manifest entry marked ``held``, the hold
    recorded); the ``Audience Refresh Held`` event's detail, or None. Its first version is never held."""
    previous, _ = latest_version(segment["name"])
    reason = _reason(segment, job, previous)
    if reason is None:
        return None
    segment["held"] = {"reason": reason}
    record = {"audience": segment["name"], "jobName": job, "jobArn": job_arn, "manifestUri": manifest_uri,
              "reason": reason, "heldAt": dt.datetime.now(dt.timezone.utc).isoformat(), "segment": segment}
    s3().put_object(Bucket=audience_bucket(), Key=hold_key(segment["name"]), Body=json.dumps(record).encode(),
                    ContentType="application/json")
    return {"audience": segment["name"], "jobName": job, "manifestUri": manifest_uri, "reason": reason,
            "userCount": segment["userCount"], "joinedCount": segment.get("joinedCount"),
            "leftCount": segment.get("leftCount"), "previousUserCount": previous["userCount"]}


def _reason(segment: dict, job: str, previous: Optional[dict]) -> Optional[str]:
    """Why this refresh must wait for a release, against the audience's ``previous`` (latest published) version."""
    threshold = os.environ[Env.HOLD_THRESHOLD]
    if threshold == OFF or previous is None or previous["jobName"] == job:
        return None
    if not segment["audienceKey"]:
        return f"it came back empty (the previous version had {previous['userCount']:,} users)"
    if segment.get("joinedCount") is None:
        return None
    changed = segment["joinedCount"] + segment["leftCount"]
    share = changed / max(previous["userCount"], 1)
    if share > float(threshold):
        return (f"{segment['joinedCount']:,} users joined and {segment['leftCount']:,} left: {share:.0%} of the "
                f"previous version's {previous['userCount']:,}, over the hold threshold of {float(threshold):.0%}")
    return None


def pending(name: str) -> Optional[dict]:
    try:
        return json.loads(s3().get_object(Bucket=audience_bucket(), Key=hold_key(name))["Body"].read())
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def clear(name: str) -> None:
    s3().delete_object(Bucket=audience_bucket(), Key=hold_key(name))

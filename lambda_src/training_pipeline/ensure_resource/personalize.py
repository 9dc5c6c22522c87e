"""Get-or-create and status mapping for Amazon Personalize resources, written once.

Each resource kind is declared by a ``Kind``: how its ARN is built from a name,
which Describe/Create operations it uses and where the response keeps it. The
workflow calls ``ensure`` in a Wait/describe loop: the first call finds the
resource by its deterministic name or creates it, later calls describe the ARN
they were handed. Throttling and soft limits become ``ServiceThrottled`` and
``ServiceLimitExceeded`` for the state machine to retry with backoff; a
``CREATE FAILED`` resource becomes ``ResourceFailed`` carrying the reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any, Callable, Optional

from botocore.exceptions import ClientError

from shared import aws
from training_pipeline.ensure_resource import events
from shared.contract import PollingBudgetExceeded, ResourceFailed

ACTIVE = "ACTIVE"
FAILED = "CREATE FAILED"
# A solution version someone stopped never becomes ACTIVE: it is as unusable as a failed one, and ends a poll loop.
STOPPED = ("CREATE STOPPING", "CREATE STOPPED")
UNUSABLE = (FAILED, *STOPPED)
MAX_ATTEMPTS_PER_NAME = 5  # a FAILED job is retried under a new deterministic name, at most this often

@dataclasses.dataclass(frozen=True)
class Kind:
    label: str  # "Dataset Group" -> detail-type "Personalize Dataset Group State Change"
    arn_path: str  # ARN resource part, e.g. "dataset-group/{name}"
    operation: str  # "dataset_group" -> describe_dataset_group / create_dataset_group
    arn_key: str  # "datasetGroupArn"
    response_key: str  # "datasetGroup"
    has_status: bool = True


@dataclasses.dataclass
class Observed:
    arn: str
    name: str
    status: str
    created: Optional[dt.datetime]
    updated: Optional[dt.datetime]
    failure_reason: Optional[str]
    raw: dict

    @property
    def duration(self) -> float:
        if self.created and self.updated:
            return max(0.0, (self.updated - self.created).total_seconds())
        return 0.0


def call(operation: str, **params) -> dict:
    """Call Personalize (throttling and soft limits become the workflow's retried errors: ``shared.aws.call``)."""
    return aws.call("personalize", operation, **params)


def arn_for(kind: Kind, partition: str, region: str, account: str, **names: str) -> str:
    return f"arn:{partition}:personalize:{region}:{account}:{kind.arn_path.format(**names)}"


def describe(kind: Kind, arn: str) -> Optional[Observed]:
    try:
        response = call(f"describe_{kind.operation}", **{kind.arn_key: arn})
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return None
        raise
    body = response[kind.response_key]
    return Observed(
        arn=body.get(kind.arn_key, arn),
        name=body.get("name") or body.get("jobName") or arn.rsplit("/", 1)[-1],
        status=body.get("status", ACTIVE) if kind.has_status else ACTIVE,
        created=body.get("creationDateTime"),
        updated=body.get("lastUpdatedDateTime"),
        failure_reason=body.get("failureReason"),
        raw=body,
    )


def create(kind: Kind, request: dict) -> str:
    """Create and return the ARN; a concurrent run that created it first is not an error."""
    try:
        return call(f"create_{kind.operation}", **request)[kind.arn_key]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceAlreadyExistsException":
            return ""
        raise


def short_hash(*parts: Any) -> str:
    """Eight hex characters that name a resource after everything that defines it."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def parse_time(value: Optional[str]) -> Optional[dt.datetime]:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso(value: Optional[dt.datetime]) -> Optional[str]:
    return value.astimezone(dt.timezone.utc).isoformat() if value else None


def conclude(kind: Kind, observed: Observed, previous_status: Optional[str], deadline: Optional[str]) -> dict:
    """Report a status change, then say whether the loop is done, must wait, or failed."""
    if observed.status != previous_status:
        events.publish_state_change(kind.label, observed.arn, observed.status, observed.duration,
                                    observed.failure_reason if observed.status == FAILED else None)
    if observed.status == FAILED:
        raise ResourceFailed(f"{kind.label} {observed.name} failed: {observed.failure_reason or 'no reason given'}")
    if observed.status in STOPPED:
        raise ResourceFailed(f"{kind.label} {observed.name} was stopped ({observed.status}) before it became ACTIVE; "
                             "upload the config again to train a new one")
    done = observed.status == ACTIVE
    if not done and deadline and dt.datetime.now(dt.timezone.utc) > parse_time(deadline):
        raise PollingBudgetExceeded(
            f"{kind.label} {observed.name} was still {observed.status} when the run's time budget ran out")
    return {
        "arn": observed.arn,
        "name": observed.name,
        "status": observed.status,
        "done": done,
        "updatedAt": iso(observed.updated),
    }


def find_or_create_named(kind: Kind, arn_of: Callable[[str], str], names: list[str],
                         create_request: Callable[[str], dict], *, retry_failed: bool) -> Observed:
    """Reuse the resource under the first name that is not FAILED, or create it.

    With ``retry_failed``, a FAILED resource (from an earlier run) moves on to the
    next deterministic name, so fixing data or permissions and uploading again retries.
    """
    for name in names:
        arn = arn_of(name)
        existing = describe(kind, arn)
        if existing is None:
            create(kind, create_request(name))
            created = describe(kind, arn)
            if created is None:
                raise RuntimeError(f"{kind.label} {name} was created but cannot be described")
            return created
        if existing.status not in UNUSABLE or not retry_failed:
            return existing
    raise ResourceFailed(f"{kind.label} failed {len(names)} times under names {names[0]}..{names[-1]}; "
                         f"last reason: {existing.failure_reason}")

"""Erasure step 2, Personalize: a data deletion job per dataset group the library manages, each run while the
group's training is locked out. The workflow calls one action at a time (``event["action"]``):

- ``groups`` ``{}``: the dataset groups of the training configs under TRAINING_PREFIX that exist:
  ``{"groups": [{"datasetGroupArn", "name", "configKeys"}]}``.
- ``lock`` ``{"group", "executionArn", "requestId"}``: hold the run claim of each of the group's configs
  (``shared/run_claims.py``): ``{"state": "locked", "until"}`` (when the claims' lease lapses), or ``{"state":
  "waiting", "holder"}`` while a training run or another erasure holds one (the claims taken so far are kept, and
  the workflow calls again).
- ``start`` ``{"group", "requestId", "erased": {"bucket", "key"}, "attempt"?}``: CreateDataDeletionJob, or the job
  an earlier call created: ``{"jobArn"}``.
- ``status`` ``{"jobArn", "deadline"?}``: ``{"status", "numDeleted"}``; a FAILED job raises ``ResourceFailed``, a
  job still running past ``deadline`` (the lock's ``until``: training may start again) ``PollingBudgetExceeded``.
- ``unlock`` ``{"group", "executionArn"}``: the claims still this execution's deleted: ``{"released"}``.

Personalize asks that no import, training or batch job runs on a dataset group while its data deletion job does:
the erasure holds the same claims a training run takes (one per config), in the order of their keys, so two
erasures never wait for each other in a circle. Its claim is a lease (``leaseUntil``: DELETION_BUDGET_SECONDS from
its latest ``lock`` call), which the training pipeline honours without asking Step Functions about this workflow.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import Optional

from botocore.exceptions import ClientError

from shared.aws import call, logger
from shared.contract import Env, PollingBudgetExceeded, ResourceFailed
from shared.run_claims import GONE, claim_key, erasure_record, holds, is_erasure, read, time_of, write
from shared.run_claims import delete as delete_claim

log = logger(__name__)
LOCKED, WAITING = "locked", "waiting"
MAX_CONFIG_BYTES = 1024 * 1024  # a training config is a few KB: a larger .json file is something else
GONE_GROUP = ("CREATE FAILED", "DELETE PENDING")  # a dataset group with no data to erase, or going


def _bucket() -> str:
    return os.environ[Env.SOURCE_BUCKET]


# ------------------------------------------------------------------ groups


def _config_keys() -> list[str]:
    """The keys of the ``.json`` files under the training prefix, every page."""
    params, keys = {"Bucket": _bucket(), "Prefix": os.environ[Env.TRAINING_PREFIX]}, []
    while True:
        page = call("s3", "list_objects_v2", **params)
        keys += [o["Key"] for o in page.get("Contents", [])
                 if o["Key"].endswith(".json") and o["Size"] <= MAX_CONFIG_BYTES]
        if not page.get("IsTruncated"):
            return keys
        params["ContinuationToken"] = page["NextContinuationToken"]


def _group_name(key: str) -> Optional[str]:
    """The dataset group name a training config names, or None for a file that is no config (or gone since)."""
    try:
        config = json.loads(call("s3", "get_object", Bucket=_bucket(), Key=key)["Body"].read())
        name = config["datasetGroup"]["serviceConfig"]["name"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in GONE:
            return None
        raise
    except (ValueError, KeyError, TypeError):
        return None
    return name if isinstance(name, str) and name else None


def _exists(arn: str) -> bool:
    """Whether the dataset group exists (and is neither failed nor being deleted)."""
    try:
        return call("personalize", "describe_dataset_group", datasetGroupArn=arn)["datasetGroup"].get(
            "status") not in GONE_GROUP
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise


def groups(event: dict, context) -> dict:
    """Every dataset group a training config names and that exists, with the configs naming it."""
    _, partition, _, region, account, *_ = context.invoked_function_arn.split(":")
    configs: dict[str, list[str]] = {}
    for key in _config_keys():
        name = _group_name(key)
        if name:
            configs.setdefault(name, []).append(key)
    found = [{"datasetGroupArn": f"arn:{partition}:personalize:{region}:{account}:dataset-group/{name}",
              "name": name, "configKeys": sorted(keys)} for name, keys in sorted(configs.items())]
    kept = [group for group in found if _exists(group["datasetGroupArn"])]
    log.info("dataset groups to erase from", extra={"configs": sum(map(len, configs.values())), "groups": len(kept)})
    return {"groups": kept}


# ------------------------------------------------------------------ lock


def _hold(key: str, record: dict, now: dt.datetime) -> tuple[bool, Optional[str]]:
    """(held, holder): whether this execution now holds the claim at ``key``, and if not, the execution it waits
    for (None when unknown: the claim changed hands meanwhile, and the next call tries again)."""
    bucket = _bucket()
    if write(bucket, key, record, IfNoneMatch="*"):
        return True, None
    found = read(bucket, key)
    if found is None:  # released meanwhile
        return False, None
    holder, etag = found
    if holder.get("executionArn") == record["executionArn"]:  # renewed: the lease counts from the latest call
        return write(bucket, key, {**record, "claimedAt": holder.get("claimedAt", record["claimedAt"])},
                     IfMatch=etag), None
    if holds(holder, now):
        return False, holder["executionArn"]
    if write(bucket, key, record, IfMatch=etag):
        log.warning("took over a run claim", extra={"holder": holder["executionArn"], "erasure": is_erasure(holder)})
        return True, None
    return False, None


def lock(event: dict, context) -> dict:
    """Each config's claim held in turn (sorted keys), up to the first another holds."""
    now = dt.datetime.now(dt.timezone.utc)
    lease = now + dt.timedelta(seconds=int(os.environ[Env.DELETION_BUDGET_SECONDS]))
    record = erasure_record(event["executionArn"], event["requestId"], now, lease)
    for config_key in sorted(event["group"]["configKeys"]):
        held, holder = _hold(claim_key(config_key), record, now)
        if not held:
            log.info("waiting for the dataset group", extra={"requestId": event["requestId"], "holder": holder,
                                                             "group": event["group"]["name"]})
            return {"state": WAITING, "holder": holder}
    return {"state": LOCKED, "until": lease.isoformat()}


def unlock(event: dict, context) -> dict:
    """Each config's claim deleted if it is still this execution's (conditionally on the copy read)."""
    released = 0
    for config_key in event["group"]["configKeys"]:
        found = read(_bucket(), claim_key(config_key))
        if found and found[0].get("executionArn") == event["executionArn"]:
            released += delete_claim(_bucket(), claim_key(config_key), found[1])
    return {"released": released}


# ------------------------------------------------------------------ the job


def job_name(request_id: str, group_arn: str, attempt: int = 1) -> str:
    """The request's job for the group, the same at every call (a retry finds it); a later attempt of a request
    whose job failed gets its own (a Personalize job cannot be run again)."""
    name = f"erasure-{request_id[:20]}-{hashlib.sha256(group_arn.encode()).hexdigest()[:8]}"
    return name if attempt == 1 else f"{name}-{attempt}"


def start(event: dict, context) -> dict:
    """The group's data deletion job of the request's work file, created once."""
    group_arn, erased = event["group"]["datasetGroupArn"], event["erased"]
    name = job_name(event["requestId"], group_arn, int(event.get("attempt", 1)))
    try:
        arn = call("personalize", "create_data_deletion_job", jobName=name, datasetGroupArn=group_arn,
                   dataSource={"dataLocation": f"s3://{erased['bucket']}/{erased['key']}"},
                   roleArn=os.environ[Env.PERSONALIZE_ROLE_ARN])["dataDeletionJobArn"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
        arn = f"{group_arn.split(':dataset-group/')[0]}:data-deletion-job/{name}"
    log.info("data deletion job", extra={"requestId": event["requestId"], "jobArn": arn})
    return {"jobArn": arn}


def status(event: dict, context) -> dict:
    """The job's status and how many records it deleted; its failure, or its lock's end, raised."""
    job = call("personalize", "describe_data_deletion_job", dataDeletionJobArn=event["jobArn"])["dataDeletionJob"]
    if job["status"] == "FAILED":
        raise ResourceFailed(f"{event['jobArn']}: {job.get('failureReason', 'no reason given')}")
    if job["status"] != "COMPLETED" and event.get("deadline") and dt.datetime.now(dt.timezone.utc) > time_of(
            event["deadline"]):
        raise PollingBudgetExceeded(f"{event['jobArn']} is still {job['status']} past {event['deadline']}, when its "
                                    "dataset group's lock against training lapsed")
    return {"status": job["status"], "numDeleted": job.get("numDeleted", 0)}


ACTIONS = {"groups": groups, "lock": lock, "start": start, "status": status, "unlock": unlock}


def handler(event, context):
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    return ACTIONS[action](event, context)

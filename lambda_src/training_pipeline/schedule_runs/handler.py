"""Reconcile a config's schedules (EventBridge Scheduler) with what the config asks for.

Called by the training workflow for every valid upload of a config, once the run holds the config's claim (so two
uploads never reconcile at once). Input: ``bucket``, ``key``, ``stateMachineArn`` (the workflow, which each schedule
starts) and ``schedules``, the plan's list (validate_config/schedules.py). Each schedule lives in the construct's
schedule group as ``<hash of the config key>-<schedule id>``: one that the config lists is created, or updated to
what it says now; one the config no longer lists is deleted. Output: the schedules' names and what was done.

A schedule starts the workflow with ``{"bucket", "key", "trigger": {"kind": "schedule", "id", "scheduledTime"}}``
(the time the scheduler fills in): the run validates the config as it is then and does that schedule's part.
"""

from __future__ import annotations

import hashlib
import json
import os

from botocore.exceptions import ClientError

from shared.aws import call, client, logger
from shared.contract import Env

log = logger(__name__)
RETRY = {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 24 * 3600}


def prefix(config_key: str) -> str:
    """The schedules of one config: their names start with a hash of its key."""
    return f"{hashlib.sha256(config_key.encode()).hexdigest()[:12]}-"


def _request(event: dict, schedule: dict) -> dict:
    trigger = {"kind": "schedule", "id": schedule["id"], "scheduledTime": "<aws.scheduler.scheduled-time>"}
    what = {"import": "import the datasets", "full": f"retrain solution {schedule.get('solution')}",
            "segments": f"run batch segment job {schedule.get('job')} of solution {schedule.get('solution')}"}
    return {
        "Name": prefix(event["key"]) + schedule["id"],
        "GroupName": os.environ[Env.SCHEDULE_GROUP],
        "Description": f"{what[schedule['kind']]} for s3://{event['bucket']}/{event['key']}"[:512],
        "ScheduleExpression": schedule["expression"],
        "ScheduleExpressionTimezone": schedule["timezone"],
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Target": {
            "Arn": event["stateMachineArn"],
            "RoleArn": os.environ[Env.SCHEDULER_ROLE_ARN],
            "Input": json.dumps({"bucket": event["bucket"], "key": event["key"], "trigger": trigger}),
            "RetryPolicy": RETRY,
            "DeadLetterConfig": {"Arn": os.environ[Env.DEAD_LETTER_QUEUE_ARN]},
        },
    }


def _existing(group: str, names_start: str) -> list[str]:
    names, token = [], None
    while True:
        page = call("scheduler", "list_schedules", GroupName=group, NamePrefix=names_start,
                    **({"NextToken": token} if token else {}))
        names += [s["Name"] for s in page.get("Schedules", []) if s["Name"].startswith(names_start)]
        token = page.get("NextToken")
        if not token:
            return names


def handler(event, context):
    group = os.environ[Env.SCHEDULE_GROUP]
    existing = set(_existing(group, prefix(event["key"])))
    done = {"created": [], "updated": [], "deleted": []}
    wanted = [_request(event, s) for s in event["schedules"]]
    for request in wanted:
        if request["Name"] in existing:
            call("scheduler", "update_schedule", **request)
            done["updated"].append(request["Name"])
            continue
        try:
            call("scheduler", "create_schedule", **request)
            done["created"].append(request["Name"])
        except ClientError as exc:  # created meanwhile (a retried step): make it what the config says
            if exc.response["Error"]["Code"] != "ConflictException":
                raise
            call("scheduler", "update_schedule", **request)
            done["updated"].append(request["Name"])
    for name in sorted(existing - {r["Name"] for r in wanted}):
        try:
            call("scheduler", "delete_schedule", Name=name, GroupName=group)
        except client("scheduler").exceptions.ResourceNotFoundException:
            pass
        done["deleted"].append(name)
    log.info("reconciled", extra={"config": f"s3://{event['bucket']}/{event['key']}",
                                  **{f"schedules{k.title()}": len(v) for k, v in done.items()}})
    return {"schedules": [r["Name"] for r in wanted], **done}

"""ScheduleRuns: a config's schedules reconciled with moto's EventBridge Scheduler (create, update, delete)."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.fakes.environment import BUCKET, SCHEDULE_GROUP, SCHEDULER_ROLE_ARN, fake_aws
from tests.fakes.personalize import ACCOUNT, REGION
from training_pipeline.schedule_runs import handler

KEY = "train/bingewatch/config.json"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:training"
IMPORT = {"id": "import", "kind": "import", "expression": "cron(0 */6 * * ? *)", "timezone": "UTC"}
SEGMENTS = {"id": "segments-genre-affinity-0", "kind": "segments", "expression": "cron(0 3 * * ? *)",
            "timezone": "Europe/Paris", "solution": "genre-affinity", "job": 0}


@pytest.fixture
def scheduler(monkeypatch):
    with fake_aws(monkeypatch) as aws:
        aws.training_environment()
        client = boto3.client("scheduler", region_name=REGION)
        client.create_schedule_group(Name=SCHEDULE_GROUP)
        yield client


def reconcile(schedules: list[dict], key: str = KEY) -> dict:
    return handler.handler({"bucket": BUCKET, "key": key, "stateMachineArn": MACHINE, "schedules": schedules}, None)


def existing(client) -> dict[str, dict]:
    names = [s["Name"] for s in client.list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"]]
    return {n: client.get_schedule(Name=n, GroupName=SCHEDULE_GROUP) for n in names}


def test_each_schedule_of_the_config_starts_the_workflow_with_its_trigger(scheduler):
    done = reconcile([IMPORT, SEGMENTS])
    prefix = handler.prefix(KEY)
    assert done["created"] == [f"{prefix}import", f"{prefix}segments-genre-affinity-0"] and not done["deleted"]
    found = existing(scheduler)
    segments = found[f"{prefix}segments-genre-affinity-0"]
    assert (segments["ScheduleExpression"], segments["ScheduleExpressionTimezone"]) == ("cron(0 3 * * ? *)",
                                                                                      "Europe/Paris")
    target = segments["Target"]
    assert (target["Arn"], target["RoleArn"]) == (MACHINE, SCHEDULER_ROLE_ARN)
    assert json.loads(target["Input"]) == {"bucket": BUCKET, "key": KEY, "trigger": {
        "kind": "schedule", "id": "segments-genre-affinity-0", "scheduledTime": "<aws.scheduler.scheduled-time>"}}
    assert target["DeadLetterConfig"]["Arn"].endswith(":training-dead-letters")
    assert segments["FlexibleTimeWindow"] == {"Mode": "OFF"} and segments["State"] == "ENABLED"
    assert "s3://segmentation-data/train/bingewatch/config.json" in segments["Description"]


def test_a_new_upload_updates_changed_schedules_and_deletes_those_the_config_dropped(scheduler):
    reconcile([IMPORT, SEGMENTS])
    done = reconcile([{**SEGMENTS, "expression": "rate(12 hours)"}])
    prefix = handler.prefix(KEY)
    assert (done["created"], done["updated"], done["deleted"]) == ([], [f"{prefix}segments-genre-affinity-0"],
                                                                   [f"{prefix}import"])
    assert {n: s["ScheduleExpression"] for n, s in existing(scheduler).items()} == {
        f"{prefix}segments-genre-affinity-0": "rate(12 hours)"}
    assert reconcile([])["deleted"] == [f"{prefix}segments-genre-affinity-0"] and existing(scheduler) == {}


def test_the_schedules_of_other_configs_are_left_alone(scheduler):
    reconcile([IMPORT], key="train/other/config.json")
    reconcile([SEGMENTS])
    reconcile([])
    assert list(existing(scheduler)) == [f"{handler.prefix('train/other/config.json')}import"]


def test_a_schedule_created_meanwhile_is_updated_to_what_the_config_says(scheduler, monkeypatch):
    """A retried step (its first attempt created the schedule and its answer was lost) finds it on create."""
    reconcile([IMPORT])
    monkeypatch.setattr(handler, "_existing", lambda group, start: [])  # listed before the other attempt created it
    done = reconcile([{**IMPORT, "expression": "cron(0 1 * * ? *)"}])
    assert done["updated"] == [f"{handler.prefix(KEY)}import"]
    assert [s["ScheduleExpression"] for s in existing(scheduler).values()] == ["cron(0 1 * * ? *)"]

"""The synthesized training state machine, executed by moto's ASL interpreter.

Its Lambda tasks run the real handlers in-process against FakePersonalize; its
EventBridge and SNS tasks reach moto. Waits come from construct props (1 s), so
each run takes a few seconds.
"""

from __future__ import annotations

import copy
import json
import threading

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Template

from training_pipeline.ensure_resource import handler as ensure_handler
from segmentation_constructs import PersonalizeTrainingPipeline
from tests.fakes.environment import BUCKET, DATA, SCHEDULE_GROUP, fake_aws
from tests.fakes.workflow import (
    MOTO_CONFIG,
    REGION,
    LambdaRouter,
    function_names,
    lambda_arn,
    logical_id,
    render_definition,
    run_execution,
    history,
    start_execution,
    wait_for,
)
from training_pipeline.schedule_runs import handler as schedule_handler
from training_pipeline.schedule_runs import handler as schedule_handler
from training_pipeline.validate_config import handler as validate_handler

SAMPLE = json.loads((DATA / "train/bingewatch/config.json").read_text())


@pytest.fixture(scope="module")
def template(cdk_app_context) -> dict:
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Workflow")
    PersonalizeTrainingPipeline(stack, "Training", poll_interval=cdk.Duration.seconds(1),
                                polling_budget=cdk.Duration.minutes(5),
                                upload_settle_time=cdk.Duration.seconds(0), retry_interval=cdk.Duration.seconds(1))
    return Template.from_stack(stack).to_json()


@pytest.fixture
def workflow(template, monkeypatch, request):
    budget = getattr(request, "param", 24 * 3600)
    bus_id = logical_id(template, "AWS::Events::EventBus", "EventBus")
    topic_id = logical_id(template, "AWS::SNS::Topic", "Topic")
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name=bus_id, topic_name=topic_id) as aws:
        aws.training_environment(template=template, POLLING_BUDGET_SECONDS=str(budget))
        aws.personalize.steps_to_active = 0  # one 1-second Wait per resource keeps each run to seconds
        names = {**function_names(template), bus_id: aws.bus_name, f"{bus_id}.Arn": aws.bus_arn,
                 topic_id: aws.topic_arn}
        aws.router = LambdaRouter(monkeypatch, {
            lambda_arn(logical_id(template, "AWS::Lambda::Function", "ValidateConfig")): validate_handler.handler,
            lambda_arn(logical_id(template, "AWS::Lambda::Function", "EnsureResource")): ensure_handler.handler,
            lambda_arn(logical_id(template, "AWS::Lambda::Function", "ScheduleRuns")): schedule_handler.handler,
        })
        sfn = boto3.client("stepfunctions", region_name=REGION)
        aws.state_machine_arn = sfn.create_state_machine(
            name="training", definition=render_definition(template, names),
            roleArn="arn:aws:iam::123456789012:role/workflow")["stateMachineArn"]
        yield aws


def start(aws, key: str) -> dict:
    return run_execution(aws.state_machine_arn, {"bucket": BUCKET, "key": key})


def run_events(aws) -> list[dict]:
    return [e["detail"] for e in aws.events() if e["detail-type"] == "Personalize Training Run State Change"]


def test_sample_upload_trains_and_runs_segment_jobs(workflow):
    execution = start(workflow, workflow.upload_sample())
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    (solution,) = output["training"]["run"]["solutions"]
    (job,) = solution["batchSegmentJobs"]
    assert job["outputPath"].startswith(f"s3://{BUCKET}/batch/bingewatch/bingewatch-genre-affinity/")
    created = [op for op, _ in workflow.personalize.created()]
    assert created.count("CreateBatchSegmentJob") == 1 and created.count("CreateDatasetImportJob") == 3
    events = workflow.events()
    statuses = [(e["detail-type"], e["detail"]["Status"]) for e in events]
    assert ("Personalize Batch Segment Job State Change", "ACTIVE") in statuses
    run = [e["detail"] for e in events if e["detail-type"] == "Personalize Training Run State Change"]
    assert [r["Status"] for r in run] == ["STARTED", "SUCCEEDED"]
    assert run[1]["Solutions"][0]["batchSegmentJobs"][0]["arn"] == job["arn"]
    assert [n["Subject"] for n in workflow.notifications()] == [
        "Personalize training run started", "Personalize training run succeeded"]


def test_rejected_config_creates_nothing_and_says_why(workflow):
    config = copy.deepcopy(SAMPLE)
    config["solutions"][0]["serviceConfig"]["recipeArn"] = "arn:aws:personalize:::recipe/aws-user-personalization"
    del config["datasets"]["interactions"]
    execution = start(workflow, workflow.upload_sample(prefix="train/broken/", config=config))
    assert execution["status"] == "FAILED"
    assert execution["error"] == "ConfigRejected"
    assert workflow.personalize.calls == []
    (rejected,) = run_events(workflow)
    assert rejected["Status"] == "REJECTED"
    assert "$.datasets.interactions: the interactions dataset is required" in rejected["Errors"]
    assert any(e.startswith("$.solutions[0].batchSegmentJobs: batch segment jobs need") for e in rejected["Errors"])
    (note,) = workflow.notifications()
    assert note["Subject"] == "Personalize training config rejected"
    assert "the interactions dataset is required" in note["Message"]


def test_service_reported_failure_fails_the_run_with_the_reason(workflow):
    workflow.personalize.fail["bingewatch-interactions-"] = "Input CSV has 3 rows with a missing USER_ID"
    execution = start(workflow, workflow.upload_sample())
    assert execution["status"] == "FAILED" and execution["error"] == "TrainingRunFailed"
    failed = run_events(workflow)[-1]
    assert failed["Status"] == "FAILED" and failed["Error"] == "ResourceFailed"
    assert "Input CSV has 3 rows with a missing USER_ID" in failed["Cause"]
    notes = workflow.notifications()
    assert notes[-1]["Subject"] == "Personalize training run failed"
    assert "Input CSV has 3 rows with a missing USER_ID" in notes[-1]["Message"]


def test_a_failed_batch_segment_job_lets_the_others_finish_and_the_run_reports_it(workflow):
    config = json.loads((DATA / "train/bingewatch/config.json").read_text())
    (job,) = config["solutions"][0]["batchSegmentJobs"]
    other = json.loads(json.dumps(job))
    other.setdefault("serviceConfig", {})["jobName"] = "other-segments"
    config["solutions"][0]["batchSegmentJobs"].append(other)
    workflow.personalize.fail["bingewatch-genre-affinity-"] = "Not enough users for the query"
    execution = start(workflow, workflow.upload_sample(config=config))
    assert execution["status"] == "FAILED" and execution["error"] == "TrainingRunFailed"
    events = workflow.events()
    jobs = {e["detail"]["Arn"].rsplit("/", 1)[-1].rsplit("-", 1)[0]: e["detail"] for e in events
            if e["detail-type"] == "Personalize Batch Segment Job State Change"
            and e["detail"]["Status"] in ("ACTIVE", "CREATE FAILED")}
    assert jobs["other-segments"]["Status"] == "ACTIVE"  # finished, so its audiences are exported
    assert jobs["bingewatch-genre-affinity"]["FailureReason"] == "Not enough users for the query"
    (run,) = [e["detail"] for e in events if e["detail-type"] == "Personalize Training Run State Change"
              and e["detail"]["Status"] == "FAILED"]
    assert run["Error"] == "BatchSegmentJobFailed"
    (solution,) = run["Solutions"]
    outcomes = sorted((j["failed"], j.get("name") or j["arn"].rsplit("/", 1)[-1][:14]) for j in solution["batchSegmentJobs"])
    assert outcomes == [(False, "other-segments"), (True, "bingewatch-genre-affinity")]
    notes = workflow.notifications()
    assert notes[-1]["Subject"] == "Personalize training run: batch segment jobs failed"


def test_throttling_is_retried_and_the_run_succeeds(workflow):
    workflow.personalize.throttle["CreateDatasetGroup"] = 2  # two workflow retries, with backoff and jitter
    execution = start(workflow, workflow.upload_sample())
    assert execution["status"] == "SUCCEEDED", execution
    attempts = [op for op, _ in workflow.personalize.calls if op == "CreateDatasetGroup"]
    assert len(attempts) == 3


@pytest.mark.parametrize("workflow", [2], indirect=True)
def test_polling_budget_running_out_fails_the_run(workflow):
    workflow.personalize.steps_to_active = 1_000
    execution = start(workflow, workflow.upload_sample())
    assert execution["status"] == "FAILED"
    failed = run_events(workflow)[-1]
    assert failed["Error"] == "PollingBudgetExceeded"
    assert "Dataset Group bingewatch was still" in failed["Cause"]


def test_a_new_upload_waits_for_the_running_run_of_its_config_and_a_duplicate_delivery_joins_it(workflow):
    """The first run is held in its first Personalize step until the two later runs have been admitted: a duplicate
    delivery of its upload (joins, ends at once) and a new upload of the config (queued until the first ends)."""
    routes = workflow.router.routes
    (validate_arn,) = [arn for arn, h in routes.items() if h is validate_handler.handler]
    (ensure_arn,) = [arn for arn, h in routes.items() if h is ensure_handler.handler]
    first_working, both_admitted, admitted = threading.Event(), threading.Event(), set()

    def held_ensure(event, context):
        first_working.set()
        assert both_admitted.wait(timeout=30)
        return ensure_handler.handler(event, context)

    def observed_validate(event, context):
        answer = validate_handler.handler(event, context)
        if event.get("action") == "claim" and answer["state"] != "claimed":
            admitted.add(answer["state"])
            if admitted == {"queued", "joined"}:
                both_admitted.set()
        return answer

    routes[ensure_arn], routes[validate_arn] = held_ensure, observed_validate
    key = workflow.upload_sample()
    first = start_execution(workflow.state_machine_arn, {"bucket": BUCKET, "key": key})
    assert first_working.wait(timeout=30)
    duplicate = wait_for(start_execution(workflow.state_machine_arn, {"bucket": BUCKET, "key": key}))
    workflow.upload_sample(config=SAMPLE)  # the same config, written anew: a new upload
    second = start_execution(workflow.state_machine_arn, {"bucket": BUCKET, "key": key})
    assert [wait_for(first)["status"], duplicate["status"], wait_for(second)["status"]] == ["SUCCEEDED"] * 3

    runs = run_events(workflow)
    order = [(e["ExecutionArn"], e["Status"]) for e in runs]
    assert [s for arn, s in order if arn == first] == ["STARTED", "SUCCEEDED"]
    assert [s for arn, s in order if arn == duplicate["executionArn"]] == ["JOINED"]
    assert [s for arn, s in order if arn == second] == ["QUEUED", "STARTED", "SUCCEEDED"]
    # never two runs at once: the second starts its work (Planned) only after the first released its claim
    released = [e["timestamp"] for e in history(first) if e.get("stateExitedEventDetails", {}).get("name") == "ReleaseRun"]
    planned = [e["timestamp"] for e in history(second)
               if e.get("stateEnteredEventDetails", {}).get("name") == "Planned"]
    assert len(released) == 1 and len(planned) == 1 and planned[0] >= released[0]
    (joined,) = [e for e in runs if e["Status"] == "JOINED"]
    assert joined["RunningExecutionArn"] == first
    subjects = [n["Subject"] for n in workflow.notifications()]
    assert subjects.count("Personalize training run queued") == 1 and subjects.count(
        "Personalize training run started") == 2
    assert workflow.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/").get("KeyCount") == 0  # released


def test_a_run_that_fails_releases_its_config(workflow):
    workflow.personalize.fail["bingewatch-interactions-"] = "Input CSV has 3 rows with a missing USER_ID"
    assert start(workflow, workflow.upload_sample())["status"] == "FAILED"
    assert workflow.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/").get("KeyCount") == 0
    workflow.personalize.fail.clear()
    assert start(workflow, workflow.upload_sample(config=SAMPLE))["status"] == "SUCCEEDED"


def test_an_upload_creates_the_configs_schedules_and_each_one_runs_its_part_of_the_workflow(workflow):
    """The schedules an upload reconciles, read back from moto's EventBridge Scheduler; each one's target input, its
    time filled in as the scheduler does, run through the workflow."""
    scheduler = boto3.client("scheduler", region_name=REGION)
    scheduler.create_schedule_group(Name=SCHEDULE_GROUP)
    config = copy.deepcopy(SAMPLE)
    config["solutions"][0]["batchSegmentJobs"][0]["workflowConfig"] = {"schedule": "cron(0 3 * * ? *)",
                                                                       "timezone": "Europe/Paris"}
    assert start(workflow, workflow.upload_sample(config=config))["status"] == "SUCCEEDED"
    (listed,) = scheduler.list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"]
    schedule = scheduler.get_schedule(Name=listed["Name"], GroupName=SCHEDULE_GROUP)
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == ("cron(0 3 * * ? *)",
                                                                                      "Europe/Paris")
    assert schedule["Target"]["Arn"] == workflow.state_machine_arn
    fired = json.loads(schedule["Target"]["Input"].replace("<aws.scheduler.scheduled-time>", "2026-11-03T02:00:00Z"))
    jobs_before = len(workflow.personalize.created("CreateBatchSegmentJob"))
    trained_before = len(workflow.personalize.created("CreateSolutionVersion"))
    workflow.events()  # the upload's events, read and dropped

    execution = run_execution(workflow.state_machine_arn, fired)
    assert execution["status"] == "SUCCEEDED", execution
    assert len(workflow.personalize.created("CreateBatchSegmentJob")) == jobs_before + 1
    assert len(workflow.personalize.created("CreateSolutionVersion")) == trained_before  # no training
    (started, succeeded) = run_events(workflow)
    assert started["Trigger"] == {"kind": "schedule", "id": fired["trigger"]["id"],
                                  "scheduledTime": "2026-11-03T02:00:00Z"}
    assert succeeded["Status"] == "SUCCEEDED"
    assert len(scheduler.list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"]) == 1  # a scheduled run reconciles nothing

    del config["solutions"][0]["batchSegmentJobs"][0]["workflowConfig"]
    assert start(workflow, workflow.upload_sample(config=config))["status"] == "SUCCEEDED"
    assert scheduler.list_schedules(GroupName=SCHEDULE_GROUP)["Schedules"] == []  # dropped from the config
    assert run_execution(workflow.state_machine_arn, fired)["error"] == "ConfigRejected"  # a firing still queued

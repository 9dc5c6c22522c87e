"""The erasure workflow in moto's interpreter, on the example stack (Connect destination) with its handlers routed
(``tests/fakes/example_app.py``): what it does when a training run holds the configs, when a destination fails and
recovers or stays down, when a Personalize data deletion job fails, and when the same request comes twice."""

from __future__ import annotations

import json
import threading

import boto3
import pytest

from shared import run_claims
from segmentation_constructs.user_erasure import DESTINATION_OUTAGE
from shared.contract import ERASURE_REQUESTED, ERASURE_SOURCE, ERASURE_STATE_CHANGE
from tests.fakes.environment import BUCKET
from tests.fakes.example_app import running
from tests.fakes.workflow import ACCOUNT, REGION, LambdaRouter, history, lambda_arn
from user_erasure.personalize import handler as personalize_handler

CONFIG_KEY = "train/bingewatch/config.json"
USERS = ["u00007", "u00042", "u01999"]


@pytest.fixture(scope="module")
def template(connect_example_text) -> dict:
    return json.loads(connect_example_text)


@pytest.fixture
def app(template, monkeypatch):
    with running(template, monkeypatch) as example:
        example.aws.upload_sample()  # the config and its CSVs; its dataset group exists (trained earlier)
        example.aws.personalize.client.create_dataset_group(name="bingewatch", domain="VIDEO_ON_DEMAND")
        yield example


def erase(app, users=USERS) -> dict:
    """An ``Erasure Requested`` event through its rule; the execution."""
    event = {"source": ERASURE_SOURCE, "detail-type": ERASURE_REQUESTED, "detail": {"userIds": users}}
    app.deliver("erasure", app.delivered_by("RequestPut", [event]), None, "event")
    return app.executions[-1]


def statuses(app) -> list[str]:
    return [e["detail"]["Status"] for e in app.drain() if e["detail-type"] == ERASURE_STATE_CHANGE]


def audit(app) -> dict:
    (key,) = [o["Key"] for o in app.aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="erasure/_audit/")["Contents"]
              if "/sources/" not in o["Key"]]
    return json.loads(app.aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_training_run_holding_the_config_is_waited_for_then_the_users_are_deleted(app, monkeypatch):
    """The config's run claim is held by a RUNNING training execution: the erasure waits (WaitForTraining) until it
    ends, then takes the claim over, deletes, and gives it back."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    release = threading.Event()
    blocker = lambda_arn("TrainingStandIn")  # a training run's task, which ends when released
    answers = []

    def lock_then_end_the_run(event, context):
        answer = personalize_handler.handler(event, context)
        if event.get("action") == "lock":
            answers.append(answer["state"])
            if len(answers) == 3:  # the training run ends while the erasure waits for it
                release.set()
                while sfn.describe_execution(executionArn=holder)["status"] == "RUNNING":
                    threading.Event().wait(0.05)
        return answer

    routes = {**app.router.routes, blocker: lambda event, context: release.wait(30) or {}}
    routes[next(arn for arn in routes if "ErasurePersonalize" in arn)] = lock_then_end_the_run
    LambdaRouter(monkeypatch, routes)
    machine = sfn.create_state_machine(name="holder", roleArn=f"arn:aws:iam::{ACCOUNT}:role/w", definition=json.dumps(
        {"StartAt": "Train", "States": {"Train": {"Type": "Task", "Resource": blocker, "End": True}}}))["stateMachineArn"]
    holder = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert sfn.describe_execution(executionArn=holder)["status"] == "RUNNING"
    claim = run_claims.claim_key(CONFIG_KEY)
    app.aws.s3.put_object(Bucket=BUCKET, Key=claim, Body=json.dumps({
        "executionArn": holder, "configUri": f"s3://{BUCKET}/{CONFIG_KEY}", "upload": {"etag": "e"},
        "claimedAt": "2026-12-03T00:00:00+00:00"}).encode())
    run = erase(app)
    assert run["status"] == "SUCCEEDED", run
    assert answers[:4] == ["waiting", "waiting", "waiting", "locked"]
    assert set(answers[4:]) == {"locked"} and len(answers) > 4  # each poll of the job renewed the lease
    entered = [e["stateEnteredEventDetails"]["name"] for e in history(run["arn"]) if "stateEnteredEventDetails" in e]
    assert entered.count("WaitForTraining") == 3
    assert set(USERS) <= app.aws.personalize.deleted_users[
        f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/bingewatch"]
    assert app.aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=claim).get("KeyCount") == 0  # given back
    assert statuses(app) == ["ACCEPTED", "COMPLETED"]


def test_a_destination_failing_then_recovering_is_retried_and_the_request_completes(app):
    app.profiles.unavailable["SearchProfiles"] = 2
    run = erase(app)
    assert run["status"] == "SUCCEEDED", run
    assert run["failed attempts"].count("ServiceUnavailable") == 2
    assert statuses(app) == ["ACCEPTED", "COMPLETED"]


def test_a_destination_that_stays_down_leaves_the_request_open_and_a_new_delivery_finishes_it(app):
    app.profiles.unavailable["SearchProfiles"] = 100
    failed = erase(app)
    assert failed["status"] == "FAILED" and failed["error"] == "ErasureFailed"
    assert failed["failed attempts"].count("ServiceUnavailable") == 1 + DESTINATION_OUTAGE  # ~13 hours; instant here
    outcome = [e["detail"] for e in app.drain() if e["detail-type"] == ERASURE_STATE_CHANGE]
    assert [e["Status"] for e in outcome] == ["ACCEPTED", "FAILED"]
    record = audit(app)
    assert record["status"] == "FAILED"
    assert (outcome[-1]["Error"], outcome[-1]["Cause"]) == (record["error"], record["cause"])  # as kept, no more
    assert "customer-profiles search_profiles" in record["cause"]
    (note,) = [n for n in app.aws.notifications() if n["Subject"] == "Erasure request failed"]
    assert not any(user in note["Message"] for user in USERS)
    app.profiles.unavailable["SearchProfiles"] = 0
    again = erase(app)  # the same request delivered again (or started again by hand)
    assert again["status"] == "SUCCEEDED", again
    assert statuses(app) == ["ACCEPTED", "COMPLETED"]
    record = audit(app)
    assert record["status"] == "COMPLETED" and record["attempts"] == 2
    assert app.aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="erasure/_work/").get("KeyCount") == 0


def test_a_failed_data_deletion_job_fails_the_request_and_gives_the_configs_back(app):
    app.aws.personalize.fail["erasure-"] = "Input data has rows with an invalid USER_ID"
    run = erase(app)
    assert run["status"] == "FAILED" and run["error"] == "ErasureFailed"
    assert app.aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/").get("KeyCount") == 0
    assert statuses(app) == ["ACCEPTED", "FAILED"]


def test_the_same_request_twice_is_done_once(app):
    assert erase(app)["status"] == "SUCCEEDED"
    created = len(app.aws.personalize.created("CreateDataDeletionJob"))
    statuses(app)
    again = erase(app, list(reversed(USERS)))  # the same users, in another order
    assert again["status"] == "SUCCEEDED" and again["end"] == "AlreadyErased"
    assert statuses(app) == ["DUPLICATE"]
    assert len(app.aws.personalize.created("CreateDataDeletionJob")) == created


def test_a_request_waiting_past_its_at_risk_time_is_told_once(app, monkeypatch):
    """Past 80% of the deadline (the clock moved on 25 days while the data deletion job runs), the request is
    announced at risk once, however many polls follow."""
    import datetime as dt

    from user_erasure.request import handler as request_handler

    app.aws.personalize.steps_to_active = 3  # the job takes a few polls
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=25)
    real_now = request_handler._now
    monkeypatch.setattr(request_handler, "_now", lambda: later if app.aws.personalize.created(
        "CreateDataDeletionJob") else real_now())
    run = erase(app)
    assert run["status"] == "SUCCEEDED", run
    entered = [e["stateEnteredEventDetails"]["name"] for e in history(run["arn"]) if "stateEnteredEventDetails" in e]
    assert entered.count("WaitForDeletion") >= 3 and entered.count("DeletionPublishAtRisk") == 1
    assert statuses(app) == ["ACCEPTED", "AT_RISK", "COMPLETED"]
    (note,) = [n for n in app.aws.notifications() if n["Subject"] == "Erasure request at risk of missing its deadline"]
    assert "must end by" in note["Message"]


def test_a_data_deletion_job_outliving_its_budget_fails_the_request_and_keeps_training_locked_out(app, monkeypatch):
    """The job still runs in Personalize: its configs' claims stay, until their lease runs out by itself."""
    app.aws.personalize.steps_to_active = 1000  # the job never ends
    monkeypatch.setenv("DELETION_BUDGET_SECONDS", "0")  # its budget is over at the first poll
    run = erase(app)
    assert run["status"] == "FAILED" and run["caught"].get("error") == "PollingBudgetExceeded"
    (claim,) = app.aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="runs/")["Contents"]
    held = json.loads(app.aws.s3.get_object(Bucket=BUCKET, Key=claim["Key"])["Body"].read())
    assert held["kind"] == "erasure" and held["executionArn"] == run["arn"]

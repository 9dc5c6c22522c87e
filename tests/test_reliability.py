"""Every failure is retried, surfaced or survived (issue 12): across the example stack's workflows, rules and functions."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from shared import aws as lambda_clients
from shared import contract
from tests.fakes.environment import fake_aws
from tests.fakes.templates import all_states, matches
from tests.fakes.workflow import MOTO_CONFIG, REGION, function_names, render_definition, run_execution

CONSTRUCTS = ("Training", "Audiences", "Pinpoint", "Connect", "Erasure")


def machines(template: dict) -> dict[str, dict]:
    """logical ID -> the state machine's definition, references replaced by placeholders."""
    found = {}
    for lid, resource in template["Resources"].items():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            parts = resource["Properties"]["DefinitionString"]["Fn::Join"][1]
            found[lid] = json.loads("".join(p if isinstance(p, str) else "REF" for p in parts))
    return found


def tasks_of(template: dict):
    for lid, asl in machines(template).items():
        for name, state in all_states(asl).items():
            if state["Type"] == "Task":
                yield lid, name, state


def test_every_function_step_retries_transient_faults_with_backoff_and_jitter(example_template):
    template = example_template.to_json()
    checked = 0
    for lid, name, state in tasks_of(template):
        if state["Resource"] == "REF":  # a function's ARN: the step invokes a Lambda function
            retriers = state.get("Retry", [])
            transient = [r for r in retriers if set(contract.TRANSIENT_ERRORS) <= set(r["ErrorEquals"])]
            broad = [r for r in retriers if r["ErrorEquals"] == ["States.TaskFailed"]]  # the Distributed Map's lines
            assert transient or broad, f"{lid} {name}: no retry of {contract.TRANSIENT_ERRORS}"
            for retrier in transient:
                assert retrier["MaxAttempts"] >= 2 and retrier["BackoffRate"] >= 2
                assert retrier["JitterStrategy"] == "FULL"
            checked += 1
    assert checked >= 10


def test_every_event_and_notification_step_is_retried(example_template):
    template = example_template.to_json()
    checked = 0
    for lid, name, state in tasks_of(template):
        if "events:putEvents" in str(state["Resource"]) or "sns:publish" in str(state["Resource"]):
            assert any(r["ErrorEquals"] == ["States.ALL"] and r["MaxAttempts"] >= 2 for r in state.get("Retry", [])), \
                f"{lid} {name}"
            checked += 1
    assert checked >= 20


def test_every_rule_target_has_a_dead_letter_queue(example_template):
    rules = example_template.find_resources("AWS::Events::Rule")
    assert len(rules) >= 8
    for lid, rule in rules.items():
        for target in rule["Properties"]["Targets"]:
            assert "DeadLetterConfig" in target, lid


def test_every_construct_exposes_a_dead_letter_queue_and_alarms_on_it_and_on_failed_executions(example_stack):
    from aws_cdk import aws_cloudwatch as cloudwatch
    from aws_cdk import aws_sqs as sqs

    for construct in (example_stack.training, example_stack.audiences, example_stack.pinpoint, example_stack.connect,
                      example_stack.erasure):
        assert isinstance(construct.trigger_dead_letter_queue, sqs.Queue)
        assert isinstance(construct.watch.failed_executions_alarm, cloudwatch.Alarm)
        assert isinstance(construct.watch.dead_letter_alarm, cloudwatch.Alarm)


# ------------------------------------------------------------------ executions that end without reporting it


def status_change(machine_arn: str, status: str, execution_input: dict, error: str | None = None,
                  cause: str | None = None) -> dict:
    detail = {"executionArn": f"{machine_arn.replace(':stateMachine:', ':execution:')}:run-1",
              "stateMachineArn": machine_arn, "name": "run-1", "status": status,
              "startDate": 1764684000000, "stopDate": 1764687600000, "input": json.dumps(execution_input),
              "output": None}
    if error is not None:
        detail.update(error=error, cause=cause)
    return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "resources": [],
            "detail": detail}


def watch_rule(template: dict, construct: str) -> dict:
    (rule,) = [r for lid, r in template["Resources"].items()
               if r["Type"] == "AWS::Events::Rule" and lid.startswith(f"{construct}WatchEnded")]
    return rule


@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_timeouts_aborts_and_uncaught_failures_are_heard_and_reported_failures_are_not(construct, example_template):
    template = example_template.to_json()
    pattern = json.loads(json.dumps(watch_rule(template, construct)["Properties"]["EventPattern"]).replace(
        json.dumps(watch_rule(template, construct)["Properties"]["EventPattern"]["detail"]["stateMachineArn"][0]),
        '"arn:aws:states:us-east-1:123456789012:stateMachine:m"'))
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    assert matches(pattern, status_change(arn, "TIMED_OUT", {}))
    assert matches(pattern, status_change(arn, "ABORTED", {}))
    assert matches(pattern, status_change(arn, "FAILED", {}, "States.DataLimitExceeded", "too large"))
    for reported in contract.REPORTED_FAILURES:
        assert not matches(pattern, status_change(arn, "FAILED", {}, reported, "already reported"))
    assert not matches(pattern, status_change(arn, "SUCCEEDED", {}))
    assert not matches(pattern, status_change(arn.replace(":m", ":another"), "TIMED_OUT", {}))


EXPECTED_REPORTS = {  # construct: (its execution's input, the detail-type, what the detail must hold)
    "Training": ({"bucket": "b", "key": "train/x/config.json"}, contract.TRAINING_RUN_STATE_CHANGE,
                 {"Status": "TIMED_OUT", "ConfigUri": "s3://b/train/x/config.json"}),
    "Audiences": ({"detail": {"Arn": "arn"}}, contract.EXPORT_FAILED, {"Status": "TIMED_OUT", "Error": "TIMED_OUT"}),
    "Connect": ({"audience": {"bucket": "b", "audienceKey": "audiences/j/a.csv"}}, contract.IMPORT_STATE_CHANGE,
                {"Destination": "connect", "Status": contract.IMPORT_FAILED, "AudienceKey": "audiences/j/a.csv",
                 "Error": "TIMED_OUT"}),
    # a request past its deadline (the workflow's timeout) fails loudly
    "Erasure": ({"request": {"bucket": "b", "key": "erasure/requests/r.csv"}}, contract.ERASURE_STATE_CHANGE,
                {"Status": contract.ERASURE_FAILED, "Error": "TIMED_OUT"}),
}


@pytest.mark.parametrize("construct", EXPECTED_REPORTS)
def test_the_reporter_turns_an_unreported_end_into_the_constructs_failure_event_and_a_notification(
        construct, example_template, monkeypatch):
    template = example_template.to_json()
    execution_input, detail_type, expected = EXPECTED_REPORTS[construct]
    (reporter_id,) = [lid for lid, r in template["Resources"].items()
                      if r["Type"] == "AWS::StepFunctions::StateMachine" and lid.startswith(f"{construct}WatchReporter")]
    bus_id = next(lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::Events::EventBus")
    topic_id = next(lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic")
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name=bus_id, topic_name=topic_id) as aws:
        names = {**function_names(template), bus_id: aws.bus_name, f"{bus_id}.Arn": aws.bus_arn, topic_id: aws.topic_arn}
        definition = render_definition(template, names, reporter_id)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(name="reporter", definition=definition,
                                       roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
        execution = run_execution(arn, status_change("arn:aws:states:us-east-1:123456789012:stateMachine:m",
                                                     "TIMED_OUT", execution_input))
        assert execution["status"] == "SUCCEEDED", execution
        (event,) = [e for e in aws.events() if e["detail-type"] == detail_type]
        assert expected.items() <= event["detail"].items()
        (notification,) = aws.notifications()
        assert "ended TIMED_OUT" in notification["Message"]


# ------------------------------------------------------------------ a 5xx after botocore's retries


def test_a_service_5xx_becomes_service_unavailable_which_every_workflow_retries(monkeypatch):
    monkeypatch.setattr(lambda_clients, "_clients", {})
    client = lambda_clients.client("personalize")
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_solution", service_error_code="InternalServerError",
                                 service_message="try again", http_status_code=500)
        with pytest.raises(contract.ServiceUnavailable, match="InternalServerError"):
            lambda_clients.call("personalize", "describe_solution", solutionArn="arn:aws:personalize:::solution/x")
        stubber.add_client_error("describe_solution", service_error_code="ResourceNotFoundException",
                                 http_status_code=404)
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            lambda_clients.call("personalize", "describe_solution", solutionArn="arn:aws:personalize:::solution/x")
    assert "ServiceUnavailable" in contract.TRANSIENT_ERRORS


def test_client_timeouts_and_retries_end_within_the_shortest_function_timeout():
    config = lambda_clients._CONFIG
    attempts = config.retries["total_max_attempts"]  # the first call included
    worst = attempts * (config.connect_timeout + config.read_timeout) + 20 * (attempts - 1)  # plus backoff (<= 20 s)
    assert worst < 120, worst  # the shortest function timeout the constructs set (SegmentationFunction's default)
    from segmentation_constructs._lambda import SegmentationFunction
    import inspect
    assert inspect.signature(SegmentationFunction.__init__).parameters["timeout"].default.to_seconds() == 120

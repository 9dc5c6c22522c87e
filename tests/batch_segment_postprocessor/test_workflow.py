"""The synthesized audience-export state machine, executed by moto's ASL interpreter with the real handlers."""

from __future__ import annotations

import json

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from batch_segment_postprocessor.export import handler as export_handler
from batch_segment_postprocessor.plan import handler as plan_handler
from batch_segment_postprocessor.publish import handler as publish_handler
from segmentation_constructs import BatchSegmentPostprocessor
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.workflow import MOTO_CONFIG, REGION, LambdaRouter, function_names, lambda_arn, logical_id, \
    render_definition, run_execution
from tests.fakes.segment_jobs import ACTION, COMEDY, job_event, manifest, segment_job


@pytest.fixture(scope="module")
def template(cdk_app_context) -> dict:
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "AudienceWorkflow")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
                              source_bucket=s3.Bucket.from_bucket_name(stack, "Data", BUCKET), max_concurrency=2)
    return Template.from_stack(stack).to_json()


@pytest.fixture
def workflow(template, monkeypatch):
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="bus") as aws:
        function_environment.use(monkeypatch, "batch_segment_postprocessor.plan", "batch_segment_postprocessor.export",
                                 "batch_segment_postprocessor.publish", template=template, EVENT_BUS_NAME=aws.bus_name)
        names = {**function_names(template)}
        LambdaRouter(monkeypatch, {
            lambda_arn(logical_id(template, "AWS::Lambda::Function", part)): handler
            for part, handler in (("Plan", plan_handler.handler), ("Export", export_handler.handler),
                                  ("Publish", publish_handler.handler))})
        definition = render_definition(template, names).replace('"EventBusName":"bus"', f'"EventBusName":"{aws.bus_arn}"')
        sfn = boto3.client("stepfunctions", region_name=REGION)
        aws.state_machine_arn = sfn.create_state_machine(
            name="audiences", definition=definition, roleArn="arn:aws:iam::123456789012:role/workflow")["stateMachineArn"]
        yield aws


def test_a_finished_job_is_exported_line_by_line_and_announced(workflow):
    arn = segment_job(workflow, {"job_config.json.out": [ACTION, COMEDY]})
    execution = run_execution(workflow.state_machine_arn, job_event(arn))
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["published"]["ready"] == 2
    assert [s["userCount"] for s in manifest(workflow)["segments"]] == [3, 2]
    ready = [e for e in workflow.events() if e["detail-type"] == "Audience Segment Ready"]
    assert len(ready) == 2


def test_a_second_delivery_stops_at_already_exported(workflow):
    arn = segment_job(workflow, {"job_config.json.out": [ACTION]})
    assert run_execution(workflow.state_machine_arn, job_event(arn))["status"] == "SUCCEEDED"
    workflow.events()
    again = run_execution(workflow.state_machine_arn, job_event(arn))
    assert again["status"] == "SUCCEEDED" and json.loads(again["output"])["plan"]["skip"] is True
    assert workflow.events() == []


def test_a_job_that_cannot_be_planned_fails_with_an_event(workflow):
    arn = segment_job(workflow, {})
    execution = run_execution(workflow.state_machine_arn, job_event(arn))
    assert execution["status"] == "FAILED" and execution["error"] == "AudienceExportFailed"
    (failed,) = [e["detail"] for e in workflow.events() if e["detail-type"] == "Audience Export Failed"]
    assert failed["Error"] == "ValueError" and "no .out file under" in failed["Cause"]


@pytest.fixture(scope="module")
def template_with_topic(cdk_app_context) -> dict:
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "AudienceWorkflowWithTopic")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
                              source_bucket=s3.Bucket.from_bucket_name(stack, "Data", BUCKET),
                              topic=sns.Topic(stack, "Alerts"))
    return Template.from_stack(stack).to_json()


def test_a_held_refresh_is_notified_with_how_to_release_it(template_with_topic, monkeypatch):
    template = template_with_topic
    topic_id = logical_id(template, "AWS::SNS::Topic", "Alerts")
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="bus", topic_name=topic_id) as aws:
        function_environment.use(monkeypatch, "batch_segment_postprocessor.plan", "batch_segment_postprocessor.export",
                                 "batch_segment_postprocessor.publish", template=template, EVENT_BUS_NAME=aws.bus_name)
        LambdaRouter(monkeypatch, {
            lambda_arn(logical_id(template, "AWS::Lambda::Function", part)): handler
            for part, handler in (("Plan", plan_handler.handler), ("Export", export_handler.handler),
                                  ("Publish", publish_handler.handler))})
        definition = render_definition(template, {**function_names(template), topic_id: aws.topic_arn}).replace(
            '"EventBusName":"bus"', f'"EventBusName":"{aws.bus_arn}"')
        machine = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="audiences", definition=definition, roleArn="arn:aws:iam::123456789012:role/workflow")["stateMachineArn"]

        def refresh(job: str, users: list[str]) -> dict:
            line = {"input": {"itemAttributes": 'ITEMS.GENRES = "Action"'}, "output": {"recommendedUsers": users}}
            arn = segment_job(aws, {"job_config.json.out": [line]}, job,
                              output_prefix=f"batch/bingewatch/genre-affinity/{job}/output/")
            return run_execution(machine, job_event(arn))

        assert refresh("genre-1", ["u1", "u2", "u3"])["status"] == "SUCCEEDED"
        assert aws.notifications() == []
        held = refresh("genre-2", ["u7", "u8", "u9"])
        assert held["status"] == "SUCCEEDED", held
        (note,) = aws.notifications()
        assert note["Subject"] == "Audience refresh held"
        assert "Audience Release Requested" in note["Message"] and "genre-affinity-genres-action-" in note["Message"]
        assert '"joinedCount":3' in note["Message"] and '"leftCount":3' in note["Message"]

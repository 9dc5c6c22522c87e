"""PinpointSegmentImporter: its template, and its workflow run in moto's ASL interpreter."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from pinpoint_segment_importer.importer import handler as pinpoint_handler
from segmentation_constructs import PinpointSegmentImporter
from shared import aws as lambda_clients
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.pinpoint import FakePinpoint
from tests.fakes.workflow import MOTO_CONFIG, import_workflow, logical_id, run_execution
from tests.fakes.audience_events import KEY, NAME, ready_event
from tests.fakes.templates import delivered, matches, policy_statements


@pytest.fixture(scope="module")
def stack_and_template(cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "PinpointStack")
    PinpointSegmentImporter(stack, "Pinpoint", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
                            audience_bucket=s3.Bucket.from_bucket_name(stack, "Data", BUCKET),
                            poll_interval=cdk.Duration.seconds(1), retry_interval=cdk.Duration.seconds(1),
                            import_budget=cdk.Duration.minutes(5))
    return stack, Template.from_stack(stack)


@pytest.fixture(scope="module")
def template(stack_and_template):
    return stack_and_template[1]


def test_using_it_warns_of_pinpoints_end_of_support_with_an_acknowledgeable_id(stack_and_template):
    stack, _ = stack_and_template
    Annotations.from_stack(stack).has_warning("/PinpointStack/Pinpoint", Match.string_like_regexp(
        "end of support on 2026-10-30.*Connect Customer Profiles.*\\[ack: segmentation:pinpoint-end-of-support\\]"))


def test_import_role_is_trusted_by_pinpoint_for_this_account_and_project_only(template):
    template.has_resource_properties("AWS::IAM::Role", {"AssumeRolePolicyDocument": {"Statement": [{
        "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "pinpoint.amazonaws.com"},
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                      "ArnLike": {"aws:SourceArn": Match.any_value()}}}]}})
    reads = json.dumps(policy_statements(template, "PinpointImportRole"))
    assert f"{BUCKET}/audiences/*.csv" in reads and '"s3:PutObject"' not in reads


def test_import_jobs_are_created_on_the_project_and_read_on_its_jobs(template):
    """The Service Authorization Reference: CreateImportJob on apps/<id>, GetImportJob on apps/<id>/jobs/import/<id>."""
    statements = policy_statements(template, "PinpointImporterRole")
    by_action = {s["Action"]: json.dumps(s["Resource"]) for s in statements if isinstance(s["Action"], str)}
    create, get = by_action["mobiletargeting:CreateImportJob"], by_action["mobiletargeting:GetImportJob"]
    assert create.endswith(':apps/", {"Ref": "PinpointApp530042D2"}]]}'), create
    assert get.endswith('"/jobs/import/*"]]}'), get
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "pinpoint.amazonaws.com"}}


def test_it_imports_every_ready_audience(template):
    (rule,) = [r for lid, r in template.find_resources("AWS::Events::Rule").items() if "AudienceReady" in lid]
    pattern = rule["Properties"]["EventPattern"]
    assert matches(pattern, {**ready_event(), "resources": []})
    assert not matches(pattern, {**ready_event(), "detail-type": "Audience Export Failed"})


def test_audiences_of_another_bucket_or_prefix_on_the_same_bus_are_not_its_own(template):
    """Two post-processors, or an importer per team, may share one bus: each importer takes only its files."""
    (rule,) = [r for lid, r in template.find_resources("AWS::Events::Rule").items() if "AudienceReady" in lid]
    pattern, event = rule["Properties"]["EventPattern"], ready_event()
    elsewhere = {**event, "detail": {**event["detail"], "bucket": "another-teams-audiences"}}
    assert not matches(pattern, {**elsewhere, "resources": []})
    segment = {**event["detail"]["segment"], "audienceKey": "exports/" + event["detail"]["segment"]["audienceKey"]}
    assert not matches(pattern, {**event, "resources": [], "detail": {**event["detail"], "segment": segment}})


IS_PREFIX = "must be a key prefix of the bucket that ends with '/' and does not start with it, like {!r} (not an " \
            "s3:// URI or ARN, no * or ?); got {!r}"
SECONDS = "must be a Duration of whole seconds (Duration.seconds(n))"
APP_ID = "application_id must be a Pinpoint project ID (32 lowercase hexadecimal characters), like " \
         "'0123456789abcdef0123456789abcdef'"
CHANNELS = "endpoint_channels must be a non-empty list of some of PUSH, GCM, APNS, APNS_SANDBOX, APNS_VOIP, " \
           "APNS_VOIP_SANDBOX, ADM, SMS, VOICE, EMAIL, BAIDU, CUSTOM, IN_APP (e.g. ['EMAIL']); got "
APP_ARN = "arn:aws:mobiletargeting:us-east-1:123456789012:apps/0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("props, message", [
    # the props every importer takes (checked by AudienceImporter)
    ({"event_bus": "bus"}, "event_bus must be an events.IEventBus (an events.EventBus, or "
                           "events.EventBus.from_event_bus_name(scope, id, name)); got 'bus'"),
    ({"audience_bucket": BUCKET}, "audience_bucket must be an s3.IBucket (an s3.Bucket, or "
                                  f"s3.Bucket.from_bucket_name(scope, id, name)); got {BUCKET!r}"),
    ({"audience_prefix": f"s3://{BUCKET}/audiences/"},
     "audience_prefix " + IS_PREFIX.format("audiences/", f"s3://{BUCKET}/audiences/")),
    ({"drop_prefix": "manual/*/"}, "drop_prefix " + IS_PREFIX.format("manual/", "manual/*/")),
    ({"topic": "alerts"}, "topic must be an sns.ITopic (an sns.Topic, or sns.Topic.from_topic_arn(scope, id, arn)), or "
                          "left out; got 'alerts'"),
    ({"poll_interval": 30},
     f"poll_interval {SECONDS}, at least 1 second; got 30 (a number: write Duration.seconds(30))"),
    ({"poll_interval": cdk.Duration.millis(500)}, f"poll_interval {SECONDS}, at least 1 second; got 500 millis"),
    ({"import_budget": cdk.Duration.hours(2), "poll_interval": cdk.Duration.hours(3)},
     "import_budget must be longer than poll_interval (3 hours); got 2 hours"),
    ({"import_budget": cdk.Duration.days(400), "poll_interval": cdk.Duration.days(1)},
     f"import_budget {SECONDS}, at most 364 days; got 400 days"),
    ({"retry_interval": cdk.Duration.hours(1)}, f"retry_interval {SECONDS}, from 1 second to 15 minutes; got 1 hour"),
    ({"removal_policy": cdk.RemovalPolicy.SNAPSHOT}, "removal_policy must be RemovalPolicy.RETAIN, "
     "RemovalPolicy.DESTROY or RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE (its resources cannot be snapshotted); got "
     "RemovalPolicy.SNAPSHOT"),
    # Pinpoint's own
    ({"application_id": ""}, f"{APP_ID}, or left out; got ''"),  # it would silently create a project
    ({"application_id": APP_ARN}, f"{APP_ID} (the name or ID itself, not an ARN or URI), or left out; got {APP_ARN!r}"),
    ({"segment_kind": "endpoints"}, "segment_kind must be one of 'user-id', 'endpoint-id'; got 'endpoints'"),
    ({"segment_kind": "endpoint-id", "endpoint_channels": "EMAIL"}, CHANNELS + "'EMAIL'"),
    ({"endpoint_channels": ["EMAIL"]}, "endpoint_channels must be left out unless segment_kind='endpoint-id' (only "
                                       "endpoint-ID segments keep some channels); got ['EMAIL']"),
])
def test_misuse_fails_at_synth_with_a_clear_message(props, message):
    stack = cdk.Stack(cdk.App())
    with pytest.raises(ValueError, match=re.escape(message)):
        PinpointSegmentImporter(stack, "Pinpoint", **{"event_bus": events.EventBus(stack, "Bus"),
                                                      "audience_bucket": s3.Bucket(stack, "Data"), **props})


@pytest.fixture
def workflow(template, monkeypatch):
    tjson = template.to_json()
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="bus") as aws:
        function_environment.use(monkeypatch, "pinpoint_segment_importer.importer", template=tjson,
                                 AUDIENCE_BUCKET=BUCKET, IMPORT_BUDGET_SECONDS="300",
                                 PINPOINT_APPLICATION_ID="0123456789abcdef0123456789abcdef",
                                 IMPORT_ROLE_ARN="arn:aws:iam::123456789012:role/pinpoint-import")
        aws.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"))
        aws.state_machine_arn = import_workflow(monkeypatch, tjson, aws, pinpoint_handler.handler,
                                                {logical_id(tjson, "AWS::Pinpoint::App", "App"): "app"})
        aws.run = lambda: run_execution(aws.state_machine_arn, delivered(tjson, "AudienceReady", ready_event()))
        yield aws


def test_a_ready_audience_is_imported_and_reported_once(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"User.UserId\nu1\nu2\nu3\n")
    assert workflow.run()["status"] == "SUCCEEDED"
    (imported,) = workflow.import_events()
    assert imported["Status"] == "IMPORTED" and imported["SegmentName"] == NAME and imported["Size"] == 3
    assert imported["SegmentId"].startswith("seg-") and imported["Destination"] == "pinpoint"
    again = workflow.run()
    assert again["status"] == "SUCCEEDED" and workflow.import_events() == [] and len(workflow.pinpoint.jobs) == 1


def test_pinpoints_failure_reason_reaches_the_event(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"User.UserId\nu1\n")
    workflow.pinpoint.fail[NAME] = "No endpoints found for the user IDs"
    execution = workflow.run()
    assert execution["status"] == "FAILED" and execution["error"] == "AudienceImportFailed"
    (failed,) = workflow.import_events()
    assert failed["Status"] == "FAILED" and "No endpoints found for the user IDs" in failed["Cause"]


def test_a_malformed_file_is_rejected_without_an_import(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"id\nu1\n")
    execution = workflow.run()
    assert execution["status"] == "FAILED" and execution["error"] == "AudienceFileRejected"
    (rejected,) = workflow.import_events()
    assert rejected["Status"] == "REJECTED" and "must start with the header User.UserId" in rejected["Reason"]
    assert workflow.pinpoint.jobs == {}


def test_imports_queue_while_pinpoint_runs_two(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"User.UserId\nu1\n")
    workflow.pinpoint.busy = 2
    assert workflow.run()["status"] == "SUCCEEDED"
    assert len(workflow.pinpoint.jobs) == 1


@pytest.fixture(scope="module")
def dropping_template(cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "DroppingStack")
    PinpointSegmentImporter(stack, "Pinpoint", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
                            audience_bucket=s3.Bucket.from_bucket_name(stack, "Data", BUCKET), drop_prefix="manual/")
    return Template.from_stack(stack).to_json()


def s3_object_created(key: str) -> dict:
    return {"source": "aws.s3", "detail-type": "Object Created", "resources": [],
            "detail": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 20}}}


def test_a_csv_dropped_under_the_drop_prefix_starts_an_import_of_that_file(dropping_template):
    (rule,) = [r for lid, r in dropping_template["Resources"].items()
               if r["Type"] == "AWS::Events::Rule" and "AudienceDropped" in lid]
    pattern = rule["Properties"]["EventPattern"]
    assert matches(pattern, s3_object_created("manual/Spring Promo.csv"))
    assert not matches(pattern, s3_object_created("manual/notes.txt"))
    assert not matches(pattern, s3_object_created("elsewhere/Spring Promo.csv"))
    assert delivered(dropping_template, "AudienceDropped", s3_object_created("manual/Spring+Promo.csv")) == {
        "audience": {"bucket": BUCKET, "audienceKey": "manual/Spring+Promo.csv"}}
    reads = json.dumps(policy_statements(Template.from_json(dropping_template), "PinpointImportRole"))
    assert f"{BUCKET}/manual/*.csv" in reads and f"{BUCKET}/audiences/*.csv" in reads

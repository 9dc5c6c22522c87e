"""ConnectCustomerProfilesSegmentImporter: its template, and its workflow run in moto's ASL interpreter."""

from __future__ import annotations

import functools
import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from connect_segment_importer.importer import handler as connect_handler
from segmentation_constructs import ConnectCustomerProfilesSegmentImporter
from shared import aws as lambda_clients
from tests.fakes import function_environment
from tests.fakes.customer_profiles import FakeCustomerProfiles
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.workflow import MOTO_CONFIG, import_workflow, run_execution
from tests.fakes.audience_events import KEY, NAME, ready_event
from tests.fakes.templates import delivered, matches, policy_statements


def importer_stack(app: cdk.App, **props) -> cdk.Stack:
    stack = cdk.Stack(app, "ConnectStack")
    ConnectCustomerProfilesSegmentImporter(stack, "Connect", **{
        "event_bus": events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
        "audience_bucket": s3.Bucket.from_bucket_name(stack, "Data", BUCKET),
        "data_expiry": cdk.Duration.days(90), "poll_interval": cdk.Duration.seconds(1),
        "retry_interval": cdk.Duration.seconds(1), "import_budget": cdk.Duration.minutes(5), **props})
    return stack


@pytest.fixture(scope="module")
def template(cdk_app_context):
    return Template.from_stack(importer_stack(cdk.App(context=cdk_app_context)))


def test_it_creates_an_encrypted_domain_whose_profiles_expire_when_the_team_said(template):
    template.has_resource_properties("AWS::CustomerProfiles::Domain", {
        "DefaultExpirationDays": 90, "DefaultEncryptionKey": {"Fn::GetAtt": [Match.string_like_regexp("DomainKey"), "Arn"]},
        "DomainName": Match.string_like_regexp("^[A-Za-z0-9-]{1,64}$")})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True, "KeyPolicy": {"Statement": Match.array_with([
        Match.object_like({"Principal": {"Service": "profile.amazonaws.com"},
                           "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}})])}})
    template.has_resource_properties("AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({
        "DATA_EXPIRY_DAYS": "90", "USER_ID_TARGET": "_profile.AccountNumber"})}})


def test_the_importer_may_use_only_its_domain(template):
    statements = json.dumps(policy_statements(template, "ConnectImporterRole"))
    assert '"profile:CreateUploadJob"' in statements and ":domains/" in statements
    assert '"profile:*"' not in statements and '"Resource": "*"' not in statements


def test_it_imports_every_ready_audience(template):
    (rule,) = [r for lid, r in template.find_resources("AWS::Events::Rule").items() if "AudienceReady" in lid]
    assert matches(rule["Properties"]["EventPattern"], {**ready_event(), "resources": []})


DAYS = "data_expiry must be a Duration of whole days (Duration.days(n)), from 1 day to 1098 days; got "
DOMAIN = "domain_name must be a Customer Profiles domain name (1 to 64 letters, digits, _ or -), like " \
         "'amazon-connect-acme'"
DOMAIN_ARN = "arn:aws:profile:us-east-1:123456789012:domains/acme"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"
SECONDS = "must be a Duration of whole seconds (Duration.seconds(n))"
A_KEY = "a kms.Key of the stack"  # a placeholder the test replaces


@pytest.mark.parametrize("props, message", [
    ({"data_expiry": 90}, DAYS + "90 (a number: write Duration.days(90))"),
    ({"data_expiry": cdk.Duration.days(0)}, DAYS + "0 days"),
    ({"data_expiry": cdk.Duration.days(1099)}, DAYS + "1099 days"),
    ({"data_expiry": cdk.Duration.hours(36)}, DAYS + "1 day 12 hours"),
    ({"domain_name": ""}, f"{DOMAIN}, or left out; got ''"),  # it would silently create a domain
    ({"domain_name": DOMAIN_ARN},
     f"{DOMAIN} (the name or ID itself, not an ARN or URI), or left out; got {DOMAIN_ARN!r}"),
    ({"domain_name": "acme", "domain_encryption_key": KEY_ARN}, "domain_encryption_key must be a kms.IKey (a kms.Key, "
     f"or kms.Key.from_key_arn(scope, id, arn)), or left out; got {KEY_ARN!r}"),
    ({"domain_encryption_key": A_KEY}, "domain_encryption_key must be left out unless domain_name is given (it is the "
     "key of a handed-in domain; the domain created without domain_name gets a key of its own); got Key"),
    ({"user_id_target": "_profile.EmailAddress"}, "user_id_target must be _profile.AccountNumber or "
                                                  "_profile.Attributes.<name>, like '_profile.AccountNumber'; "
                                                  "got '_profile.EmailAddress'"),
    ({"user_id_target": None}, "user_id_target must be _profile.AccountNumber or _profile.Attributes.<name>, like "
                               "'_profile.AccountNumber'; got None"),
    # the props every importer takes (checked by AudienceImporter)
    ({"event_bus": "arn:aws:events:us-east-1:123456789012:event-bus/bus"}, "event_bus must be an events.IEventBus (an "
     "events.EventBus, or events.EventBus.from_event_bus_name(scope, id, name)); got "
     "'arn:aws:events:us-east-1:123456789012:event-bus/bus'"),
    ({"audience_bucket": f"arn:aws:s3:::{BUCKET}"}, "audience_bucket must be an s3.IBucket (an s3.Bucket, or "
     f"s3.Bucket.from_bucket_name(scope, id, name)); got 'arn:aws:s3:::{BUCKET}'"),
    ({"audience_prefix": "audiences/*/"}, "audience_prefix must be a key prefix of the bucket that ends with '/' and "
     "does not start with it, like 'audiences/' (not an s3:// URI or ARN, no * or ?); got 'audiences/*/'"),
    ({"drop_prefix": "audiences/manual/"}, "drop_prefix='audiences/manual/' overlaps audience_prefix='audiences/'"),
    ({"topic": ["alerts"]}, "topic must be an sns.ITopic (an sns.Topic, or sns.Topic.from_topic_arn(scope, id, arn)), "
                            "or left out; got ['alerts']"),
    ({"poll_interval": cdk.Duration.seconds(1.5)},
     f"poll_interval {SECONDS}, at least 1 second; got 1 second 500 millis"),
    ({"import_budget": 7200}, f"import_budget {SECONDS}, at most 364 days; got 7200 (a number: write "
                              "Duration.seconds(7200))"),
    ({"import_budget": cdk.Duration.hours(10), "poll_interval": cdk.Duration.seconds(10)}, "at most 500 polls"),
    ({"retry_interval": cdk.Duration.seconds(0)},
     f"retry_interval {SECONDS}, from 1 second to 15 minutes; got 0 seconds"),
    ({"removal_policy": "DESTROY"}, "removal_policy must be RemovalPolicy.RETAIN, RemovalPolicy.DESTROY or "
     "RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE (its resources cannot be snapshotted); got 'DESTROY'"),
])
def test_misuse_fails_at_synth_with_a_clear_message(props, message):
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    key = kms.Key(cdk.Stack(app, "Keys"), "Key")
    with pytest.raises(ValueError, match=re.escape(message)):
        importer_stack(app, **{name: key if value == A_KEY else value for name, value in props.items()})


def test_a_handed_in_domain_and_key_are_used_as_they_are(cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Byo")
    key = kms.Key.from_key_arn(stack, "Key", "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab")
    ConnectCustomerProfilesSegmentImporter(
        stack, "Connect", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
        audience_bucket=s3.Bucket.from_bucket_name(stack, "Data", BUCKET), data_expiry=cdk.Duration.days(30),
        domain_name="amazon-connect-acme", domain_encryption_key=key)
    template = Template.from_stack(stack)
    assert template.find_resources("AWS::CustomerProfiles::Domain") == {}
    statements = json.dumps(policy_statements(template, "ConnectImporterRole"))
    assert "domains/amazon-connect-acme" in statements and "key/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab" in statements


@pytest.fixture
def workflow(template, monkeypatch):
    tjson = template.to_json()
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="bus") as aws:
        aws.environment = functools.partial(function_environment.use, monkeypatch, "connect_segment_importer.importer",
                                            template=tjson, AUDIENCE_BUCKET=BUCKET, DOMAIN_NAME="audiences-domain",
                                            IMPORT_BUDGET_SECONDS="300")
        aws.environment()
        aws.profiles = FakeCustomerProfiles(lambda_clients.client("customer-profiles"))
        aws.state_machine_arn = import_workflow(monkeypatch, tjson, aws, connect_handler.handler)
        aws.run = lambda: run_execution(aws.state_machine_arn, delivered(tjson, "AudienceReady", ready_event()))
        yield aws
        aws.profiles.uploads.close()


def test_a_ready_audience_becomes_a_segment_reported_once(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"User.UserId\nu1\nu2\nu3\n")
    workflow.profiles.polls_to_complete = 2  # one Wait → Poll round without the job done
    assert workflow.run()["status"] == "SUCCEEDED"
    (imported,) = workflow.import_events()
    assert imported["Destination"] == "connect" and imported["Status"] == "IMPORTED"
    assert imported["SegmentName"] == NAME and imported["SegmentId"] == NAME and imported["Size"] == 3
    assert imported["FailedRecords"] == 0 and imported["SegmentArn"].endswith(f"/segment-definitions/{NAME}")
    assert workflow.profiles.members(NAME) == {"u1", "u2", "u3"}
    again = workflow.run()
    assert again["status"] == "SUCCEEDED" and workflow.import_events() == [] and len(workflow.profiles.jobs) == 1


def test_the_services_failure_reason_reaches_the_event(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"User.UserId\nu1\n")
    workflow.profiles.fail[NAME] = "INTERNAL_FAILURE"
    execution = workflow.run()
    assert execution["status"] == "FAILED" and execution["error"] == "AudienceImportFailed"
    (failed,) = workflow.import_events()
    assert failed["Status"] == "FAILED" and "Customer Profiles failed internally" in failed["Cause"]
    assert workflow.profiles.definitions == {}


def test_a_malformed_file_is_rejected_without_an_upload(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"\xef\xbb\xbfUser.UserId\nu1\n")
    execution = workflow.run()
    assert execution["status"] == "FAILED" and execution["error"] == "AudienceFileRejected"
    (rejected,) = workflow.import_events()
    assert rejected["Status"] == "REJECTED" and "byte-order mark" in rejected["Reason"]
    assert workflow.profiles.jobs == {}


def test_throttled_calls_are_retried_until_the_import_succeeds(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"User.UserId\nu1\n")
    workflow.profiles.throttle.update({"CreateUploadJob": 2, "GetUploadJob": 1, "CreateSegmentDefinition": 1})
    assert workflow.run()["status"] == "SUCCEEDED"
    assert len(workflow.profiles.jobs) == 1 and workflow.profiles.members(NAME) == {"u1"}


def test_an_import_still_running_at_its_deadline_fails_with_a_timeout_event(workflow, monkeypatch):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"User.UserId\nu1\n")
    workflow.profiles.polls_to_complete = 10_000
    workflow.environment(IMPORT_BUDGET_SECONDS="0")
    execution = workflow.run()
    assert execution["status"] == "FAILED"
    (failed,) = workflow.import_events()
    assert failed["Error"] == "PollingBudgetExceeded" and "was still IN_PROGRESS" in failed["Cause"]

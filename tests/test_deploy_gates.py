"""Deploy-readiness gates: what would otherwise fail at `cdk deploy` or in review.

- cdk-nag (AwsSolutions) over the example stack and over each construct alone in a bare stack;
- cfn-lint over every synthesized template, with the ignored warnings listed below, each with its reason.
"""

from __future__ import annotations

import json
from typing import Callable

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint

from segmentation_constructs import BatchSegmentPostprocessor, ConnectCustomerProfilesSegmentImporter, \
    PersonalizeTrainingPipeline, PinpointSegmentImporter
from segmentation_constructs.example_stack import SegmentationExampleStack

# The one place cfn-lint findings are ignored.
CFN_LINT_IGNORED = {
    "W3005": "CDK writes DependsOn from a function or state machine to its role's default policy next to the "
             "GetAtt of the role, so the policy exists before first use; the repeated dependency is harmless.",
    "W3696": "AWS::Pinpoint::App (end of support 2026-10-30) is created only by PinpointSegmentImporter, which "
             "itself warns at synth (segmentation:pinpoint-end-of-support) naming the date and the Connect "
             "Customer Profiles alternative.",
}


def example(app: cdk.App) -> cdk.Stack:
    return SegmentationExampleStack(app, "Example")


def training_alone(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "TrainingAlone")
    PersonalizeTrainingPipeline(stack, "Training")
    return stack


def training_with_handed_in_resources(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "TrainingByo", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    PersonalizeTrainingPipeline(
        stack, "Training",
        bucket=s3.Bucket.from_bucket_name(stack, "Existing", "team-data-bucket"),
        event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "mpewml-bus"),
        encryption_key=kms.Key(stack, "Key", enable_key_rotation=True),
    )
    return stack


def audiences_alone(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "AudiencesAlone")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus(stack, "Bus"),
                              source_bucket=s3.Bucket(stack, "Data", enforce_ssl=True,
                                                      server_access_logs_prefix="logs/"))
    return stack


def audiences_on_another_teams_resources(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "AudiencesByo", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    BatchSegmentPostprocessor(
        stack, "Audiences", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "mpewml-bus"),
        source_bucket=s3.Bucket.from_bucket_name(stack, "Data", "mpewml-data"), object_trigger_prefix="manual/",
        audience_bucket=s3.Bucket.from_bucket_name(stack, "CrmAudiences", "crm-audiences"), holdout_percent=5,
        suppression_list_bucket=s3.Bucket.from_bucket_name(stack, "Crm", "crm-exports"),
        suppression_list_key="optouts.csv")
    return stack


def pinpoint_alone(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "PinpointAlone")
    PinpointSegmentImporter(stack, "Pinpoint", event_bus=events.EventBus(stack, "Bus"),
                            audience_bucket=s3.Bucket(stack, "Audiences", enforce_ssl=True,
                                                      server_access_logs_prefix="logs/"))
    return stack


def pinpoint_endpoint_segments_on_an_existing_project(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "PinpointEndpoints", env=cdk.Environment(account="123456789012", region="us-east-1"))
    PinpointSegmentImporter(stack, "Pinpoint", event_bus=events.EventBus(stack, "Bus"),
                            application_id="0123456789abcdef0123456789abcdef", segment_kind="endpoint-id",
                            endpoint_channels=["EMAIL"],
                            audience_bucket=s3.Bucket(stack, "Audiences", enforce_ssl=True,
                                                      encryption=s3.BucketEncryption.KMS,
                                                      encryption_key=kms.Key(stack, "Key", enable_key_rotation=True),
                                                      server_access_logs_prefix="logs/"))
    return stack


def connect_alone(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "ConnectAlone")
    ConnectCustomerProfilesSegmentImporter(
        stack, "Connect", event_bus=events.EventBus(stack, "Bus"), data_expiry=cdk.Duration.days(30),
        audience_bucket=s3.Bucket(stack, "Audiences", enforce_ssl=True, server_access_logs_prefix="logs/"))
    return stack


def connect_on_an_existing_domain(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "ConnectByo", env=cdk.Environment(account="123456789012", region="eu-central-1"))
    ConnectCustomerProfilesSegmentImporter(
        stack, "Connect", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "mpewml-bus"),
        audience_bucket=s3.Bucket.from_bucket_name(stack, "CrmAudiences", "crm-audiences"),
        data_expiry=cdk.Duration.days(365), domain_name="amazon-connect-acme",
        domain_encryption_key=kms.Key(stack, "DomainKey", enable_key_rotation=True),
        user_id_target="_profile.Attributes.appUserId", drop_prefix="hand-made/")
    return stack


STACKS: dict[str, Callable[[cdk.App], cdk.Stack]] = {
    "example stack": example,
    "PersonalizeTrainingPipeline alone": training_alone,
    "PersonalizeTrainingPipeline with handed-in bucket, bus and key": training_with_handed_in_resources,
    "BatchSegmentPostprocessor alone": audiences_alone,
    "BatchSegmentPostprocessor on another team's bus and buckets": audiences_on_another_teams_resources,
    "PinpointSegmentImporter alone": pinpoint_alone,
    "PinpointSegmentImporter with endpoint-ID segments on an existing project": pinpoint_endpoint_segments_on_an_existing_project,
    "ConnectCustomerProfilesSegmentImporter alone": connect_alone,
    "ConnectCustomerProfilesSegmentImporter on an existing domain": connect_on_an_existing_domain,
}


def nag_findings(app: cdk.App) -> list[str]:
    report = AwsSolutionsChecks(app).validate_scope(app)
    return sorted(f"{v.rule_name} at {r.construct_path}" for v in report.violations for r in v.violating_resources)


@pytest.fixture(scope="module", params=list(STACKS))
def synthesized(request, cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    stack = STACKS[request.param](app)
    return app, stack


def test_cdk_nag_has_no_unacknowledged_finding(synthesized):
    app, _ = synthesized
    assert nag_findings(app) == []


def test_cfn_lint_reports_nothing_but_the_listed_warnings(synthesized):
    _, stack = synthesized
    template = json.dumps(Template.from_stack(stack).to_json())
    # two Regions with Personalize, Pinpoint and Customer Profiles (eu-west-1 has no Customer Profiles)
    matches = lint(template, config=ManualArgs(regions=["us-east-1", "eu-central-1"],
                                              ignore_checks=list(CFN_LINT_IGNORED)))
    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches] == []


def test_cdk_nag_gate_catches_a_wildcard_that_has_a_narrower_form(cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    stack = training_alone(app)
    role = iam.Role(stack, "Careless", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:Get*"], resources=["*"]))
    assert "AwsSolutions-IAM5[Action::s3:Get*] at TrainingAlone/Careless/DefaultPolicy/Resource" in nag_findings(app)


def test_cfn_lint_gate_catches_an_invalid_template(example_template):
    template = example_template.to_json()
    function = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    function["Properties"]["Runtime"] = "python3.1"
    matches = lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"], ignore_checks=list(CFN_LINT_IGNORED)))
    assert any(m.rule.id.startswith("E") and "python3.1" in m.message for m in matches)


def acknowledgments(scope) -> dict[str, str]:
    """finding -> reason, for every acknowledgment in the construct tree."""
    found = {}
    for construct in scope.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                found.update({k.removeprefix("Annotation::"): v for k, v in entry.data.items()})
    return found


def test_every_acknowledgment_names_a_granular_finding_and_a_reason(example_stack):
    found = acknowledgments(example_stack)
    assert len(found) >= 5
    for finding, reason in found.items():
        assert finding.startswith("AwsSolutions-"), finding
        assert "Action::" not in finding, f"a wildcard action always has a narrower form: {finding}"
        if finding.startswith("AwsSolutions-IAM5"):
            assert finding.startswith("AwsSolutions-IAM5[Resource::"), finding
        assert len(reason) > 40, (finding, reason)


def test_constructs_synthesize_in_an_app_without_this_repos_feature_flags():
    """Teams import the constructs into apps with their own cdk.json; nothing may depend on ours."""
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = cdk.Stack(app, "PlainApp")
    training = PersonalizeTrainingPipeline(stack, "Training")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=training.event_bus, source_bucket=training.bucket)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::S3::Bucket", {"LoggingConfiguration": {
        "DestinationBucketName": {"Ref": Match.string_like_regexp("TrainingAccessLogs")},
        "LogFilePrefix": "DataBucket/"}})
    assert nag_findings(app) == []

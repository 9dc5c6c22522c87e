"""KMS: every role that touches data under a customer managed key can use that key, whichever way the key came.

A team hands in its own bucket (built with its key, or imported by name with its key) and its own topic with a
customer managed key, and does not repeat the key as ``encryption_key=``; the roles of Personalize, the functions
and the workflows must still get the key, or every call is denied at run time.
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template

from tests.fakes.layouts import EXISTING_KEY_ARN, synthesize

# Every layout is synthesized once per process: the modules that read them share one worker.
pytestmark = pytest.mark.xdist_group("layouts")


def statements_of(template: dict, role_fragment: str) -> list[dict]:
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if any(role_fragment in r["Ref"] for r in resource["Properties"]["Roles"]):
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    return found


def kms_actions_on(statements: list[dict], key) -> set[str]:
    actions = set()
    for statement in statements:
        listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if key in listed:
            acts = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            actions |= {a for a in acts if a.startswith("kms:")}
    return actions


@pytest.fixture(scope="module")
def handed_in(cdk_app_context):
    _, (stack,) = synthesize("everything handed in and encrypted with customer managed keys", cdk_app_context)
    return Template.from_stack(stack).to_json()


@pytest.fixture(scope="module")
def by_name(cdk_app_context):
    _, (stack,) = synthesize("Connect and endpoint-ID Pinpoint on a bucket imported by name", cdk_app_context)
    return stack, Template.from_stack(stack).to_json()


def team_key(template: dict) -> dict:
    (key,) = [lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::KMS::Key" and "TeamKey" in lid]
    return {"Fn::GetAtt": [key, "Arn"]}


@pytest.mark.parametrize("role, needs", [
    ("TrainingPersonalizeRole", {"kms:Decrypt", "kms:GenerateDataKey"}),  # reads train/, writes batch/
    ("TrainingValidateConfig", {"kms:Decrypt"}),
    ("TrainingEnsureResource", {"kms:Decrypt", "kms:GenerateDataKey"}),
    ("AudiencesPlan", {"kms:Decrypt", "kms:GenerateDataKey"}),
    ("AudiencesExport", {"kms:Decrypt", "kms:GenerateDataKey"}),
    ("AudiencesPublish", {"kms:Decrypt", "kms:GenerateDataKey"}),
    ("PinpointImportRole", {"kms:Decrypt"}),  # Pinpoint reads the audience file itself
    ("PinpointImporter", {"kms:Decrypt", "kms:GenerateDataKey"}),
    ("ConnectImporter", {"kms:Decrypt", "kms:GenerateDataKey"}),
])
def test_roles_reading_or_writing_a_handed_in_kms_bucket_may_use_its_key(handed_in, role, needs):
    assert needs <= kms_actions_on(statements_of(handed_in, role), team_key(handed_in)), role


@pytest.mark.parametrize("role", ["TrainingWorkflowRole", "PinpointWorkflowRole", "ConnectWorkflowRole"])
def test_workflows_publishing_to_a_topic_with_a_customer_managed_key_may_use_it(handed_in, role):
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= kms_actions_on(statements_of(handed_in, role), team_key(handed_in))


def test_personalize_may_use_the_handed_in_buckets_key_by_key_policy(handed_in):
    (key,) = [r for lid, r in handed_in["Resources"].items() if "TeamKey" in lid and r["Type"] == "AWS::KMS::Key"]
    services = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
                if s.get("Principal", {}).get("Service") == "personalize.amazonaws.com"]
    assert services and services[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


@pytest.mark.parametrize("role", ["PinpointImporter", "PinpointImportRole", "ConnectImporter"])
def test_a_bucket_imported_by_name_with_its_key_gives_its_readers_that_key(by_name, role):
    _, template = by_name
    assert "kms:Decrypt" in kms_actions_on(statements_of(template, role), EXISTING_KEY_ARN), role


def test_a_bucket_imported_by_name_without_a_key_warns_that_sse_kms_needs_it(cdk_app_context):
    from aws_cdk import aws_events as events
    from aws_cdk import aws_s3 as s3

    from segmentation_constructs import PersonalizeTrainingPipeline

    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "NoKey")
    PersonalizeTrainingPipeline(stack, "Training", bucket=s3.Bucket.from_bucket_name(stack, "B", "team-data"),
                                event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"))
    Annotations.from_stack(stack).has_warning("/NoKey/Training", Match.string_like_regexp(
        "bucket was imported without its KMS key.*from_bucket_attributes.*segmentation:bucket-key-unknown"))

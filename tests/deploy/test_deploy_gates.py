"""Deploy-readiness gates: what would otherwise fail at `cdk deploy` or in review.

- cdk-nag and cfn-lint proven able to fail here; both run over every layout of tests/fakes/layouts.py as the
  installed wheel synthesizes it, cdk-nag as a synth-time plugin, in tests/deploy/test_package.py;
- every acknowledgment names a granular finding and a reason; the constructs need none of this repo's flags.
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from segmentation_constructs import BatchSegmentPostprocessor, PersonalizeTrainingPipeline
from tests.fakes.layouts import training_alone
from tests.fakes.package import cfn_lint, with_references

# Every layout is synthesized once per process: the modules that read them share one worker.
pytestmark = pytest.mark.xdist_group("layouts")

def nag_findings(app: cdk.App) -> list[str]:
    report = AwsSolutionsChecks(app).validate_scope(app)
    return sorted(f"{v.rule_name} at {r.construct_path}" for v in report.violations for r in v.violating_resources)


def test_cdk_nag_gate_catches_a_wildcard_that_has_a_narrower_form(cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    (stack,) = training_alone(app)
    role = iam.Role(stack, "Careless", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:Get*"], resources=["*"]))
    assert "AwsSolutions-IAM5[Action::s3:Get*] at TrainingAlone/Careless/DefaultPolicy/Resource" in nag_findings(app)


def test_cfn_lint_gate_catches_an_invalid_template(example_template):
    template = example_template.to_json()
    name, function = next((lid, r) for lid, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function")
    function["Properties"]["Runtime"] = "python3.1"
    matches = cfn_lint(with_references(template, {name}))  # the function and what it refers to: the gate's runner
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

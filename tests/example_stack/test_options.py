"""The example stack's context values: which destinations it composes, and errors for bad values."""

from __future__ import annotations

import aws_cdk as cdk
import pytest

from segmentation_constructs.example_stack import SegmentationExampleStack, context_options


def options(**context) -> dict:
    return context_options(cdk.App(context={"aws:cdk:bundling-stacks": [], **context}).node)


def test_by_default_the_audiences_go_to_customer_profiles_as_pinpoint_segments_ended_on_2026_10_30():
    assert options() == {"notification_email": None, "destinations": ["connect"], "profile_expiry_days": 90,
                         "connect_domain_name": None, "pinpoint_segment_kind": "user-id"}


def test_the_default_example_stack_deploys_no_pinpoint_resource(cdk_app_context):
    from aws_cdk.assertions import Template

    stack = SegmentationExampleStack(cdk.App(context=cdk_app_context), "Default")
    resources = Template.from_stack(stack).to_json()["Resources"].values()
    assert not [r for r in resources if r["Type"].startswith("AWS::Pinpoint::")]
    assert [r for r in resources if r["Type"] == "AWS::CustomerProfiles::Domain"]


def test_context_selects_pinpoint_instead_or_both_for_projects_that_still_run():
    assert options(destinations="pinpoint")["destinations"] == ["pinpoint"]
    assert options(destinations="pinpoint, connect", profileExpiryDays="365")["destinations"] == ["pinpoint", "connect"]
    assert options(profileExpiryDays="365")["profile_expiry_days"] == 365
    assert options(pinpointSegments="endpoint-id")["pinpoint_segment_kind"] == "endpoint-id"


def test_connect_only_leaves_pinpoint_out():
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = SegmentationExampleStack(app, "ConnectOnly", destinations=["connect"], connect_domain_name="acme")
    assert stack.connect.domain_name == "acme" and not hasattr(stack, "pinpoint")


@pytest.mark.parametrize("context, message", [
    ({"profileExpiryDays": "ninety"}, "-c profileExpiryDays=ninety: give a whole number of days from 1 to 1098"),
    ({"pinpointSegments": "endpoints"}, "-c pinpointSegments=endpoints: use user-id or endpoint-id"),
])
def test_a_bad_context_value_is_named(context, message):
    with pytest.raises(ValueError, match=message):
        options(**context)


def test_an_unknown_destination_is_named_before_anything_is_built():
    with pytest.raises(ValueError, match=r"destinations: unknown \['sesv2'\]; use pinpoint, connect"):
        SegmentationExampleStack(cdk.App(), "Bad", destinations=["sesv2"])

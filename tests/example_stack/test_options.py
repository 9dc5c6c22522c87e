"""The example stack's context values: which destinations it composes, and errors for bad values."""

from __future__ import annotations

import re

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
    assert options(destinations="pinpoint", pinpointSegments="endpoint-id")["pinpoint_segment_kind"] == "endpoint-id"


def test_connect_only_leaves_pinpoint_out():
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = SegmentationExampleStack(app, "ConnectOnly", destinations=["connect"], connect_domain_name="acme")
    assert stack.connect.domain_name == "acme" and stack.pinpoint is None


EXPIRY = "must be a whole number from 1 to 1098 (days imported profile data is kept); got "
DESTINATIONS = "must be a non-empty list of some of pinpoint, connect, none (e.g. ['connect']); got "
DOMAIN = "must be a Customer Profiles domain name (1 to 64 letters, digits, _ or -), like 'amazon-connect-acme'"
DOMAIN_ARN = "arn:aws:profile:us-east-1:123456789012:domains/acme"
EMAIL = "must be an email address, like 'segments@example.com', or left out; got "


@pytest.mark.parametrize("context, message", [
    ({"profileExpiryDays": "ninety"}, f"-c profileExpiryDays {EXPIRY}'ninety'"),
    ({"profileExpiryDays": "0"}, f"-c profileExpiryDays {EXPIRY}0"),
    ({"profileExpiryDays": "5000"}, f"-c profileExpiryDays {EXPIRY}5000"),
    ({"pinpointSegments": "endpoints"}, "-c pinpointSegments must be one of 'user-id', 'endpoint-id'; got 'endpoints'"),
    ({"destinations": "connect,sesv2"}, f"-c destinations {DESTINATIONS}['connect', 'sesv2']"),
    ({"destinations": "none,connect"}, "-c destinations must be 'none' alone, or some of 'pinpoint' and 'connect'; "
                                       "got ['none', 'connect']"),
    ({"connectDomainName": DOMAIN_ARN},
     f"-c connectDomainName {DOMAIN} (the name or ID itself, not an ARN or URI), or left out; got {DOMAIN_ARN!r}"),
    ({"notificationEmail": "segments"}, f"-c notificationEmail {EMAIL}'segments'"),
])
def test_a_bad_context_value_is_named(context, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        options(**context)


APPLIES = "must be left out, or given with {!r} in {} (it configures that destination only); got "


@pytest.mark.parametrize("context, message", [
    ({"destinations": "pinpoint", "connectDomainName": "acme"},
     "-c connectDomainName " + APPLIES.format("connect", "-c destinations") + "'acme'"),
    ({"destinations": "pinpoint", "profileExpiryDays": "30"},
     "-c profileExpiryDays " + APPLIES.format("connect", "-c destinations") + "'30'"),
    ({"pinpointSegments": "endpoint-id"}, "-c pinpointSegments " + APPLIES.format("pinpoint", "-c destinations")),
])
def test_an_option_of_a_destination_left_out_is_refused_not_ignored(context, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        options(**context)
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    with pytest.raises(ValueError, match=re.escape(APPLIES.format("connect", "destinations"))):
        SegmentationExampleStack(app, "Bad", destinations=["pinpoint"], connect_domain_name="acme")


def test_an_empty_context_value_is_not_given():
    assert options(connectDomainName="", notificationEmail=" ", profileExpiryDays="") == options()


@pytest.mark.parametrize("props, message", [
    ({"destinations": ["sesv2"]}, f"destinations {DESTINATIONS}['sesv2']"),
    ({"destinations": "connect"}, f"destinations {DESTINATIONS}'connect'"),  # not a list of its letters
    ({"destinations": ["none", "pinpoint"]}, "destinations must be 'none' alone, or some of 'pinpoint' and 'connect'; "
                                             "got ['none', 'pinpoint']"),
    ({"profile_expiry_days": 0}, f"profile_expiry_days {EXPIRY}0"),
    ({"profile_expiry_days": "90"}, f"profile_expiry_days {EXPIRY}'90'"),
    ({"connect_domain_name": ""}, f"connect_domain_name {DOMAIN}, or left out; got ''"),  # would create a domain
    ({"notification_email": "segments@"}, f"notification_email {EMAIL}'segments@'"),
    ({"pinpoint_segment_kind": "endpoints"}, "pinpoint_segment_kind must be one of 'user-id', 'endpoint-id'; got "
                                             "'endpoints'"),  # even while Pinpoint is not a destination
])
def test_a_bad_option_is_named_before_anything_is_built(props, message):
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    with pytest.raises(ValueError, match=re.escape(message)):
        SegmentationExampleStack(app, "Bad", **props)
    assert app.node.try_find_child("Bad") is None

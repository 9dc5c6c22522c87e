"""UserErasure as synthesized: what it erases in which destination, how patiently it waits for one, and what it says
when it cannot set up what it needs."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from segmentation_constructs import (BatchSegmentPostprocessor, ConnectCustomerProfilesSegmentImporter,
                                     PersonalizeTrainingPipeline, PinpointSegmentImporter, UserErasure)
from segmentation_constructs.user_erasure import DESTINATION_OUTAGE
from tests.fakes.templates import all_states, definition, policy_statements


def stack_with(cdk_app_context, *, application_id=None, delete_profiles=False, bucket=None, **props):
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Erasure")
    training = PersonalizeTrainingPipeline(stack, "Training", bucket=bucket and bucket(stack))
    audiences = BatchSegmentPostprocessor(stack, "Audiences", event_bus=training.event_bus,
                                          source_bucket=training.bucket)
    pinpoint = PinpointSegmentImporter(stack, "Pinpoint", event_bus=training.event_bus,
                                       audience_bucket=audiences.audience_bucket, application_id=application_id)
    connect = ConnectCustomerProfilesSegmentImporter(stack, "Connect", event_bus=training.event_bus,
                                                     audience_bucket=audiences.audience_bucket,
                                                     data_expiry=cdk.Duration.days(30))
    UserErasure(stack, "UserErasure", training=training, audiences=audiences, connect=connect, pinpoint=pinpoint,
                delete_profiles=delete_profiles, **props)
    return stack


def destinations_function(template: Template) -> dict:
    (function,) = template.find_resources("AWS::Lambda::Function", {"Properties": {
        "Handler": "user_erasure.destinations.handler.handler"}}).values()
    return function


def states(template: Template) -> dict:
    return all_states(definition(template, "UserErasureWorkflow"))


def test_endpoints_in_a_pinpoint_project_handed_in_are_left_alone_unless_delete_profiles_says(cdk_app_context):
    handed_in = Template.from_stack(stack_with(cdk_app_context, application_id="0123456789abcdef0123456789abcdef"))
    variables = destinations_function(handed_in)["Properties"]["Environment"]["Variables"]
    assert "PINPOINT_APPLICATION_ID" not in variables and variables["DELETE_PROFILES"] == "false"
    assert "ErasePinpointBegin" not in states(handed_in) and "EraseConnectBegin" in states(handed_in)
    assert "mobiletargeting" not in json.dumps(policy_statements(handed_in, "UserErasureDestinationsRole"))
    told = Template.from_stack(stack_with(cdk_app_context, application_id="0123456789abcdef0123456789abcdef",
                                          delete_profiles=True))
    assert destinations_function(told)["Properties"]["Environment"]["Variables"]["PINPOINT_APPLICATION_ID"]
    assert "ErasePinpointBegin" in states(told)
    own = Template.from_stack(stack_with(cdk_app_context))  # the importer created the project: it is the library's
    assert "ErasePinpointBegin" in states(own)


def test_a_destination_that_is_down_is_tried_again_for_hours_before_anything_else_retries(cdk_app_context):
    found = states(Template.from_stack(stack_with(cdk_app_context)))
    def first_for_5xx(state: str) -> dict:  # Step Functions takes the first retrier that matches
        return next(r for r in found[state]["Retry"] if "ServiceUnavailable" in r["ErrorEquals"])

    for name in ("EraseConnectBegin", "EraseConnect", "ErasePinpointBegin", "ErasePinpoint"):
        first = first_for_5xx(name)
        assert first["ErrorEquals"] == ["ServiceUnavailable"] and first["MaxAttempts"] == DESTINATION_OUTAGE
        waited = sum(min(60 * 2 ** n, 3600) for n in range(DESTINATION_OUTAGE))
        assert 12 * 3600 <= waited <= 14 * 3600
    assert first_for_5xx("Suppress")["MaxAttempts"] == 3  # minutes for the other steps


def test_a_handed_in_data_bucket_gets_a_warning_about_its_policy(cdk_app_context):
    stack = stack_with(cdk_app_context, bucket=lambda scope: s3.Bucket.from_bucket_name(scope, "Data", "team-data"))
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("erasure/_work/"))
    assert warnings and "segmentation:erasure-bucket-policy" in json.dumps([w.entry.data for w in warnings])


@pytest.mark.parametrize("props, message", [
    ({"deletion_budget": cdk.Duration.days(40)}, "deletion_budget"),
    ({"deadline": cdk.Duration.hours(2)}, "deadline"),
    ({"erasure_prefix": "/erasure"}, "erasure_prefix"),
    ({"delete_profiles": "yes"}, "delete_profiles"),
])
def test_bad_props_are_refused_with_the_prop_named(cdk_app_context, props, message):
    with pytest.raises(ValueError, match=message):
        stack_with(cdk_app_context, **props)


def test_the_training_and_audiences_must_be_the_librarys_constructs(cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Wrong")
    training = PersonalizeTrainingPipeline(stack, "Training")
    with pytest.raises(ValueError, match="audiences"):
        UserErasure(stack, "UserErasure", training=training, audiences=events.EventBus(stack, "Bus"))

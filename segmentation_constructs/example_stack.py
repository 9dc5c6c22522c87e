"""The example stack: composes the library's constructs and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from segmentation_constructs import _props
from segmentation_constructs.batch_segment_postprocessor import BatchSegmentPostprocessor
from segmentation_constructs.connect_segment_importer import DOMAIN_NAME, DOMAIN_NAME_IS, MAX_EXPIRY_DAYS, \
    ConnectCustomerProfilesSegmentImporter
from segmentation_constructs.pinpoint_segment_importer import SEGMENT_KINDS, PinpointSegmentImporter
from segmentation_constructs.training_pipeline import PersonalizeTrainingPipeline
from segmentation_constructs.user_erasure import UserErasure

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_context() -> dict[str, Any]:
    """The feature flags of cdk.json, so ``python app.py``, ``cdk synth`` and the tests agree."""
    return json.loads(CDK_JSON.read_text())["context"]


# Connect Customer Profiles by default: Pinpoint's imported segments ended with its engagement features on
# 2026-10-30 (no account can run CreateImportJob); -c destinations=pinpoint is kept for projects that still run.
DESTINATIONS = ("connect",)
KNOWN_DESTINATIONS = ("pinpoint", "connect", "none")
PROFILE_EXPIRY_DAYS = 90


def context_options(node) -> dict[str, Any]:
    """The example stack's options from ``-c`` context values, with errors that name the value at fault (``-c
    profileExpiryDays``). A value left empty (``-c connectDomainName=``) is not given."""
    def get(name: str) -> Any:
        value = node.try_get_context(name)
        return (value.strip() or None) if isinstance(value, str) else value

    destinations = get("destinations") or list(DESTINATIONS)
    if isinstance(destinations, str):
        destinations = [d.strip() for d in destinations.split(",") if d.strip()]
    days = get("profileExpiryDays") or PROFILE_EXPIRY_DAYS
    options = {
        "notification_email": _props.email("-c notificationEmail", get("notificationEmail"), optional=True),
        "destinations": check_destinations("-c destinations", destinations),
        "profile_expiry_days": check_expiry_days("-c profileExpiryDays", int(days) if str(days).isdigit() else days),
        "connect_domain_name": _props.identifier("-c connectDomainName", get("connectDomainName"), DOMAIN_NAME,
                                                 "amazon-connect-acme", what=DOMAIN_NAME_IS, optional=True),
        "pinpoint_segment_kind": _props.one_of("-c pinpointSegments", get("pinpointSegments") or "user-id",
                                               SEGMENT_KINDS),
    }
    check_options_apply("-c destinations", options["destinations"], {
        "connect": {"-c connectDomainName": get("connectDomainName"), "-c profileExpiryDays": get("profileExpiryDays")},
        "pinpoint": {"-c pinpointSegments": get("pinpointSegments")}})
    return options


def check_destinations(prop: str, destinations: Any) -> list[str]:
    """Some of KNOWN_DESTINATIONS, or "none" alone."""
    destinations = _props.list_of(prop, destinations, KNOWN_DESTINATIONS, example="connect")
    _props.check("none" not in destinations or destinations == ["none"], prop,
                 "'none' alone, or some of 'pinpoint' and 'connect'", destinations)
    return destinations


def check_options_apply(prop: str, destinations: Sequence[str], options: dict[str, dict[str, Any]]) -> None:
    """An option of a destination that is not deployed would be silently ignored: say so instead. ``options``:
    destination -> {option name: value, None when not given}."""
    for destination, given in options.items():
        for name, value in given.items():
            _props.check(value is None or destination in destinations, name,
                         f"left out, or given with {destination!r} in {prop} (it configures that destination only)",
                         value)


def check_expiry_days(prop: str, days: Any) -> int:
    return _props.number(prop, days, 1, MAX_EXPIRY_DAYS, whole=True, why="days imported profile data is kept")


class SegmentationExampleStack(Stack):
    """Training → audience export → destinations.

    ``destinations``: any of "connect" (the default: Amazon Connect Customer Profiles, with imported profile
    data kept ``profile_expiry_days``), "pinpoint" (end of support since 2026-10-30), or "none". ``pinpoint_segment_kind``: "user-id"
    (the default) or "endpoint-id" (see ``PinpointSegmentImporter``).
    """

    def __init__(self, scope: Construct, id: str, *, notification_email: Optional[str] = None,
                 destinations: Sequence[str] = DESTINATIONS, profile_expiry_days: int = PROFILE_EXPIRY_DAYS,
                 connect_domain_name: Optional[str] = None, pinpoint_segment_kind: str = "user-id",
                 **kwargs) -> None:
        _props.email("notification_email", notification_email, optional=True)
        check_destinations("destinations", destinations)
        check_expiry_days("profile_expiry_days", profile_expiry_days)
        _props.identifier("connect_domain_name", connect_domain_name, DOMAIN_NAME, "amazon-connect-acme",
                          what=DOMAIN_NAME_IS, optional=True)
        _props.one_of("pinpoint_segment_kind", pinpoint_segment_kind, SEGMENT_KINDS)
        check_options_apply("destinations", destinations, {
            "connect": {"connect_domain_name": connect_domain_name,
                        "profile_expiry_days": None if profile_expiry_days == PROFILE_EXPIRY_DAYS else profile_expiry_days},
            "pinpoint": {"pinpoint_segment_kind": None if pinpoint_segment_kind == "user-id" else pinpoint_segment_kind}})
        super().__init__(scope, id, description="Personalize user segmentation (example stack)", **kwargs)
        self.training = PersonalizeTrainingPipeline(self, "Training", notification_email=notification_email)
        self.audiences = BatchSegmentPostprocessor(self, "Audiences", event_bus=self.training.event_bus,
                                                   source_bucket=self.training.bucket, topic=self.training.topic)
        self.pinpoint: Optional[PinpointSegmentImporter] = None
        self.connect: Optional[ConnectCustomerProfilesSegmentImporter] = None
        if "pinpoint" in destinations:
            self.pinpoint = PinpointSegmentImporter(self, "Pinpoint", event_bus=self.training.event_bus,
                                                    audience_bucket=self.audiences.audience_bucket,
                                                    segment_kind=pinpoint_segment_kind, topic=self.training.topic)
        if "connect" in destinations:
            self.connect = ConnectCustomerProfilesSegmentImporter(
                self, "Connect", event_bus=self.training.event_bus, audience_bucket=self.audiences.audience_bucket,
                data_expiry=Duration.days(profile_expiry_days), domain_name=connect_domain_name,
                topic=self.training.topic)
            CfnOutput(self, "CustomerProfilesDomainName", value=self.connect.domain_name,
                      description="Associate this domain with your Amazon Connect instance to target the segments")
        self.erasure = UserErasure(self, "Erasure", training=self.training, audiences=self.audiences,
                                   connect=self.connect, pinpoint=self.pinpoint)
        CfnOutput(self, "ErasureStateMachineArn", value=self.erasure.state_machine.state_machine_arn,
                  description=f"Drop a CSV of USER_IDs under s3://<data bucket>/{self.erasure.request_prefix} to "
                              "erase those users everywhere")
        CfnOutput(self, "DataBucketName", value=self.training.bucket.bucket_name,
                  description="aws s3 sync data/ s3://<this bucket>/ starts a training run")
        CfnOutput(self, "EventBusName", value=self.training.event_bus.event_bus_name)
        CfnOutput(self, "TrainingStateMachineArn", value=self.training.state_machine.state_machine_arn)
        CfnOutput(self, "NotificationTopicArn", value=self.training.topic.topic_arn)
        CfnOutput(self, "AudienceExportStateMachineArn", value=self.audiences.state_machine.state_machine_arn)

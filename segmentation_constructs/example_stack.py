"""The example stack: composes the library's constructs and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from segmentation_constructs.batch_segment_postprocessor import BatchSegmentPostprocessor
from segmentation_constructs.connect_segment_importer import ConnectCustomerProfilesSegmentImporter
from segmentation_constructs.pinpoint_segment_importer import SEGMENT_KINDS, PinpointSegmentImporter
from segmentation_constructs.training_pipeline import PersonalizeTrainingPipeline

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
    """The example stack's options from ``-c`` context values, with errors that name the value at fault."""
    get = node.try_get_context
    destinations = [d.strip() for d in str(get("destinations") or ",".join(DESTINATIONS)).split(",") if d.strip()]
    days = get("profileExpiryDays") or PROFILE_EXPIRY_DAYS
    if not str(days).isdigit():
        raise ValueError(f"-c profileExpiryDays={days}: give a whole number of days from 1 to 1098")
    kind = get("pinpointSegments") or "user-id"
    if kind not in SEGMENT_KINDS:
        raise ValueError(f"-c pinpointSegments={kind}: use user-id or endpoint-id")
    return {"notification_email": get("notificationEmail"), "destinations": destinations,
            "profile_expiry_days": int(days), "connect_domain_name": get("connectDomainName"),
            "pinpoint_segment_kind": kind}


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
        unknown = sorted(set(destinations) - set(KNOWN_DESTINATIONS))
        if unknown:
            raise ValueError(f"destinations: unknown {unknown}; use pinpoint, connect, pinpoint,connect or none")
        super().__init__(scope, id, description="Personalize user segmentation (example stack)", **kwargs)
        self.training = PersonalizeTrainingPipeline(self, "Training", notification_email=notification_email)
        self.audiences = BatchSegmentPostprocessor(self, "Audiences", event_bus=self.training.event_bus,
                                                   source_bucket=self.training.bucket, topic=self.training.topic)
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
        CfnOutput(self, "DataBucketName", value=self.training.bucket.bucket_name,
                  description="aws s3 sync data/ s3://<this bucket>/ starts a training run")
        CfnOutput(self, "EventBusName", value=self.training.event_bus.event_bus_name)
        CfnOutput(self, "TrainingStateMachineArn", value=self.training.state_machine.state_machine_arn)
        CfnOutput(self, "NotificationTopicArn", value=self.training.topic.topic_arn)
        CfnOutput(self, "AudienceExportStateMachineArn", value=self.audiences.state_machine.state_machine_arn)

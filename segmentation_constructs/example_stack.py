"""The example stack: composes the library's constructs and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from segmentation_constructs.batch_segment_postprocessor import BatchSegmentPostprocessor
from segmentation_constructs.pinpoint_segment_importer import PinpointSegmentImporter
from segmentation_constructs.training_pipeline import PersonalizeTrainingPipeline

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_context() -> dict[str, Any]:
    """The feature flags of cdk.json, so ``python app.py``, ``cdk synth`` and the tests agree."""
    return json.loads(CDK_JSON.read_text())["context"]


DESTINATIONS = ("pinpoint",)


class SegmentationExampleStack(Stack):
    """Training → audience export → destinations (``destinations``: "pinpoint" by default, or "none")."""

    def __init__(self, scope: Construct, id: str, *, notification_email: Optional[str] = None,
                 destinations: Sequence[str] = DESTINATIONS, **kwargs) -> None:
        super().__init__(scope, id, description="Personalize user segmentation (example stack)", **kwargs)
        self.training = PersonalizeTrainingPipeline(self, "Training", notification_email=notification_email)
        self.audiences = BatchSegmentPostprocessor(self, "Audiences", event_bus=self.training.event_bus,
                                                   source_bucket=self.training.bucket)
        unknown = set(destinations) - {"pinpoint", "none"}
        if unknown:
            raise ValueError(f"unknown destinations {sorted(unknown)}: use pinpoint or none")
        if "pinpoint" in destinations:
            self.pinpoint = PinpointSegmentImporter(self, "Pinpoint", event_bus=self.training.event_bus,
                                                    audience_bucket=self.audiences.audience_bucket,
                                                    topic=self.training.topic)
        CfnOutput(self, "DataBucketName", value=self.training.bucket.bucket_name,
                  description="aws s3 sync data/ s3://<this bucket>/ starts a training run")
        CfnOutput(self, "EventBusName", value=self.training.event_bus.event_bus_name)
        CfnOutput(self, "TrainingStateMachineArn", value=self.training.state_machine.state_machine_arn)
        CfnOutput(self, "NotificationTopicArn", value=self.training.topic.topic_arn)
        CfnOutput(self, "AudienceExportStateMachineArn", value=self.audiences.state_machine.state_machine_arn)

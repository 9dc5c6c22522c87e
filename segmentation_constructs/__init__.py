"""AWS CDK constructs for automated customer segmentation with Amazon Personalize."""

from segmentation_constructs import contract
from segmentation_constructs._lambda import FunctionSettings
from segmentation_constructs.batch_segment_postprocessor import BatchSegmentPostprocessor
from segmentation_constructs.connect_segment_importer import ConnectCustomerProfilesSegmentImporter
from segmentation_constructs.pinpoint_segment_importer import PinpointSegmentImporter
from segmentation_constructs.training_pipeline import PersonalizeTrainingPipeline
from segmentation_constructs.user_erasure import UserErasure

__all__ = ["BatchSegmentPostprocessor", "ConnectCustomerProfilesSegmentImporter", "FunctionSettings",
           "PersonalizeTrainingPipeline", "PinpointSegmentImporter", "UserErasure", "contract"]

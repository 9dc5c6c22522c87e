"""The stack layouts every deploy gate checks: how teams really put the constructs into their apps.

Each builder takes an app and returns the stacks it made. The gates (cdk-nag, cfn-lint, IAM resource types,
IAM coverage by ARN, the package gate's foreign app) run over the same builders, so a layout added here is
checked by all of them.
"""

from __future__ import annotations

import functools
import json
from typing import Callable

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from segmentation_constructs import BatchSegmentPostprocessor, ConnectCustomerProfilesSegmentImporter, \
    FunctionSettings, PersonalizeTrainingPipeline, PinpointSegmentImporter
from segmentation_constructs.example_stack import SegmentationExampleStack
from segmentation_constructs.user_erasure import UserErasure

ACCOUNT = "123456789012"
EXISTING_KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def example(app: cdk.App) -> list[cdk.Stack]:
    """The example stack as `cdk deploy` builds it by default."""
    return [SegmentationExampleStack(app, "Example")]


def example_every_destination(app: cdk.App) -> list[cdk.Stack]:
    """The example stack with both destinations and Pinpoint endpoint-ID segments: every function and grant."""
    return [SegmentationExampleStack(app, "ExampleAll", destinations=("pinpoint", "connect"),
                                     pinpoint_segment_kind="endpoint-id")]


def training_alone(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "TrainingAlone")
    PersonalizeTrainingPipeline(stack, "Training")
    return [stack]


def training_with_handed_in_resources(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "TrainingByo", env=cdk.Environment(account=ACCOUNT, region="eu-west-1"))
    PersonalizeTrainingPipeline(
        stack, "Training",
        bucket=s3.Bucket.from_bucket_name(stack, "Existing", "team-data-bucket"),
        event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "mpewml-bus"),
        encryption_key=kms.Key(stack, "Key", enable_key_rotation=True),
    )
    return [stack]


def audiences_alone(app: cdk.App) -> list[cdk.Stack]:
    """With the export function tuned and traced (X-Ray's wildcard is acknowledged where tracing is on)."""
    stack = cdk.Stack(app, "AudiencesAlone")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus(stack, "Bus"),
                              source_bucket=s3.Bucket(stack, "Data", enforce_ssl=True,
                                                      server_access_logs_prefix="logs/"),
                              export_function_settings=FunctionSettings(memory_size=3008,
                                                                        tracing=lambda_.Tracing.ACTIVE))
    return [stack]


def audiences_on_another_teams_resources(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "AudiencesByo", env=cdk.Environment(account=ACCOUNT, region="eu-west-1"))
    BatchSegmentPostprocessor(
        stack, "Audiences", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "mpewml-bus"),
        source_bucket=s3.Bucket.from_bucket_name(stack, "Data", "mpewml-data"), object_trigger_prefix="manual/",
        audience_bucket=s3.Bucket.from_bucket_name(stack, "CrmAudiences", "crm-audiences"), holdout_percent=5,
        suppression_list_bucket=s3.Bucket.from_bucket_name(stack, "Crm", "crm-exports"),
        suppression_list_key="optouts.csv")
    return [stack]


def pinpoint_alone(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "PinpointAlone")
    PinpointSegmentImporter(stack, "Pinpoint", event_bus=events.EventBus(stack, "Bus"),
                            audience_bucket=s3.Bucket(stack, "Audiences", enforce_ssl=True,
                                                      server_access_logs_prefix="logs/"))
    return [stack]


def pinpoint_endpoint_segments_on_an_existing_project(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "PinpointEndpoints", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    PinpointSegmentImporter(stack, "Pinpoint", event_bus=events.EventBus(stack, "Bus"),
                            application_id="0123456789abcdef0123456789abcdef", segment_kind="endpoint-id",
                            endpoint_channels=["EMAIL"],
                            audience_bucket=s3.Bucket(stack, "Audiences", enforce_ssl=True,
                                                      encryption=s3.BucketEncryption.KMS,
                                                      encryption_key=kms.Key(stack, "Key", enable_key_rotation=True),
                                                      server_access_logs_prefix="logs/"))
    return [stack]


def connect_alone(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "ConnectAlone")
    ConnectCustomerProfilesSegmentImporter(
        stack, "Connect", event_bus=events.EventBus(stack, "Bus"), data_expiry=cdk.Duration.days(30),
        audience_bucket=s3.Bucket(stack, "Audiences", enforce_ssl=True, server_access_logs_prefix="logs/"))
    return [stack]


def connect_on_an_existing_domain(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "ConnectByo", env=cdk.Environment(account=ACCOUNT, region="eu-central-1"))
    ConnectCustomerProfilesSegmentImporter(
        stack, "Connect", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "mpewml-bus"),
        audience_bucket=s3.Bucket.from_bucket_name(stack, "CrmAudiences", "crm-audiences"),
        data_expiry=cdk.Duration.days(365), domain_name="amazon-connect-acme",
        domain_encryption_key=kms.Key(stack, "DomainKey", enable_key_rotation=True),
        user_id_target="_profile.Attributes.appUserId", drop_prefix="hand-made/")
    return [stack]


def everything_handed_in_and_encrypted(app: cdk.App) -> list[cdk.Stack]:
    """A team's own KMS-encrypted bucket, imported bus, topic with a customer managed key; the key is handed
    in only with the bucket and the topic (never as ``encryption_key=``), as teams do."""
    stack = cdk.Stack(app, "HandedIn", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    key = kms.Key(stack, "TeamKey", enable_key_rotation=True)
    bucket = s3.Bucket(stack, "TeamData", encryption=s3.BucketEncryption.KMS, encryption_key=key, enforce_ssl=True,
                       server_access_logs_prefix="logs/", event_bridge_enabled=True)
    bus = events.EventBus.from_event_bus_name(stack, "TeamBus", "team-bus")
    topic = sns.Topic(stack, "TeamTopic", master_key=key, enforce_ssl=True)
    training = PersonalizeTrainingPipeline(stack, "Training", bucket=bucket, event_bus=bus, topic=topic)
    audiences = BatchSegmentPostprocessor(stack, "Audiences", event_bus=bus, source_bucket=training.bucket)
    pinpoint = PinpointSegmentImporter(stack, "Pinpoint", event_bus=bus, audience_bucket=audiences.audience_bucket,
                                       topic=topic)
    connect = ConnectCustomerProfilesSegmentImporter(
        stack, "Connect", event_bus=bus, audience_bucket=audiences.audience_bucket, topic=topic,
        data_expiry=cdk.Duration.days(90), domain_name="team-domain",
        domain_encryption_key=kms.Key.from_key_arn(stack, "DomainKey", EXISTING_KEY_ARN))
    UserErasure(stack, "Erasure", training=training, audiences=audiences, connect=connect, pinpoint=pinpoint)
    return [stack]


def connect_and_endpoint_pinpoint_on_a_bucket_by_name(app: cdk.App) -> list[cdk.Stack]:
    """Audiences in a bucket imported by name with its key, Connect and endpoint-ID Pinpoint reading it."""
    stack = cdk.Stack(app, "ByName", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    bucket = s3.Bucket.from_bucket_attributes(stack, "Crm", bucket_name="crm-audiences",
                                              encryption_key=kms.Key.from_key_arn(stack, "CrmKey", EXISTING_KEY_ARN))
    bus = events.EventBus.from_event_bus_name(stack, "Bus", "mpewml-bus")
    PinpointSegmentImporter(stack, "Pinpoint", event_bus=bus, audience_bucket=bucket, segment_kind="endpoint-id",
                            application_id="0123456789abcdef0123456789abcdef")
    ConnectCustomerProfilesSegmentImporter(stack, "Connect", event_bus=bus, audience_bucket=bucket,
                                           data_expiry=cdk.Duration.days(30))
    return [stack]


def split_across_stacks_in_a_stage(app: cdk.App) -> list[cdk.Stack]:
    """Training and export in one stack, the importers and the erasure of their users in another, inside a Stage:
    ARNs become cross-stack references."""
    stage = cdk.Stage(app, "Prod", env=cdk.Environment(account=ACCOUNT, region="us-east-1"))
    data = cdk.Stack(stage, "Data")
    training = PersonalizeTrainingPipeline(data, "Training")
    audiences = BatchSegmentPostprocessor(data, "Audiences", event_bus=training.event_bus,
                                          source_bucket=training.bucket)
    destinations = cdk.Stack(stage, "Destinations")
    pinpoint = PinpointSegmentImporter(destinations, "Pinpoint", event_bus=training.event_bus,
                                       audience_bucket=audiences.audience_bucket, topic=training.topic)
    connect = ConnectCustomerProfilesSegmentImporter(destinations, "Connect", event_bus=training.event_bus,
                                                     audience_bucket=audiences.audience_bucket, topic=training.topic,
                                                     data_expiry=cdk.Duration.days(30))
    UserErasure(destinations, "Erasure", training=training, audiences=audiences, connect=connect, pinpoint=pinpoint)
    return [data, destinations]


def erasure_split_across_four_stacks(app: cdk.App) -> list[cdk.Stack]:
    """Training, export, a Connect importer and the erasure each in a stack of its own. The erasure grants on the
    others' resources (the Personalize role, the data bucket's policy, the export function's role and environment);
    none of that may make two stacks depend on each other."""
    training_stack = cdk.Stack(app, "SplitTraining")
    training = PersonalizeTrainingPipeline(training_stack, "Training")
    audiences_stack = cdk.Stack(app, "SplitAudiences")
    audiences = BatchSegmentPostprocessor(
        audiences_stack, "Audiences", event_bus=training.event_bus, source_bucket=training.bucket, topic=training.topic,
        audience_bucket=s3.Bucket(audiences_stack, "AudienceFiles", enforce_ssl=True, server_access_logs_prefix="logs/",
                                  versioned=True))
    connect_stack = cdk.Stack(app, "SplitConnect")
    connect = ConnectCustomerProfilesSegmentImporter(
        connect_stack, "Connect", event_bus=training.event_bus, audience_bucket=audiences.audience_bucket,
        topic=training.topic, data_expiry=cdk.Duration.days(30))
    erasure_stack = cdk.Stack(app, "SplitErasure")
    UserErasure(erasure_stack, "Erasure", training=training, audiences=audiences, connect=connect,
                deadline=cdk.Duration.days(14), delete_profiles=True)
    return [training_stack, audiences_stack, connect_stack, erasure_stack]


def two_postprocessors_on_one_bus(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "TwoOnOneBus")
    bus = events.EventBus(stack, "Bus")
    first = s3.Bucket(stack, "First", enforce_ssl=True, server_access_logs_prefix="logs/")
    second = s3.Bucket(stack, "Second", enforce_ssl=True, server_access_logs_prefix="logs/")
    BatchSegmentPostprocessor(stack, "Brand", event_bus=bus, source_bucket=first)
    BatchSegmentPostprocessor(stack, "Outlet", event_bus=bus, source_bucket=second)
    return [stack]


LAYOUTS: dict[str, Callable[[cdk.App], list[cdk.Stack]]] = {
    "example stack": example,
    "example stack with every destination": example_every_destination,
    "PersonalizeTrainingPipeline alone": training_alone,
    "PersonalizeTrainingPipeline with handed-in bucket, bus and key": training_with_handed_in_resources,
    "BatchSegmentPostprocessor alone": audiences_alone,
    "BatchSegmentPostprocessor on another team's bus and buckets": audiences_on_another_teams_resources,
    "PinpointSegmentImporter alone": pinpoint_alone,
    "PinpointSegmentImporter with endpoint-ID segments on an existing project":
        pinpoint_endpoint_segments_on_an_existing_project,
    "ConnectCustomerProfilesSegmentImporter alone": connect_alone,
    "ConnectCustomerProfilesSegmentImporter on an existing domain": connect_on_an_existing_domain,
    "everything handed in and encrypted with customer managed keys": everything_handed_in_and_encrypted,
    "Connect and endpoint-ID Pinpoint on a bucket imported by name": connect_and_endpoint_pinpoint_on_a_bucket_by_name,
    "split across two stacks in a Stage": split_across_stacks_in_a_stage,
    "training, export, Connect and erasure in four stacks": erasure_split_across_four_stacks,
    "two postprocessors on one bus": two_postprocessors_on_one_bus,
}


def synthesize(name: str, context: dict) -> tuple[cdk.App, list[cdk.Stack]]:
    """The layout's app and stacks, built once per test process (the gates only read them)."""
    return _synthesized(name, json.dumps(context, sort_keys=True))


@functools.lru_cache(maxsize=None)
def _synthesized(name: str, context_json: str) -> tuple[cdk.App, list[cdk.Stack]]:
    app = cdk.App(context=json.loads(context_json))
    return app, LAYOUTS[name](app)

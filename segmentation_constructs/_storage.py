"""Secure-by-default buckets, written once for every construct."""

from __future__ import annotations

from typing import Optional

from aws_cdk import Annotations, Aws, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from segmentation_constructs._nag import acknowledge, acknowledge_wildcard_resources


def secure_bucket(
    scope: Construct,
    id: str,
    *,
    encryption_key: Optional[kms.IKey],
    removal_policy: RemovalPolicy,
    access_logs: Optional[s3.IBucket] = None,
) -> s3.Bucket:
    """Encrypted (SSE-KMS with the given key, else SSE-S3), TLS-only, never public, versioned."""
    bucket = s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.KMS if encryption_key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=encryption_key,
        bucket_key_enabled=bool(encryption_key),
        enforce_ssl=True,
        minimum_tls_version=1.2,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        lifecycle_rules=[s3.LifecycleRule(
            # no half-written uploads, and overwritten or deleted objects (e.g. audiences that held users
            # since erased) do not linger as old versions
            abort_incomplete_multipart_upload_after=Duration.days(1),
            noncurrent_version_expiration=Duration.days(30))],
        removal_policy=removal_policy,
    )
    if access_logs is not None:
        # Written out rather than left to CDK, whose choice (bucket policy or ACL) depends on the
        # consuming app's feature flags; this way it is a bucket policy in every app.
        bucket.node.default_child.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
            destination_bucket_name=access_logs.bucket_name, log_file_prefix=f"{id}/")
        access_logs.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
            actions=["s3:PutObject"],
            resources=[access_logs.arn_for_objects(f"{id}/*")],
            conditions={"ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
    return bucket


def access_log_bucket(scope: Construct, id: str, *, removal_policy: RemovalPolicy) -> s3.Bucket:
    """Target of S3 server access logs: SSE-S3 is the only encryption S3 logging writes with."""
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=removal_policy,
    )


CDK_NOTIFICATIONS_HANDLER = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"


def enable_event_bridge(bucket: s3.IBucket) -> None:
    """EventBridge delivery for a handed-in bucket, keeping the notifications it already has.

    CDK's notifications handler merges the setting in (``Managed: false``) and leaves the rest.
    """
    bucket.enable_event_bridge_notification()
    handler = Stack.of(bucket).node.try_find_child(CDK_NOTIFICATIONS_HANDLER)
    if handler is not None:
        acknowledge(handler, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                             "AWSLambdaBasicExecutionRole]",
                    "CDK's own handler that adds EventBridge delivery to a handed-in bucket while keeping its "
                    "existing notifications; the managed policy only lets it write its own logs.")


def sends_to_event_bridge(bucket: s3.IBucket) -> bool:
    """Whether ``bucket`` already sends its events to EventBridge, as configured so far in this app: an ``s3.Bucket``
    built with ``event_bridge_enabled=True`` (or given ``enable_event_bridge_notification()``), whose notifications
    resource carries an ``EventBridgeConfiguration``, or one whose ``CfnBucket`` has
    ``notification_configuration.event_bridge_configuration.event_bridge_enabled`` set (PersonalizeTrainingPipeline's
    bucket)."""
    stack = Stack.of(bucket)
    cfn = bucket.node.default_child
    if isinstance(cfn, s3.CfnBucket):
        configuration = stack.resolve(cfn.notification_configuration) or {}
        if isinstance(configuration, dict) and \
                (configuration.get("eventBridgeConfiguration") or {}).get("eventBridgeEnabled") is True:
            return True
    notifications = bucket.node.try_find_child("Notifications")
    resource = notifications.node.try_find_child("Resource") if notifications is not None else None
    if isinstance(resource, CfnResource):
        configuration = stack.resolve(resource._cfn_properties).get("NotificationConfiguration") or {}
        return isinstance(configuration, dict) and "EventBridgeConfiguration" in configuration
    return False


def events_from(scope: Construct, bucket: s3.IBucket) -> None:
    """Make sure ``bucket`` sends object events to EventBridge, for a rule that starts a workflow.

    A bucket that already does is left as it is. A handed-in bucket gets the setting merged in; a bucket built in
    the same app (``s3.Bucket``) is its owner's to configure, so a synth warning says what to set.
    """
    if sends_to_event_bridge(bucket):
        return
    if not isinstance(bucket, s3.Bucket):
        enable_event_bridge(bucket)
    else:
        Annotations.of(scope).add_warning_v2(
            "segmentation:object-trigger-needs-eventbridge",
            "The object trigger fires only if the bucket sends events to EventBridge "
            "(PersonalizeTrainingPipeline's bucket does; for your own s3.Bucket set event_bridge_enabled=True).")


def with_key(scope: Construct, id: str, bucket: s3.IBucket, key: Optional[kms.IKey], prop: str) -> s3.IBucket:
    """The handed-in ``bucket`` as its grants must see it: with its KMS key.

    A bucket built with a key (``s3.Bucket(encryption_key=...)``) or imported with one already carries it.
    A bucket imported by name carries none: with ``key`` given it is re-imported with that key; without,
    a synth warning says that an SSE-KMS bucket needs its key handed in, or every read is denied.
    """
    if bucket.encryption_key is not None or isinstance(bucket, s3.Bucket):
        return bucket
    if key is not None:
        return s3.Bucket.from_bucket_attributes(scope, id, bucket_arn=bucket.bucket_arn,
                                                bucket_name=bucket.bucket_name, encryption_key=key)
    Annotations.of(scope).add_warning_v2(
        "segmentation:bucket-key-unknown",
        f"{prop} was imported without its KMS key. If it is encrypted with SSE-KMS, import it with "
        "s3.Bucket.from_bucket_attributes(..., encryption_key=<its key>) so the functions (and the service roles) "
        "get kms:Decrypt/GenerateDataKey on that key; otherwise every read of it is denied. Acknowledge this "
        "warning if the bucket uses SSE-S3.")
    return bucket


def grant_objects(grantee: iam.IGrantable, bucket: s3.IBucket, actions: list[str], *key_patterns: str,
                  wildcard_reason: Optional[str] = None) -> iam.Grant:
    """Exactly ``actions`` on objects matching ``key_patterns`` (no ``s3:GetObject*``-style wildcards),
    plus the KMS use those actions need when the bucket has a customer key. With ``wildcard_reason``,
    the library's own ``grantee`` role acknowledges the key wildcards for cdk-nag with that reason."""
    arns = [bucket.arn_for_objects(p) for p in key_patterns]
    grant = iam.Grant.add_to_principal_or_resource(grantee=grantee, actions=actions, resource_arns=arns,
                                                   resource=bucket)
    key = bucket.encryption_key
    if key:
        key.grant(grantee, "kms:Decrypt", *(["kms:GenerateDataKey"] if "s3:PutObject" in actions else []))
    if wildcard_reason:
        acknowledge_wildcard_resources(grantee, [arn for p, arn in zip(key_patterns, arns) if "*" in p],
                                       wildcard_reason)
    return grant

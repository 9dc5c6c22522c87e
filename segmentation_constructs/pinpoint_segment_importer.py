"""PinpointSegmentImporter: each audience file becomes an Amazon Pinpoint user-ID or endpoint-ID segment.

Amazon Pinpoint's engagement features (segments, campaigns, journeys) reached end of support on
2026-10-30; using this construct emits a synth warning (``segmentation:pinpoint-end-of-support``) that
a team can acknowledge. Listens for ``Audience Segment Ready`` events; a Standard workflow per audience
checks the file, starts ``CreateImportJob`` once per file version (queued with backoff while Pinpoint
runs its 2 concurrent imports), polls ``GetImportJob`` in a bounded Wait loop and reports
``Audience Import State Change`` events (IMPORTED with segment ID and size, FAILED or REJECTED with
the reason), and notifies a topic if given. Endpoint-ID segments (``segment_kind="endpoint-id"``) first
export the project's endpoints once per import, under ``<audience_prefix>_exports/pinpoint/`` (which a
separate export role may write, and a lifecycle rule expires after a day), and join them with the
audience (``lambda_src/pinpoint_segment_importer/importer/endpoint_segments.py``).

Reading order: props in ``__init__``, IAM in ``_grant_importer``; the workflow, rules and grant methods every
destination shares in ``_audience_importer.py``; the Lambda code is ``lambda_src/pinpoint_segment_importer/importer/``.
"""

from __future__ import annotations

from typing import Optional, Sequence

from aws_cdk import Annotations, Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_pinpoint as pinpoint
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from segmentation_constructs._audience_importer import OBJECT_WILDCARD_REASON, AudienceImporter, shared_props
from segmentation_constructs._lambda import FunctionSettings
from segmentation_constructs._nag import acknowledge_wildcard_resources
from segmentation_constructs._storage import grant_objects
from segmentation_constructs._workflow import grant_pass_role, service_role, string_at
from segmentation_constructs import _props, contract
from segmentation_constructs.contract import Env

END_OF_SUPPORT = ("Amazon Pinpoint's engagement features (imported segments, campaigns, journeys) reached end of "
                  "support on 2026-10-30. Import audiences into Amazon Connect Customer Profiles instead (the "
                  "successor AWS recommends); acknowledge this warning to keep using Pinpoint.")
SEGMENT_KINDS = contract.SEGMENT_KINDS


# Pinpoint's endpoint channels: the ChannelType enum of its API model (a test keeps them equal to botocore's), written
# out so that synth needs only aws-cdk-lib and constructs.
CHANNEL_TYPES = ("PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "SMS", "VOICE",
                 "EMAIL", "BAIDU", "CUSTOM", "IN_APP")


APPLICATION_ID = r"[0-9a-f]{32}"  # a Pinpoint project ID, as the console and the API show it


def check_props(application_id: Optional[str], segment_kind: str, endpoint_channels: Optional[Sequence[str]]) -> None:
    """Pinpoint's own props (the shared ones: ``AudienceImporter``)."""
    _props.identifier("application_id", application_id, APPLICATION_ID, "0123456789abcdef0123456789abcdef",
                      what="a Pinpoint project ID (32 lowercase hexadecimal characters)", optional=True)
    _props.one_of("segment_kind", segment_kind, SEGMENT_KINDS)
    if endpoint_channels is not None:
        _props.check(segment_kind == contract.ENDPOINT_ID_SEGMENTS, "endpoint_channels",
                     f"left out unless segment_kind={contract.ENDPOINT_ID_SEGMENTS!r} (only endpoint-ID segments keep "
                     "some channels)", endpoint_channels)
        _props.list_of("endpoint_channels", endpoint_channels, CHANNEL_TYPES, example="EMAIL")


class PinpointSegmentImporter(AudienceImporter):
    """Imports audience files into Amazon Pinpoint as user-ID or endpoint-ID segments.

    :param event_bus: bus carrying ``Audience Segment Ready`` events; import events are put on it.
    :param audience_bucket: bucket of the audience files.
    :param audience_prefix: their prefix (Pinpoint may read only under it).
    :param drop_prefix: also import every CSV (header ``User.UserId``) a team drops under this prefix of
        ``audience_bucket``; the segment is named after the file. Off by default.
    :param application_id: the Pinpoint project's ID (32 hexadecimal characters, not its ARN); one is created if
        omitted.
    :param segment_kind: ``"user-id"`` (default): the file is imported as it is and Pinpoint finds the users'
        endpoints. ``"endpoint-id"``: one endpoint export per import is joined with the audience, and the
        segment holds the endpoints that can be messaged (ACTIVE, not opted out).
    :param endpoint_channels: with ``"endpoint-id"``, keep only endpoints of these channel types (e.g.
        ``["EMAIL"]``); every channel if omitted.
    :param topic: notified of every import's outcome, if given.
    :param poll_interval: Wait between two ``GetImportJob`` calls (whole seconds, at least 1).
    :param import_budget: time an import may take, queueing included: longer than ``poll_interval``, at most 500 polls
        and 364 days.
    :param retry_interval: first backoff while Pinpoint's concurrent-import quota is full (1 second to 15 minutes).
    :param import_function_settings: memory, timeout, log retention and tracing of the import function (default
        1,024 MB and 15 minutes: its check streams a file of up to 1 GB; with ``"endpoint-id"`` 1,769 MB, one full
        vCPU, for the endpoint join).
    :param removal_policy: for the workflow's log group; retained by default.
    """

    def __init__(self, scope: Construct, id: str, *, event_bus: events.IEventBus, audience_bucket: s3.IBucket,
                 audience_prefix: str = "audiences/", drop_prefix: Optional[str] = None,
                 application_id: Optional[str] = None, segment_kind: str = "user-id",
                 endpoint_channels: Optional[Sequence[str]] = None,
                 topic: Optional[sns.ITopic] = None, poll_interval: Duration = Duration.seconds(30),
                 import_budget: Duration = Duration.hours(2), retry_interval: Duration = Duration.minutes(1),
                 import_function_settings: Optional[FunctionSettings] = None,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, id, destination="pinpoint", label="Pinpoint", **shared_props(locals()))
        check_props(application_id, segment_kind, endpoint_channels)
        self.segment_kind = segment_kind
        Annotations.of(self).add_warning_v2("segmentation:pinpoint-end-of-support", END_OF_SUPPORT)
        stack = Stack.of(self)
        self.application_id = application_id or pinpoint.CfnApp(self, "App", name=f"{stack.stack_name}-audiences").ref
        self.owns_application = application_id is None  # the project is the library's: its endpoints are too
        self.app_arn = f"arn:{stack.partition}:mobiletargeting:{stack.region}:{stack.account}:apps/{self.application_id}"
        self.import_role = service_role(self, "ImportRole", "pinpoint.amazonaws.com",
                                                 "Amazon Pinpoint reads audience files to import them as segments")
        self._restrict_trust_to_app(self.import_role)
        environment = {Env.PINPOINT_APPLICATION_ID: self.application_id,
                       Env.IMPORT_ROLE_ARN: self.import_role.role_arn, Env.SEGMENT_KIND: segment_kind}
        self.export_role: Optional[iam.Role] = None
        if segment_kind == contract.ENDPOINT_ID_SEGMENTS:
            self.export_role = service_role(self, "ExportRole", "pinpoint.amazonaws.com",
                                            "Amazon Pinpoint exports the project's endpoints for one audience import")
            self._restrict_trust_to_app(self.export_role)
            environment.update({Env.EXPORT_ROLE_ARN: self.export_role.role_arn,
                                Env.ENDPOINT_CHANNELS: ",".join(endpoint_channels or [])})
        # the endpoint join reads the project's whole export in one invocation: a full vCPU (1769 MB)
        joins = {} if self.export_role is None else {"memory_size": 1769}
        self._import_function("pinpoint_segment_importer.importer", settings=import_function_settings,
                              description="Starts and follows Pinpoint segment imports of audience files",
                              environment=environment, **joins)
        self._grant_importer()
        endpoint_fields = {} if self.export_role is None else {
            "ExportJobId": string_at("$.import.exportJobId"),
            "UsersWithoutEndpoints": sfn.JsonPath.number_at("$.import.resolved.usersWithoutEndpoints")}
        self._import_workflow(imported={"SegmentId": string_at("$.import.segmentId"),
                                        "Size": sfn.JsonPath.number_at("$.import.size"),
                                        "ImportJobId": string_at("$.import.importJobId"),
                                        **endpoint_fields})

    # ------------------------------------------------------------------ IAM

    def _restrict_trust_to_app(self, role: iam.Role) -> None:
        """Pinpoint may assume the role for this account's project only."""
        trust = role.node.default_child
        trust.add_property_override("AssumeRolePolicyDocument.Statement.0.Condition.ArnLike",
                                    {"aws:SourceArn": self.app_arn})

    def _grant_importer(self) -> None:
        """Import jobs of this project, and the role Pinpoint reads the files with (the audience files and the
        markers: ``AudienceImporter``); with endpoint-ID segments, the endpoint exports too."""
        files = self.audience_file_patterns()
        grant_objects(self.import_role, self.audience_bucket, ["s3:GetObject"], *files,
                      wildcard_reason=OBJECT_WILDCARD_REASON)
        self.import_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.audience_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f.removesuffix(".csv") for f in files]}}))
        self._grant_jobs("Import", self.import_role)
        # each audience's segment ID, so every refresh imports into that segment (jobs.py)
        grant_objects(self._function_role, self.audience_bucket, ["s3:GetObject", "s3:PutObject"],
                      f"{self.audience_prefix}_segments/pinpoint/*", wildcard_reason=OBJECT_WILDCARD_REASON)
        if self.export_role is not None:
            self._grant_export()

    def _grant_export(self) -> None:
        """Pinpoint writes each export under ``<prefix>_exports/pinpoint/``; the function reads and deletes it
        there, and writes the joined file next to the import's marker. Exports expire after a day."""
        exports, work = f"{self.audience_prefix}_exports/pinpoint/*", f"{self.audience_prefix}*/_imports/pinpoint/*"
        grant_objects(self.export_role, self.audience_bucket, ["s3:PutObject"], exports,
                      wildcard_reason=OBJECT_WILDCARD_REASON)
        role = self._function_role
        grant_objects(role, self.audience_bucket, ["s3:GetObject", "s3:DeleteObject"], exports,
                      wildcard_reason=OBJECT_WILDCARD_REASON)
        grant_objects(role, self.audience_bucket, ["s3:AbortMultipartUpload"], work,
                      wildcard_reason=OBJECT_WILDCARD_REASON)
        for grantee, prefixes in ((self.export_role, [exports]), (role, [exports, work])):
            grantee.add_to_policy(iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[self.audience_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": prefixes}}))
        self._grant_jobs("Export", self.export_role)
        if isinstance(self.audience_bucket, s3.Bucket):
            self.audience_bucket.add_lifecycle_rule(
                id=f"ExpirePinpointEndpointExports-{Names.unique_id(self)}"[:255],
                prefix=exports.removesuffix("*"), expiration=Duration.days(1),
                noncurrent_version_expiration=Duration.days(1))
        else:
            Annotations.of(self).add_warning_v2("segmentation:pinpoint-export-lifecycle", (
                f"Endpoint exports (every endpoint's address) are deleted once joined; add a lifecycle rule to "
                f"the audience bucket expiring {exports.removesuffix('*')} (and its noncurrent versions) after "
                "one day, so that what a timed-out import leaves expires too."))

    def _grant_jobs(self, kind: str, service_role: iam.Role) -> None:
        """Create<kind>Job on this project, Get<kind>Job on its jobs, and handing Pinpoint the role for them.

        The Service Authorization Reference authorizes Create<kind>Job on the app
        (``apps/<id>``) and Get<kind>Job on the job (``apps/<id>/jobs/<kind>/<job id>``)."""
        role, jobs = self._function_role, f"{self.app_arn}/jobs/{kind.lower()}"
        role.add_to_policy(iam.PolicyStatement(actions=[f"mobiletargeting:Create{kind}Job"],
                                               resources=[self.app_arn]))
        role.add_to_policy(iam.PolicyStatement(actions=[f"mobiletargeting:Get{kind}Job"], resources=[f"{jobs}/*"]))
        grant_pass_role(role, service_role, "pinpoint.amazonaws.com")
        acknowledge_wildcard_resources(role, [f"{jobs}/*"], OBJECT_WILDCARD_REASON)

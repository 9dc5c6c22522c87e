"""ConnectCustomerProfilesSegmentImporter: each audience file becomes an Amazon Connect Customer Profiles
segment that Connect outbound campaigns can target. AWS's successor to Pinpoint segments.

Listens for ``Audience Segment Ready`` events; a Standard workflow per audience (shared with every
destination, ``_audience_importer.py``) checks the file, claims the import once per file version, uploads
it through an upload job (``CreateUploadJob`` with the team's explicit ``DataExpiry`` → ``GetUploadJobPath``
→ SSE-C upload → ``StartUploadJob``), polls ``GetUploadJob`` in a bounded Wait loop, then creates (or
replaces) the segment definition, and reports ``Audience Import State Change`` events with the segment
definition's name and ARN.

How a file becomes a segment: the upload maps each user ID to a profile key (``user_id_target``,
``_profile.AccountNumber`` by default, so the users' existing profiles are updated and unknown users get
new profiles that expire after ``data_expiry``) and writes this import's batch marker into a profile
attribute of the segment (``Attributes.PersonalizeSegment_<segment>``). The segment definition selects
the profiles whose attribute holds that marker: exactly the users of the latest file of the audience.

Reading order: props in ``__init__``, the domain in ``_domain``, IAM in ``_grant_importer``; the workflow, rules and
grant methods every destination shares in ``_audience_importer.py``; the Lambda code is
``lambda_src/connect_segment_importer/importer/``.
"""

from __future__ import annotations

from typing import Optional

from aws_cdk import Aws, Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_customerprofiles as customerprofiles
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from segmentation_constructs import _props
from segmentation_constructs._audience_importer import AudienceImporter, shared_props
from segmentation_constructs._lambda import FunctionSettings
from segmentation_constructs._nag import acknowledge_wildcard_resources
from segmentation_constructs._workflow import string_at
from segmentation_constructs.contract import Env

MAX_EXPIRY_DAYS = 1098  # CreateUploadJob's DataExpiry range is 1-1098 days
USER_ID_TARGET = r"_profile\.(AccountNumber|Attributes\.[A-Za-z0-9_-]{1,200})"
DOMAIN_NAME = r"[a-zA-Z0-9_-]{1,64}"  # CreateDomain's DomainName
DOMAIN_NAME_IS = "a Customer Profiles domain name (1 to 64 letters, digits, _ or -)"


class ConnectCustomerProfilesSegmentImporter(AudienceImporter):
    """Imports audience files into Amazon Connect Customer Profiles as segments.

    :param event_bus: bus carrying ``Audience Segment Ready`` events; import events are put on it.
    :param audience_bucket: bucket of the audience files.
    :param data_expiry: how long imported profile data is kept (1 to 1098 days). Required: Customer Profiles
        would otherwise expire imported profiles after 14 days without saying so. Also the created domain's
        default expiration.
    :param audience_prefix: prefix of the audience files.
    :param drop_prefix: also import every CSV (header ``User.UserId``) a team drops under this prefix of
        ``audience_bucket``; the segment is named after the file. Off by default.
    :param domain_name: the name of the Customer Profiles domain (e.g. the one of your Connect instance), not its
        ARN; an encrypted domain is created if omitted.
    :param domain_encryption_key: the customer managed key of the domain named by ``domain_name``, if it has one.
    :param user_id_target: the profile field that holds your user IDs: ``_profile.AccountNumber`` (default)
        or ``_profile.Attributes.<name>``. Users are matched on it.
    :param topic: notified of every import's outcome, if given.
    :param poll_interval: Wait between two ``GetUploadJob`` calls (whole seconds, at least 1).
    :param import_budget: time an import may take, upload included: longer than ``poll_interval``, at most 500 polls
        and 364 days.
    :param retry_interval: first backoff when Customer Profiles throttles (1 second to 15 minutes).
    :param import_function_settings: memory, timeout, log retention and tracing of the import function
        (default 1,024 MB and 15 minutes: it reads a file of up to 1 GB three times, to check, measure and upload it).
    :param removal_policy: for the domain, its key and the workflow's log group; retained by default.
    """

    def __init__(self, scope: Construct, id: str, *, event_bus: events.IEventBus, audience_bucket: s3.IBucket,
                 data_expiry: Duration, audience_prefix: str = "audiences/", drop_prefix: Optional[str] = None,
                 domain_name: Optional[str] = None,
                 domain_encryption_key: Optional[kms.IKey] = None, user_id_target: str = "_profile.AccountNumber",
                 topic: Optional[sns.ITopic] = None, poll_interval: Duration = Duration.seconds(30),
                 import_budget: Duration = Duration.hours(2), retry_interval: Duration = Duration.seconds(30),
                 import_function_settings: Optional[FunctionSettings] = None,
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, id, destination="connect", label="Customer Profiles", **shared_props(locals()))
        _props.duration("data_expiry", data_expiry, at_least=Duration.days(1), at_most=Duration.days(MAX_EXPIRY_DAYS),
                        whole="days")
        days = int(data_expiry.to_days())
        _props.identifier("domain_name", domain_name, DOMAIN_NAME, "amazon-connect-acme", what=DOMAIN_NAME_IS,
                          optional=True)
        _props.construct_of("domain_encryption_key", domain_encryption_key, kms.IKey, optional=True)
        _props.check(domain_encryption_key is None or domain_name is not None, "domain_encryption_key",
                     "left out unless domain_name is given (it is the key of a handed-in domain; the domain created "
                     "without domain_name gets a key of its own)", domain_encryption_key)
        _props.identifier("user_id_target", user_id_target, USER_ID_TARGET, "_profile.AccountNumber",
                          what="_profile.AccountNumber or _profile.Attributes.<name>")
        self.encryption_key = domain_encryption_key
        self.user_id_target = user_id_target
        self.domain_name = domain_name or self._domain(int(days), removal_policy)
        stack = Stack.of(self)
        self.domain_arn = f"arn:{stack.partition}:profile:{stack.region}:{stack.account}:domains/{self.domain_name}"
        self._import_function(
            "connect_segment_importer.importer", settings=import_function_settings,
            description="Uploads audience files to Customer Profiles and defines their segments",
            environment={Env.DOMAIN_NAME: self.domain_name, Env.DATA_EXPIRY_DAYS: str(int(days)),
                         Env.USER_ID_TARGET: user_id_target})
        self._grant_importer()
        self._import_workflow(imported={"SegmentId": string_at("$.import.segmentId"),
                                        "SegmentArn": string_at("$.import.segmentArn"),
                                        "Size": sfn.JsonPath.number_at("$.import.size"),
                                        "FailedRecords": sfn.JsonPath.number_at("$.import.failedRecords"),
                                        "ImportJobId": string_at("$.import.importJobId")})

    def _domain(self, expiration_days: int, removal_policy: RemovalPolicy) -> str:
        """A domain encrypted with its own rotating key, which Customer Profiles may use for this account only."""
        self.encryption_key = kms.Key(self, "DomainKey", enable_key_rotation=True, removal_policy=removal_policy,
                                      description="Encrypts the Customer Profiles domain of the audiences")
        self.encryption_key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("profile.amazonaws.com")],
            actions=["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"], resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
        name = Names.unique_resource_name(self, max_length=64, separator="-", allowed_special_characters="-")
        domain = customerprofiles.CfnDomain(self, "Domain", domain_name=name, default_expiration_days=expiration_days,
                                            default_encryption_key=self.encryption_key.key_arn)
        domain.apply_removal_policy(removal_policy)
        return domain.ref

    def _grant_importer(self) -> None:
        """Upload jobs and segment definitions of this domain (the audience files: ``AudienceImporter``)."""
        role = self._function_role
        role.add_to_policy(iam.PolicyStatement(
            actions=["profile:CreateUploadJob", "profile:GetUploadJobPath", "profile:StartUploadJob",
                     "profile:GetUploadJob", "profile:StopUploadJob"],
            resources=[self.domain_arn]))
        definitions = f"{self.domain_arn}/segment-definitions/*"
        role.add_to_policy(iam.PolicyStatement(
            actions=["profile:GetSegmentDefinition", "profile:CreateSegmentDefinition",
                     "profile:DeleteSegmentDefinition"],
            resources=[self.domain_arn, definitions]))
        acknowledge_wildcard_resources(role, [definitions], "Segment definition names follow the audience names, "
                                       "known at run time only; limited to this domain's segment definitions.")
        if self.encryption_key is not None:  # Customer Profiles uses the domain key on the caller's behalf
            self.encryption_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")

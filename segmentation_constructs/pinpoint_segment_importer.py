"""PinpointSegmentImporter: each audience file becomes an Amazon Pinpoint user-ID segment.

Amazon Pinpoint's engagement features (segments, campaigns, journeys) reached end of support on
2026-10-30; using this construct emits a synth warning (``segmentation:pinpoint-end-of-support``) that
a team can acknowledge. Listens for ``Audience Segment Ready`` events; a Standard workflow per audience
checks the file, starts ``CreateImportJob`` once per file version (queued with backoff while Pinpoint
runs its 2 concurrent imports), polls ``GetImportJob`` in a bounded Wait loop and reports
``Audience Import State Change`` events (IMPORTED with segment ID and size, FAILED or REJECTED with
the reason), and notifies a topic if given.

Reading order: props in ``__init__``, IAM in ``_grant``, the workflow in ``_definition``; the Lambda
code is ``lambda_src/pinpoint_import``.
"""

from __future__ import annotations

from typing import Optional

from aws_cdk import Annotations, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_pinpoint as pinpoint
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from segmentation_constructs._lambda import SegmentationFunction
from segmentation_constructs._nag import acknowledge_wildcard_resources
from segmentation_constructs._storage import grant_objects
from segmentation_constructs._workflow import service_role, standard_workflow

AUDIENCE_SOURCE = "segmentation.audiences"
SEGMENT_READY = "Audience Segment Ready"
IMPORT_STATE_CHANGE = "Audience Import State Change"
END_OF_SUPPORT = ("Amazon Pinpoint's engagement features (imported segments, campaigns, journeys) reached end of "
                  "support on 2026-10-30. Import audiences into Amazon Connect Customer Profiles instead (the "
                  "successor AWS recommends); acknowledge this warning to keep using Pinpoint.")


class PinpointSegmentImporter(Construct):
    """Imports audience files into Amazon Pinpoint as user-ID segments.

    :param event_bus: bus carrying ``Audience Segment Ready`` events; import events are put on it.
    :param audience_bucket: bucket of the audience files.
    :param audience_prefix: their prefix (Pinpoint may read only under it).
    :param application_id: the Pinpoint project; one is created if omitted.
    :param topic: notified of every import's outcome, if given.
    :param poll_interval: Wait between two ``GetImportJob`` calls.
    :param import_budget: time an import may take, queueing included.
    :param retry_interval: first backoff while Pinpoint's concurrent-import quota is full.
    """

    def __init__(self, scope: Construct, id: str, *, event_bus: events.IEventBus, audience_bucket: s3.IBucket,
                 audience_prefix: str = "audiences/", application_id: Optional[str] = None,
                 topic: Optional[sns.ITopic] = None, poll_interval: Duration = Duration.seconds(30),
                 import_budget: Duration = Duration.hours(2), retry_interval: Duration = Duration.minutes(1),
                 removal_policy: RemovalPolicy = RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, id)
        if import_budget.to_seconds() / poll_interval.to_seconds() > 500:
            raise ValueError("import_budget / poll_interval may allow at most 500 polls (Step Functions' history limit)")
        Annotations.of(self).add_warning_v2("segmentation:pinpoint-end-of-support", END_OF_SUPPORT)
        self.event_bus, self.audience_bucket, self.topic = event_bus, audience_bucket, topic
        self._audience_prefix, self._poll_interval, self._retry_interval = audience_prefix, poll_interval, retry_interval
        self.application_id = application_id or pinpoint.CfnApp(self, "App", name=f"{Stack.of(self).stack_name}-audiences").ref
        stack = Stack.of(self)
        self._app_arn = f"arn:{stack.partition}:mobiletargeting:{stack.region}:{stack.account}:apps/{self.application_id}"
        self.import_role = service_role(self, "ImportRole", "pinpoint.amazonaws.com",
                                        "Amazon Pinpoint reads audience files to import them as segments")
        self._restrict_trust_to_app()
        self._import = SegmentationFunction(
            self, "Importer", function_dir="pinpoint_import",
            description="Starts and follows Pinpoint segment imports of audience files",
            environment={"PINPOINT_APPLICATION_ID": self.application_id, "IMPORT_ROLE_ARN": self.import_role.role_arn,
                         "AUDIENCE_BUCKET": audience_bucket.bucket_name, "AUDIENCE_PREFIX": audience_prefix,
                         "IMPORT_BUDGET_SECONDS": str(int(import_budget.to_seconds()))})
        self._grant()
        self.state_machine, self.workflow_role = standard_workflow(
            self, "Workflow", definition=self._definition(), description="Imports audiences into Pinpoint",
            timeout=import_budget.plus(Duration.hours(1)), removal_policy=removal_policy)
        self._grant_workflow()
        events.Rule(self, "AudienceReady", event_bus=event_bus, description="An audience file is ready: import it",
                    event_pattern=events.EventPattern(source=[AUDIENCE_SOURCE], detail_type=[SEGMENT_READY]),
                    targets=[targets.SfnStateMachine(self.state_machine, retry_attempts=10, role=service_role(
                        self, "TriggerRole", "events.amazonaws.com", "Starts Pinpoint audience imports"))])

    # ------------------------------------------------------------------ IAM

    def _restrict_trust_to_app(self) -> None:
        """Pinpoint may assume the import role for this account's project only."""
        trust = self.import_role.node.default_child
        trust.add_property_override("AssumeRolePolicyDocument.Statement.0.Condition.ArnLike",
                                    {"aws:SourceArn": self._app_arn})

    def _grant(self) -> None:
        reason = ("Audience file names, import job IDs and markers are known at run time only; each ARN is limited "
                  "to its prefix or this Pinpoint project.")
        audiences = f"{self._audience_prefix}*.csv"
        grant_objects(self.import_role, self.audience_bucket, ["s3:GetObject"], audiences, wildcard_reason=reason)
        self.import_role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.audience_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{self._audience_prefix}*"]}}))
        role = self._import.role
        grant_objects(role, self.audience_bucket, ["s3:GetObject"], audiences, wildcard_reason=reason)
        markers = f"{self._audience_prefix}*/_imports/pinpoint/*"
        grant_objects(role, self.audience_bucket, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], markers,
                      wildcard_reason=reason)
        role.add_to_policy(iam.PolicyStatement(actions=["mobiletargeting:CreateImportJob"],
                                               resources=[f"{self._app_arn}/jobs/import"]))
        role.add_to_policy(iam.PolicyStatement(actions=["mobiletargeting:GetImportJob"],
                                               resources=[f"{self._app_arn}/jobs/import/*"]))
        self.import_role.grant_pass_role(role)
        acknowledge_wildcard_resources(role, [f"{self._app_arn}/jobs/import/*"], reason)

    def _grant_workflow(self) -> None:
        self.workflow_role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                             resources=[self._import.function.function_arn]))
        self.workflow_role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"],
                                                             resources=[self.event_bus.event_bus_arn]))
        if self.topic is not None:
            self.workflow_role.add_to_policy(iam.PolicyStatement(actions=["sns:Publish"],
                                                                 resources=[self.topic.topic_arn]))

    # ------------------------------------------------------------------ workflow

    def _outcome(self, id_: str, status: str, **detail) -> sfn.IChainable:
        chain = sfn.Chain.start(tasks.EventBridgePutEvents(
            self, f"Publish{id_}", result_path=sfn.JsonPath.DISCARD,
            entries=[tasks.EventBridgePutEventsEntry(
                event_bus=self.event_bus, source=AUDIENCE_SOURCE, detail_type=IMPORT_STATE_CHANGE,
                detail=sfn.TaskInput.from_object({"Destination": "pinpoint", "Status": status, **detail}))]))
        if self.topic is not None:
            chain = chain.next(tasks.SnsPublish(
                self, f"Notify{id_}", topic=self.topic, subject=f"Pinpoint audience import {status.lower()}",
                message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                    f"Pinpoint import of {{}}: {status}", sfn.JsonPath.string_at("$.detail.segment.name"))),
                result_path=sfn.JsonPath.DISCARD))
        return chain

    def _definition(self) -> sfn.IChainable:
        def invoke(id_: str, action: str, payload: dict) -> tasks.LambdaInvoke:
            task = tasks.LambdaInvoke(self, id_, lambda_function=self._import.function, payload_response_only=True,
                                      payload=sfn.TaskInput.from_object({"action": action, **payload}),
                                      result_path="$.import")
            task.add_retry(errors=["ServiceLimitExceeded", "ServiceThrottled", "ImportStarting"],
                           interval=self._retry_interval,
                           max_attempts=12, backoff_rate=2, max_delay=Duration.minutes(15),
                           jitter_strategy=sfn.JitterType.FULL)
            return task

        start = invoke("StartImport", "start", {"detail": sfn.JsonPath.object_at("$.detail")})
        poll = invoke("PollImport", "poll", {"import": sfn.JsonPath.object_at("$.import")})
        wait = sfn.Wait(self, "WaitForImport", time=sfn.WaitTime.duration(self._poll_interval))
        segment = {"SegmentName": sfn.JsonPath.string_at("$.import.segmentName"),
                   "AudienceKey": sfn.JsonPath.string_at("$.import.audienceKey")}
        failed = self._outcome("Failed", "FAILED", Error=sfn.JsonPath.string_at("$.failure.Error"),
                               Cause=sfn.JsonPath.string_at("$.failure.Cause"),
                               AudienceKey=sfn.JsonPath.string_at("$.detail.segment.audienceKey")) \
            .next(sfn.Fail(self, "ImportFailed", error="AudienceImportFailed"))
        rejected = self._outcome("Rejected", "REJECTED", Reason=sfn.JsonPath.string_at("$.import.reason"), **segment) \
            .next(sfn.Fail(self, "FileRejected", error="AudienceFileRejected"))
        imported = self._outcome("Imported", "IMPORTED", SegmentId=sfn.JsonPath.string_at("$.import.segmentId"),
                                 Size=sfn.JsonPath.number_at("$.import.size"),
                                 ImportJobId=sfn.JsonPath.string_at("$.import.importJobId"), **segment) \
            .next(sfn.Succeed(self, "Imported"))
        for task in (start, poll):
            task.add_catch(failed, errors=["States.ALL"], result_path="$.failure")
        poll.next(sfn.Choice(self, "ImportDone?")
                  .when(sfn.Condition.boolean_equals("$.import.done", True), imported)
                  .otherwise(wait.next(poll)))
        return start.next(
            sfn.Choice(self, "StartOutcome?")
            .when(sfn.Condition.string_equals("$.import.state", "REJECTED"), rejected)
            .when(sfn.Condition.string_equals("$.import.state", "ALREADY_IMPORTED"),
                  sfn.Succeed(self, "AlreadyImported"))
            .otherwise(wait))

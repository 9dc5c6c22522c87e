"""BatchSegmentPostprocessor: each query of a completed batch segment job becomes an audience file.

Triggered by the MPEwML event ``Personalize Batch Segment Job State Change`` (Status ACTIVE) on
any bus handed in, and optionally by a ``.out`` file landing under an S3 prefix. A Standard
workflow then

1. plans: finds the job's ``.out`` files (DescribeBatchSegmentJob and a listing, no file name
   assumed) and records one work item per output line (only newline bytes are scanned);
2. exports every line in parallel (a Distributed Map with bounded concurrency): each line is
   streamed, parsed as it arrives and written as an audience CSV by multipart upload;
3. publishes: writes ``manifest.json`` and one ``Audience Segment Ready`` event per audience,
   once per job output even when the trigger is delivered twice.

Reading order: props and resources in ``__init__``, IAM in ``_grant_<function>`` (one method a function) and
``_grant_workflow``, the workflow in ``_definition``; the Lambda code is in
``lambda_src/batch_segment_postprocessor/{plan,export,publish}/``, the streaming parse in ``export/segments.py``.
"""

from __future__ import annotations

from typing import Optional

from aws_cdk import Annotations, Aws, Duration, Fn, Names, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from segmentation_constructs import _props, contract
from segmentation_constructs._lambda import FunctionSettings, SegmentationFunction, checked_settings, \
    python_dependencies_layer
from segmentation_constructs._nag import acknowledge_wildcard_resources
from segmentation_constructs._storage import events_from, grant_objects, with_key
from segmentation_constructs._watch import FailureWatch, trigger_dead_letters
from segmentation_constructs._workflow import DISCARD, grant_publish, notify_then, retried, retry_throttling, \
    retry_transient, service_role, standard_workflow, string_at

Env = contract.Env
SUPERSEDED_TAG = "segmentation-superseded"  # publish/versions.py tags the files of a replaced audience version
JOB_NAMES = ("Batch segment job names, output keys and audience names are only known at run time; each "
             "ARN is limited to its prefix or resource type in this account and Region.")


class BatchSegmentPostprocessor(Construct):
    """Turns the output of Personalize batch segment jobs into audience files, one per query.

    :param event_bus: bus with ``Personalize Batch Segment Job State Change`` events (ours, or an MPEwML
        deployment's); ``Audience Segment Ready`` events are put on it.
    :param source_bucket: bucket the jobs write their output to (read access only under ``batch_output_prefix``).
    :param batch_output_prefix: where job outputs live in ``source_bucket``.
    :param audience_bucket: where audience files go; ``source_bucket`` if omitted.
    :param audience_prefix: one folder per job under it.
    :param object_trigger_prefix: also export any ``.out`` file created under this prefix (jobs run by hand or by
        other tools); the audience folder is named ``<folder>-<file name>`` (the folder's parent if it is ``output``;
        the folder alone for ``job_config.json.out``). The source bucket must send events to EventBridge
        (PersonalizeTrainingPipeline's does; a handed-in bucket gets it added, keeping its other notifications).
        Outside ``batch_output_prefix`` (a synth error says so): a job's output under both would be exported twice.
    :param holdout_percent: 0–50, in steps of 0.01: that share of each segment goes to ``control/<segment>.csv``
        instead, chosen by a hash of the user ID and a per-segment salt, so reruns choose the same people.
    :param suppression_list_bucket: with ``suppression_list_key``, an object of user IDs, one per line (opted out,
        erased on request): removed from every audience, only counted in the manifest (held in memory as 8-byte
        fingerprints with a filter and an index: about 11 bytes an ID, 11 MB per million).
    :param suppression_list_key: the key of that object.
    :param max_concurrency: lines exported at once by the Distributed Map (1–1000).
    :param topic: notified when an export fails, with the reason (the training pipeline's topic, for example).
    :param plan_function_settings: memory, timeout, log retention and tracing of the function that finds a job's
        output lines (``FunctionSettings``; default 512 MB, 15 minutes).
    :param export_function_settings: the same for the function that streams one query into an audience file
        (default 1,769 MB, one full vCPU, and 15 minutes).
    :param publish_function_settings: the same for the function that writes the manifest and announces the
        audiences (default 256 MB, 5 minutes).
    :param hold_threshold: a refresh whose users joined + left exceed this share of the previous version's users
        (0.5: half), or that came back empty, is held: written, but not announced until an ``Audience Release
        Requested`` event names the audience (an ``Audience Refresh Held`` event and ``topic`` say so). ``None``
        holds nothing. From 0.01 to 10, in steps of 0.01.
    :param superseded_retention: how long an audience version's files (audience and control) are kept once a
        refresh has published the next version (whole days, 1 to 3,650): the bucket's lifecycle rule expires files
        tagged ``segmentation-superseded``. The latest version of each audience is never expired. A handed-in bucket
        defined outside this app cannot get the rule: a synth warning ``segmentation:superseded-lifecycle`` says what
        to add.
    :param removal_policy: for the workflow's log group; retained by default.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        event_bus: events.IEventBus,
        source_bucket: s3.IBucket,
        batch_output_prefix: str = "batch/",
        audience_bucket: Optional[s3.IBucket] = None,
        audience_prefix: str = "audiences/",
        object_trigger_prefix: Optional[str] = None,
        holdout_percent: float = 0,
        suppression_list_bucket: Optional[s3.IBucket] = None,
        suppression_list_key: Optional[str] = None,
        max_concurrency: int = 10,
        topic: Optional[sns.ITopic] = None,
        plan_function_settings: Optional[FunctionSettings] = None,
        export_function_settings: Optional[FunctionSettings] = None,
        publish_function_settings: Optional[FunctionSettings] = None,
        hold_threshold: Optional[float] = 0.5,
        superseded_retention: Duration = Duration.days(90),
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        _props.construct_of("event_bus", event_bus, events.IEventBus)
        _props.construct_of("source_bucket", source_bucket, s3.IBucket)
        _props.prefix("batch_output_prefix", batch_output_prefix, like="batch/")
        _props.construct_of("audience_bucket", audience_bucket, s3.IBucket, optional=True)
        _props.prefix("audience_prefix", audience_prefix, like="audiences/")
        _props.prefix("object_trigger_prefix", object_trigger_prefix, like="manual/", optional=True)
        # a job's .out file under both would be exported twice: once as the job's, once as a dropped file
        _props.check(object_trigger_prefix is None or not (
            object_trigger_prefix.startswith(batch_output_prefix) or batch_output_prefix.startswith(object_trigger_prefix)),
            "object_trigger_prefix", f"a prefix outside batch_output_prefix ({batch_output_prefix!r}) and not "
            "containing it: a job's output under both would be exported twice", object_trigger_prefix)
        # each user's group is drawn out of 10,000 (export/segments.py): a hundredth of a percent is the finest share
        _props.number("holdout_percent", holdout_percent, 0, 50, step=0.01,
                      why="each user's group is drawn out of 10,000")
        _props.construct_of("suppression_list_bucket", suppression_list_bucket, s3.IBucket, optional=True)
        _props.object_key("suppression_list_key", suppression_list_key, like="optouts/current.csv", optional=True)
        _props.together(suppression_list_bucket=suppression_list_bucket, suppression_list_key=suppression_list_key)
        max_concurrency = _props.number("max_concurrency", max_concurrency, 1, 1000, whole=True)
        _props.construct_of("topic", topic, sns.ITopic, optional=True)
        if hold_threshold is not None:
            _props.number("hold_threshold", hold_threshold, 0.01, 10, step=0.01,
                          why="the share of the previous version's users who joined or left; None holds nothing")
        _props.duration("superseded_retention", superseded_retention, at_least=Duration.days(1),
                        at_most=Duration.days(3650), whole="days")
        _props.removal_policy("removal_policy", removal_policy)
        self.event_bus = event_bus
        self.source_bucket = with_key(self, "SourceBucketWithKey", source_bucket, None, "source_bucket")
        self.audience_bucket = audience_bucket and with_key(self, "AudienceBucketWithKey", audience_bucket, None,
                                                            "audience_bucket") or self.source_bucket
        self.audience_prefix = audience_prefix
        self.batch_output_prefix = batch_output_prefix
        self._expire_superseded(superseded_retention)
        # what the functions write next to the audiences: work files, and one manifest per job
        self._work, self._manifests = f"{audience_prefix}*/_work/*", f"{audience_prefix}*/manifest.json"
        # What the plan and export functions may read in the source bucket: job outputs, and .out
        # files dropped under the object trigger's prefix.
        self._source_patterns = [f"{batch_output_prefix}*"] + (
            [f"{object_trigger_prefix}*.out"] if object_trigger_prefix else [])
        self._max_concurrency = max_concurrency
        self.topic = topic

        environment = {Env.AUDIENCE_BUCKET: self.audience_bucket.bucket_name, Env.AUDIENCE_PREFIX: audience_prefix}
        self._plan = SegmentationFunction(
            self, "Plan", function="batch_segment_postprocessor.plan", environment={
                **environment, Env.SOURCE_BUCKET: self.source_bucket.bucket_name,
                Env.BATCH_OUTPUT_PREFIX: batch_output_prefix},
            description="Finds a batch segment job's output lines", timeout=Duration.minutes(15),
            memory_size=512, settings=checked_settings(plan_function_settings, "plan_function_settings"))
        export_environment = {**environment, Env.HOLDOUT_PERCENT: str(holdout_percent)}
        if suppression_list_bucket is not None:
            export_environment[Env.SUPPRESSION_LIST_URI] = \
                f"s3://{suppression_list_bucket.bucket_name}/{suppression_list_key}"
        self._export = SegmentationFunction(
            self, "Export", function="batch_segment_postprocessor.export", environment=export_environment,
            description="Streams one segment query into an audience file", timeout=Duration.minutes(15),
            memory_size=1769, settings=checked_settings(export_function_settings, "export_function_settings"),
            layers=[python_dependencies_layer(self, "IjsonLayer", "ijson")])
        self._publish = SegmentationFunction(
            self, "Publish", function="batch_segment_postprocessor.publish",
            environment={**environment, Env.EVENT_BUS_NAME: event_bus.event_bus_name,
                         Env.HOLD_THRESHOLD: "off" if hold_threshold is None else str(hold_threshold)},
            description="Writes the audience manifest and announces each audience once", timeout=Duration.minutes(5),
            settings=checked_settings(publish_function_settings, "publish_function_settings"))
        self.plan_function: lambda_.Function = self._plan.function
        self.export_function: lambda_.Function = self._export.function
        self.publish_function: lambda_.Function = self._publish.function
        self._grant_plan()
        self._grant_export(suppression_list_bucket, suppression_list_key)
        self._grant_publish()

        self.state_machine, self.workflow_role, self.workflow_log_group = standard_workflow(
            self, "Workflow", definition=self._definition(), description="Exports batch segment output as audiences",
            timeout=Duration.hours(6), removal_policy=removal_policy)
        self._grant_workflow()
        self.trigger_dead_letter_queue = trigger_dead_letters(self)
        self._triggers(object_trigger_prefix)
        self._release_rule()
        # Exports that end without reaching PublishExportFailed (a timeout, stopped by hand) are reported too.
        self.watch = FailureWatch(
            self, "Watch", state_machine=self.state_machine, label="audience export", event_bus=self.event_bus,
            source=contract.AUDIENCE_SOURCE, detail_type=contract.EXPORT_FAILED,
            detail={"Status": string_at("$.status"), "Error": string_at("$.error"),
                    "Cause": string_at("$.cause"),
                    "ExecutionArn": string_at("$.executionArn")},
            topic=topic, dead_letters=self.trigger_dead_letter_queue, removal_policy=removal_policy)

    def suppress_erased_users(self, bucket: s3.IBucket, key: str) -> None:
        """Every export also keeps out the users listed at ``key`` of ``bucket`` (UserErasure's list of the users it
        erased; absent until the first erasure, which the export then reads as empty: hence the listing grant, so
        that a missing object reads as missing rather than denied)."""
        self.export_function.add_environment(Env.ERASED_USERS_URI, f"s3://{bucket.bucket_name}/{key}")
        role = self._export.role
        grant_objects(role, bucket, ["s3:GetObject"], key)
        role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                                               conditions={"StringEquals": {"s3:prefix": [key]}}))

    # ------------------------------------------------------------------ IAM

    def _grant_plan(self) -> None:
        """Describe the job, list and read its output, read the manifest, write work items."""
        account, region = Stack.of(self).account, Stack.of(self).region
        job_arns = f"arn:{Aws.PARTITION}:personalize:{region}:{account}:batch-segment-job/*"
        outputs, work, manifests = self._source_patterns[0], self._work, self._manifests
        role = self._plan.role
        role.add_to_policy(iam.PolicyStatement(actions=["personalize:DescribeBatchSegmentJob"], resources=[job_arns]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.source_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [outputs]}}))
        grant_objects(role, self.source_bucket, ["s3:GetObject"], *self._source_patterns, wildcard_reason=JOB_NAMES)
        grant_objects(role, self.audience_bucket, ["s3:GetObject"], manifests, wildcard_reason=JOB_NAMES)
        grant_objects(role, self.audience_bucket, ["s3:PutObject"], work, wildcard_reason=JOB_NAMES)
        acknowledge_wildcard_resources(role, [job_arns], JOB_NAMES)

    def _grant_export(self, suppression_bucket: Optional[s3.IBucket], suppression_key: Optional[str]) -> None:
        """Ranged reads of the output, multipart writes of audience files, copies out of _work, deltas against the
        previous version; the suppression list."""
        work = self._work
        role = self._export.role
        grant_objects(role, self.source_bucket, ["s3:GetObject"], *self._source_patterns, wildcard_reason=JOB_NAMES)
        grant_objects(role, self.audience_bucket,
                      ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"], work,
                      wildcard_reason=JOB_NAMES)
        # final names are written directly (multipart, aborted if the line turns out broken)
        grant_objects(role, self.audience_bucket, ["s3:PutObject", "s3:AbortMultipartUpload"],
                      f"{self.audience_prefix}*.csv", wildcard_reason=JOB_NAMES)
        # deltas (export/deltas.py): the audience's latest version, its file and the new one read, who joined and
        # who left written
        grant_objects(role, self.audience_bucket, ["s3:GetObject"], f"{self.audience_prefix}_audiences/*",
                      f"{self.audience_prefix}*.csv", wildcard_reason=JOB_NAMES)
        grant_objects(role, self.audience_bucket, ["s3:PutObject", "s3:AbortMultipartUpload"],
                      f"{self.audience_prefix}*/deltas/*", wildcard_reason=JOB_NAMES)
        if suppression_bucket is not None:
            grant_objects(role, suppression_bucket, ["s3:GetObject"], suppression_key)

    def _expire_superseded(self, retention: Duration) -> None:
        """The lifecycle rule that expires audience versions a refresh replaced (publish/versions.py tags them)."""
        if isinstance(self.audience_bucket, s3.Bucket):
            self.audience_bucket.add_lifecycle_rule(
                id=f"ExpireSupersededAudiences-{Names.unique_id(self)}"[:255], prefix=self.audience_prefix,
                tag_filters={SUPERSEDED_TAG: "true"}, expiration=retention)
        else:
            Annotations.of(self).add_warning_v2(
                "segmentation:superseded-lifecycle",
                f"The audience bucket was handed in, so no lifecycle rule can be added here: add one to it that "
                f"expires objects under {self.audience_prefix} tagged {SUPERSEDED_TAG}=true after "
                f"{retention.to_days():.0f} days, or superseded audience versions are kept.")

    def _grant_publish(self) -> None:
        """Read per-line results, write the manifest and the publish marker, advance each audience's version (and tag
        the version it replaced), record a release in the held job's manifest, put events."""
        work, manifests = self._work, self._manifests
        role = self._publish.role
        grant_objects(role, self.audience_bucket, ["s3:GetObject", "s3:PutObject"],
                      f"{self.audience_prefix}_audiences/*", wildcard_reason=JOB_NAMES)
        grant_objects(role, self.audience_bucket, ["s3:PutObjectTagging"], f"{self.audience_prefix}*.csv",
                      wildcard_reason=JOB_NAMES)
        grant_objects(role, self.audience_bucket, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                      f"{self.audience_prefix}_holds/*", wildcard_reason=JOB_NAMES)
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.audience_bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [work]}}))
        grant_objects(role, self.audience_bucket, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], work,
                      wildcard_reason=JOB_NAMES)
        grant_objects(role, self.audience_bucket, ["s3:GetObject", "s3:PutObject"], manifests,
                      wildcard_reason=JOB_NAMES)
        self.event_bus.grant_put_events_to(role)

    def _grant_workflow(self) -> None:
        role = self.workflow_role
        role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[
            f.function_arn for f in (self.plan_function, self.export_function, self.publish_function)]))
        role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[self.event_bus.event_bus_arn]))
        if self.topic is not None:
            grant_publish(role, self.topic)
        items = f"{self.audience_prefix}*/_work/items-*.json"
        grant_objects(role, self.audience_bucket, ["s3:GetObject"], items, wildcard_reason=JOB_NAMES)
        # Distributed Map child executions; a separate policy, as the state machine's ARN is needed.
        stack = Stack.of(self)
        partition, region, account = stack.partition, stack.region, stack.account
        executions = f"arn:{partition}:states:{region}:{account}:execution:{self.state_machine.state_machine_name}/*"
        map_policy = iam.Policy(self, "DistributedMapPolicy", roles=[role], statements=[
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.state_machine.state_machine_arn]),
            iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"], resources=[executions]),
        ])
        reason = "Child executions of this state machine's Distributed Map get IDs at run time; the ARN names it."
        acknowledge_wildcard_resources(map_policy, [executions], reason)
        # CDK's own copy of this policy stays unattached (the role takes no CDK statements) and is not rendered.
        unrendered = self.state_machine.node.try_find_child("DistributedMapPolicy")
        if unrendered is not None:
            name = Fn.select(6, Fn.split(":", self.state_machine.state_machine_arn))
            acknowledge_wildcard_resources(unrendered, [
                f"arn:{partition}:states:{region}:{account}:execution:{name}/*:*",
                f"arn:{partition}:states:{region}:{account}:execution:{name}:*"], reason)

    # ------------------------------------------------------------------ triggers

    def _triggers(self, object_trigger_prefix: Optional[str]) -> None:
        role = service_role(self, "TriggerRole", "events.amazonaws.com", "Starts the audience export workflow")
        events.Rule(
            self, "SegmentJobActive", event_bus=self.event_bus,
            description="A batch segment job finished: export its segments",
            event_pattern=events.EventPattern(source=[contract.PERSONALIZE_SOURCE],
                                              detail_type=[contract.BATCH_SEGMENT_JOB_STATE_CHANGE],
                                              detail={"Status": ["ACTIVE"]}),
            targets=[targets.SfnStateMachine(self.state_machine, role=role, retry_attempts=10,
                                             dead_letter_queue=self.trigger_dead_letter_queue)],
        )
        if object_trigger_prefix is None:
            return
        events_from(self, self.source_bucket)
        events.Rule(
            self, "OutputFileCreated",
            description=f"A .out file under {object_trigger_prefix}: export its segments",
            event_pattern=events.EventPattern(source=[contract.S3_SOURCE], detail_type=[contract.OBJECT_CREATED], detail={
                "bucket": {"name": [self.source_bucket.bucket_name]},
                "object": {"key": [{"wildcard": f"{object_trigger_prefix}*.out"}]}}),
            targets=[targets.SfnStateMachine(self.state_machine, role=role, retry_attempts=10,
                                             dead_letter_queue=self.trigger_dead_letter_queue)],
        )

    def _release_rule(self) -> None:
        """``Audience Release Requested`` on the bus publishes the audience's held refresh (publish/holds.py)."""
        events.Rule(
            self, "ReleaseRequested", event_bus=self.event_bus,
            description="Publishes an audience's held refresh when someone releases it",
            event_pattern=events.EventPattern(source=[contract.AUDIENCE_SOURCE],
                                              detail_type=[contract.RELEASE_REQUESTED],
                                              detail={"audience": [{"exists": True}]}),
            targets=[targets.LambdaFunction(self.publish_function, retry_attempts=10,
                                            dead_letter_queue=self.trigger_dead_letter_queue)])

    # ------------------------------------------------------------------ workflow

    @staticmethod
    def _retried(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
        """Throttling and full quotas (Personalize's DescribeBatchSegmentJob, EventBridge's PutEvents) retried with
        backoff and full jitter, and transient faults."""
        return retry_transient(retry_throttling(task, Duration.seconds(5), max_delay=Duration.minutes(5)))

    def _definition(self) -> sfn.IChainable:
        # No payload given: the task passes its whole input (the event, or one work item) as is.
        plan = self._retried(tasks.LambdaInvoke(self, "PlanExport", lambda_function=self._plan.function,
                                                payload_response_only=True, result_path="$.plan"))
        export_line = tasks.LambdaInvoke(self, "ExportSegment", lambda_function=self._export.function,
                                         payload_response_only=True)
        export_line.add_retry(errors=["States.TaskFailed"], interval=Duration.seconds(5), max_attempts=2,
                              backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
        export = sfn.DistributedMap(
            self, "ExportSegments",
            item_reader=sfn.S3JsonItemReader(bucket=self.audience_bucket,
                                             key=string_at("$.plan.itemsKey")),
            map_execution_type=sfn.StateMachineType.STANDARD,
            max_concurrency=self._max_concurrency,
            result_path=DISCARD,
        )
        export.item_processor(export_line)
        publish = self._retried(tasks.LambdaInvoke(
            self, "PublishAudiences", lambda_function=self._publish.function, input_path="$.plan",
            payload=sfn.TaskInput.from_object({
                "jobName": string_at("$.jobName"), "jobArn": string_at("$.jobArn"),
                "sourceId": string_at("$.sourceId"), "sourceFiles": sfn.JsonPath.list_at("$.sourceFiles"),
                # the publish claim's owner: a retry of this execution takes its own claim over at once
                "executionArn": sfn.JsonPath.execution_id}),
            payload_response_only=True, result_path="$.published"))
        end = sfn.Fail(self, "ExportFailed", error=contract.AUDIENCE_EXPORT_FAILED,
                       cause=f"See the {contract.EXPORT_FAILED} event")
        failed = retried(tasks.EventBridgePutEvents(
            self, "PublishExportFailed",
            entries=[tasks.EventBridgePutEventsEntry(
                event_bus=self.event_bus, source=contract.AUDIENCE_SOURCE, detail_type=contract.EXPORT_FAILED,
                detail=sfn.TaskInput.from_object({"Error": string_at("$.failure.Error"),
                                                  "Cause": string_at("$.failure.Cause"),
                                                  "ExecutionArn": sfn.JsonPath.execution_id}))],
            result_path=DISCARD,
        ))
        if self.topic is not None:
            failed.next(notify_then(tasks.SnsPublish(
                self, "NotifyExportFailed", topic=self.topic, subject="Audience export failed",
                message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                    "The audience export {} failed: {}\n{}", sfn.JsonPath.execution_id,
                    string_at("$.failure.Error"), string_at("$.failure.Cause"))),
                result_path=DISCARD), end)).next(end)
        else:
            failed.next(end)
        for state in (plan, export, publish):
            state.add_catch(failed, errors=["States.ALL"], result_path="$.failure")
        exported = sfn.Succeed(self, "Exported")
        if self.topic is not None:  # a refresh the guard held waits for someone: tell them
            after_publish = sfn.Choice(self, "AnyHeld?").when(
                sfn.Condition.is_present("$.published.held[0]"), notify_then(tasks.SnsPublish(
                    self, "NotifyHeld", topic=self.topic, subject="Audience refresh held",
                    message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                        "These audience refreshes changed more than the hold threshold allows, or came back empty; "
                        "they are written but not published. Check them, then release each with an event "
                        f"(source {contract.AUDIENCE_SOURCE}, detail-type {contract.RELEASE_REQUESTED}, detail with "
                        "audience set to its name) on the bus:\n{}",
                        sfn.JsonPath.json_to_string(sfn.JsonPath.list_at("$.published.held")))),
                    result_path=DISCARD), exported).next(exported)).otherwise(exported)
        else:
            after_publish = exported
        return plan.next(
            sfn.Choice(self, "AlreadyExported?")
            .when(sfn.Condition.boolean_equals("$.plan.skip", True), sfn.Succeed(self, "NothingNew"))
            .otherwise(export.next(publish).next(after_publish))
        )

    # ------------------------------------------------------------------ grants

    def grant_read_audiences(self, grantee: iam.IGrantable) -> iam.Grant:
        """Lets ``grantee`` read the audience files, their control files and the manifests (e.g. a destination of
        your own), and nothing of the work files beside them."""
        return grant_objects(grantee, self.audience_bucket, ["s3:GetObject"], f"{self.audience_prefix}*.csv",
                             f"{self.audience_prefix}*/manifest.json")

"""PersonalizeTrainingPipeline: one uploaded config trains Personalize user-segmentation models.

Upload ``train/<name>/<config>.json`` (CSVs beside it) to the data bucket; S3's
EventBridge notification starts a Step Functions Standard workflow that

1. validates the config and reports every mistake at once (nothing is created
   for a rejected config: a failure event and a notification instead);
2. gets or creates the dataset group, schemas, datasets and import jobs, the
   solutions and their FULL-trained versions, and the batch segment jobs,
   each in a Wait/describe loop bounded by the run's time budget;
3. emits a ``Personalize <Resource> State Change`` event (the MPEwML contract)
   for every status change it sees, failures included, and notifies the topic
   when the run starts, succeeds or fails.

Schedules: the config's MPEwML ``workflowConfig`` schedules become EventBridge
Scheduler schedules in the construct's group, reconciled by every valid upload;
each starts the workflow for its part (imports, a retraining, one job).

One run per config at a time: a valid run claims the config (``runs/`` in the
data bucket) before it creates anything. A new upload of a config whose run is
still going waits for it (``QUEUED``); a duplicate delivery of the very upload
being trained ends at once (``JOINED``).

Reading order: props and resources in ``__init__``, IAM in ``_grant_validate``,
``_grant_ensure``, ``_grant_schedule`` (one method a function), ``_grant_scheduler``
and ``_grant_workflow``, the workflow in ``_definition`` (``_admit``, ``_schedule_runs``);
the Lambda code is in ``lambda_src/training_pipeline/validate_config/`` (and its
``runs.py``, ``triggers.py``, ``schedules.py``), ``ensure_resource/`` and ``schedule_runs/``.
"""

from __future__ import annotations

from typing import Any, Optional

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from segmentation_constructs import _props, contract
from segmentation_constructs._lambda import FunctionSettings, SegmentationFunction, checked_settings
from segmentation_constructs._nag import acknowledge, acknowledge_wildcard_resources
from segmentation_constructs._storage import access_log_bucket, enable_event_bridge, grant_objects, secure_bucket, \
    with_key
from segmentation_constructs._watch import FailureWatch, trigger_dead_letters
from segmentation_constructs._workflow import DISCARD, MAX_RETRY_DELAY, grant_describe_executions, grant_pass_role, \
    grant_publish, notify_then, object_at, retried, retry_throttling, retry_transient, service_role, \
    standard_workflow, string_at

TRAIN_PREFIX = "train/"
BATCH_PREFIX = "batch/"
Env = contract.Env
# Personalize's default quota is 5 in-progress import jobs and 5 batch segment jobs.
MAX_PARALLEL_IMPORTS = 3
MAX_PARALLEL_SEGMENT_JOBS = 5
MAX_POLLS = 500  # 500 polls x 9 history events x 5 resources polled at once, + the queue's, < 25,000 events
MAX_QUEUE_POLLS = 100  # a run waiting for another run of its config polls at most this often in one budget
# An execution runs at most a year; the workflow's timeout is a budget of waiting for an earlier run of the config,
# a budget of its own and an hour.
MAX_BUDGET = Duration.days(182)

RUNS_PREFIX = "runs/"  # one claim a config: runs/<sha256 of its key>.json (lambda_src/.../validate_config/runs.py)
RUN_CLAIMS = "A config's claim is named after a hash of its key, computed at run time."
UPLOAD_NAMES = ("Object keys under train/ and batch/ are chosen by the team at upload time and by the run "
                "(job names); the prefix and file pattern are the narrowest fixed part.")
RUNTIME_NAMES = ("Personalize resource names come from the uploaded config at run time; each ARN is limited to "
                 "this account, this Region and one resource type.")

PERSONALIZE_ACTIONS = {
    # action: the ARN resource part IAM authorizes it on, as the Service Authorization Reference lists it (only the
    # resource the call creates or describes: the parents a request names, such as the dataset group of a new
    # dataset, are not authorized separately). Names come from the config at run time.
    "CreateDatasetGroup": ["dataset-group/*"],
    "DescribeDatasetGroup": ["dataset-group/*"],
    "CreateSchema": ["schema/*"],
    "DescribeSchema": ["schema/*"],
    "CreateDataset": ["dataset/*"],
    "DescribeDataset": ["dataset/*"],
    "CreateDatasetImportJob": ["dataset-import-job/*"],
    "DescribeDatasetImportJob": ["dataset-import-job/*"],
    "CreateSolution": ["solution/*"],
    "DescribeSolution": ["solution/*"],
    "CreateSolutionVersion": ["solution/*"],
    "DescribeSolutionVersion": ["solution/*"],
    "CreateBatchSegmentJob": ["batch-segment-job/*"],
    "DescribeBatchSegmentJob": ["batch-segment-job/*"],
}
# Create* calls carry the config's tags, and a segment schedule's run lists a solution's versions; the Service
# Authorization Reference lists no resource type for TagResource or ListSolutionVersions, so IAM matches them only on
# "*" (an ARN there would deny every tagged create, and every listing).
UNSCOPED_ACTIONS = ["personalize:TagResource", "personalize:ListSolutionVersions"]


class PersonalizeTrainingPipeline(Construct):
    """Trains Amazon Personalize USER_SEGMENTATION solutions from a config uploaded to S3.

    :param bucket: data bucket to watch. Omitted: one is created, SSE-S3 (or ``encryption_key``), TLS-only, public
        access blocked, versioned, access-logged and retained. A handed-in bucket keeps its existing notifications
        (EventBridge delivery is added next to them); its owner must allow ``personalize.amazonaws.com`` in its bucket
        policy (a synth warning ``segmentation:personalize-bucket-policy`` says so).
    :param encryption_key: KMS key for the created bucket and topic, or the key of a bucket handed in by name. The
        data key (this, or the handed-in bucket's own) is usable by the Personalize role and the functions, and its
        key policy allows ``personalize.amazonaws.com`` (for a key from outside the app, a synth warning
        ``segmentation:personalize-key-policy`` lists what to add).
    :param event_bus: bus for the state-change events; created if omitted.
    :param topic: topic for human notifications; created if omitted, encrypted with ``alias/aws/sns`` or
        ``encryption_key``.
    :param notification_email: subscribes this address to the topic.
    :param poll_interval: Wait between two status checks of a resource.
    :param polling_budget: total time a run may take from when it starts its work; past it the run fails with
        ``PollingBudgetExceeded``. A run queued behind another run of its config waits at most as long again.
        ``polling_budget / poll_interval`` may be at most 500 polls, which keeps a run under Step Functions'
        25,000-event history limit (a synth error says so); at most 182 days.
    :param upload_settle_time: Wait before validating, so the CSVs of one ``aws s3 sync`` have arrived.
    :param retry_interval: first backoff after throttling or a full Personalize quota (doubles, full jitter,
        8 attempts, at most 15 minutes).
    :param validate_function_settings: memory, timeout, log retention and tracing of the function that validates a
        config (``FunctionSettings``; default 256 MB, 2 minutes: its AWS calls give up within that).
    :param ensure_function_settings: the same for the function that gets or creates each Personalize resource
        (default 256 MB, 2 minutes).
    :param removal_policy: for the buckets and log groups it creates; retained by default.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket: Optional[s3.IBucket] = None,
        encryption_key: Optional[kms.IKey] = None,
        event_bus: Optional[events.IEventBus] = None,
        topic: Optional[sns.ITopic] = None,
        notification_email: Optional[str] = None,
        poll_interval: Duration = Duration.minutes(5),
        polling_budget: Duration = Duration.hours(24),
        upload_settle_time: Duration = Duration.seconds(30),
        retry_interval: Duration = Duration.seconds(30),
        validate_function_settings: Optional[FunctionSettings] = None,
        ensure_function_settings: Optional[FunctionSettings] = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        _props.construct_of("bucket", bucket, s3.IBucket, optional=True)
        _props.construct_of("encryption_key", encryption_key, kms.IKey, optional=True)
        _props.construct_of("event_bus", event_bus, events.IEventBus, optional=True)
        _props.construct_of("topic", topic, sns.ITopic, optional=True)
        _props.email("notification_email", notification_email, optional=True)
        _props.duration("poll_interval", poll_interval, at_least=Duration.seconds(1))
        _props.duration("polling_budget", polling_budget, at_most=MAX_BUDGET)
        _props.check(polling_budget.to_seconds() > poll_interval.to_seconds(), "polling_budget",
                     f"longer than poll_interval ({poll_interval.to_human_string()})", polling_budget)
        polls = polling_budget.to_seconds() / poll_interval.to_seconds()
        if polls > MAX_POLLS:
            raise ValueError(
                f"polling_budget / poll_interval allows {polls:,.0f} polls; at most {MAX_POLLS} keep a run under "
                "Step Functions' 25,000-event history limit (9 events a poll, up to 5 resources polled at once): "
                "lengthen poll_interval or shorten polling_budget")
        _props.duration("upload_settle_time", upload_settle_time)
        _props.check(upload_settle_time.to_seconds() < polling_budget.to_seconds(), "upload_settle_time",
                     f"shorter than polling_budget ({polling_budget.to_human_string()}), which it is part of",
                     upload_settle_time)
        _props.duration("retry_interval", retry_interval, at_least=Duration.seconds(1), at_most=MAX_RETRY_DELAY)
        _props.removal_policy("removal_policy", removal_policy)
        self._poll_interval = poll_interval
        # A queued run polls its config's running run at most MAX_QUEUE_POLLS times in a budget.
        self._queue_interval = Duration.seconds(max(poll_interval.to_seconds(),
                                                    -(-polling_budget.to_seconds() // MAX_QUEUE_POLLS)))
        self._upload_settle_time = upload_settle_time
        self._retry_interval = retry_interval

        if bucket is None:
            logs_bucket = access_log_bucket(self, "AccessLogs", removal_policy=removal_policy)
            self.bucket: s3.IBucket = secure_bucket(self, "DataBucket", encryption_key=encryption_key,
                                                     removal_policy=removal_policy, access_logs=logs_bucket)
            # Native EventBridge delivery: no notifications custom resource for a bucket we own.
            self.bucket.node.default_child.notification_configuration = \
                s3.CfnBucket.NotificationConfigurationProperty(
                    event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
                        event_bridge_enabled=True))
        else:
            self.bucket = with_key(self, "DataBucketWithKey", bucket, encryption_key, "bucket")
            enable_event_bridge(bucket)
        # The key Personalize and the functions use for the data: the bucket's own, else the one handed in.
        self.encryption_key: Optional[kms.IKey] = self.bucket.encryption_key or encryption_key

        self.event_bus: events.IEventBus = event_bus or events.EventBus(self, "EventBus")
        self.topic: sns.ITopic = topic or sns.Topic(
            self, "Topic",
            display_name="Personalize segmentation training",
            master_key=encryption_key or kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        if notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(notification_email))

        self.personalize_role = self._personalize_role()
        self.trigger_dead_letter_queue = trigger_dead_letters(self)
        # The config's schedules (workflowConfig), created at run time by the ScheduleRuns function.
        self.schedule_group = scheduler.ScheduleGroup(self, "Schedules", removal_policy=removal_policy)
        self.scheduler_role = service_role(
            self, "SchedulerRole", "scheduler.amazonaws.com", "EventBridge Scheduler starts scheduled training runs",
            source_arn=self.schedule_group.schedule_group_arn)
        self._validate = SegmentationFunction(
            self, "ValidateConfig", function="training_pipeline.validate_config",
            description="Validates an uploaded Personalize training config and plans the run",
            environment={Env.POLLING_BUDGET_SECONDS: str(int(polling_budget.to_seconds()))},
            settings=checked_settings(validate_function_settings, "validate_function_settings"),
        )
        self._ensure = SegmentationFunction(
            self, "EnsureResource", function="training_pipeline.ensure_resource",
            description="Gets or creates one Personalize resource and reports its status",
            environment={Env.EVENT_BUS_NAME: self.event_bus.event_bus_name,
                         Env.PERSONALIZE_ROLE_ARN: self.personalize_role.role_arn},
            settings=checked_settings(ensure_function_settings, "ensure_function_settings"),
        )
        self._schedule = SegmentationFunction(
            self, "ScheduleRuns", function="training_pipeline.schedule_runs",
            description="Creates, updates and deletes a config's schedules to match the config",
            environment={Env.SCHEDULE_GROUP: self.schedule_group.schedule_group_name,
                         Env.SCHEDULER_ROLE_ARN: self.scheduler_role.role_arn,
                         Env.DEAD_LETTER_QUEUE_ARN: self.trigger_dead_letter_queue.queue_arn},
            settings=FunctionSettings(),
        )
        self.validate_function: lambda_.Function = self._validate.function
        self.ensure_function: lambda_.Function = self._ensure.function
        self.schedule_function: lambda_.Function = self._schedule.function
        self._grant_validate(self._validate.role)
        self._grant_ensure(self._ensure.role)
        self._grant_schedule(self._schedule.role)

        self.state_machine, self.workflow_role, self.workflow_log_group = standard_workflow(
            self, "Workflow", definition=self._definition(), description="Runs the Personalize training workflow",
            timeout=polling_budget.plus(polling_budget).plus(Duration.hours(1)), removal_policy=removal_policy)
        self._grant_workflow(self.workflow_role)
        self._grant_run_claims(self._validate.role)
        self._grant_scheduler(self.scheduler_role)
        self._trigger()
        # Runs that end without reaching PublishFailed (a timeout, stopped by hand) report as run events too.
        self.watch = FailureWatch(
            self, "Watch", state_machine=self.state_machine, label="training", event_bus=self.event_bus,
            source=contract.PERSONALIZE_SOURCE, detail_type=contract.TRAINING_RUN_STATE_CHANGE,
            detail={"Status": string_at("$.status"), "Error": string_at("$.error"),
                    "Cause": string_at("$.cause"), "ExecutionArn": string_at("$.executionArn"),
                    "ConfigUri": sfn.JsonPath.format("s3://{}/{}", string_at("$.input.bucket"),
                                                     string_at("$.input.key"))},
            topic=self.topic, dead_letters=self.trigger_dead_letter_queue, removal_policy=removal_policy)

    # ------------------------------------------------------------------ IAM

    def _personalize_role(self) -> iam.Role:
        """Assumed by Personalize in this account only: reads training data and job input, writes job output."""
        stack = Stack.of(self)
        role = service_role(self, "PersonalizeRole", "personalize.amazonaws.com",
                             "Amazon Personalize reads training data and writes batch segment output",
                             source_arn=f"arn:{stack.partition}:personalize:{stack.region}:{stack.account}:*")
        statements = self._personalize_s3_statements()
        for statement in statements:
            role.add_to_policy(statement)
            # Personalize also requires the bucket policy to allow the service itself.
            bucket_statement = iam.PolicyStatement(
                principals=[iam.ServicePrincipal("personalize.amazonaws.com")],
                actions=statement.actions, resources=statement.resources,
                conditions={**(statement.conditions or {}),
                            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
            if not self.bucket.add_to_resource_policy(bucket_statement).statement_added:
                Annotations.of(self).add_warning_v2(
                    "segmentation:personalize-bucket-policy",
                    "The data bucket was handed in, so its policy cannot be changed here: allow "
                    "personalize.amazonaws.com s3:GetObject/ListBucket on train/ and s3:PutObject on batch/ in it.",
                )
                break
        if self.encryption_key:
            self.encryption_key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
            # Personalize also needs the key policy to name the service itself.
            added = self.encryption_key.add_to_resource_policy(iam.PolicyStatement(
                principals=[iam.ServicePrincipal("personalize.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant", "kms:ListGrants"],
                resources=["*"], conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}})).statement_added
            if not added:
                Annotations.of(self).add_warning_v2(
                    "segmentation:personalize-key-policy",
                    "The KMS key was handed in, so its policy cannot be changed here: allow personalize.amazonaws.com "
                    "kms:Decrypt, GenerateDataKey, DescribeKey, CreateGrant and ListGrants in it.")
        acknowledge_wildcard_resources(role, [r for st in statements for r in st.resources if "*" in r], UPLOAD_NAMES)
        return role

    def _personalize_s3_statements(self) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects(f"{TRAIN_PREFIX}*"),
                           self.bucket.arn_for_objects(f"{BATCH_PREFIX}*/job_config.json")],
            ),
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{TRAIN_PREFIX}*", f"{BATCH_PREFIX}*"]}},
            ),
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects(f"{BATCH_PREFIX}*")]),
        ]

    def _grant_validate(self, role: iam.Role) -> None:
        """Reads the config, the CSV header rows and job_config.json; claims and releases runs of a config."""
        patterns = [f"{TRAIN_PREFIX}*", f"{BATCH_PREFIX}*/job_config.json"]
        grant_objects(role, self.bucket, ["s3:GetObject"], *patterns, wildcard_reason=UPLOAD_NAMES)
        grant_objects(role, self.bucket, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                      f"{RUNS_PREFIX}*.json", wildcard_reason=RUN_CLAIMS)

    def _grant_run_claims(self, role: iam.Role) -> None:
        """Asks whether the run holding a config's claim still runs."""
        grant_describe_executions(self, "DescribeRuns", role, self.state_machine, "a run starts")

    def _grant_ensure(self, role: iam.Role) -> None:
        """Creates and describes Personalize resources, writes inline job input, publishes events."""
        stack = Stack.of(self)
        arn = f"arn:{Aws.PARTITION}:personalize:{stack.region}:{stack.account}:"
        by_resources: dict[tuple, list[str]] = {}
        for action, parts in PERSONALIZE_ACTIONS.items():
            by_resources.setdefault(tuple(parts), []).append(f"personalize:{action}")
        for parts, actions in by_resources.items():
            role.add_to_policy(iam.PolicyStatement(
                actions=actions,
                resources=[arn + p for p in parts],
            ))
        role.add_to_policy(iam.PolicyStatement(actions=UNSCOPED_ACTIONS, resources=["*"]))
        acknowledge_wildcard_resources(
            role, {arn + p for parts in PERSONALIZE_ACTIONS.values() for p in parts}, RUNTIME_NAMES)
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                    "Only personalize:TagResource and ListSolutionVersions, which the Service Authorization Reference "
                    "lists with no resource type (IAM matches them on * only): Create* calls carry the config's tags, "
                    "and a segment schedule's run finds the solution's latest ACTIVE version.")
        grant_pass_role(role, self.personalize_role, "personalize.amazonaws.com")
        # HeadObject for ETags (GetObject permission) and PutObject for inline segment queries.
        read, write = [f"{TRAIN_PREFIX}*.csv", f"{BATCH_PREFIX}*/job_config.json"], [f"{BATCH_PREFIX}*/input/job_config.json"]
        grant_objects(role, self.bucket, ["s3:GetObject"], *read, wildcard_reason=UPLOAD_NAMES)
        grant_objects(role, self.bucket, ["s3:PutObject"], *write, wildcard_reason=UPLOAD_NAMES)
        self.event_bus.grant_put_events_to(role)

    def _grant_schedule(self, role: iam.Role) -> None:
        """Creates, updates and deletes schedules in the construct's group; passes them the scheduler role."""
        stack = Stack.of(self)
        schedules = stack.format_arn(service="scheduler", resource="schedule",
                                     resource_name=f"{self.schedule_group.schedule_group_name}/*")
        role.add_to_policy(iam.PolicyStatement(
            actions=[f"scheduler:{a}" for a in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule")],
            resources=[schedules]))
        role.add_to_policy(iam.PolicyStatement(actions=["scheduler:ListSchedules"], resources=["*"]))
        grant_pass_role(role, self.scheduler_role, "scheduler.amazonaws.com")
        acknowledge_wildcard_resources(role, [schedules], "Schedule names come from the uploaded config at run "
                                       "time; the ARN is limited to this construct's schedule group.")
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                    "Only scheduler:ListSchedules, which the Service Authorization Reference lists with no resource "
                    "type (IAM matches it on * only); the function lists its own group's schedules.")

    def _grant_scheduler(self, role: iam.Role) -> None:
        """The schedules start the workflow; a trigger they cannot deliver goes to the dead-letter queue."""
        self.state_machine.grant_start_execution(role)
        self.trigger_dead_letter_queue.grant_send_messages(role)

    def _grant_workflow(self, role: iam.Role) -> None:
        """Invokes its two functions, publishes run events and notifications (logs and traces: _workflow)."""
        role.add_to_policy(iam.PolicyStatement(
            actions=["lambda:InvokeFunction"],
            resources=[self.validate_function.function_arn, self.ensure_function.function_arn,
                       self.schedule_function.function_arn]))
        role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"],
                                               resources=[self.event_bus.event_bus_arn]))
        grant_publish(role, self.topic)

    # ------------------------------------------------------------------ trigger

    def _trigger(self) -> None:
        dead_letters = self.trigger_dead_letter_queue
        events.Rule(
            self, "ConfigUploaded",
            description="Starts the training workflow when a config JSON lands under train/",
            event_pattern=events.EventPattern(
                source=[contract.S3_SOURCE],
                detail_type=[contract.OBJECT_CREATED],
                detail={
                    "bucket": {"name": [self.bucket.bucket_name]},
                    "object": {"key": [{"wildcard": f"{TRAIN_PREFIX}*.json"}]},
                },
            ),
            targets=[targets.SfnStateMachine(
                self.state_machine,
                role=service_role(self, "TriggerRole", "events.amazonaws.com",
                                   "Starts the training workflow for an uploaded config"),
                input=events.RuleTargetInput.from_object({
                    "bucket": events.EventField.from_path("$.detail.bucket.name"),
                    "key": events.EventField.from_path("$.detail.object.key"),
                }),
                dead_letter_queue=dead_letters,
                retry_attempts=10,
            )],
        )

    # ------------------------------------------------------------------ workflow

    def _poll_loop(self, name: str, kind: str, slot: str, *, spec: str, parents: dict[str, Any],
                   then: sfn.IChainable, on_failure: Optional[sfn.IChainable] = None) -> sfn.IChainable:
        """Ensure<name> -> <name>Active? -> (Wait<name> -> Ensure<name>)* -> then.

        The Lambda gets or creates the resource, describes it on later polls and
        raises ResourceFailed / PollingBudgetExceeded: caught once at the top, or by
        ``on_failure`` (the error in ``$.failure``) for a resource whose failure must
        not stop the others.
        """
        ensure = tasks.LambdaInvoke(
            self, f"Ensure{name}",
            lambda_function=self.ensure_function,
            payload=sfn.TaskInput.from_object({
                "kind": kind,
                "spec": object_at(spec),
                "parents": parents,
                "current": object_at(f"$.{slot}"),
                "deadline": string_at("$.deadline"),
            }),
            payload_response_only=True,
            result_path=f"$.{slot}",
        )
        retry_transient(retry_throttling(ensure, self._retry_interval))
        if on_failure is not None:
            ensure.add_catch(on_failure, errors=["States.ALL"], result_path="$.failure")
        wait = sfn.Wait(self, f"Wait{name}", time=sfn.WaitTime.duration(self._poll_interval))
        active = sfn.Choice(self, f"{name}Active?")
        active.when(sfn.Condition.boolean_equals(f"$.{slot}.done", True), then).otherwise(wait.next(ensure))
        start = sfn.Pass(self, f"Start{name}", result=sfn.Result.from_object({}), result_path=f"$.{slot}")
        return start.next(ensure).next(active)

    def _map(self, id_: str, items_path: str, result_path: str, max_concurrency: int, **selector: Any) -> sfn.Map:
        """An inline Map over ``items_path``: each item as ``$.spec``, with ``selector``'s fields of the run."""
        return sfn.Map(self, id_, items_path=items_path, max_concurrency=max_concurrency, result_path=result_path,
                       item_selector={"spec": object_at("$$.Map.Item.Value"), **selector})

    def _batch_segment_jobs(self) -> sfn.Map:
        jobs = self._map("BatchSegmentJobs", "$.spec.batchSegmentJobs", "$.batchSegmentJobs",
                         MAX_PARALLEL_SEGMENT_JOBS, deadline=string_at("$.deadline"), parents={
                             "solutionVersionArn": string_at("$.solutionVersion.arn"),
                             "solutionName": string_at("$.solution.name"),
                             "datasetGroupName": string_at("$.datasetGroupName"),
                             "bucket": string_at("$.bucket")})
        job_done = sfn.Pass(self, "BatchSegmentJobDone", parameters={
            "arn": string_at("$.job.arn"), "outputPath": string_at("$.job.outputPath"),
            "failed": False})
        # A job that fails does not stop the others: they finish (and are exported); the run reports it at the end.
        job_failed = sfn.Pass(self, "BatchSegmentJobFailed", parameters={
            "name": string_at("$.spec.baseName"), "error": string_at("$.failure.Error"),
            "failed": True})
        jobs.item_processor(self._poll_loop("BatchSegmentJob", "batchSegmentJob", "job", spec="$.spec",
                                            parents=object_at("$.parents"), then=job_done,
                                            on_failure=job_failed))
        return jobs

    def _definition(self) -> sfn.IChainable:
        run_context = {
            "ConfigUri": string_at("$.configUri"),
            "ExecutionArn": sfn.JsonPath.execution_id,
            "Trigger": object_at("$.trigger"),
        }

        def run_event(id_: str, status: str, **extra: Any) -> tasks.EventBridgePutEvents:
            return retried(tasks.EventBridgePutEvents(
                self, id_,
                entries=[tasks.EventBridgePutEventsEntry(
                    event_bus=self.event_bus, source=contract.PERSONALIZE_SOURCE,
                    detail_type=contract.TRAINING_RUN_STATE_CHANGE,
                    detail=sfn.TaskInput.from_object({"Status": status, **run_context, **extra}))],
                result_path=DISCARD,
            ))

        def notify(id_: str, then: sfn.State, subject: str, message: str, *paths: str) -> tasks.SnsPublish:
            """A notification that cannot fail the run: retried, then caught into ``then``, the state after it."""
            return notify_then(tasks.SnsPublish(
                self, id_, topic=self.topic, subject=subject,
                message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                    message, *(string_at(p) if p.startswith("$.") else p for p in paths))),
                result_path=DISCARD,
            ), then)

        # Rejected config: event, notification, stop. Nothing was created.
        config_rejected = sfn.Fail(self, "ConfigRejected", error=contract.CONFIG_REJECTED,
                                   cause="The training config failed validation")
        rejected = run_event("PublishRejected", contract.RUN_REJECTED,
                             Errors=sfn.JsonPath.list_at("$.validation.errors")).next(
            notify("NotifyRejected", config_rejected, "Personalize training config rejected",
                   "The training config {} was rejected; nothing was created. Fix these and upload it again:\n{}",
                   "$.configUri", sfn.JsonPath.json_to_string(sfn.JsonPath.list_at("$.validation.errors")))
        ).next(config_rejected)

        # Datasets: schema -> dataset -> import job, for each dataset in parallel.
        dataset_ready = sfn.Pass(self, "DatasetReady", parameters={
            "datasetArn": string_at("$.dataset.arn"),
            "importUpdatedAt": string_at("$.importJob.updatedAt")})
        import_loop = self._poll_loop("DatasetImportJob", "datasetImportJob", "importJob", spec="$.spec",
                                      parents={"datasetArn": string_at("$.dataset.arn")},
                                      then=dataset_ready)
        dataset_loop = self._poll_loop("Dataset", "dataset", "dataset", spec="$.spec", parents={
            "datasetGroupArn": string_at("$.datasetGroupArn"),
            "schemaArn": string_at("$.schema.arn")}, then=import_loop)
        schema_loop = self._poll_loop("Schema", "schema", "schema", spec="$.spec.schema", parents={},
                                      then=dataset_loop)
        datasets = self._map("Datasets", "$.plan.datasets", "$.datasets", MAX_PARALLEL_IMPORTS,
                             datasetGroupArn=string_at("$.datasetGroup.arn"),
                             deadline=string_at("$.deadline"))
        datasets.item_processor(schema_loop)

        # Solutions: solution -> FULL solution version -> batch segment jobs.
        # Whether a job of the solution failed: every job's flag, gathered by a Pass that keeps only the results (the
        # largest state of a run is here, with every job's result; the plan's specs are left behind).
        flags = sfn.Pass(self, "JobFlags", parameters={
            "solutionVersionArn": string_at("$.solutionVersion.arn"),
            "batchSegmentJobs": sfn.JsonPath.list_at("$.batchSegmentJobs"),
            "flags": sfn.JsonPath.list_at("$.batchSegmentJobs[*].failed")})
        solution_done = sfn.Pass(self, "SolutionDone", parameters={
            "solutionVersionArn": string_at("$.solutionVersionArn"),
            "batchSegmentJobs": sfn.JsonPath.list_at("$.batchSegmentJobs"),
            "anyJobFailed.$": "States.ArrayContains($.flags, true)"})
        without_jobs = sfn.Pass(self, "SolutionDoneWithoutJobs", parameters={
            "solutionVersionArn": string_at("$.solutionVersion.arn"), "batchSegmentJobs": [],
            "anyJobFailed": False})
        jobs = self._batch_segment_jobs()
        jobs.next(sfn.Choice(self, "AnyJobs?").when(sfn.Condition.is_present("$.batchSegmentJobs[0]"),
                                                      flags.next(solution_done)).otherwise(without_jobs))
        version_loop = self._poll_loop("SolutionVersion", "solutionVersion", "solutionVersion",
                                       spec="$.spec.solutionVersion", parents={
                                           "solutionArn": string_at("$.solution.arn"),
                                           "importsUpdatedAt": sfn.JsonPath.list_at("$.importsUpdatedAt")},
                                       then=jobs)
        solution_loop = self._poll_loop("Solution", "solution", "solution", spec="$.spec.params", parents={
            "datasetGroupArn": string_at("$.datasetGroupArn")}, then=version_loop)
        # one solution at a time: its up to 5 parallel batch segment jobs fill Personalize's default quota
        solutions = self._map("Solutions", "$.plan.solutions", "$.solutions", 1,
                              datasetGroupArn=string_at("$.datasetGroup.arn"),
                              datasetGroupName=string_at("$.plan.datasetGroup.name"),
                              bucket=string_at("$.plan.bucket"),
                              importsUpdatedAt=sfn.JsonPath.list_at("$.datasets[*].importUpdatedAt"),
                              deadline=string_at("$.deadline"))
        solutions.item_processor(solution_loop)

        # One branch, for one Catch around all the work; its single result is unwrapped with an intrinsic.
        # The branch ends with its results only: the state keeps one copy of the plan, which the validator
        # sizes so that it fits Step Functions' 256 KiB state quota together with the results.
        solution_flags = sfn.Pass(self, "SolutionFlags", parameters={
            "solutions": sfn.JsonPath.list_at("$.solutions"),
            "flags": sfn.JsonPath.list_at("$.solutions[*].anyJobFailed")})
        done = solution_flags.next(sfn.Pass(self, "TrainingDone", parameters={
            "solutions": sfn.JsonPath.list_at("$.solutions"),
            "anyJobFailed.$": "States.ArrayContains($.flags, true)"}))
        training = sfn.Parallel(self, "Train", result_selector={
            "run": sfn.JsonPath.array_get_item(sfn.JsonPath.list_at("$"), 0)}, result_path="$.training")
        training.branch(self._poll_loop("DatasetGroup", "datasetGroup", "datasetGroup", spec="$.plan.datasetGroup",
                                        parents={}, then=datasets.next(solutions).next(done)))
        run_failed = sfn.Fail(self, "RunFailed", error=contract.TRAINING_RUN_FAILED, cause="See the failure event and notification")
        publish_failed = run_event("PublishFailed", contract.RUN_FAILED,
                                   Error=string_at("$.failure.Error"),
                                   Cause=string_at("$.failure.Cause"))
        failed = self._release_run("ReleaseFailedRun", publish_failed).next(publish_failed).next(
            notify("NotifyFailed", run_failed, "Personalize training run failed",
                   "The training run for {} failed: {}\n{}", "$.configUri", "$.failure.Error", "$.failure.Cause")
        ).next(run_failed)
        training.add_catch(failed, errors=["States.ALL"], result_path="$.failure")

        # Some batch segment jobs failed, the others finished: the run fails and lists every job's outcome.
        jobs_failed = run_event("PublishJobsFailed", contract.RUN_FAILED, Error=contract.BATCH_SEGMENT_JOB_FAILED,
                                Cause="Batch segment jobs failed; the others finished and are exported. Solutions "
                                      "lists every job: failed ones with their name and error.",
                                Solutions=sfn.JsonPath.list_at("$.training.run.solutions")).next(
            notify("NotifyJobsFailed", run_failed, "Personalize training run: batch segment jobs failed",
                   "The training run for {} trained its solutions, but batch segment jobs failed (the others "
                   "finished and are exported):\n{}", "$.configUri",
                   sfn.JsonPath.json_to_string(sfn.JsonPath.list_at("$.training.run.solutions")))
        ).next(run_failed)

        run_done = sfn.Succeed(self, "Done")
        succeeded = run_event("PublishSucceeded", contract.RUN_SUCCEEDED,
                              Solutions=sfn.JsonPath.list_at("$.training.run.solutions")).next(
            notify("NotifySucceeded", run_done, "Personalize training run succeeded",
                   "The training run for {} succeeded. Batch segment jobs:\n{}", "$.configUri",
                   sfn.JsonPath.json_to_string(sfn.JsonPath.list_at("$.training.run.solutions")))
        ).next(run_done)

        # The run carries the plan and its deadline, not the whole validation: its warnings (one per
        # ignored workflowConfig) grow with the config, not with the plan the validator bounds.
        planned = sfn.Pass(self, "Planned", parameters={
            "bucket": string_at("$.bucket"),
            "key": string_at("$.key"),
            "configUri": string_at("$.configUri"),
            "plan": object_at("$.validation.plan"),
            "trigger": object_at("$.trigger"),
            "deadline": string_at("$.claim.deadline")})
        any_job_failed = sfn.Choice(self, "AnyJobFailed?").when(
            sfn.Condition.boolean_equals("$.training.run.anyJobFailed", True), jobs_failed).otherwise(succeeded)
        planned.next(run_event("PublishStarted", contract.RUN_STARTED)).next(
            notify("NotifyStarted", training, "Personalize training run started",
                   "A training run started for {}. You will be notified when it ends.", "$.configUri")
        ).next(training).next(self._release_run("ReleaseRun", any_job_failed)).next(any_job_failed)
        admitted = self._admit(self._schedule_runs(planned, failed), failed, run_event, notify)

        validate = tasks.LambdaInvoke(
            self, "Validate",
            lambda_function=self.validate_function,
            payload=sfn.TaskInput.from_object({
                "bucket": string_at("$.bucket"),
                "key": string_at("$.key"),
                "trigger": object_at("$.trigger"),
            }),
            payload_response_only=True,
            result_path="$.validation",
        )
        retry_transient(validate).add_catch(failed, errors=["States.ALL"], result_path="$.failure")
        def received(id_: str, trigger: Any) -> sfn.Pass:
            return sfn.Pass(self, id_, parameters={
                "bucket": string_at("$.bucket"),
                "key": string_at("$.key"),
                "trigger": trigger,
                "configUri": sfn.JsonPath.format("s3://{}/{}", string_at("$.bucket"),
                                                 string_at("$.key"))})

        settle = sfn.Wait(self, "LetUploadSettle", time=sfn.WaitTime.duration(self._upload_settle_time))
        # An upload's event (or a run started by hand) has no trigger; a schedule's says which schedule fired when.
        return (
            sfn.Choice(self, "ByUploadOrSchedule?")
            .when(sfn.Condition.is_present("$.trigger"),
                  received("ReceivedFromSchedule", object_at("$.trigger")).next(settle))
            .otherwise(received("Received", {"kind": "upload"}).next(settle))
            .afterwards()
            .next(validate)
            .next(sfn.Choice(self, "ConfigValid?")
                  .when(sfn.Condition.boolean_equals("$.validation.valid", True), admitted)
                  .otherwise(rejected))
        )

    def _runs_task(self, id_: str, action: str, **payload: Any) -> tasks.LambdaInvoke:
        """A step of one-run-per-config (the validate function's ``claim`` and ``release``, runs.py)."""
        task = tasks.LambdaInvoke(
            self, id_, lambda_function=self.validate_function, payload_response_only=True,
            payload=sfn.TaskInput.from_object({
                "action": action, "bucket": string_at("$.bucket"),
                "key": string_at("$.key"), "executionArn": sfn.JsonPath.execution_id, **payload}),
            result_path="$.claim" if action == "claim" else DISCARD)
        return retry_transient(retry_throttling(task, self._retry_interval))

    def _admit(self, started: sfn.IChainable, failed: sfn.IChainable, run_event, notify) -> sfn.IChainable:
        """Admit -> ClaimRun -> RunClaimed?: claimed -> ``started``; joined -> PublishJoined -> Joined; queued ->
        (PublishQueued -> NotifyQueued, the first time) -> WaitForRunningRun -> ClaimRun."""
        claim = self._runs_task("ClaimRun", "claim", upload=object_at("$.validation.upload"),
                                executionStartTime=string_at("$$.Execution.StartTime"),
                                waits=sfn.JsonPath.number_at("$.claim.waits"))
        claim.add_catch(failed, errors=["States.ALL"], result_path="$.failure")
        wait = sfn.Wait(self, "WaitForRunningRun", time=sfn.WaitTime.duration(self._queue_interval))
        wait.next(claim)
        holder = {"RunningExecutionArn": string_at("$.claim.holder")}
        joined = run_event("PublishJoined", contract.RUN_JOINED, **holder).next(sfn.Succeed(self, "Joined"))
        queued = run_event("PublishQueued", contract.RUN_QUEUED, **holder).next(
            notify("NotifyQueued", wait, "Personalize training run queued",
                   "A training run for {} waits for the run of the same config that is still going ({}); it starts "
                   "when that run ends.", "$.configUri", "$.claim.holder")).next(wait)
        admit = sfn.Pass(self, "Admit", result=sfn.Result.from_object({"waits": 0}), result_path="$.claim")
        return admit.next(claim).next(
            sfn.Choice(self, "RunClaimed?")
            .when(sfn.Condition.string_equals("$.claim.state", "claimed"), started)
            .when(sfn.Condition.string_equals("$.claim.state", "joined"), joined)
            .when(sfn.Condition.number_equals("$.claim.waits", 1), queued)
            .otherwise(wait))

    def _schedule_runs(self, then: sfn.IChainable, failed: sfn.IChainable) -> sfn.IChainable:
        """An upload's run brings the config's schedules in line with it (ReconcileSchedules), then goes on with ``then``;
        a scheduled run goes on at once."""
        schedule = tasks.LambdaInvoke(
            self, "ReconcileSchedules", lambda_function=self.schedule_function, payload_response_only=True,
            payload=sfn.TaskInput.from_object({
                "bucket": string_at("$.bucket"), "key": string_at("$.key"),
                "stateMachineArn": sfn.JsonPath.state_machine_id,
                "schedules": sfn.JsonPath.list_at("$.validation.plan.schedules")}),
            result_selector={"names": sfn.JsonPath.list_at("$.schedules")}, result_path="$.schedules")
        retry_transient(retry_throttling(schedule, self._retry_interval)).add_catch(failed, errors=["States.ALL"], result_path="$.failure")
        return sfn.Choice(self, "FromUpload?").when(
            sfn.Condition.string_equals("$.trigger.kind", "upload"), schedule.next(then)).otherwise(then)

    def _release_run(self, id_: str, then: sfn.IChainable) -> tasks.LambdaInvoke:
        """Deletes the run's claim of its config; a release that fails does not hold the run up (the next run of the
        config sees this one ended and takes the claim over)."""
        release = self._runs_task(id_, "release")
        release.add_catch(then, errors=["States.ALL"], result_path=DISCARD)
        return release

    # ------------------------------------------------------------------ grants

    def grant_upload_training_data(self, grantee: iam.IGrantable) -> iam.Grant:
        """Lets ``grantee`` put configs and CSVs under train/ and job_config.json files under batch/."""
        return grant_objects(grantee, self.bucket, ["s3:PutObject"], f"{TRAIN_PREFIX}*",
                             f"{BATCH_PREFIX}*/job_config.json")

    def grant_read_segment_output(self, grantee: iam.IGrantable) -> iam.Grant:
        """Lets ``grantee`` read batch segment job output under batch/."""
        return grant_objects(grantee, self.bucket, ["s3:GetObject"], f"{BATCH_PREFIX}*")

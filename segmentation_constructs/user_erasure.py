"""Erasure of users across the whole pipeline (the right to erasure, GDPR article 17).

A request is a file of user IDs dropped under ``<erasure_prefix>requests/`` in the training data bucket (a CSV whose
header is ``USER_ID``, or one ID a line), or an ``Erasure Requested`` event (source ``segmentation.erasure``,
detail ``{"userIds": [...]}``) on the bus. The workflow takes it through every place the library copied the users
to, idempotently (the same set of IDs twice is one request, done once):

1. **accept** (``user_erasure.request``): the IDs checked, written to a work file, the request file deleted with
   every version of it; an audit record (a hash of the IDs, times, counts per step: never an ID) claimed;
2. **suppress**: the IDs join the list of erased users (``<erasure_prefix>_erased/users.csv``) every audience export
   reads beside its own suppression list, so no audience published from now on holds them;
3. **files** (``user_erasure.scrub``): the users' rows removed from the training CSVs, the raw batch segment output,
   and the audience, control and delta files, with the earlier versions holding them deleted;
4. **Personalize** (``user_erasure.personalize``): for each dataset group of a config under the training prefix,
   the configs' run claims are taken (a training run in progress is waited for; a training run started meanwhile
   waits: ``runs.py``), a data deletion job is created and polled, the claims are released. After the files: a
   training run that imported them unscrubbed is waited for and its data deleted, and none after brings them back;
5. **destinations** (``user_erasure.destinations``): the library's marks removed from the users' Customer Profiles
   profiles (the profiles the library created deleted), the users' Pinpoint endpoints deleted;
6. **complete**: the audit record closed, the work file deleted; an ``Erasure Request State Change`` event and a
   notification give the counts.

A request that waits too long (past 80% of ``deadline``) is notified as at risk; one that runs past ``deadline``
times out, reported by the failure watch.
"""

from __future__ import annotations

from typing import Any, Optional

from aws_cdk import Annotations, ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from segmentation_constructs import _props, contract
from segmentation_constructs._lambda import SegmentationFunction, python_dependencies_layer
from segmentation_constructs._nag import acknowledge_wildcard_resources
from segmentation_constructs._storage import events_from, grant_objects
from segmentation_constructs._watch import FailureWatch, trigger_dead_letters
from segmentation_constructs._workflow import DISCARD, grant_describe_executions, grant_pass_role, grant_publish, \
    notify_then, object_at, retried, retry_throttling, retry_transient, service_role, standard_workflow, string_at
from segmentation_constructs.batch_segment_postprocessor import BatchSegmentPostprocessor
from segmentation_constructs.connect_segment_importer import ConnectCustomerProfilesSegmentImporter
from segmentation_constructs.pinpoint_segment_importer import PinpointSegmentImporter
from segmentation_constructs.training_pipeline import RUNS_PREFIX, TRAIN_PREFIX, PersonalizeTrainingPipeline

Env = contract.Env
REQUEST_NAMES = "Request IDs are hashes of the users they erase, computed at run time."
CONFIG_NAMES = "Configs, their CSVs and their run claims are named by the team's uploads."
OUTPUT_NAMES = "Batch segment output and audience files are named after jobs and audiences at run time."
SCRUBBED = (".csv", ".out")  # the files the scrub rewrites (user_erasure/scrub/handler.py FORMATS)
# Attempts at a destination that answers 5xx: 1, 2, 4, ... minutes apart, at most an hour: about 13 hours in all.
DESTINATION_OUTAGE = 18
OUTAGE_RETRY_INTERVAL, OUTAGE_MAX_DELAY = Duration.minutes(1), Duration.hours(1)
RETRY_INTERVAL = Duration.seconds(30)  # of throttling and full quotas (``contract.RETRIED``)


class UserErasure(Construct):
    """Erases users from everything the library wrote (see the module's docstring for the steps).

    :param training: the training pipeline: its data bucket holds the requests, the work files and the audit
        records; its configs name the dataset groups to delete the users from; its Personalize role reads the users.
    :param audiences: the audience export: it keeps the erased users (``<erasure_prefix>_erased/users.csv``) out of
        every audience from then on, beside its own suppression list; its files are scrubbed.
    :param connect: the Customer Profiles importer whose domain the users are erased from, if deployed.
    :param pinpoint: the Pinpoint importer, if deployed: the users' endpoints are deleted in its project when the
        project is the library's own (created by the importer), or with ``delete_profiles``.
    :param erasure_prefix: the library's folder in the data bucket: requests under ``<prefix>requests/``, its own
        files under ``<prefix>_work/`` and ``<prefix>_audit/``.
    :param deadline: how long a request may take in all (30 days, the GDPR's month); past 80% of it the topic is
        told the request is at risk, past it the request fails loudly.
    :param deletion_budget: how long a Personalize data deletion job may take (Personalize documents up to a day);
        training on its dataset group waits meanwhile.
    :param poll_interval: Wait between two checks of a data deletion job, or of a training run it waits for.
    :param delete_profiles: delete the users' Customer Profiles profiles even when others' data is in them (by
        default only the profiles the library created, holding nothing but the user ID, are deleted), and their
        endpoints in a Pinpoint project the team handed in.
    :param removal_policy: for the workflow's log groups.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        training: PersonalizeTrainingPipeline,
        audiences: BatchSegmentPostprocessor,
        connect: Optional[ConnectCustomerProfilesSegmentImporter] = None,
        pinpoint: Optional[PinpointSegmentImporter] = None,
        erasure_prefix: str = "erasure/",
        deadline: Duration = Duration.days(30),
        deletion_budget: Duration = Duration.days(2),
        poll_interval: Duration = Duration.minutes(30),
        delete_profiles: bool = False,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id)
        _props.construct_of("training", training, PersonalizeTrainingPipeline)
        _props.construct_of("audiences", audiences, BatchSegmentPostprocessor)
        _props.construct_of("connect", connect, ConnectCustomerProfilesSegmentImporter, optional=True)
        _props.construct_of("pinpoint", pinpoint, PinpointSegmentImporter, optional=True)
        _props.prefix("erasure_prefix", erasure_prefix, like="erasure/")
        _props.duration("deadline", deadline, at_least=Duration.days(1), at_most=Duration.days(365))
        _props.duration("deletion_budget", deletion_budget, at_least=Duration.hours(1))
        _props.check(deletion_budget.to_seconds() < deadline.to_seconds(), "deletion_budget",
                     f"shorter than deadline ({deadline.to_human_string()}), which it is part of", deletion_budget)
        _props.duration("poll_interval", poll_interval, at_least=Duration.seconds(1))
        _props.check(isinstance(delete_profiles, bool), "delete_profiles", "True or False", delete_profiles)
        _props.removal_policy("removal_policy", removal_policy)
        self.training, self.audiences, self.connect, self.pinpoint = training, audiences, connect, pinpoint
        self.bucket = training.bucket
        self.event_bus, self.topic = training.event_bus, training.topic
        self.erasure_prefix = erasure_prefix
        self.request_prefix = f"{erasure_prefix}requests/"
        self._work, self._audit = f"{erasure_prefix}_work/", f"{erasure_prefix}_audit/"
        self._deadline, self._poll_interval, self._delete_profiles = deadline, poll_interval, delete_profiles
        # the users erased so far: every export keeps them out of its audiences
        self.erased_users_key = f"{erasure_prefix}_erased/users.csv"
        audiences.suppress_erased_users(self.bucket, self.erased_users_key)

        self._request = SegmentationFunction(
            self, "Request", function="user_erasure.request", timeout=Duration.minutes(5), memory_size=512,
            description="Accepts an erasure request, adds its users to the suppression list, keeps its audit record",
            environment={Env.SOURCE_BUCKET: self.bucket.bucket_name, Env.ERASURE_PREFIX: erasure_prefix,
                         Env.ERASED_USERS_URI: f"s3://{self.bucket.bucket_name}/{self.erased_users_key}"})
        self._personalize = SegmentationFunction(
            self, "Personalize", function="user_erasure.personalize", timeout=Duration.minutes(2),
            description="Deletes erased users from the Personalize dataset groups of the training configs",
            environment={Env.SOURCE_BUCKET: self.bucket.bucket_name, Env.TRAINING_PREFIX: TRAIN_PREFIX,
                         Env.PERSONALIZE_ROLE_ARN: training.personalize_role.role_arn,
                         Env.DELETION_BUDGET_SECONDS: str(int(deletion_budget.to_seconds()))})
        self._scrub = SegmentationFunction(
            self, "Scrub", function="user_erasure.scrub", timeout=Duration.minutes(15), memory_size=1769,
            description="Removes erased users from training CSVs, raw segment output and audience files",
            layers=[python_dependencies_layer(self, "IjsonLayer", "ijson")])
        destinations = {}
        if connect is not None:
            destinations.update({Env.DOMAIN_NAME: connect.domain_name, Env.USER_ID_TARGET: connect.user_id_target,
                                 Env.DELETE_PROFILES: "true" if delete_profiles else "false"})
        if self._erases_in_pinpoint():
            destinations[Env.PINPOINT_APPLICATION_ID] = pinpoint.application_id
        self._destinations = SegmentationFunction(
            self, "Destinations", function="user_erasure.destinations", timeout=Duration.minutes(15),
            description="Removes erased users from the audiences' destinations", environment=destinations)
        self.request_function: lambda_.Function = self._request.function
        self.personalize_function: lambda_.Function = self._personalize.function
        self.scrub_function: lambda_.Function = self._scrub.function
        self.destinations_function: lambda_.Function = self._destinations.function

        self.state_machine, self.workflow_role, self.workflow_log_group = standard_workflow(
            self, "Workflow", definition=self._definition(), timeout=deadline, removal_policy=removal_policy,
            description="Erases users from the pipeline's data, models, audiences and destinations")
        self._grant_request()
        self._grant_personalize()
        self._grant_scrub()
        self._grant_destinations()
        self._grant_workflow()
        self.trigger_dead_letter_queue = trigger_dead_letters(self)
        self._triggers()
        self.watch = FailureWatch(
            self, "Watch", state_machine=self.state_machine, label="user erasure", event_bus=self.event_bus,
            source=contract.ERASURE_SOURCE, detail_type=contract.ERASURE_STATE_CHANGE,
            detail={"Status": contract.ERASURE_FAILED, "Error": string_at("$.error"),
                    "Cause": string_at("$.cause"),
                    "ExecutionArn": string_at("$.executionArn")},
            topic=self.topic, dead_letters=self.trigger_dead_letter_queue, removal_policy=removal_policy)

    # ------------------------------------------------------------------ where the users are

    def _areas(self) -> list[tuple[s3.IBucket, str]]:
        """The folders the scrub sweeps (bucket, prefix): the training CSVs, the raw batch segment output, the
        audiences."""
        audiences = self.audiences
        return [(self.bucket, TRAIN_PREFIX), (audiences.source_bucket, audiences.batch_output_prefix),
                (audiences.audience_bucket, audiences.audience_prefix)]

    def _erases_in_pinpoint(self) -> bool:
        """Endpoints are deleted in the importer's project when it is the library's own, or ``delete_profiles`` says
        to delete the users' data that others' systems hold too."""
        return self.pinpoint is not None and (self.pinpoint.owns_application or self._delete_profiles)

    def _destination_names(self) -> list[str]:
        """The destinations the users are erased from (the function's environment says what they are)."""
        return (["connect"] if self.connect is not None else []) + (["pinpoint"] if self._erases_in_pinpoint() else [])

    # ------------------------------------------------------------------ IAM

    def _grant_request(self) -> None:
        """The request files (read, deleted with their versions), the work files, the audit records, the suppression
        list, and whether the execution holding a request's audit record still runs."""
        role, bucket = self._request.role, self.bucket
        grant_objects(role, bucket, ["s3:GetObject", "s3:DeleteObjectVersion"],
                      f"{self.request_prefix}*", wildcard_reason="Requests are named by the team that drops them.")
        grant_objects(role, bucket, ["s3:GetObject", "s3:PutObject", "s3:DeleteObjectVersion"],
                      f"{self._work}*", f"{self._audit}*", wildcard_reason=REQUEST_NAMES)
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucketVersions"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{self.request_prefix}*", f"{self._work}*"]}}))
        # a missing object (a request file already deleted, the erased users' list before the first erasure) reads
        # as missing (404), not denied (403), only with ListBucket
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{self.erasure_prefix}*"]}}))
        grant_objects(role, bucket, ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                      self.erased_users_key)
        grant_describe_executions(self, "DescribeRequests", role, self.state_machine, "a request starts")

    def _grant_personalize(self) -> None:
        """The configs (to find their dataset groups) and their run claims, the training runs holding them, the data
        deletion jobs, and the Personalize role they run with."""
        role, bucket, stack = self._personalize.role, self.bucket, Stack.of(self)
        role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{TRAIN_PREFIX}*", f"{RUNS_PREFIX}*"]}}))
        grant_objects(role, bucket, ["s3:GetObject"], f"{TRAIN_PREFIX}*.json", wildcard_reason=CONFIG_NAMES)
        grant_objects(role, bucket, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"{RUNS_PREFIX}*.json",
                      wildcard_reason=CONFIG_NAMES)
        training_runs = stack.format_arn(
            service="states", resource="execution",
            resource_name=f"{self.training.state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME)
        groups = f"arn:{Aws.PARTITION}:personalize:{stack.region}:{stack.account}:dataset-group/*"
        jobs = f"arn:{Aws.PARTITION}:personalize:{stack.region}:{stack.account}:data-deletion-job/erasure-*"
        role.add_to_policy(iam.PolicyStatement(actions=["states:DescribeExecution"],
                                               resources=[training_runs]))
        role.add_to_policy(iam.PolicyStatement(actions=["personalize:DescribeDatasetGroup"],
                                               resources=[groups]))
        role.add_to_policy(iam.PolicyStatement(
            actions=["personalize:CreateDataDeletionJob", "personalize:DescribeDataDeletionJob"], resources=[jobs]))
        grant_pass_role(role, self.training.personalize_role, "personalize.amazonaws.com")
        acknowledge_wildcard_resources(role, [training_runs, groups, jobs],
                                       "Dataset groups come from the configs, jobs and runs are named at run time; "
                                       "each ARN is limited to its resource type in this account and Region.")
        # Personalize reads the work file of the users to delete with the training pipeline's role.
        personalize_role = self.training.personalize_role
        read = iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{self._work}*")])
        listing = iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                                      conditions={"StringLike": {"s3:prefix": [f"{self._work}*"]}})
        for statement in (read, listing):
            personalize_role.add_to_policy(statement)
            added = bucket.add_to_resource_policy(iam.PolicyStatement(
                principals=[iam.ServicePrincipal("personalize.amazonaws.com")], actions=statement.actions,
                resources=statement.resources,
                conditions={**(statement.conditions or {}), "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
            if not added.statement_added:
                Annotations.of(self).add_warning_v2(
                    "segmentation:erasure-bucket-policy",
                    f"The data bucket was handed in, so its policy cannot be changed here: allow "
                    f"personalize.amazonaws.com s3:GetObject on {self._work}* and s3:ListBucket on the prefix "
                    f"{self._work} in it, or the data deletion jobs fail.")
                break
        acknowledge_wildcard_resources(personalize_role, [bucket.arn_for_objects(f"{self._work}*")], REQUEST_NAMES)

    def _grant_scrub(self) -> None:
        """Every file of the three areas: read, rewritten, and its earlier versions listed and deleted."""
        role = self._scrub.role
        for bucket, prefix in self._areas():
            # a rewrite keeps the object's tags (the lifecycle rule's), aborts an upload that lost its race
            grant_objects(role, bucket, ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging",
                                         "s3:GetObjectVersionTagging", "s3:PutObject", "s3:PutObjectTagging",
                                         "s3:AbortMultipartUpload", "s3:DeleteObjectVersion"],
                          *(f"{prefix}*{suffix}" for suffix in SCRUBBED), wildcard_reason=OUTPUT_NAMES)
            role.add_to_policy(iam.PolicyStatement(  # ListBucket: a key deleted since it was listed
                actions=["s3:ListBucket", "s3:ListBucketVersions"], resources=[bucket.bucket_arn],  # reads as 404
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}}))
        grant_objects(role, self.bucket, ["s3:GetObject"], f"{self._work}*", wildcard_reason=REQUEST_NAMES)

    def _grant_destinations(self) -> None:
        role = self._destinations.role
        grant_objects(role, self.bucket, ["s3:GetObject"], f"{self._work}*", wildcard_reason=REQUEST_NAMES)
        if self.connect is not None:
            role.add_to_policy(iam.PolicyStatement(
                actions=["profile:SearchProfiles", "profile:UpdateProfile", "profile:DeleteProfile"],
                resources=[self.connect.domain_arn]))
            # Customer Profiles writes a profile update with the domain's key, on the caller's permissions
            if self.connect.encryption_key is not None:
                self.connect.encryption_key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")
        if self._erases_in_pinpoint():
            app = self.pinpoint.app_arn
            role.add_to_policy(iam.PolicyStatement(actions=["mobiletargeting:GetApp"], resources=[app]))
            role.add_to_policy(iam.PolicyStatement(actions=["mobiletargeting:DeleteUserEndpoints"],
                                                   resources=[f"{app}/users/*"]))
            acknowledge_wildcard_resources(role, [f"{app}/users/*"], "Users are the erased ones, named at run time.")

    def _grant_workflow(self) -> None:
        role = self.workflow_role
        role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[
            f.function_arn for f in (self.request_function, self.personalize_function, self.scrub_function,
                                     self.destinations_function)]))
        role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[self.event_bus.event_bus_arn]))
        grant_publish(role, self.topic)

    # ------------------------------------------------------------------ triggers

    def _triggers(self) -> None:
        events_from(self, self.bucket)
        role = service_role(self, "TriggerRole", "events.amazonaws.com", "Starts the user erasure workflow")
        common = {"role": role, "dead_letter_queue": self.trigger_dead_letter_queue, "retry_attempts": 10}
        events.Rule(self, "RequestUploaded", description="Starts an erasure for a file of user IDs uploaded to S3",
                    event_pattern=events.EventPattern(
                        source=[contract.S3_SOURCE], detail_type=[contract.OBJECT_CREATED],
                        detail={"bucket": {"name": [self.bucket.bucket_name]},
                                "object": {"key": [{"prefix": self.request_prefix}]}}),
                    targets=[targets.SfnStateMachine(self.state_machine, input=events.RuleTargetInput.from_object({
                        "request": {"bucket": events.EventField.from_path("$.detail.bucket.name"),
                                    "key": events.EventField.from_path("$.detail.object.key")}}), **common)])
        events.Rule(self, "RequestPut", event_bus=self.event_bus,
                    description="Starts an erasure for an Erasure Requested event",
                    event_pattern=events.EventPattern(source=[contract.ERASURE_SOURCE],
                                                      detail_type=[contract.ERASURE_REQUESTED],
                                                      detail={"userIds": [{"exists": True}]}),
                    targets=[targets.SfnStateMachine(self.state_machine, input=events.RuleTargetInput.from_object({
                        "request": {"userIds": events.EventField.from_path("$.detail.userIds")}}), **common)])

    # ------------------------------------------------------------------ workflow

    def _invoke(self, id_: str, function: lambda_.Function, action: Optional[str], result_path: Optional[str], *,
                patient: bool = False, **payload: Any) -> tasks.LambdaInvoke:
        """A step of one of the functions: throttling and full quotas retried with backoff, transient faults too
        (``patient``: a service answering 5xx for hours first, ``DESTINATION_OUTAGE``; Step Functions takes the
        first retrier that matches)."""
        task = tasks.LambdaInvoke(
            self, id_, lambda_function=function, payload_response_only=True,
            payload=sfn.TaskInput.from_object({**({"action": action} if action else {}), **payload}),
            result_path=result_path if result_path else DISCARD)
        if patient:
            task.add_retry(errors=contract.names(contract.ServiceUnavailable), interval=OUTAGE_RETRY_INTERVAL,
                           max_attempts=DESTINATION_OUTAGE, backoff_rate=2, max_delay=OUTAGE_MAX_DELAY,
                           jitter_strategy=sfn.JitterType.FULL)
        return retry_transient(retry_throttling(task, RETRY_INTERVAL))

    def _event(self, id_: str, status: str, **detail: Any) -> tasks.EventBridgePutEvents:
        return retried(tasks.EventBridgePutEvents(self, id_, result_path=DISCARD, entries=[
            tasks.EventBridgePutEventsEntry(
                event_bus=self.event_bus, source=contract.ERASURE_SOURCE, detail_type=contract.ERASURE_STATE_CHANGE,
                detail=sfn.TaskInput.from_object({
                    "Status": status, "RequestId": string_at("$.request.requestId"),
                    "ExecutionArn": sfn.JsonPath.execution_id, **detail}))]))

    def _notify(self, id_: str, then: sfn.State, subject: str, message: str, *paths: str) -> tasks.SnsPublish:
        return notify_then(tasks.SnsPublish(
            self, id_, topic=self.topic, subject=subject, result_path=DISCARD,
            message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                message, *(string_at(p) if p.startswith("$") else p for p in paths)))), then)

    def _record(self, id_: str, step: str, counts: str) -> tasks.LambdaInvoke:
        return self._invoke(id_, self.request_function, "record", None,
                            requestId=string_at("$.request.requestId"), step=step,
                            counts=object_at(counts))

    def _at_risk(self, id_: str, then: sfn.IChainable) -> sfn.IChainable:
        """Past the request's at-risk time (80% of its deadline), an event and a notification, once: the audit
        record remembers it (``risk``)."""
        check = self._invoke(f"{id_}AtRisk", self.request_function, "risk", "$.risk",
                             requestId=string_at("$.request.requestId"))
        tell = self._event(f"{id_}PublishAtRisk", contract.ERASURE_AT_RISK,
                           Deadline=string_at("$.request.deadline"))
        tell.next(self._notify(f"{id_}NotifyAtRisk", then, "Erasure request at risk of missing its deadline",
                               "The erasure request {} ({}) is still running and must end by {}.",
                               "$.request.requestId", sfn.JsonPath.execution_id, "$.request.deadline")).next(then)
        return check.next(sfn.Choice(self, f"{id_}Risky?").when(
            sfn.Condition.boolean_equals("$.risk.notify", True), tell).otherwise(then))

    def _personalize_steps(self) -> sfn.IChainable:
        """For each dataset group, one at a time: lock its configs against training, delete, poll, unlock."""
        group = {"group": object_at("$.group"), "requestId": string_at("$.request.requestId"),
                 "executionArn": sfn.JsonPath.execution_id}
        lock = self._invoke("LockTraining", self.personalize_function, "lock", "$.lock", **group)
        wait_lock = sfn.Wait(self, "WaitForTraining", time=sfn.WaitTime.duration(self._poll_interval))
        start = self._invoke("StartDeletion", self.personalize_function, "start", "$.deletion",
                             **group, erased=object_at("$.request.erased"),
                             attempt=sfn.JsonPath.number_at("$.request.attempt"))
        wait = sfn.Wait(self, "WaitForDeletion", time=sfn.WaitTime.duration(self._poll_interval))
        status = self._invoke("CheckDeletion", self.personalize_function, "status", "$.status",
                              jobArn=string_at("$.deletion.jobArn"),
                              deadline=string_at("$.lock.until"))
        # each poll renews the claims' lease: training stays locked out for as long as the job runs
        renew = self._invoke("RenewLock", self.personalize_function, "lock", "$.renewed", **group)
        lost = sfn.Fail(self, "LockLost", error=contract.ERASURE_FAILED_ERROR,
                        cause="A training config's claim was taken while its data deletion job ran")
        unlock = self._invoke("UnlockTraining", self.personalize_function, "unlock", None, **group)
        done = sfn.Pass(self, "GroupErased", parameters={
            "datasetGroupArn": string_at("$.group.datasetGroupArn"),
            "numDeleted": sfn.JsonPath.number_at("$.status.numDeleted")})
        wait_lock.next(self._at_risk("Lock", lock))
        lock.next(sfn.Choice(self, "Locked?").when(sfn.Condition.string_equals("$.lock.state", "locked"), start)
                  .otherwise(wait_lock))
        start.next(wait).next(renew).next(sfn.Choice(self, "StillLocked?").when(
            sfn.Condition.string_equals("$.renewed.state", "locked"), status).otherwise(lost))
        status.next(
            sfn.Choice(self, "Deleted?").when(sfn.Condition.string_equals("$.status.status", "COMPLETED"),
                                              unlock.next(done))
            .otherwise(self._at_risk("Deletion", wait)))
        # Whatever fails in a group fails the request; its configs are unlocked first, but when the job is still
        # running past its budget: its lease then runs out (deletion_budget after the last poll) while it runs.
        body = sfn.Parallel(self, "EraseGroup", result_selector={"erased.$": "$[0]"}, output_path="$.erased")
        body.branch(lock)
        group_failed = sfn.Fail(self, "GroupFailed", error=contract.ERASURE_FAILED_ERROR,
                                cause="A Personalize data deletion failed or ran out of time")
        unlock_failed = self._invoke("UnlockFailedTraining", self.personalize_function, "unlock", None, **group)
        body.add_catch(sfn.Choice(self, "JobStillRunning?").when(
            sfn.Condition.string_equals("$.failure.Error", contract.PollingBudgetExceeded.__name__), group_failed)
            .otherwise(unlock_failed.next(group_failed)), errors=["States.ALL"], result_path="$.failure")
        groups = sfn.Map(self, "EachDatasetGroup", items_path="$.groups.groups", max_concurrency=1,
                         item_selector={"group": string_at("$$.Map.Item.Value"),
                                        "request": object_at("$.request")},
                         result_path="$.personalize")
        groups.item_processor(body)
        find = self._invoke("FindDatasetGroups", self.personalize_function, "groups", "$.groups")
        counts = sfn.Pass(self, "PersonalizeCounts", result_path="$.personalizeCounts",
                          parameters={"datasetGroups": sfn.JsonPath.list_at("$.personalize")})
        return find.next(groups).next(counts).next(
            self._record("RecordPersonalize", "personalize", "$.personalizeCounts"))

    def _loop(self, id_: str, function: lambda_.Function, action: Optional[str], result: str, *,
              patient: bool = False, changing: bool = False, **payload: Any) -> tuple[sfn.IChainable, sfn.Choice]:
        """A function called again with its own ``cursor`` until it answers ``done``: (the first call, the Choice
        whose ``otherwise`` the caller sets). ``patient``: a service that is down (5xx) is tried again for hours
        (``DESTINATION_OUTAGE``), not minutes: a destination's outage keeps the request waiting, not failed."""
        begin = self._invoke(f"{id_}Begin", function, action, result, patient=patient, **payload)
        step = self._invoke(id_, function, action, result, patient=patient, **payload,
                            cursor=object_at(f"{result}.cursor"))

        for task in (begin, step) if changing else ():  # a file rewritten by someone else meanwhile: read again
            task.add_retry(errors=contract.names(contract.ObjectChanged), interval=Duration.seconds(5),
                           max_attempts=5, backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
        more = sfn.Choice(self, f"{id_}Done?")
        more.when(sfn.Condition.boolean_equals(f"{result}.done", False), step)
        step.next(more)
        begin.next(more)
        return begin, more

    def _definition(self) -> sfn.IChainable:
        request_id = "$.request.requestId"
        done = sfn.Succeed(self, "Erased")
        # Rejected: nothing was done; the request file, if any, is kept for the team to fix.
        rejected_end = sfn.Fail(self, "Rejected", error=contract.ERASURE_REJECTED, cause="The request was rejected")
        rejected = retried(tasks.EventBridgePutEvents(self, "PublishRejected", result_path=DISCARD,
                                                      entries=[tasks.EventBridgePutEventsEntry(
                                                          event_bus=self.event_bus, source=contract.ERASURE_SOURCE,
                                                          detail_type=contract.ERASURE_STATE_CHANGE,
                                                          detail=sfn.TaskInput.from_object({
                                                              "Status": contract.ERASURE_FAILED,
                                                              "Error": contract.ERASURE_REJECTED,
                                                              "Cause": string_at("$.failure.Cause"),
                                                              "ExecutionArn": sfn.JsonPath.execution_id}))]))
        rejected.next(self._notify("NotifyRejected", rejected_end, "Erasure request rejected",
                                   "The erasure request of {} was rejected; nothing was erased: {}",
                                   sfn.JsonPath.execution_id, "$.failure.Cause")).next(rejected_end)
        accept = self._invoke("Accept", self.request_function, "accept", "$.request",
                              request=object_at("$.request"), executionArn=sfn.JsonPath.execution_id,
                              startTime=string_at("$$.Execution.StartTime"),
                              deadlineDays=int(self._deadline.to_days()))
        accept.add_catch(rejected, errors=[contract.ERASURE_REJECTED], result_path="$.failure")

        # Failed: the audit record says so (the work file is kept for a new attempt), an event and a notification.
        failed_end = sfn.Fail(self, "Failed", error=contract.ERASURE_FAILED_ERROR,
                              cause="See the failure event and notification")
        # The event and the notification say what the audit record says: an error or cause that may hold an ID
        # withheld (``fail``); when the record cannot be written, the cause is withheld.
        publish_failed = self._event("PublishFailed", contract.ERASURE_FAILED,
                                     Error=string_at("$.reported.error"),
                                     Cause=string_at("$.reported.cause"))
        record_failed = self._invoke("RecordFailure", self.request_function, "fail", "$.reported",
                                     requestId=string_at(request_id),
                                     error=string_at("$.failure.Error"),
                                     cause=string_at("$.failure.Cause"))
        unrecorded = sfn.Pass(self, "FailureUnrecorded", result_path="$.reported", parameters={
            "error": contract.ERASURE_FAILED_ERROR,
            "cause": "withheld: the audit record could not be written either (see the execution's history)"})
        record_failed.add_catch(unrecorded.next(publish_failed), errors=["States.ALL"],
                                result_path=DISCARD)
        failed = record_failed.next(publish_failed).next(self._notify(
            "NotifyFailed", failed_end, "Erasure request failed",
            "The erasure request {} failed and stays open: {}\n{}", request_id, "$.reported.error",
            "$.reported.cause")).next(failed_end)

        erased = object_at("$.request.erased")
        suppress = self._invoke("Suppress", self.request_function, "suppress", "$.suppressed",
                                requestId=string_at(request_id), erased=erased)
        scrub_first, scrub_more = self._loop("ScrubFiles", self.scrub_function, "sweep", "$.files",
                                             areas=[{"bucket": bucket.bucket_name, "prefix": prefix}
                                                    for bucket, prefix in self._areas()],
                                             erased=erased, changing=True)
        work = sfn.Parallel(self, "Erase", result_path=DISCARD)
        # The files are scrubbed before Personalize's data is deleted: a training run that imported them before
        # the scrub is waited for by the lock, and its data deleted by the job; none imported after brings the
        # users back (the training configs' claims are released only once the files no longer hold them).
        chain = suppress.next(self._record("RecordSuppressed", "suppression", "$.suppressed")).next(scrub_first)
        files = self._record("RecordFiles", "files", "$.files.counts")
        scrub_more.otherwise(files)
        last: sfn.IChainable = files.next(self._personalize_steps())
        for destination in self._destination_names():
            name = destination.capitalize()
            first, more = self._loop(f"Erase{name}", self.destinations_function, None, f"$.{destination}",
                                     destination=destination, erased=erased, patient=True)
            last = last.next(first)
            last = self._record(f"Record{name}", destination, f"$.{destination}.cursor.counts")
            more.otherwise(last)
        work.branch(chain)
        work.add_catch(failed, errors=["States.ALL"], result_path="$.failure")

        complete = self._invoke("Complete", self.request_function, "complete", "$.audit",
                                requestId=string_at(request_id), erased=erased)
        completed = self._event("PublishCompleted", contract.ERASURE_COMPLETED,
                                Users=sfn.JsonPath.number_at("$.request.users"),
                                Steps=object_at("$.audit.steps"))
        completed_note = self._notify("NotifyCompleted", done, "Erasure request completed",
                                      "The erasure request {} completed: {}", request_id,
                                      sfn.JsonPath.json_to_string(object_at("$.audit.steps")))
        duplicate = self._event("PublishDuplicate", contract.ERASURE_DUPLICATE).next(
            sfn.Succeed(self, "AlreadyErased"))
        accepted = self._event("PublishAccepted", contract.ERASURE_ACCEPTED,
                               Users=sfn.JsonPath.number_at("$.request.users"),
                               Deadline=string_at("$.request.deadline"))
        accepted.next(work).next(complete).next(completed).next(completed_note).next(done)
        return accept.next(
            sfn.Choice(self, "Accepted?")
            .when(sfn.Condition.string_equals("$.request.state", "duplicate"), duplicate)
            .when(sfn.Condition.string_equals("$.request.state", "running"), sfn.Succeed(self, "Joined"))
            .otherwise(accepted))

    # ------------------------------------------------------------------ grants

    def grant_request_erasure(self, grantee: iam.IGrantable) -> iam.Grant:
        """Lets ``grantee`` drop request files under ``<erasure_prefix>requests/``."""
        return grant_objects(grantee, self.bucket, ["s3:PutObject"], f"{self.request_prefix}*")

"""``AudienceImporter``: what every audience destination builds the same way (Pinpoint, Connect Customer Profiles).

A destination is a subclass that adds its own props, resources and grants, and one Lambda module that implements
``Destination`` (``lambda_src/shared/importer.py``). This class owns the rest: the checks of the shared props, the
import function with its environment and its grants on the audience files, the workflow and its role, the rules that
start it, its events and notifications, and the grant methods.

An ``Audience Segment Ready`` rule (and, with ``drop_prefix``, an S3 ``Object Created`` rule for CSVs a team drops by
hand) hands the workflow the audience file (``$.audience``, a ``contract.DeliveredAudience``); a Standard workflow
per audience then runs:

    CheckFile ─ FileAccepted? ─ problem ─── PublishRejected → NotifyRejected → FileRejected (Fail)
                              └ none ─ StartImport ─ StartOutcome? ─ ALREADY_IMPORTED ── AlreadyImported (Succeed)
                                                                   └ STARTED → WaitForImport → PollImport → ImportDone?
                                                                        no → WaitForImport; yes → PublishImported → Imported
                                                                        (reported by another delivery → AlreadyImported)
    any error of CheckFile / StartImport / PollImport ── PublishFailed → NotifyFailed → ImportFailed (Fail)

The function answers ``{"action": "check" | "start" | "poll", ...}`` (``contract.ImportRequest``). Quota and
throttling errors are retried with backoff and full jitter, so imports queue instead of failing; the poll loop is
bounded by the import budget the function enforces.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from aws_cdk import Duration, RemovalPolicy
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
from segmentation_constructs._lambda import FunctionSettings, SegmentationFunction, checked_settings
from segmentation_constructs._storage import events_from, grant_objects, with_key
from segmentation_constructs._watch import FailureWatch, trigger_dead_letters
from segmentation_constructs._workflow import DISCARD, MAX_RETRY_DELAY, grant_publish, notify_then, object_at, \
    retried, retry_throttling, retry_transient, service_role, standard_workflow, string_at

Env = contract.Env
MAX_POLLS = 500  # a Standard execution's 25,000 history events, with room for the other states
# An execution runs at most a year, and the workflow's timeout is the budget plus an hour.
MAX_BUDGET = Duration.days(364)
OBJECT_WILDCARD_REASON = ("Audience file names, import job IDs and markers are known at run time only; each ARN "
                          "is limited to the audience prefix or to this destination's resources.")


SHARED_PROPS = ("event_bus", "audience_bucket", "audience_prefix", "drop_prefix", "topic", "poll_interval",
                "import_budget", "retry_interval", "removal_policy")


def shared_props(props: Mapping[str, Any]) -> dict[str, Any]:
    """The props every importer takes, picked from a subclass's ``locals()``: its signature spells each one out
    (the public API), and this forwards them to ``AudienceImporter`` without spelling them out again."""
    return {name: props[name] for name in SHARED_PROPS}


class AudienceImporter(Construct):
    """Base of the audience importers: one Standard workflow per audience file, started by its ready event.

    Subclasses call, in order: ``super().__init__`` with the shared props, ``_import_function`` (the function and its
    grants on the audience files), their own grants on ``self._function_role``, then ``_import_workflow``.
    """

    def __init__(self, scope: Construct, id: str, *, destination: str, label: str, event_bus: events.IEventBus,
                 audience_bucket: s3.IBucket, audience_prefix: str, drop_prefix: Optional[str],
                 topic: Optional[sns.ITopic], poll_interval: Duration, import_budget: Duration,
                 retry_interval: Duration, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        _props.construct_of("event_bus", event_bus, events.IEventBus)
        _props.construct_of("audience_bucket", audience_bucket, s3.IBucket)
        _props.prefix("audience_prefix", audience_prefix, like="audiences/")
        _props.prefix("drop_prefix", drop_prefix, like="manual/", optional=True)
        if drop_prefix and (drop_prefix.startswith(audience_prefix) or audience_prefix.startswith(drop_prefix)):
            raise ValueError(f"drop_prefix={drop_prefix!r} overlaps audience_prefix={audience_prefix!r}: the "
                             "post-processor's audience files and the importers' work files would be imported again as "
                             "dropped CSVs; give hand-made CSVs a prefix of their own, e.g. 'manual/'")
        _props.construct_of("topic", topic, sns.ITopic, optional=True)
        _props.duration("poll_interval", poll_interval, at_least=Duration.seconds(1))
        _props.duration("import_budget", import_budget, at_most=MAX_BUDGET)
        _props.check(import_budget.to_seconds() > poll_interval.to_seconds(), "import_budget",
                     f"longer than poll_interval ({poll_interval.to_human_string()})", import_budget)
        if import_budget.to_seconds() / poll_interval.to_seconds() > MAX_POLLS:
            raise ValueError(f"import_budget / poll_interval may allow at most {MAX_POLLS} polls (Step Functions' "
                             f"history limit); got {import_budget.to_human_string()} / "
                             f"{poll_interval.to_human_string()}")
        _props.duration("retry_interval", retry_interval, at_least=Duration.seconds(1), at_most=MAX_RETRY_DELAY)
        _props.removal_policy("removal_policy", removal_policy)
        self.destination, self.label = destination, label
        self.event_bus, self.topic = event_bus, topic
        self.audience_bucket = with_key(self, "AudienceBucketWithKey", audience_bucket, None, "audience_bucket")
        self.audience_prefix, self.drop_prefix = audience_prefix, drop_prefix
        self._poll_interval, self._import_budget, self._retry_interval = poll_interval, import_budget, retry_interval
        self._removal_policy = removal_policy

    # ------------------------------------------------------------------ the function

    def _import_function(self, function: str, *, description: str, environment: Mapping[str, str],
                         settings: Optional[FunctionSettings], timeout: Duration = Duration.minutes(15),
                         memory_size: int = 1024) -> None:
        """The destination's function (``lambda_src/<function as a path>/``): it reads the audience files, and keeps
        its import markers next to them. Sized by default for its worst input: its check streams a file of up to 1 GB
        (15 minutes, 1,024 MB)."""
        self._function = SegmentationFunction(
            self, "Importer", function=function, description=description,
            settings=checked_settings(settings, "import_function_settings"), timeout=timeout, memory_size=memory_size,
            environment={Env.AUDIENCE_BUCKET: self.audience_bucket.bucket_name, Env.AUDIENCE_PREFIX: self.audience_prefix,
                         Env.IMPORT_BUDGET_SECONDS: str(int(self._import_budget.to_seconds())), **environment})
        self.import_function: lambda_.Function = self._function.function
        self._function_role: iam.Role = self._function.role
        self._grant_importer_files()

    def audience_file_patterns(self) -> list[str]:
        """The audience files this importer (and the service it hands them to) may read."""
        return [f"{self.audience_prefix}*.csv"] + ([f"{self.drop_prefix}*.csv"] if self.drop_prefix else [])

    def _grant_importer_files(self) -> None:
        """Read the audience files; keep this destination's import markers next to them."""
        grant_objects(self._function_role, self.audience_bucket, ["s3:GetObject"], *self.audience_file_patterns(),
                      wildcard_reason=OBJECT_WILDCARD_REASON)
        grant_objects(self._function_role, self.audience_bucket, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                      f"{self.audience_prefix}*/_imports/{self.destination}/*", wildcard_reason=OBJECT_WILDCARD_REASON)
        if self.drop_prefix:  # a dropped file's key may arrive URL-encoded: which one exists is asked by listing
            self._function_role.add_to_policy(iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[self.audience_bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{self.drop_prefix}*"]}}))

    # ------------------------------------------------------------------ the workflow and its triggers

    def _import_workflow(self, imported: Mapping[str, Any]) -> None:
        """The workflow, its role and the rules that start it. ``imported``: the destination's own fields of an
        ``IMPORTED`` event, each a ``JsonPath`` into the last poll's answer (``$.import``)."""
        workflow = standard_workflow(self, "Workflow", definition=self._definition(imported),
                                     description=f"Imports audiences into {self.label}",
                                     timeout=self._import_budget.plus(Duration.hours(1)),
                                     removal_policy=self._removal_policy)
        self.state_machine, self.workflow_role, self.workflow_log_group = workflow
        self.workflow_role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                             resources=[self.import_function.function_arn]))
        self.workflow_role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"],
                                                             resources=[self.event_bus.event_bus_arn]))
        if self.topic is not None:
            grant_publish(self.workflow_role, self.topic)
        self.trigger_dead_letter_queue = trigger_dead_letters(self)
        self._triggers()
        # Imports that end without reaching PublishFailed (a timeout, stopped by hand) are reported as FAILED too.
        self.watch = FailureWatch(
            self, "Watch", state_machine=self.state_machine, label=f"{self.label} import", event_bus=self.event_bus,
            source=contract.AUDIENCE_SOURCE, detail_type=contract.IMPORT_STATE_CHANGE,
            detail={"Destination": self.destination, "Status": contract.IMPORT_FAILED,
                    "AudienceKey": string_at("$.input.audience.audienceKey"),
                    "Error": string_at("$.error"), "Cause": string_at("$.cause"),
                    "ExecutionArn": string_at("$.executionArn")},
            topic=self.topic, dead_letters=self.trigger_dead_letter_queue, removal_policy=self._removal_policy)

    def _triggers(self) -> None:
        trigger_role = service_role(self, "TriggerRole", "events.amazonaws.com", f"Starts {self.label} audience imports")
        field = events.EventField.from_path
        events.Rule(self, "AudienceReady", event_bus=self.event_bus, description="An audience file is ready: import it",
                    # only this importer's bucket and prefix: two post-processors (or importers) may share a bus
                    event_pattern=events.EventPattern(
                        source=[contract.AUDIENCE_SOURCE], detail_type=[contract.SEGMENT_READY],
                        detail={"bucket": [self.audience_bucket.bucket_name],
                                "segment": {"audienceKey": [{"prefix": self.audience_prefix}]}}),
                    targets=[targets.SfnStateMachine(
                        self.state_machine, retry_attempts=10, role=trigger_role,
                        dead_letter_queue=self.trigger_dead_letter_queue,
                        input=events.RuleTargetInput.from_object({"audience": {
                            "bucket": field("$.detail.bucket"), "audienceKey": field("$.detail.segment.audienceKey"),
                            "segmentName": field("$.detail.segment.name"), "jobName": field("$.detail.jobName")}}))])
        if not self.drop_prefix:
            return
        events_from(self, self.audience_bucket)
        events.Rule(self, "AudienceDropped", description=f"A CSV dropped under {self.drop_prefix}: import it",
                    event_pattern=events.EventPattern(
                        source=[contract.S3_SOURCE], detail_type=[contract.OBJECT_CREATED],
                        detail={"bucket": {"name": [self.audience_bucket.bucket_name]},
                                "object": {"key": [{"wildcard": f"{self.drop_prefix}*.csv"}]}}),
                    targets=[targets.SfnStateMachine(
                        self.state_machine, retry_attempts=10, role=trigger_role,
                        dead_letter_queue=self.trigger_dead_letter_queue,
                        input=events.RuleTargetInput.from_object({"audience": {
                            "bucket": field("$.detail.bucket.name"), "audienceKey": field("$.detail.object.key")}}))])

    def _invoke(self, id_: str, action: str, result_path: str, **payload: Any) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(self, id_, lambda_function=self.import_function, payload_response_only=True,
                                  payload=sfn.TaskInput.from_object({"action": action, **payload}),
                                  result_path=result_path)
        retry_transient(task)
        retry_throttling(task, self._retry_interval, errors=contract.IMPORT_RETRIED, max_attempts=12)
        return task

    def _outcome(self, id_: str, status: str, end: sfn.State, **detail: Any) -> sfn.Chain:
        """Publish the outcome event, notify the topic, then ``end``. The import is already decided: a notification
        that cannot be delivered (after retries) is logged in the history and still ends in ``end``, so a failed email
        never turns an imported audience into a failed run."""
        chain = sfn.Chain.start(retried(tasks.EventBridgePutEvents(
            self, f"Publish{id_}", result_path=DISCARD,
            entries=[tasks.EventBridgePutEventsEntry(
                event_bus=self.event_bus, source=contract.AUDIENCE_SOURCE, detail_type=contract.IMPORT_STATE_CHANGE,
                detail=sfn.TaskInput.from_object({
                    "Destination": self.destination, "Status": status,
                    "AudienceKey": string_at("$.audience.audienceKey"), **detail}))])))
        if self.topic is not None:
            chain = chain.next(notify_then(tasks.SnsPublish(
                self, f"Notify{id_}", topic=self.topic, subject=f"{self.label} audience import {status.lower()}",
                message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                    f"{self.label} import of {{}}: {status}", string_at("$.audience.audienceKey"))),
                result_path=DISCARD), end))
        return chain.next(end)

    def _definition(self, imported: Mapping[str, Any]) -> sfn.IChainable:
        audience = object_at("$.audience")
        check = self._invoke("CheckFile", "check", "$.audience", audience=audience)
        start = self._invoke("StartImport", "start", "$.import", audience=audience)
        poll = self._invoke("PollImport", "poll", "$.import", audience=audience,
                            **{"import": object_at("$.import")})
        wait = sfn.Wait(self, "WaitForImport", time=sfn.WaitTime.duration(self._poll_interval))
        name = string_at("$.audience.segmentName")
        failed = self._outcome("Failed", contract.IMPORT_FAILED,
                               sfn.Fail(self, "ImportFailed", error=contract.AUDIENCE_IMPORT_FAILED),
                               Error=string_at("$.failure.Error"),
                               Cause=string_at("$.failure.Cause"))
        rejected = self._outcome("Rejected", contract.IMPORT_REJECTED,
                                 sfn.Fail(self, "FileRejected", error=contract.AUDIENCE_FILE_REJECTED),
                                 SegmentName=name, Reason=string_at("$.audience.problem"))
        done = self._outcome("Imported", contract.IMPORTED, sfn.Succeed(self, "Imported"), SegmentName=name, **imported)
        for task in (check, start, poll):
            task.add_catch(failed, errors=["States.ALL"], result_path="$.failure")
        # A delivery that finds the file version imported, or joined an import another delivery reports, ends quietly:
        # each import is reported once.
        already = sfn.Succeed(self, "AlreadyImported")
        poll.next(sfn.Choice(self, "ImportDone?")
                  .when(sfn.Condition.string_equals("$.import.state", contract.ALREADY_IMPORTED), already)
                  .when(sfn.Condition.boolean_equals("$.import.done", True), done)
                  .otherwise(wait.next(poll)))
        start.next(sfn.Choice(self, "StartOutcome?")
                   .when(sfn.Condition.string_equals("$.import.state", contract.ALREADY_IMPORTED), already)
                   .otherwise(wait))
        return check.next(sfn.Choice(self, "FileAccepted?")
                          .when(sfn.Condition.is_null("$.audience.problem"), start)
                          .otherwise(rejected))

    # ------------------------------------------------------------------ grants

    def grant_drop_audiences(self, grantee: iam.IGrantable) -> iam.Grant:
        """Lets ``grantee`` drop CSVs under ``drop_prefix`` for import (a CRM export job, a team's role)."""
        if not self.drop_prefix:
            raise ValueError(f"{self.node.path}: grant_drop_audiences needs drop_prefix; this importer has none")
        return grant_objects(grantee, self.audience_bucket, ["s3:PutObject"], f"{self.drop_prefix}*.csv")

    def grant_start_import(self, grantee: iam.IGrantable) -> iam.Grant:
        """Lets ``grantee`` start this importer's workflow by hand (``{"audience": {"bucket", "audienceKey"}}``)."""
        return self.state_machine.grant_start_execution(grantee)

"""What every audience destination builds the same way (Pinpoint, Connect Customer Profiles).

An ``Audience Segment Ready`` rule (and, with ``drop_prefix``, an S3 ``Object Created`` rule for CSVs a
team drops by hand) starts a Standard workflow per audience:

    StartImport ─┬─ REJECTED ──────────── PublishRejected → NotifyRejected → FileRejected (Fail)
                 ├─ ALREADY_IMPORTED ──── AlreadyImported (Succeed)
                 └─ STARTED → WaitForImport → PollImport → ImportDone? ─ no ─→ WaitForImport
                                                                        └ yes → PublishImported → Imported
    any error of StartImport / PollImport ── PublishFailed → NotifyFailed → ImportFailed (Fail)

The destination's function answers ``{"action": "start", "detail": ...}`` and ``{"action": "poll",
"import": ...}`` (see ``lambda_src/shared/imports.py``). Quota and throttling errors are retried with
backoff and full jitter, so imports queue instead of failing; the poll loop is bounded by the import
budget the function enforces.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from segmentation_constructs._lambda import SegmentationFunction
from segmentation_constructs._storage import events_from, grant_objects
from segmentation_constructs._workflow import grant_publish, notify_then, service_role, standard_workflow

AUDIENCE_SOURCE = "segmentation.audiences"
SEGMENT_READY = "Audience Segment Ready"
IMPORT_STATE_CHANGE = "Audience Import State Change"
DROPPED_JOB = "dropped"  # markers of hand-dropped files live under <prefix>dropped/_imports/
MAX_POLLS = 500  # a Standard execution's 25,000 history events, with room for the other states
RETRIED_ERRORS = ["ServiceLimitExceeded", "ServiceThrottled", "ImportStarting"]
OBJECT_WILDCARD_REASON = ("Audience file names, import job IDs and markers are known at run time only; each ARN "
                          "is limited to the audience prefix or to this destination's resources.")


def check_poll_bound(import_budget: Duration, poll_interval: Duration) -> None:
    if import_budget.to_seconds() / poll_interval.to_seconds() > MAX_POLLS:
        raise ValueError(f"import_budget / poll_interval may allow at most {MAX_POLLS} polls "
                         f"(Step Functions' history limit); got {import_budget.to_human_string()} / "
                         f"{poll_interval.to_human_string()}")


def check_drop_prefix(prefix: str, drop_prefix: Optional[str]) -> None:
    if drop_prefix and (drop_prefix.startswith(prefix) or prefix.startswith(drop_prefix)):
        raise ValueError(f"drop_prefix={drop_prefix!r} overlaps audience_prefix={prefix!r}: the post-processor's "
                         "audience files and the importers' work files would be imported again as dropped CSVs; "
                         "give hand-made CSVs a prefix of their own, e.g. 'manual/'")


def file_patterns(prefix: str, drop_prefix: Optional[str]) -> list[str]:
    """The audience files an importer (and the service it hands them to) may read."""
    return [f"{prefix}*.csv"] + ([f"{drop_prefix}*.csv"] if drop_prefix else [])


def grant_audience_files(function: SegmentationFunction, bucket: s3.IBucket, prefix: str, destination: str,
                         drop_prefix: Optional[str] = None) -> None:
    """Read the audience files; keep this destination's import markers next to them."""
    grant_objects(function.role, bucket, ["s3:GetObject"], *file_patterns(prefix, drop_prefix),
                  wildcard_reason=OBJECT_WILDCARD_REASON)
    grant_objects(function.role, bucket, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                  f"{prefix}*/_imports/{destination}/*", wildcard_reason=OBJECT_WILDCARD_REASON)
    if drop_prefix:  # a dropped file's key may arrive URL-encoded: which one exists is asked by listing
        function.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                                                        conditions={"StringLike": {"s3:prefix": [f"{drop_prefix}*"]}}))


def audience_import_workflow(
    scope: Construct, *, destination: str, label: str, function: SegmentationFunction,
    event_bus: events.IEventBus, topic: Optional[sns.ITopic], poll_interval: Duration, import_budget: Duration,
    retry_interval: Duration, removal_policy: RemovalPolicy, imported: Mapping[str, Any],
    audience_bucket: s3.IBucket, audience_prefix: str, drop_prefix: Optional[str] = None,
) -> tuple[sfn.StateMachine, iam.Role]:
    """The rules, the workflow and its role. ``imported``: the destination's own fields of an ``IMPORTED``
    event, each a ``JsonPath`` into the last poll result (``$.import``). With ``drop_prefix``, a CSV
    created under that prefix of ``audience_bucket`` (a team's hand-made audience) is imported too."""
    builder = _Definition(scope, destination, label, function, event_bus, topic, poll_interval, retry_interval)
    machine, role = standard_workflow(scope, "Workflow", definition=builder.build(imported),
                                      description=f"Imports audiences into {label}",
                                      timeout=import_budget.plus(Duration.hours(1)), removal_policy=removal_policy)
    role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function.function_arn]))
    role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[event_bus.event_bus_arn]))
    if topic is not None:
        grant_publish(role, topic)
    trigger_role = service_role(scope, "TriggerRole", "events.amazonaws.com", f"Starts {label} audience imports")
    events.Rule(scope, "AudienceReady", event_bus=event_bus, description="An audience file is ready: import it",
                # only this importer's bucket and prefix: two post-processors (or importers) may share a bus
                event_pattern=events.EventPattern(source=[AUDIENCE_SOURCE], detail_type=[SEGMENT_READY], detail={
                    "bucket": [audience_bucket.bucket_name],
                    "segment": {"audienceKey": [{"prefix": audience_prefix}]}}),
                targets=[targets.SfnStateMachine(machine, retry_attempts=10, role=trigger_role)])
    if drop_prefix:
        events_from(scope, audience_bucket)
        key = events.EventField.from_path("$.detail.object.key")
        events.Rule(scope, "AudienceDropped", description=f"A CSV dropped under {drop_prefix}: import it",
                    event_pattern=events.EventPattern(source=["aws.s3"], detail_type=["Object Created"], detail={
                        "bucket": {"name": [audience_bucket.bucket_name]},
                        "object": {"key": [{"wildcard": f"{drop_prefix}*.csv"}]}}),
                    targets=[targets.SfnStateMachine(machine, retry_attempts=10, role=trigger_role, input=(
                        events.RuleTargetInput.from_object({"detail": {
                            "jobName": DROPPED_JOB, "dropped": True,
                            "bucket": events.EventField.from_path("$.detail.bucket.name"),
                            "segment": {"name": key, "audienceKey": key}}})))])
    return machine, role


class _Definition:
    def __init__(self, scope, destination, label, function, event_bus, topic, poll_interval, retry_interval):
        self.scope, self.destination, self.label, self.function = scope, destination, label, function
        self.event_bus, self.topic = event_bus, topic
        self.poll_interval, self.retry_interval = poll_interval, retry_interval

    def _invoke(self, id_: str, action: str, payload: dict) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(self.scope, id_, lambda_function=self.function.function, payload_response_only=True,
                                  payload=sfn.TaskInput.from_object({"action": action, **payload}),
                                  result_path="$.import")
        task.add_retry(errors=RETRIED_ERRORS, interval=self.retry_interval, max_attempts=12, backoff_rate=2,
                       max_delay=Duration.minutes(15), jitter_strategy=sfn.JitterType.FULL)
        return task

    def _outcome(self, id_: str, status: str, end: sfn.State, **detail) -> sfn.Chain:
        """Publish the outcome event, notify the topic, then ``end``. The import is already decided: a
        notification that cannot be delivered (after retries) is logged in the history and still ends in
        ``end``, so a failed email never turns an imported audience into a failed run."""
        chain = sfn.Chain.start(tasks.EventBridgePutEvents(
            self.scope, f"Publish{id_}", result_path=sfn.JsonPath.DISCARD,
            entries=[tasks.EventBridgePutEventsEntry(
                event_bus=self.event_bus, source=AUDIENCE_SOURCE, detail_type=IMPORT_STATE_CHANGE,
                detail=sfn.TaskInput.from_object({"Destination": self.destination, "Status": status, **detail}))]))
        if self.topic is not None:
            chain = chain.next(notify_then(tasks.SnsPublish(
                self.scope, f"Notify{id_}", topic=self.topic, subject=f"{self.label} audience import {status.lower()}",
                message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                    f"{self.label} import of {{}}: {status}", sfn.JsonPath.string_at("$.detail.segment.name"))),
                result_path=sfn.JsonPath.DISCARD), end))
        return chain.next(end)

    def build(self, imported: Mapping[str, Any]) -> sfn.IChainable:
        scope = self.scope
        start = self._invoke("StartImport", "start", {"detail": sfn.JsonPath.object_at("$.detail")})
        poll = self._invoke("PollImport", "poll", {"import": sfn.JsonPath.object_at("$.import")})
        wait = sfn.Wait(scope, "WaitForImport", time=sfn.WaitTime.duration(self.poll_interval))
        segment = {"SegmentName": sfn.JsonPath.string_at("$.import.segmentName"),
                   "AudienceKey": sfn.JsonPath.string_at("$.import.audienceKey")}
        failed = self._outcome("Failed", "FAILED", sfn.Fail(scope, "ImportFailed", error="AudienceImportFailed"),
                               Error=sfn.JsonPath.string_at("$.failure.Error"),
                               Cause=sfn.JsonPath.string_at("$.failure.Cause"),
                               AudienceKey=sfn.JsonPath.string_at("$.detail.segment.audienceKey"))
        rejected = self._outcome("Rejected", "REJECTED", sfn.Fail(scope, "FileRejected", error="AudienceFileRejected"),
                                 Reason=sfn.JsonPath.string_at("$.import.reason"), **segment)
        done = self._outcome("Imported", "IMPORTED", sfn.Succeed(scope, "Imported"), **imported, **segment)
        for task in (start, poll):
            task.add_catch(failed, errors=["States.ALL"], result_path="$.failure")
        poll.next(sfn.Choice(scope, "ImportDone?")
                  .when(sfn.Condition.boolean_equals("$.import.done", True), done)
                  .otherwise(wait.next(poll)))
        return start.next(
            sfn.Choice(scope, "StartOutcome?")
            .when(sfn.Condition.string_equals("$.import.state", "REJECTED"), rejected)
            .when(sfn.Condition.string_equals("$.import.state", "ALREADY_IMPORTED"), sfn.Succeed(scope, "AlreadyImported"))
            .otherwise(wait))

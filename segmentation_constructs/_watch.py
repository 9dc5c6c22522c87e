"""What keeps a workflow's failures from going unseen, written once for every construct.

- ``trigger_dead_letters``: the dead-letter queue of a construct's rule targets (an event EventBridge could not
  deliver to the workflow, after its retries, lands there instead of being dropped).
- ``FailureWatch``: a workflow can end without reaching its own failure states: a Step Functions timeout, an execution
  stopped by hand (ABORTED), or an error no Catch can take (``States.DataLimitExceeded``, ``States.Runtime``). A rule
  on the account's default bus hears those from Step Functions (``Step Functions Execution Status Change``) and hands
  them to a small reporter workflow, which puts the construct's own failure event on its bus and notifies its topic
  (Step Functions publishes with a role, so topics encrypted with ``alias/aws/sns`` work too). Failures the
  workflow reported itself (its Fail states' errors, ``contract.REPORTED_FAILURES``) are left out: never reported twice.
  Two alarms, exposed for the team to add actions to: executions failed, timed out or aborted, and messages in the
  dead-letter queue.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from segmentation_constructs import contract
from segmentation_constructs._nag import acknowledge
from segmentation_constructs._workflow import DISCARD, grant_publish, notify_then, retried, service_role, \
    standard_workflow, string_at

STATUS_CHANGE = "Step Functions Execution Status Change"
STATES_SOURCE = "aws.states"
UNREPORTED = ("TIMED_OUT", "ABORTED")


def trigger_dead_letters(scope: Construct, id: str = "TriggerDeadLetters") -> sqs.Queue:
    """The dead-letter queue of a construct's rule targets: SQS-managed keys (EventBridge can write to it without a
    key policy of yours), TLS only, 14 days."""
    queue = sqs.Queue(scope, id, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                      retention_period=Duration.days(14))
    acknowledge(queue, "AwsSolutions-SQS3", "This queue is the dead-letter queue of the construct's rules; a queue "
                                            "of its own behind it would never receive a message.")
    return queue


class FailureWatch(Construct):
    """Reports the ends of ``state_machine`` its own states could not report, and alarms on failures and dead letters.

    ``detail``: the construct's failure event's detail, each value a ``JsonPath`` into the reporter's input
    ``{"status", "error", "cause", "executionArn", "input"}`` (``input``: the failed execution's input, parsed).
    """

    def __init__(self, scope: Construct, id: str, *, state_machine: sfn.StateMachine, label: str,
                 event_bus: events.IEventBus, source: str, detail_type: str, detail: Mapping[str, Any],
                 topic: Optional[sns.ITopic], dead_letters: sqs.IQueue, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, id)
        put = retried(tasks.EventBridgePutEvents(
            self, "PutFailureEvent", result_path=DISCARD,
            entries=[tasks.EventBridgePutEventsEntry(event_bus=event_bus, source=source, detail_type=detail_type,
                                                     detail=sfn.TaskInput.from_object(dict(detail)))]))
        end = sfn.Succeed(self, "Reported")
        chain = sfn.Chain.start(put)
        if topic is not None:
            chain = chain.next(notify_then(tasks.SnsPublish(
                self, "NotifyFailure", topic=topic, subject=f"{label} workflow ended without finishing",
                message=sfn.TaskInput.from_text(sfn.JsonPath.format(
                    f"The {label} workflow execution {{}} ended {{}}: {{}}",
                    string_at("$.executionArn"), string_at("$.status"), string_at("$.cause"))),
                result_path=DISCARD), end))
        # A FAILED execution's event has its error and cause; a TIMED_OUT or ABORTED one's may have neither.
        common = {"status": string_at("$.detail.status"),
                  "executionArn": string_at("$.detail.executionArn"),
                  "input": sfn.JsonPath.string_to_json(string_at("$.detail.input"))}
        with_error = sfn.Pass(self, "WithError", parameters={
            **common, "error": string_at("$.detail.error"),
            "cause": string_at("$.detail.cause")})
        without_error = sfn.Pass(self, "WithoutError", parameters={
            **common, "error": string_at("$.detail.status"),
            "cause": sfn.JsonPath.format("The execution ended {}: it ran past the workflow timeout or was stopped",
                                         string_at("$.detail.status"))})
        body = chain.next(end)
        with_error.next(body)
        without_error.next(body)
        parse = sfn.Choice(self, "Received").when(sfn.Condition.and_(
            sfn.Condition.is_present("$.detail.error"), sfn.Condition.is_string("$.detail.error"),
            sfn.Condition.is_present("$.detail.cause"), sfn.Condition.is_string("$.detail.cause")),
            with_error).otherwise(without_error)
        reporter = standard_workflow(self, "Reporter", definition=parse,
                                     description=f"Reports {label} executions that timed out, were aborted or failed "
                                                 "outside their own failure states",
                                     timeout=Duration.minutes(5), removal_policy=removal_policy)
        self.reporter: sfn.StateMachine = reporter.state_machine
        reporter.role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"],
                                                        resources=[event_bus.event_bus_arn]))
        if topic is not None:
            grant_publish(reporter.role, topic)
        events.Rule(self, "Ended", description=f"Reports {label} executions that end without reporting it themselves",
                    event_pattern=events.EventPattern(source=[STATES_SOURCE], detail_type=[STATUS_CHANGE], detail={
                        "stateMachineArn": [state_machine.state_machine_arn],
                        "$or": [{"status": list(UNREPORTED)},
                                {"status": ["FAILED"],
                                 "error": [{"anything-but": list(contract.REPORTED_FAILURES)}]}]}),
                    targets=[targets.SfnStateMachine(
                        self.reporter, dead_letter_queue=dead_letters, retry_attempts=10,
                        role=service_role(self, "ReportRole", "events.amazonaws.com",
                                          f"Starts the reporter of unreported {label} execution ends"))])
        failed = cloudwatch.MathExpression(
            expression="failed + timedOut + aborted", period=Duration.minutes(5), label="Executions ended badly",
            using_metrics={"failed": state_machine.metric_failed(), "timedOut": state_machine.metric_timed_out(),
                           "aborted": state_machine.metric_aborted()})
        self.failed_executions_alarm = failed.create_alarm(
            self, "FailedExecutions", threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"Executions of the {label} workflow failed, timed out or were aborted: see their failure "
                              "events, then the executions' history in the Step Functions console")
        self.dead_letter_alarm = dead_letters.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5)).create_alarm(
            self, "DeadLetters", threshold=1, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"Events could not start the {label} workflow: each message in the dead-letter queue is "
                              "one of them; fix the cause, then send it again (or start the workflow with it)")

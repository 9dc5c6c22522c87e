"""What every workflow of the library has: a Standard state machine, logged and traced, run by a
role whose statements are written out by its construct, started by a source-account-scoped rule role.

Every call a construct makes into CDK crosses to CDK's node process (about 0.2 ms each, and a synth makes
thousands), so values used over and over are made once here (``DISCARD``, ``string_at``, the retry durations), and
the library's own roles take statements with ``Role.add_to_policy``: the same statement as
``add_to_principal_policy``, without the two calls that bring its result back.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from segmentation_constructs import contract
from segmentation_constructs._nag import acknowledge, acknowledge_wildcard_resources

LOG_DELIVERY_ACTIONS = ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                        "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                        "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]
XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                "xray:GetSamplingTargets"]
# Made once, not per retrier: a Duration lives in CDK's node process, each made by a call to it.
EVENT_RETRY_INTERVAL = Duration.seconds(2)
TRANSIENT_RETRY_INTERVAL = Duration.seconds(5)
MAX_RETRY_DELAY = Duration.minutes(15)  # the max_delay of the throttling retriers: a longer backoff means nothing
ACCOUNT_ID = Aws.ACCOUNT_ID  # the deploying account's token, read once
DISCARD = sfn.JsonPath.DISCARD  # a step's result_path that drops its result (each read of it is a call too)


@functools.cache
def string_at(path: str) -> str:
    """``sfn.JsonPath.string_at(path)``, made once per path: a synth reads the same paths in many states, each
    reading a call to CDK's node process. The token stands for the path alone, so one serves every app."""
    return sfn.JsonPath.string_at(path)


@functools.cache
def object_at(path: str) -> Any:
    """``sfn.JsonPath.object_at(path)``, made once per path (see ``string_at``)."""
    return sfn.JsonPath.object_at(path)


def service_role(scope: Construct, id: str, service: str, description: str,
                 source_arn: Optional[str] = None) -> iam.Role:
    """A role only ``service`` acting for this account (and, with ``source_arn``, for those resources) can
    assume: confused-deputy protection."""
    conditions = {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    if source_arn:
        conditions["ArnLike"] = {"aws:SourceArn": source_arn}
    return iam.Role(scope, id, description=description, assumed_by=iam.ServicePrincipal(service, conditions=conditions))


def grant_pass_role(grantee: iam.Role, role: iam.IRole, service: str) -> None:
    """``iam:PassRole`` on ``role``, to ``service`` only (``iam:PassedToService``)."""
    grantee.add_to_policy(iam.PolicyStatement(
        actions=["iam:PassRole"], resources=[role.role_arn],
        conditions={"StringEquals": {"iam:PassedToService": service}}))


class Workflow(NamedTuple):
    state_machine: sfn.StateMachine
    role: iam.Role
    log_group: logs.LogGroup


def standard_workflow(scope: Construct, id: str, *, definition: sfn.IChainable, description: str,
                      timeout: Duration, removal_policy: RemovalPolicy) -> Workflow:
    """The state machine, its role and its log group. CDK adds no statements to the role (no function-version
    wildcards); the construct grants exactly what its tasks call."""
    role = service_role(scope, f"{id}Role", "states.amazonaws.com", description)
    log_group = logs.LogGroup(scope, f"{id}Logs", retention=logs.RetentionDays.THREE_MONTHS,
                              removal_policy=removal_policy)
    machine = sfn.StateMachine(
        scope, id,
        role=role.without_policy_updates(),
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        state_machine_type=sfn.StateMachineType.STANDARD,
        timeout=timeout,
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=log_group,
            level=sfn.LogLevel.ALL,
            include_execution_data=False,
        ),
    )
    # CloudWatch Logs vended delivery and X-Ray authorize these actions on "*" only.
    role.add_to_policy(iam.PolicyStatement(actions=LOG_DELIVERY_ACTIONS, resources=["*"]))
    role.add_to_policy(iam.PolicyStatement(actions=XRAY_ACTIONS, resources=["*"]))
    acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                "Only CloudWatch Logs vended-log delivery actions (for the workflow's execution logs) and X-Ray "
                "trace upload are granted on *; IAM authorizes those actions on * only.")
    return Workflow(machine, role, log_group)


def grant_publish(role: iam.Role, topic: sns.ITopic) -> None:
    """``sns:Publish`` on ``topic``, and the KMS use publishing needs when the topic has a customer managed key
    (an AWS managed key, given as its alias, needs none). SNS calls GenerateDataKey, so no ``GenerateDataKey*``."""
    role.add_to_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=[topic.topic_arn]))
    key = topic.master_key
    if key is not None and not hasattr(key, "alias_name"):
        key.grant(role, "kms:Decrypt", "kms:GenerateDataKey")


def retried(task: sfn.TaskStateBase) -> sfn.TaskStateBase:
    """A step that puts an event or a notification: any error retried 3 times with backoff and full jitter."""
    task.add_retry(errors=["States.ALL"], interval=EVENT_RETRY_INTERVAL, max_attempts=3, backoff_rate=2,
                   jitter_strategy=sfn.JitterType.FULL)
    return task


def retry_transient(task: tasks.LambdaInvoke) -> tasks.LambdaInvoke:
    """A function step that outlives transient faults (``contract.TRANSIENT_ERRORS``: 5xx, network timeouts, Lambda
    throttling, a function timing out): 3 more attempts with backoff and full jitter. Every handler is idempotent."""
    task.add_retry(errors=list(contract.TRANSIENT_ERRORS), interval=TRANSIENT_RETRY_INTERVAL, max_attempts=3,
                   backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
    return task


def retry_throttling(task: tasks.LambdaInvoke, interval: Duration, *, errors: tuple = contract.RETRIED,
                     max_attempts: int = 8, max_delay: Duration = MAX_RETRY_DELAY) -> tasks.LambdaInvoke:
    """A function step that waits out throttling and full quotas (``errors``, ``contract.RETRIED`` by default):
    ``max_attempts`` attempts, ``interval`` doubling up to ``max_delay``, with full jitter: runs queue, not fail."""
    task.add_retry(errors=contract.names(*errors), interval=interval, max_attempts=max_attempts, backoff_rate=2,
                   max_delay=max_delay, jitter_strategy=sfn.JitterType.FULL)
    return task


def notify_then(notify: tasks.SnsPublish, end: sfn.State) -> tasks.SnsPublish:
    """A notification step that cannot fail the run: retried, then caught into ``end`` (the state that follows it),
    the error kept in the execution history under ``$.notifyError``."""
    retried(notify).add_catch(end, errors=["States.ALL"], result_path="$.notifyError")
    return notify


def grant_describe_executions(scope: Construct, id: str, role: iam.IRole, state_machine: sfn.StateMachine,
                              named: str) -> None:
    """``states:DescribeExecution`` on the executions of ``state_machine`` (``named``: when their names are made). A
    policy of its own: the function's default policy cannot name the state machine that invokes the function (a
    dependency cycle)."""
    executions = Stack.of(scope).format_arn(
        service="states", resource="execution", resource_name=f"{state_machine.state_machine_name}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME)
    policy = iam.Policy(scope, id, roles=[role], statements=[iam.PolicyStatement(
        actions=["states:DescribeExecution"], resources=[executions])])
    acknowledge_wildcard_resources(policy, [executions], f"Execution names are generated when {named}; the ARN is "
                                   "limited to this construct's workflow.")

"""Run a synthesized state machine in moto's ASL interpreter, its Lambda tasks answered in-process.

``render_definition`` turns the template's DefinitionString (an Fn::Join with
Refs and GetAtts) into plain ASL, naming each resource after its logical ID.
``LambdaRouter`` replaces moto's Docker-less Lambda backend so that invoking a
function ARN runs the real handler module in this process, errors included
(reported the way Lambda reports an unhandled exception).
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from types import SimpleNamespace
from typing import Callable

import boto3
from moto.awslambda_simple.models import LambdaSimpleBackend

ACCOUNT = "123456789012"
REGION = "us-east-1"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def lambda_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical_id}"


def resolve(template: dict, value, names: dict[str, str]):
    """A Ref/GetAtt of the template as the fake resources created for the test answer it."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        ref = value["Ref"]
        return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
                "AWS::URLSuffix": "amazonaws.com"}.get(ref) or names[ref]
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return names[f"{logical_id}.{attribute}"]
    raise ValueError(f"cannot resolve {value}")


def render_definition(template: dict, names: dict[str, str], machine_id: str | None = None) -> str:
    """The definition of the template's workflow (not its failure reporter's; ``machine_id``: that state machine's),
    references resolved by ``names``."""
    (machine,) = [r for lid, r in template["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine"
                  and (lid == machine_id if machine_id else "WatchReporter" not in lid)]
    body = machine["Properties"]["DefinitionString"]
    if isinstance(body, str):
        return body
    separator, parts = body["Fn::Join"]
    return separator.join(resolve(template, part, names) for part in parts)


def function_names(template: dict) -> dict[str, str]:
    """GetAtt <Function>.Arn for every Lambda function of the template."""
    return {f"{lid}.Arn": lambda_arn(lid) for lid, r in template["Resources"].items()
            if r["Type"] == "AWS::Lambda::Function"}


def logical_id(template: dict, type_: str, contains: str) -> str:
    (found,) = [lid for lid, r in template["Resources"].items() if r["Type"] == type_ and contains in lid]
    return found


class LambdaRouter:
    """Routes moto Lambda invocations to handler functions by ARN."""

    def __init__(self, monkeypatch, routes: dict[str, Callable]) -> None:
        self.routes = routes
        self.invocations: list[tuple[str, dict]] = []
        router = self

        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            event = json.loads(body) if body else {}
            router.invocations.append((function_name, event))
            context = SimpleNamespace(invoked_function_arn=function_name, function_name=function_name)
            try:
                result = router.routes[function_name](event, context)
            except Exception as exc:  # reported as Lambda reports an unhandled error
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc),
                                   "stackTrace": traceback.format_exception(exc)[-3:]}).encode()
            return json.dumps(result).encode()

        monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)


def run_execution(state_machine_arn: str, payload: dict, *, timeout: float = 60.0) -> dict:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    execution_arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=uuid.uuid4().hex,
                                        input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"execution still RUNNING after {timeout} s")


def history(execution_arn: str) -> list[dict]:
    """Every event of the execution, read from moto's interpreter as GetExecutionHistory returns them (its events
    have the API's shape), without serializing thousands of events through the API for each read."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return list(stepfunctions_parser_backends[ACCOUNT][REGION].get_execution_history(execution_arn)["events"])


def import_workflow(monkeypatch, template: dict, aws, handler: Callable, names: dict[str, str] | None = None) -> str:
    """An importer's state machine created in moto (its Lambda answered by ``handler``, its events put
    on the fake bus ``aws`` captures); returns the state machine ARN."""
    LambdaRouter(monkeypatch, {lambda_arn(logical_id(template, "AWS::Lambda::Function", "Import")): handler})
    definition = render_definition(template, {**function_names(template), **(names or {})}).replace(
        '"EventBusName":"bus"', f'"EventBusName":"{aws.bus_arn}"')
    return boto3.client("stepfunctions", region_name=REGION).create_state_machine(
        name=uuid.uuid4().hex[:16], definition=definition, roleArn=f"arn:aws:iam::{ACCOUNT}:role/w")["stateMachineArn"]

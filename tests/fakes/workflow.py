"""Run a synthesized state machine in moto's ASL interpreter, its Lambda tasks answered in-process.

``render_definition`` turns the template's DefinitionString (an Fn::Join with
Refs and GetAtts) into plain ASL, naming each resource after its logical ID.
``LambdaRouter`` replaces moto's Docker-less Lambda backend so that invoking a
function ARN runs the real handler module in this process, errors included
(reported the way Lambda reports an unhandled exception). Its ``time_out`` makes chosen invocations time out, as
Step Functions reports a function that timed out (``Lambda.Unknown``): before the handler starts, part way through it
(at one of its AWS calls, nothing after that call running, not even its ``except`` clauses), or after it did all its
work and its answer was lost.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import traceback
import uuid
from types import SimpleNamespace
from typing import Callable, Optional, Union

from botocore.client import BaseClient
from moto.awslambda_simple.models import LambdaSimpleBackend

from tests.fakes.environment import shared_client

ACCOUNT = "123456789012"
REGION = "us-east-1"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# What Step Functions reports for a function that timed out (or ran out of memory): Lambda answers FunctionError
# "Unhandled" with a payload that has no errorType, and Step Functions names that Lambda.Unknown. moto's interpreter
# names an error after the payload's errorType, so the router puts Step Functions' name there.
TIMED_OUT = "Lambda.Unknown"


class FunctionTimedOut(BaseException):
    """Raised at an AWS call of an invocation chosen to time out there: a BaseException, so the handler's
    ``except Exception`` clean-ups do not run, as they do not when Lambda stops a function."""


_countdown = threading.local()  # AWS calls the invocation of this thread may still make before it times out


@contextlib.contextmanager
def service_side():
    """AWS calls a fake makes while answering a handler (Personalize writing a job's output) count as none of the
    handler's: they happen whether or not the function times out."""
    saved = getattr(_countdown, "calls", None)
    _countdown.calls = None
    try:
        yield
    finally:
        _countdown.calls = saved


def instant_waits(monkeypatch) -> None:
    """moto's ASL interpreter really sleeps in a Wait state (a second at least: the shortest poll interval a construct
    allows), and between Retry attempts (its retrier calls time.sleep): made instant."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    monkeypatch.setattr(WaitFunction, "_wait_interval", lambda self, env, wait_seconds: None)
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda seconds: None))


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
    """Routes moto Lambda invocations to handler functions by ARN.

    ``running`` maps each thread to the invocation it runs now (function ARN, event), for fakes that decide per call.
    ``time_out(function_arn, event)`` (None: never) is asked for every invocation: None runs it; a number n makes it
    time out at its AWS call n + 1 (0: before the handler starts), or once it returned if it makes no more calls than
    n (its work done, its answer lost); a function of (operation, params), asked at each of its AWS calls and once
    more with (None, None) when the handler returned, makes it time out at the first call it answers True for (at
    the end: after its work). ``timeouts`` lists (function ARN, event, calls made) of those that timed out, ``ended``
    (function ARN, event) of every invocation that ended, however.
    """

    def __init__(self, monkeypatch, routes: dict[str, Callable]) -> None:
        self.routes = routes
        self.invocations: list[tuple[str, dict]] = []
        self.running: dict[int, tuple[str, dict]] = {}
        self.time_out: Optional[Callable[[str, dict], Union[None, int, Callable[[str, dict], bool]]]] = None
        self.timeouts: list[tuple[str, dict, int]] = []
        self.ended: list[tuple[str, dict]] = []
        router = self
        countdown = _countdown
        # the call this counts in front of (a router created earlier in the test counts in front of it already)
        real_call = getattr(BaseClient._make_api_call, "counted_call", BaseClient._make_api_call)

        def make_api_call(client, operation_name, api_params):
            left = getattr(countdown, "calls", None)
            if callable(left):
                countdown.made += 1
                if left(operation_name, api_params):
                    countdown.made -= 1
                    raise FunctionTimedOut(operation_name)
            elif left is not None:
                if left == 0:
                    raise FunctionTimedOut(operation_name)
                countdown.calls = left - 1
                countdown.made += 1
            return real_call(client, operation_name, api_params)

        make_api_call.counted_call = real_call

        def timed_out(function_name, event, response_headers):
            router.timeouts.append((function_name, event, countdown.made))
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": TIMED_OUT, "errorMessage": (
                "The cause could not be determined because Lambda did not return an error type. Returned payload: "
                + json.dumps({"errorMessage": f"{uuid.uuid4()} Task timed out after 900.00 seconds"}))}).encode()

        def invoke(backend, function_name, qualifier, body, headers, response_headers):
            event = json.loads(body) if body else {}
            router.invocations.append((function_name, event))
            context = SimpleNamespace(invoked_function_arn=function_name, function_name=function_name,
                                      get_remaining_time_in_millis=lambda: 900_000)  # a fresh invocation's
            limit = router.time_out(function_name, event) if router.time_out else None
            router.running[threading.get_ident()] = (function_name, event)
            countdown.calls, countdown.made = limit, 0
            try:
                result = router.routes[function_name](event, context)
                if limit is not None and (not callable(limit) or limit(None, None)):  # its work done, its answer lost
                    return timed_out(function_name, event, response_headers)
            except FunctionTimedOut:
                return timed_out(function_name, event, response_headers)
            except Exception as exc:  # reported as Lambda reports an unhandled error
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc),
                                   "stackTrace": traceback.format_exception(exc)[-3:]}).encode()
            finally:
                countdown.calls = None  # the interpreter's own calls in this thread are no invocation's
                router.running.pop(threading.get_ident(), None)
                router.ended.append((function_name, event))
            return json.dumps(result).encode()

        monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
        monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)


def run_execution(state_machine_arn: str, payload: dict, *, timeout: float = 60.0) -> dict:
    return wait_for(start_execution(state_machine_arn, payload), timeout=timeout)


def start_execution(state_machine_arn: str, payload: dict) -> str:
    """Start an execution (as a rule does) and return its ARN, without waiting for it."""
    return shared_client("stepfunctions").start_execution(
        stateMachineArn=state_machine_arn, name=uuid.uuid4().hex, input=json.dumps(payload))["executionArn"]


def wait_for(execution_arn: str, *, timeout: float = 60.0) -> dict:
    """DescribeExecution once the execution is no longer RUNNING."""
    sfn = shared_client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"execution still RUNNING after {timeout} s")


def history(execution_arn: str) -> list[dict]:
    """Every event of the execution, read from moto's interpreter as GetExecutionHistory returns them (its events
    have the API's shape), without serializing thousands of events through the API for each read, nor deep-copying
    them as the API does: callers only read them."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    execution = stepfunctions_parser_backends[ACCOUNT][REGION].describe_execution(execution_arn=execution_arn)
    if execution.exec_worker.env is None:  # not started yet
        return []
    events = execution.exec_worker.env.event_manager
    with events._mutex:
        return list(events._history_event_list)


def import_workflow(monkeypatch, template: dict, aws, handler: Callable, names: dict[str, str] | None = None) -> str:
    """An importer's state machine created in moto (its Lambda answered by ``handler``, its events put
    on the fake bus ``aws`` captures); returns the state machine ARN."""
    LambdaRouter(monkeypatch, {lambda_arn(logical_id(template, "AWS::Lambda::Function", "Import")): handler})
    definition = render_definition(template, {**function_names(template), **(names or {})}).replace(
        '"EventBusName":"bus"', f'"EventBusName":"{aws.bus_arn}"')
    return shared_client("stepfunctions").create_state_machine(
        name=uuid.uuid4().hex[:16], definition=definition, roleArn=f"arn:aws:iam::{ACCOUNT}:role/w")["stateMachineArn"]

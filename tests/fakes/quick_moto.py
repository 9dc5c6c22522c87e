"""moto without the work that gives the same answer every time: made once per test process, not per request.

moto's ASL interpreter and its request dispatch redo, for every execution, task or request, work whose result never
changes within a test run: parsing a definition (antlr4, in Python) and every JSONPath (a new PLY parser each time),
making a boto3 client per task, reloading the S3 routes' module, listing a response class's methods, and deep-copying
JSON state data with ``copy.deepcopy``. Together that was most of a workflow test's time. ``apply`` (an autouse
fixture in tests/conftest.py, beside ``workflow.instant_waits``) keeps each result instead; what a test observes is
unchanged: the same states, the same answers, the same records.
"""

from __future__ import annotations

import copy
import functools
import importlib
import itertools
import sys
from types import SimpleNamespace

from botocore.client import BaseClient


def apply(monkeypatch) -> None:
    parse_once(monkeypatch)
    copies_json_quickly(monkeypatch)
    interpreter_clients_once(monkeypatch)
    s3_routes_once(monkeypatch)
    dispatch_names_once(monkeypatch)


_HEAP_KEYS = itertools.count()


def _heap_key(component) -> str:
    """A component's key in an execution's heap: drawn once, the first draw kept (``setdefault`` is atomic)."""
    drawn = component.__dict__.get("_heap_key_drawn")
    return drawn or component.__dict__.setdefault("_heap_key_drawn", f"component-{next(_HEAP_KEYS)}")


def parse_once(monkeypatch) -> None:
    """moto's ASL interpreter parses a definition (antlr4, in Python) when the state machine is created and again at
    every execution's start: about a third of a workflow test's time. The parse is kept per definition instead. What
    an execution changes is kept in its own environment (``env.heap``), under each component's ``heap_key``, which
    moto draws the first time it is read: drawn here so that executions running at once in threads, sharing the
    component, cannot each draw a different one (``_heap_key``)."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parsed = functools.lru_cache(maxsize=None)(AmazonStateLanguageParser.parse)
    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(parsed))
    monkeypatch.setattr(EvalComponent, "heap_key", property(_heap_key))
    # And each JSONPath once: jsonpath_ng builds a new parser (PLY tables) for every path the interpreter reads, and
    # for every input path of an EventBridge target moto answers (moto.events imports the parse where it calls it).
    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module, parse_path in ((json_path, _json_path), (jsonpath_ng.ext, _json_path),
                               (result_path, _plain_json_path)):
        monkeypatch.setattr(module, "parse", parse_path)


# The modules of moto's interpreter that deep-copy a state's data (its input, output, context, each history event's
# details) as it moves from state to state and into each Map iteration.
_COPYING_MODULES = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.eval.environment",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
)
_ATOMS = frozenset((str, int, float, bool, type(None)))


def _copy_json(value):
    """``copy.deepcopy`` for JSON data, about four times faster (no memo, no dispatch): dicts and lists copied,
    strings, numbers, booleans and null shared as deepcopy shares them; anything else deep-copied by ``copy``."""
    kind = type(value)
    if kind is dict:
        return {key: _copy_json(item) for key, item in value.items()}
    if kind is list:
        return [_copy_json(item) for item in value]
    return value if kind in _ATOMS else copy.deepcopy(value)


def copies_json_quickly(monkeypatch) -> None:
    """moto's interpreter deep-copies a state's data at every step: with large states (the state-size gate's), a third
    of its time. Its modules copy with ``_copy_json`` instead, which gives the same data."""
    quick = SimpleNamespace(deepcopy=_copy_json, copy=copy.copy)
    for name in _COPYING_MODULES:
        monkeypatch.setattr(importlib.import_module(name), "copy", quick)


@functools.lru_cache(maxsize=None)
def _json_path(path: str):
    from jsonpath_ng.ext.parser import parse

    return parse(path)


@functools.lru_cache(maxsize=None)
def _plain_json_path(path: str):
    from jsonpath_ng.parser import parse

    return parse(path)


def interpreter_clients_once(monkeypatch) -> None:
    """moto's interpreter makes a new boto3 client for every task it runs (each Lambda invocation, each PutEvents):
    tens of milliseconds each. Its clients hold no state (moto's backends do), so one per region and service is kept
    for every test of this session (moto's ignores a task's credentials: every client it makes is alike)."""
    # the modules that call it, imported before they are patched
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (  # noqa: F401
        lambda_eval_utils, state_task_factory)
    from moto.stepfunctions.parser.asl.utils import boto_client

    make = boto_client.boto_client_for
    client = functools.lru_cache(maxsize=None)(make)  # by region and service only

    def client_for(region: str, service: str, state_credentials=None) -> BaseClient:
        return client(region, service)

    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is make:
            monkeypatch.setattr(module, "boto_client_for", client_for)


def s3_routes_once(monkeypatch) -> None:
    """moto looks up its S3 routes for every S3 request it answers by reloading their module (``importlib.reload``,
    a few milliseconds each: so that an S3 setting changed in the environment takes effect). No test changes one:
    the module is kept as loaded."""
    import moto.s3.urls
    from moto.s3.models import S3Backend

    monkeypatch.setattr(S3Backend, "_url_module", property(lambda self: moto.s3.urls))


@functools.lru_cache(maxsize=None)
def _method_names(response_class: type) -> list[str]:
    from moto.core.utils import method_names_from_class

    return method_names_from_class(response_class)


def dispatch_names_once(monkeypatch) -> None:
    """moto lists the methods of a service's response class (``inspect.getmembers``) for every request it answers:
    kept per class."""
    import moto.core.responses

    monkeypatch.setattr(moto.core.responses, "method_names_from_class", _method_names)

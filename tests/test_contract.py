"""The contract between the constructs and their functions is written once (``lambda_src/shared/contract.py``), and
each function reads only the environment its construct gives it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared import contract
from tests.fakes import function_environment

REPO = Path(__file__).resolve().parent.parent
LAMBDA_SRC = REPO / "lambda_src"
CONTRACT = LAMBDA_SRC / "shared" / "contract.py"
PRODUCTION = sorted([*(REPO / "segmentation_constructs").glob("*.py"),
                     *(p for p in LAMBDA_SRC.rglob("*.py") if "vendor" not in p.parts)])

# Every name the two halves agree on: event sources and detail-types, environment variables, the errors Step
# Functions routes on, and the states the importers' workflow routes on.
EVENT_NAMES = [contract.PERSONALIZE_SOURCE, contract.AUDIENCE_SOURCE, contract.SEGMENT_READY,
               contract.IMPORT_STATE_CHANGE, contract.EXPORT_FAILED, contract.TRAINING_RUN_STATE_CHANGE,
               contract.BATCH_SEGMENT_JOB_STATE_CHANGE, contract.personalize_state_change("")]
EXACT_NAMES = [*sorted(contract.ENVIRONMENT_VARIABLES),
               *(c.__name__ for c in vars(contract).values() if isinstance(c, type) and issubclass(c, Exception)),
               contract.STARTED, contract.ALREADY_IMPORTED, contract.IMPORTED, *contract.REPORTED_FAILURES]


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the string constants of a module. Left out: docstrings (prose may name an event) and
    construct IDs (``Construct(self, "ImportFailed")``: a workflow state may share a name with an error)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    construct_ids = {id(node.args[1]) for node in ast.walk(tree)
                     if isinstance(node, ast.Call) and len(node.args) >= 2 and isinstance(node.args[0], ast.Name)
                     and node.args[0].id in ("self", "scope")}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings and id(node) not in construct_ids]


def test_no_event_environment_variable_or_error_name_is_written_outside_the_contract():
    found = []
    for path in PRODUCTION:
        if path == CONTRACT:
            continue
        for line, text in string_literals(path):
            if text in EXACT_NAMES or any(name.strip() and name.strip() in text for name in EVENT_NAMES):
                found.append(f"{path.relative_to(REPO)}:{line}: {text!r}")
    assert found == []


def test_the_check_finds_a_name_written_again(tmp_path):
    copy = tmp_path / "module.py"
    copy.write_text('"""Puts Audience Segment Ready events."""\nDETAIL = "Audience Segment Ready"\nX = "AUDIENCE_BUCKET"\n'
                    'sfn.Fail(self, "ImportFailed")\n')
    literals = [text for _, text in string_literals(copy)]
    assert literals == ["Audience Segment Ready", "AUDIENCE_BUCKET"]
    assert contract.SEGMENT_READY in literals and contract.Env.AUDIENCE_BUCKET in EXACT_NAMES


# ------------------------------------------------------------------ environment coverage


def modules_of(function: str) -> set[Path]:
    """The modules ``function``'s handler imports from its asset, transitively (its folder and the shared package)."""
    construct, _, name = function.partition(".")
    todo, seen = [LAMBDA_SRC / construct / name / "handler.py"], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                candidate = LAMBDA_SRC.joinpath(*target.split(".")).with_suffix(".py")
                if candidate.is_file():
                    todo.append(candidate)
    return seen


def variables_read(paths: set[Path]) -> tuple[set[str], set[str]]:
    """(required, optional) environment variables the modules read: ``os.environ[Env.X]`` and ``Env.X`` elsewhere
    are required, ``os.environ.get(Env.X)`` optional."""
    required, optional = set(), set()
    for path in paths:
        tree = ast.parse(path.read_text())
        in_get = {id(node.args[0]) for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                  and ast.unparse(node.func.value) == "os.environ" and node.args}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Env":
                (optional if id(node) in in_get else required).add(getattr(contract.Env, node.attr))
    return required, optional


FUNCTIONS = sorted(f"{p.parent.parent.name}.{p.parent.name}" for p in LAMBDA_SRC.glob("*/*/handler.py"))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_reads_only_what_its_construct_sets_and_its_construct_sets_only_what_it_reads(function):
    required, optional = variables_read(modules_of(function))
    configured = set(function_environment.template_variables(function))
    assert sorted(required - configured) == [], "read but not set by the construct"
    assert sorted(configured - required - optional) == [], "set by the construct but never read"


def test_every_function_is_checked_and_is_in_the_example_stack():
    assert FUNCTIONS == function_environment.functions_of(function_environment._template()) and len(FUNCTIONS) == 12

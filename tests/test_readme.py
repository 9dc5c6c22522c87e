"""The README's reference parts are made from, or checked against, the code they describe."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tests.fakes.templates import all_states, definition

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def _readme_props():
    spec = importlib.util.spec_from_file_location("readme_props", REPO / "scripts" / "readme_props.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_props_tables_are_the_constructs_docstrings():
    assert _readme_props().rendered(README) == README, "run python scripts/readme_props.py"


def test_every_keyword_prop_is_documented_once_in_its_docstring():
    readme_props = _readme_props()
    for name in readme_props.DOCUMENTED:
        assert readme_props.props(name)  # raises on an undocumented prop, or a documented one it does not take


def construct_rows() -> list[list[str]]:
    table = README[README.index("| Construct | Functions"):].split("\n\n", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    assert len(rows) == 5
    return rows


@pytest.mark.parametrize("row", construct_rows(), ids=lambda row: row[0].split("`")[1])
def test_the_construct_table_names_what_exists(row, example_stack, example_template):
    construct_cell, functions, grants, states, tests = row
    name = construct_cell.split("`")[1]
    module = construct_cell.split("`")[3]
    assert (REPO / "segmentation_constructs" / module).is_file()
    construct = next(c for c in example_stack.node.find_all() if type(c).__name__ == name)
    for attribute in re.findall(r"`(\w+_function)`", functions):
        assert hasattr(construct, attribute), f"{name}.{attribute}"
    for folder in re.findall(r"`([\w/{},]+/)`", functions):
        parts = folder.rstrip("/").replace("{", "").replace("}", "").split("/")
        for leaf in parts[-1].split(","):
            assert (REPO / "lambda_src" / "/".join(parts[:-1]) / leaf / "handler.py").is_file(), folder
    for method in re.findall(r"`(_grant_\w+|grant_\w+)`", functions + grants):
        assert callable(getattr(construct, method, None)), f"{name}.{method}"
    machine_id = example_stack.resolve(construct.state_machine.node.default_child.logical_id)
    states_there = all_states(definition(example_template, machine_id))
    for state in re.findall(r"`([A-Z][\w?<>]*)`", states):
        if "<" not in state:
            assert state in states_there, f"{name}: no state {state}"
    assert (REPO / "tests" / tests.split("`")[1]).is_dir()

"""Installed distributions, followed by their metadata: what a requirement pulls in, and a folder that holds just
those (symlinks into this venv), for environments that must not see the rest of site-packages: the package
gate's consumer venv (tests/fakes/package.py) and the Lambda-runtime stand-in (tests/fakes/lambda_runtime.py)."""

from __future__ import annotations

import importlib.metadata as metadata
import re
from pathlib import Path
from typing import Iterable

from packaging.requirements import Requirement


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def closure(requirements: Iterable[str]) -> dict[str, metadata.Distribution]:
    """The distributions these requirements pull in, from this environment (markers evaluated, no extras)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = normalized(requirement.name)
        if key in found:
            continue
        found[key] = distribution = metadata.distribution(requirement.name)
        todo += [Requirement(r) for r in distribution.requires or []]
    return found


def link(distributions: Iterable[metadata.Distribution], target: Path) -> Path:
    """``target`` holding a symlink to each top-level package, module and metadata folder of ``distributions``
    as installed here, and nothing else."""
    target.mkdir(parents=True, exist_ok=True)
    for distribution in distributions:
        tops = {f.parts[0] for f in distribution.files or []
                if f.parts[0] not in ("..", "__pycache__") and not f.parts[0].endswith(".pth")}
        if not tops:
            raise AssertionError(f"{distribution.metadata['Name']}: no files listed in its metadata")
        for top in sorted(tops):
            source, placed = Path(distribution.locate_file(top)), target / top
            if source.exists() and not placed.exists():
                placed.symlink_to(source, target_is_directory=source.is_dir())
    return target

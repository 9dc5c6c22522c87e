"""One snapshot of the whole example stack: a diff shows every change a deploy would make.

Update on purpose with ``pytest tests/example_stack/test_snapshot.py --snapshot-update``.
"""

from __future__ import annotations

import json
import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def normalized(template: dict) -> dict:
    """Asset hashes change with any byte of Lambda code; the snapshot is about infrastructure."""
    return json.loads(ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


def test_example_stack_matches_snapshot(example_template, snapshot_json):
    assert normalized(example_template.to_json()) == snapshot_json


def test_normalization_hides_only_asset_hashes(example_template):
    text = json.dumps(normalized(example_template.to_json()))
    assert "<asset-hash>.zip" in text
    assert "python3.14" in text and "solutions.aws.personalize" in text

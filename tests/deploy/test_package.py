"""Package gate: what another team installs is complete, and their app synthesizes with it.

The wheel and the sdist are built from this checkout and the wheel installed into a new venv with only its
declared dependencies (tests/fakes/package.py). There a consumer app outside the repository builds every layout
of tests/fakes/layouts.py (a team's own KMS-encrypted bucket, a bucket imported by name with its key, an imported
bus, a topic with a customer managed key, two postprocessors on one bus, the constructs split across two stacks
in a Stage, ...) with cdk-nag's AwsSolutions pack as a synth-time plugin, the way cdk-nag's docs add it.
cfn-lint then checks every template it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.fakes.package import REPO, cfn_lint, with_references

pytestmark = pytest.mark.xdist_group("package")

FUNCTIONS = sorted(str(p.parent.relative_to(REPO / "lambda_src")) for p in (REPO / "lambda_src").glob("*/*/handler.py"))


def test_the_wheel_ships_every_function_the_shared_code_the_layer_and_type_information(installed_package):
    names = set(installed_package.wheel_names())
    expected = {f"segmentation_constructs/lambda_src/{f}/handler.py" for f in FUNCTIONS} | {
        "segmentation_constructs/py.typed", "segmentation_constructs/lambda_src/shared/aws.py",
        "segmentation_constructs/lambda_src/vendor/ijson/python/ijson/__init__.py"}
    assert sorted(expected - names) == []
    assert any(n.endswith("aarch64-linux-gnu.so") for n in names), "the layer's arm64 C backend"
    assert [n for n in names if "__pycache__" in n or n.endswith(".pyc")] == []


def test_the_sdist_holds_the_lambda_code_at_the_top_level_as_the_repository_does(installed_package):
    names = set(installed_package.sdist_names())
    assert sorted({f"lambda_src/{f}/handler.py" for f in FUNCTIONS} - names) == []
    assert "segmentation_constructs/py.typed" in names


def test_the_package_declares_what_it_imports_and_nothing_the_dev_venv_has_besides(installed_package):
    runtime = [Requirement(r) for r in installed_package.requires()]
    declared = sorted(r.name for r in runtime if not r.marker or r.marker.evaluate({"extra": ""}))
    assert declared == ["aws-cdk-lib", "constructs"]
    installed = {p.name for p in installed_package.site_packages.iterdir()}
    assert not installed & {"botocore", "boto3", "moto", "pytest", "ijson"}, "only declared dependencies"


def test_a_consumer_app_synthesizes_every_layout_from_the_installed_wheel_with_cdk_nag_as_a_plugin(installed_package):
    synth = installed_package.synth
    assert synth.returncode == 0, synth.stdout[-4000:] + synth.stderr[-8000:]
    assert "AwsSolutions-" not in synth.stderr, synth.stderr[-8000:]
    stacks = installed_package.templates()
    assert {"Example", "HandedIn", "ByName", "TwoOnOneBus"} <= set(stacks)
    assert sum("Data" in s for s in stacks) and sum("Destinations" in s for s in stacks), sorted(stacks)


def test_the_consumer_synth_read_the_lambda_code_from_the_installed_package(installed_package):
    """Assets are copied from site-packages, never from this checkout."""
    manifest = json.loads((installed_package.cdk_out / "manifest.json").read_text())
    assert manifest["artifacts"]
    sources = [json.loads(p.read_text()) for p in installed_package.cdk_out.rglob("*.assets.json")]
    paths = {f["source"]["path"] for s in sources for f in s.get("files", {}).values()}
    assert any(p.startswith("asset.") for p in paths)
    assert not list(installed_package.cdk_out.rglob("*.tmp")), "half-written assets"


@pytest.fixture(scope="module")
def templates(installed_package) -> dict[str, Path]:
    assert installed_package.synth.returncode == 0, installed_package.synth.stderr[-4000:]
    return installed_package.templates()


def unlinted_part(template: dict, seen: set[str]) -> dict | None:
    """The template cut down to the resources no earlier template had identically, with every resource they
    refer to (so references resolve), or None when all were linted already."""
    keep = {lid for lid, r in template["Resources"].items() if json.dumps([lid, r], sort_keys=True) not in seen}
    return with_references(template, keep) if keep else None


def test_cfn_lint_reports_nothing_but_the_listed_warnings_in_any_template(templates):
    """Every resource of every template is linted once: a resource identical to one linted in a larger template
    (a construct alone in its stack next to the same construct in the example) is not linted again."""
    findings, seen = [], set()
    for name, path in sorted(templates.items(), key=lambda item: -item[1].stat().st_size):
        template = json.loads(path.read_text())
        part = unlinted_part(template, seen)
        seen |= {json.dumps([lid, r], sort_keys=True) for lid, r in template["Resources"].items()}
        if part is None:
            continue
        findings += [f"{name}: {m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in cfn_lint(part)]
    assert findings == []

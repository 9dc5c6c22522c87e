#!/usr/bin/env python3
"""Benchmark: ``python app.py`` (the example stack) against a floor app of one stack with one bucket.

Both run as `cdk synth` runs them (a new Python process, its jsii node process, cdk.json's context), each into a new
output directory, interleaved round by round (the order alternating) so that a busy machine slows both alike. The
floor has the same context and App options as app.py (read from it), so the ratio is what the library's constructs
cost. Prints, per app, the median wall time and the median peaks of resident memory of the Python process and of its
node process (the larger of the two is what `cdk synth` needs), then the ratio of the median times.

    python benchmarks/synth.py                        # 7 rounds
    python benchmarks/synth.py --rounds 11
    python benchmarks/synth.py --builtin-validation   # also both apps with CDK's built-in template validation on
                                                      # (CDK's default, off in app.py), and the example as app.py
                                                      # against that default floor

Target (issue 13): the example within 1.5x of the floor.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOOR_APP = """
import json

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

APP_OPTIONS = {app_options}
app = cdk.App(context=json.loads(open("cdk.json").read())["context"], **APP_OPTIONS)
s3.Bucket(cdk.Stack(app, "Floor"), "Bucket")
app.synth()
"""

# Runs an app (argv[1]) and at the very end, after jsii has waited for its node process, writes the peaks of the
# process and of its children (node) to $SYNTH_BENCHMARK_OUT. Its own exit handler is registered before jsii's, so
# it runs after it.
RUNNER = """
import atexit, json, os, resource, runpy, sys

def report():
    with open(os.environ["SYNTH_BENCHMARK_OUT"], "w") as out:
        json.dump({"python_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "node_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, out)

atexit.register(report)
if os.environ.get("SYNTH_BENCHMARK_VALIDATION") == "on":
    import aws_cdk
    _init = aws_cdk.App.__init__

    def _with_validation(self, *args, **kwargs):
        _init(self, *args, **{**kwargs, "builtin_cloud_formation_validation": True})

    aws_cdk.App.__init__ = _with_validation
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def app_options() -> dict:
    """The keyword arguments app.py gives ``cdk.App`` besides its context (literals)."""
    (call,) = [node for node in ast.walk(ast.parse((ROOT / "app.py").read_text())) if isinstance(node, ast.Call)
               and isinstance(node.func, ast.Attribute) and node.func.attr == "App"]
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg != "context"}


def run_once(app: Path, validation: bool, work: Path) -> dict:
    out = work / "result.json"
    environment = {**os.environ, "CDK_OUTDIR": tempfile.mkdtemp(dir=work), "SYNTH_BENCHMARK_OUT": str(out),
                   "SYNTH_BENCHMARK_VALIDATION": "on" if validation else "off", "CDK_DISABLE_CLI_TELEMETRY": "true"}
    environment.pop("CDK_VALIDATION", None)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", RUNNER, str(app)], cwd=ROOT, env=environment,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{app} failed:\n{result.stdout}\n{result.stderr}")
    peaks = json.loads(out.read_text())
    return {"seconds": seconds, "python_mib": peaks["python_kib"] / 1024, "node_mib": peaks["node_kib"] / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--builtin-validation", action="store_true",
                        help="also run both apps with CDK's built-in CloudFormation validation on")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        floor = work / "floor_app.py"
        floor.write_text(FLOOR_APP.replace("{app_options}", repr(app_options())))
        cases = {"example": (ROOT / "app.py", False), "floor": (floor, False)}
        if args.builtin_validation:
            cases |= {"example, validation on": (ROOT / "app.py", True), "floor, validation on": (floor, True)}
        for app, validation in cases.values():  # warm the file cache and __pycache__; not counted
            run_once(app, validation, work)
        results: dict[str, list[dict]] = {name: [] for name in cases}
        for round_ in range(args.rounds):
            names = list(cases) if round_ % 2 == 0 else list(reversed(cases))
            for name in names:
                results[name].append(run_once(*cases[name], work))

    summary = {name: {key: round(statistics.median(r[key] for r in runs), 2) for key in runs[0]}
               for name, runs in results.items()}
    summary["ratio"] = round(summary["example"]["seconds"] / summary["floor"]["seconds"], 2)
    if args.builtin_validation:
        summary["ratio, validation on"] = round(
            summary["example, validation on"]["seconds"] / summary["floor, validation on"]["seconds"], 2)
        summary["ratio of the example to the floor with CDK's defaults"] = round(
            summary["example"]["seconds"] / summary["floor, validation on"]["seconds"], 2)
    summary["rounds"] = args.rounds
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""What one refresh of the sample's audiences uses, in the units AWS bills: Step Functions state transitions, Lambda
invocations (and their memory), EventBridge events, SNS messages, EventBridge Scheduler invocations, and the
Personalize work.

The example stack (Connect destination) runs in moto, its workflows in moto's interpreter and its handlers
in-process, Personalize and Customer Profiles answered by the test fakes (``tests/fakes/example_app.py``, as the
simulated-month test runs it). The sample config is uploaded with a daily schedule, then one firing is measured:

- ``segments``: the batch segment job alone, on the latest trained version (the same users as before: Personalize
  builds segments from the data of the version's training);
- ``full``: a new CSV of interactions imported, a FULL retraining and its batch segment job (a refresh that follows
  new data).

Run: ``python benchmarks/refresh_cost.py``. Prices are not applied here (they vary by Region and change); the README
turns the counts into dollars at us-east-1 list prices.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambda_src")]
os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                   "CDK_VALIDATION": "false"})

SCHEDULES = {"segments": "cron(0 5 * * ? *)", "full": "cron(0 3 * * ? *)"}


def template() -> dict:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from segmentation_constructs.example_stack import SegmentationExampleStack

    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    return Template.from_stack(SegmentationExampleStack(app, "Segmentation", destinations=("connect",))).to_json()


def transitions(execution_arn: str) -> int:
    """State transitions Step Functions Standard bills for the execution: one per state entered (a Map's iterations
    each enter their own states)."""
    from tests.fakes.workflow import history

    return sum(1 for e in history(execution_arn) if e["type"].endswith("StateEntered"))


def measure(kind: str, synthesized: dict) -> dict:
    import pytest

    from tests.fakes.environment import BUCKET, DATA, fake_aws
    from tests.fakes.example_app import ExampleApp
    from tests.fakes.workflow import MOTO_CONFIG, instant_waits

    config = json.loads((DATA / "train/bingewatch/config.json").read_text())
    solution = config["solutions"][0]
    if kind == "full":
        solution["workflowConfig"] = {"schedules": {"full": SCHEDULES["full"]}}
    else:
        solution["batchSegmentJobs"][0]["workflowConfig"] = {"schedule": SCHEDULES["segments"]}
    with pytest.MonkeyPatch.context() as monkeypatch, \
            fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="segmentation-events") as aws:
        instant_waits(monkeypatch)
        app = ExampleApp(synthesized, monkeypatch, aws)
        try:
            aws.upload_sample()
            aws.personalize.advance_to(dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc))
            app.upload_config("train/bingewatch/config.json", config)
            aws.notifications()
            executions, invocations = len(app.executions), len(app.router.invocations)
            app.created()
            if kind == "full":
                sample = (DATA / "train/bingewatch/interactions.csv").read_bytes()
                aws.s3.put_object(Bucket=BUCKET, Key="train/bingewatch/interactions.csv",
                                  Body=sample + b"u00001,m0001,1.0,watch,1762128000\n")
            events = app.fire(SCHEDULES[kind], dt.datetime(2026, 11, 3, 5 if kind == "segments" else 3,
                                                             tzinfo=dt.timezone.utc))
            runs = app.executions[executions:]
            called = collections.Counter(app.function_of(arn) for arn, _ in app.router.invocations[invocations:])
            by_workflow = collections.Counter()
            for run in runs:
                by_workflow[run["kind"]] += transitions(run["arn"])
            # The export's Distributed Map runs each line as a child execution of one state (ExportSegment), which
            # Step Functions bills too; moto keeps those out of the parent's history.
            by_workflow["export"] += called["batch_segment_postprocessor.export"]
            memory = {r["Properties"]["Handler"].removesuffix(".handler.handler"): r["Properties"]["MemorySize"]
                      for r in synthesized["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                      and r["Properties"].get("Handler", "").endswith(".handler.handler")}
            return {
                "refresh": kind,
                "personalize": app.created(),
                "executions": dict(collections.Counter(r["kind"] for r in runs)),
                "state transitions": dict(by_workflow, total=sum(by_workflow.values())),
                "lambda invocations (memory MB)": {f: f"{n} ({memory[f]})" for f, n in sorted(called.items())},
                "lambda GB-s if each invocation took 1 s": round(sum(n * memory[f] / 1024 for f, n in called.items()), 1),
                "eventbridge events put": len(events),
                "sns notifications": len(aws.notifications()),
                "scheduler invocations": 1,
            }
        finally:
            app.profiles.uploads.close()


def main() -> None:
    synthesized = template()
    for kind in ("segments", "full"):
        print(json.dumps(measure(kind, synthesized), indent=1))


if __name__ == "__main__":
    main()

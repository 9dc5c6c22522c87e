"""A simulated month of a config with schedules: the example stack (Connect destination) refreshes its audiences
with no upload after the first, and each refresh is checked against what it should have done.

The month, on FakePersonalize's clock (``advance_to``), each schedule fired as EventBridge Scheduler fires it (the
schedule's target input as ``ScheduleRuns`` wrote it into moto's scheduler, the scheduled time filled in), and every
event carried on by the stack's rules (``tests/fakes/example_app.py``):

- 2 Nov: the config is uploaded with three schedules: the datasets imported every Monday at 02:00, the batch segment
  job run every Monday at 04:00, the solution retrained on the 1st of each month at 03:00;
- 9 Nov: a week of new interactions is uploaded, and 5% of the users the model recommends change; the import and
  the job schedules fire, the job's twice (a duplicate firing);
- 16 Nov: most users change: the refreshes that changed more than half of an audience are held, then released;
- 23 Nov: nothing changed: the job refreshes every audience to the same users;
- 1 Dec: the monthly retraining, fired twice;
- the config uploaded again without its import schedule: that schedule is deleted.

Each step asserts which Personalize imports, trainings and batch segment jobs were created; each audience's new
version, its link to the version before and its joined and left files against a set difference of the two versions'
files computed here; that Customer Profiles holds one segment per audience whose members are the audience's latest
published version; and that a held refresh announces and imports nothing until it is released.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import hashlib
import io
import json

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk.assertions import Template

from batch_segment_postprocessor.publish import handler as publish_handler
from connect_segment_importer.importer import handler as connect_handler
from segmentation_constructs.example_stack import SegmentationExampleStack
from shared.contract import (AUDIENCE_SOURCE, BATCH_SEGMENT_JOB_STATE_CHANGE, REFRESH_HELD, RELEASE_REQUESTED,
                             SEGMENT_READY, Env)
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, DATA, fake_aws
from tests.fakes.example_app import ExampleApp
from tests.fakes.workflow import MOTO_CONFIG, REGION

CONFIG_KEY = "train/bingewatch/config.json"
IMPORT, JOB, RETRAIN = "cron(0 2 ? * MON *)", "cron(0 4 ? * MON *)", "cron(0 3 1 * ? *)"
AUDIENCES = 5  # the sample's batch segment job has five queries
HOLD_THRESHOLD = 0.5  # the example stack's (the construct's default)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)


def config(*, import_schedule: bool = True) -> dict:
    """The sample config with its three schedules (or without the import one)."""
    cfg = json.loads((DATA / "train/bingewatch/config.json").read_text())
    if import_schedule:
        cfg["datasetGroup"]["workflowConfig"] = {"schedules": {"import": IMPORT}}
    solution = cfg["solutions"][0]
    solution["workflowConfig"] = {"schedules": {"full": RETRAIN}}
    solution["batchSegmentJobs"][0]["workflowConfig"] = {"schedule": JOB}
    return cfg


def ranked(seed: str, users: list[str]) -> list[str]:
    return sorted(users, key=lambda user: hashlib.sha256(f"{seed}\0{user}".encode()).digest())


class Month(ExampleApp):
    """The example app, with the scheduler's view of the config's schedules and the checks of each step."""

    def __init__(self, template: dict, monkeypatch, aws) -> None:
        super().__init__(template, monkeypatch, aws)
        self.group = function_environment.template_variables("training_pipeline.schedule_runs",
                                                             template)[Env.SCHEDULE_GROUP]
        self.scheduler = boto3.client("scheduler", region_name=REGION)
        self.scheduler.create_schedule_group(Name=self.group)
        self.published: dict[str, list[dict]] = collections.defaultdict(list)  # audience -> its versions
        self.counted = collections.Counter()

    # -------------------------------------------------------- what starts work

    def upload(self, cfg: dict) -> None:
        self.aws.s3.put_object(Bucket=BUCKET, Key=CONFIG_KEY, Body=json.dumps(cfg).encode())
        self.deliver("training", [{"bucket": BUCKET, "key": CONFIG_KEY}], None, "upload")
        self.settle()

    def schedules(self) -> dict[str, dict]:
        """The config's schedules in the scheduler, by expression."""
        listed = self.scheduler.list_schedules(GroupName=self.group)["Schedules"]
        found = [self.scheduler.get_schedule(Name=s["Name"], GroupName=self.group) for s in listed]
        return {s["ScheduleExpression"]: s for s in found}

    def fire(self, expression: str, at: str) -> None:
        """The schedule of ``expression`` fires at ``at`` (the service's clock moved on to then)."""
        self.aws.personalize.advance_to(utc(at))
        schedule = self.schedules()[expression]
        assert schedule["Target"]["Arn"] == self.machines["training"]
        payload = json.loads(schedule["Target"]["Input"].replace("<aws.scheduler.scheduled-time>", f"{at}Z"))
        self.deliver("training", [payload], None, f"schedule {expression}")
        self.settle()

    def release(self, audience: str) -> None:
        """Someone releases the held refresh of ``audience``: the event, through the rule, to the publish function."""
        event = {"source": AUDIENCE_SOURCE, "detail-type": RELEASE_REQUESTED, "detail": {"audience": audience}}
        for payload in self.delivered_by("ReleaseRequested", [event]):
            publish_handler.handler(payload, None)
        self.settle()

    def settle(self) -> None:
        """Carry the events the workflows put to the workflows the rules start, until none is left; each run ends
        well."""
        while True:
            events = self.drain()
            jobs = [e for e in events if e["detail-type"] == BATCH_SEGMENT_JOB_STATE_CHANGE]
            ready = [e for e in events if e["detail-type"] == SEGMENT_READY]
            for e in ready:
                self.published[e["detail"]["segment"]["name"]].append({**e["detail"]["segment"],
                                                                       "jobName": e["detail"]["jobName"]})
            if not jobs and not ready:
                break
            self.deliver("export", self.delivered_by("SegmentJobActive", jobs), None, "job event")
            self.deliver("import", self.delivered_by("ConnectAudienceReady", ready), None, "ready event")
        failed = [e for e in self.executions if e["status"] != "SUCCEEDED"]
        assert not failed, failed

    # -------------------------------------------------------- what a step did

    def created(self) -> dict[str, int]:
        """The Personalize resources created since the last call, by kind."""
        now = collections.Counter(op.removeprefix("Create") for op, _ in self.aws.personalize.created())
        new = {kind: n - self.counted[kind] for kind, n in now.items() if n > self.counted[kind]}
        self.counted = now
        return new

    def held(self) -> list[dict]:
        return [e["detail"] for e in self.events if e["detail-type"] == REFRESH_HELD]

    def users_of(self, key: str) -> set[str]:
        body = self.aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        rows = list(csv.reader(io.StringIO(body)))
        assert rows[0] == ["User.UserId"], key
        return {row[0] for row in rows[1:]}

    def check_versions(self) -> None:
        """Each audience's published versions: numbered 1, 2, ... each linked to the one before, its joined and left
        files the set differences of the two versions' audience files."""
        for name, versions in self.published.items():
            assert [v["version"] for v in versions] == list(range(1, len(versions) + 1)), name
            for before, after in zip(versions, versions[1:]):
                assert (after["previousVersion"]["version"], after["previousVersion"]["jobName"]) == (
                    before["version"], before["jobName"])
                assert after["deltaFrom"]["audienceKey"] == before["audienceKey"]
                old, new = self.users_of(before["audienceKey"]), self.users_of(after["audienceKey"])
                assert self.users_of(after["joinedKey"]) == new - old, name
                assert self.users_of(after["leftKey"]) == old - new, name
                assert (after["joinedCount"], after["leftCount"]) == (len(new - old), len(old - new))

    def check_destination(self) -> None:
        """One Customer Profiles segment per audience, holding the users of its latest published version."""
        segments = self.profiles.definitions
        assert len(segments) == AUDIENCES == len(self.published)
        for versions in self.published.values():
            latest = versions[-1]
            assert set(self.members(latest["name"])) == self.users_of(latest["audienceKey"])

    def members(self, audience: str) -> list[str]:
        return self.profiles.members(connect_handler.definition_name(audience))


@pytest.fixture(scope="module")
def template(cdk_app_context) -> dict:
    app = cdk.App(context=cdk_app_context)
    return Template.from_stack(SegmentationExampleStack(app, "Segmentation", destinations=("connect",))).to_json()


@pytest.fixture
def month(template, monkeypatch):
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="segmentation-events") as aws:
        app = Month(template, monkeypatch, aws)
        try:
            yield app
        finally:
            app.profiles.uploads.close()


def new_interactions(week: int, users: list[str]) -> bytes:
    """The sample's interactions and a week of new ones (a watch of the first item by each of ``users``)."""
    sample = (DATA / "train/bingewatch/interactions.csv").read_bytes()
    start = int(utc("2026-11-02T00:00:00").timestamp()) + (week - 1) * 7 * 86400
    rows = [f"{user},m0001,1.0,watch,{start + i}\n" for i, user in enumerate(users)]
    return sample + "".join(rows).encode()


def change_users(pool: list[str], share: float, week: int) -> None:
    """Replace ``share`` of the recommended users (chosen by a hash) with new ones, in place."""
    gone = set(ranked(f"week {week}", pool)[:int(len(pool) * share)])
    kept = [u for u in pool if u not in gone]
    pool[:] = kept + [f"w{week}-{i:05d}" for i in range(len(gone))]


def test_a_month_of_schedules_refreshes_each_audience_in_place_with_its_deltas_and_holds(month):
    aws = month.aws

    # 2 Nov: the first upload creates everything and the three schedules.
    aws.upload_sample()
    aws.personalize.advance_to(utc("2026-11-02T09:00:00"))
    month.upload(config())
    assert month.created() == {"DatasetGroup": 1, "Schema": 3, "Dataset": 3, "DatasetImportJob": 3, "Solution": 1,
                               "SolutionVersion": 1, "BatchSegmentJob": 1}
    assert sorted(month.schedules()) == sorted([IMPORT, JOB, RETRAIN])
    assert {n: len(v) for n, v in month.published.items()} == {n: 1 for n in month.published}
    assert len(month.published) == AUDIENCES
    month.check_destination()

    # 9 Nov: a week of new interactions; 5% of the recommended users change.
    aws.s3.put_object(Bucket=BUCKET, Key="train/bingewatch/interactions.csv",
                      Body=new_interactions(1, ["u00001", "u00002"]))
    change_users(month.users, 0.05, week=1)
    month.fire(IMPORT, "2026-11-09T02:00:00")
    assert month.created() == {"DatasetImportJob": 1}  # the new interactions file only: no training, no job
    month.fire(JOB, "2026-11-09T04:00:00")
    assert month.created() == {"BatchSegmentJob": 1}  # on the latest ACTIVE version: no training
    month.fire(JOB, "2026-11-09T04:00:00")  # the scheduler fires twice
    assert month.created() == {}
    assert month.held() == []
    assert {len(v) for v in month.published.values()} == {2}
    month.check_versions()
    month.check_destination()

    # 16 Nov: most users change; the refreshes that changed more than half of an audience are held.
    change_users(month.users, 0.8, week=2)
    before = {name: month.members(name) for name in month.published}
    month.fire(JOB, "2026-11-16T04:00:00")
    assert month.created() == {"BatchSegmentJob": 1}
    held = {h["audience"]: h for h in month.held()}
    assert held, "an 80% change holds at least one audience"
    for name, hold in held.items():
        share = (hold["joinedCount"] + hold["leftCount"]) / hold["previousUserCount"]
        assert share > HOLD_THRESHOLD, hold
        assert len(month.published[name]) == 2  # not announced, not imported
    for name, versions in month.published.items():
        if name not in held:  # published: within the threshold
            latest = versions[-1]
            assert (latest["joinedCount"] + latest["leftCount"]) / versions[-2]["userCount"] <= HOLD_THRESHOLD
    assert {name: month.members(name) for name in held} == {name: before[name] for name in held}
    notes = [n for n in aws.notifications() if n["Subject"] == "Audience refresh held"]
    assert len(notes) == 1 and all(name in notes[0]["Message"] for name in held)
    for name in held:
        month.release(name)
    assert {len(v) for v in month.published.values()} == {3}
    month.release(next(iter(held)))  # a second release finds nothing held
    assert {len(v) for v in month.published.values()} == {3}
    month.check_versions()
    month.check_destination()

    # 23 Nov: nothing changed; every audience gets a version with the same users.
    month.fire(JOB, "2026-11-23T04:00:00")
    assert month.created() == {"BatchSegmentJob": 1}
    assert {(v[-1]["joinedCount"], v[-1]["leftCount"]) for v in month.published.values()} == {(0, 0)}
    month.check_versions()

    # 1 Dec: the monthly retraining, and its jobs on the new version; fired twice, it trains once.
    month.fire(RETRAIN, "2026-12-01T03:00:00")
    assert month.created() == {"SolutionVersion": 1, "BatchSegmentJob": 1}
    month.fire(RETRAIN, "2026-12-01T03:00:00")
    assert month.created() == {}
    assert {len(v) for v in month.published.values()} == {5}
    month.check_versions()
    month.check_destination()
    ingested = collections.Counter(j["DisplayName"] for j in month.profiles.jobs.values())
    assert sorted(ingested.values()) == [5] * AUDIENCES  # one upload job per published version, none twice

    # The config uploaded again without its import schedule: that schedule is deleted, the others kept.
    month.upload(config(import_schedule=False))
    assert sorted(month.schedules()) == sorted([JOB, RETRAIN])
    assert month.created() == {}  # a change of schedules alone trains and runs nothing

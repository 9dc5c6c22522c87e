"""A simulated month of a config with schedules: the example stack (Connect destination) refreshes its audiences
with no upload after the first, and each refresh is checked against what it should have done.

The month runs on FakePersonalize's clock (``advance_to``); each schedule fires as EventBridge Scheduler fires it,
and every event is carried on by the stack's rules (``tests/fakes/example_app.py``). As in Personalize, a batch
segment job draws its users from the data its solution version was trained on (the fake: the users of
``ExampleApp.users`` when the version was trained), so new interactions reach audiences only through a retraining.

- 2 Nov (Monday): the config is uploaded with three schedules: the datasets imported every Monday at 02:00, the
  solution retrained every Monday at 03:00 (its batch segment job then runs on the new version), and the job run
  alone every day at 05:00;
- 4 Nov: the daily job, fired twice (a duplicate firing): one new job on the same version, the same users;
- 9 Nov: a week of new interactions, 5% of the recommended users changed: the import, then the retraining;
- 16 Nov: most users changed: the refreshes that changed more than half of an audience are held, then released;
- 23 Nov: nothing new: the import imports nothing; the retraining (fired twice) trains once, the same users;
- the config uploaded again without its import schedule: that schedule is deleted, nothing else done.

Each step asserts which Personalize imports, trainings and batch segment jobs were created; each audience's new
version, its link to the version before and its joined and left files against a set difference of the two versions'
files computed here; that Customer Profiles holds one segment per audience whose members are the audience's latest
published version (and one upload job per version); and that a held refresh announces and imports nothing until it
is released.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import hashlib
import io
import json

import pytest

from connect_segment_importer.importer import handler as connect_handler
from shared.contract import REFRESH_HELD, SEGMENT_READY
from tests.fakes.environment import BUCKET, DATA
from tests.fakes.example_app import ExampleApp, running

CONFIG_KEY = "train/bingewatch/config.json"
IMPORT, RETRAIN, JOB = "cron(0 2 ? * MON *)", "cron(0 3 ? * MON *)", "cron(0 5 * * ? *)"
AUDIENCES = 5  # the sample's batch segment job has five queries
HOLD_THRESHOLD = 0.5  # the example stack's (the construct's default)


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=dt.timezone.utc)


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
    """The example app, with the checks of each step."""

    def __init__(self, template: dict, monkeypatch, aws) -> None:
        super().__init__(template, monkeypatch, aws)
        self.published: dict[str, list[dict]] = collections.defaultdict(list)  # audience -> its versions

    def settle(self) -> None:
        for event in super().settle():
            if event["detail-type"] == SEGMENT_READY:
                self.published[event["detail"]["segment"]["name"]].append(
                    {**event["detail"]["segment"], "jobName": event["detail"]["jobName"]})

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
def template(connect_example_text) -> dict:
    return json.loads(connect_example_text)


@pytest.fixture
def month(template, monkeypatch):
    with running(template, monkeypatch, Month) as app:
        yield app


def new_interactions(week: int, users: list[str]) -> bytes:
    """The sample's interactions and a week of new ones (a watch of the first item by each of ``users``)."""
    sample = (DATA / "train/bingewatch/interactions.csv").read_bytes()
    start = int(at(2, 0).timestamp()) + (week - 1) * 7 * 86400
    return sample + "".join(f"{user},m0001,1.0,watch,{start + i}\n" for i, user in enumerate(users)).encode()


def change_users(pool: list[str], share: float, week: int) -> None:
    """Replace ``share`` of the users in the data (chosen by a hash) with new ones, in place."""
    gone = set(ranked(f"week {week}", pool)[:int(len(pool) * share)])
    pool[:] = [u for u in pool if u not in gone] + [f"w{week}-{i:05d}" for i in range(len(gone))]


def test_a_month_of_schedules_refreshes_each_audience_in_place_with_its_deltas_and_holds(month):
    aws = month.aws

    # 2 Nov: the first upload creates everything and the three schedules.
    aws.upload_sample()
    aws.personalize.advance_to(at(2, 9))
    month.upload_config(CONFIG_KEY, config())
    assert month.created() == {"DatasetGroup": 1, "Schema": 3, "Dataset": 3, "DatasetImportJob": 3, "Solution": 1,
                               "SolutionVersion": 1, "BatchSegmentJob": 1}
    assert sorted(month.schedules()) == sorted([IMPORT, RETRAIN, JOB])
    assert len(month.published) == AUDIENCES and {len(v) for v in month.published.values()} == {1}
    month.check_destination()

    # 4 Nov: the daily job, on the version trained on 2 Nov: the same users; fired twice, it runs once.
    month.fire(JOB, at(4, 5))
    assert month.created() == {"BatchSegmentJob": 1}  # no import, no training
    month.fire(JOB, at(4, 5))
    assert month.created() == {}
    assert {(v[-1]["version"], v[-1]["joinedCount"], v[-1]["leftCount"]) for v in month.published.values()} == {
        (2, 0, 0)}

    # 9 Nov: a week of new interactions, 5% of the users changed: imported, then retrained; the audiences follow.
    aws.s3.put_object(Bucket=BUCKET, Key="train/bingewatch/interactions.csv",
                      Body=new_interactions(1, ["u00001", "u00002"]))
    change_users(month.users, 0.05, week=1)
    month.fire(IMPORT, at(9, 2))
    assert month.created() == {"DatasetImportJob": 1}  # the new interactions file only: no training, no job
    month.fire(RETRAIN, at(9, 3))
    assert month.created() == {"SolutionVersion": 1, "BatchSegmentJob": 1}  # no import: nothing new since 02:00
    assert month.held() == []
    assert {len(v) for v in month.published.values()} == {3}
    assert sum(v[-1]["joinedCount"] + v[-1]["leftCount"] for v in month.published.values()) > 0
    month.check_versions()
    month.check_destination()

    # 16 Nov: most users changed; the refreshes that changed more than half of an audience are held.
    change_users(month.users, 0.8, week=2)
    aws.s3.put_object(Bucket=BUCKET, Key="train/bingewatch/interactions.csv",
                      Body=new_interactions(2, month.users[-10:]))
    month.fire(IMPORT, at(16, 2))
    before = {name: month.members(name) for name in month.published}
    month.fire(RETRAIN, at(16, 3))
    assert month.created() == {"DatasetImportJob": 1, "SolutionVersion": 1, "BatchSegmentJob": 1}
    held = {h["audience"]: h for h in month.held()}
    assert held, "an 80% change holds at least one audience"
    for name, hold in held.items():
        assert (hold["joinedCount"] + hold["leftCount"]) / hold["previousUserCount"] > HOLD_THRESHOLD, hold
        assert len(month.published[name]) == 3  # not announced, not imported
    for name, versions in month.published.items():
        if name not in held:  # published: within the threshold
            latest = versions[-1]
            assert (latest["joinedCount"] + latest["leftCount"]) / versions[-2]["userCount"] <= HOLD_THRESHOLD
    assert {name: month.members(name) for name in held} == {name: before[name] for name in held}
    (note,) = [n for n in aws.notifications() if n["Subject"] == "Audience refresh held"]
    assert all(name in note["Message"] for name in held)
    for name in held:
        month.release(name)
    assert {len(v) for v in month.published.values()} == {4}
    month.release(next(iter(held)))  # a second release finds nothing held
    assert {len(v) for v in month.published.values()} == {4}
    month.check_versions()
    month.check_destination()

    # 23 Nov: no new data: nothing imported; the retraining, fired twice, trains once and finds the same users.
    month.fire(IMPORT, at(23, 2))
    assert month.created() == {}
    month.fire(RETRAIN, at(23, 3))
    month.fire(RETRAIN, at(23, 3))
    assert month.created() == {"SolutionVersion": 1, "BatchSegmentJob": 1}
    assert {(v[-1]["version"], v[-1]["joinedCount"], v[-1]["leftCount"]) for v in month.published.values()} == {
        (5, 0, 0)}
    month.check_versions()
    month.check_destination()
    ingested = collections.Counter(j["DisplayName"] for j in month.profiles.jobs.values())
    assert sorted(ingested.values()) == [5] * AUDIENCES  # one upload job per published version, none twice

    # The config uploaded again without its import schedule: that schedule is deleted; nothing else is done.
    month.upload_config(CONFIG_KEY, config(import_schedule=False))
    assert sorted(month.schedules()) == sorted([RETRAIN, JOB])
    assert month.created() == {}

"""The guard against bad refreshes (publish/holds.py): a refresh that changed an audience too much, or came back
empty, is written but held until someone releases it with an ``Audience Release Requested`` event."""

from __future__ import annotations

import json

import pytest

from batch_segment_postprocessor.export import handler as export_handler
from batch_segment_postprocessor.publish import handler as publish_handler
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.segment_jobs import export, job_event, manifest, segment_job

POSTPROCESSOR = ("batch_segment_postprocessor.plan", "batch_segment_postprocessor.export",
                 "batch_segment_postprocessor.publish")
ACTION = 'ITEMS.GENRES = "Action"'


def line(users: list[str]) -> dict:
    return {"input": {"itemAttributes": ACTION}, "output": {"recommendedUsers": users}}


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        function_environment.use(monkeypatch, *POSTPROCESSOR, AUDIENCE_BUCKET=BUCKET, SOURCE_BUCKET=BUCKET,
                                 EVENT_BUS_NAME=fake.bus_name)  # the default hold_threshold: 0.5
        monkeypatch.setattr(export_handler, "_suppression", {})
        yield fake


def run(aws, job: str, users: list[str]) -> dict:
    """A refresh of the Action audience with ``users``: its manifest entry, and the events it put."""
    arn = segment_job(aws, {"job_config.json.out": [line(users)]}, job,
                      output_prefix=f"batch/bingewatch/genre-affinity/{job}/output/")
    published = export(job_event(arn))["published"]
    (segment,) = manifest(aws, job)["segments"]
    return {"segment": segment, "published": published, "events": aws.events()}


def of(kind: str, events: list[dict]) -> list[dict]:
    return [e["detail"] for e in events if e["detail-type"] == kind]


def latest(aws, name: str) -> dict:
    return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=f"audiences/_audiences/{name}.json")["Body"].read())


def release(name: str) -> dict:
    return publish_handler.handler({"source": "segmentation.audiences", "detail-type": "Audience Release Requested",
                                    "detail": {"audience": name}}, None)


def test_a_refresh_that_changed_most_users_is_held_until_released(aws):
    first = run(aws, "genre-1", [f"u{i}" for i in range(10)])
    assert len(of("Audience Segment Ready", first["events"])) == 1  # a first version is never held
    second = run(aws, "genre-2", [f"u{i}" for i in range(4, 14)])  # 4 joined, 4 left: 80% of 10
    name = second["segment"]["name"]
    assert of("Audience Segment Ready", second["events"]) == []
    (held,) = of("Audience Refresh Held", second["events"])
    assert (held["audience"], held["jobName"], held["joinedCount"], held["leftCount"], held["previousUserCount"]) == (
        name, "genre-2", 4, 4, 10)
    assert "80% of the previous version's 10, over the hold threshold of 50%" in held["reason"]
    assert second["segment"]["held"]["reason"] == held["reason"] and second["published"]["held"] == [held]
    assert latest(aws, name)["jobName"] == "genre-1"  # not the audience's latest version
    assert release(name)["version"] == 2
    (ready,) = of("Audience Segment Ready", aws.events())
    assert (ready["jobName"], ready["segment"]["version"], ready["segment"]["previousVersion"]["jobName"]) == (
        "genre-2", 2, "genre-1")
    assert latest(aws, name)["jobName"] == "genre-2"
    (entry,) = manifest(aws, "genre-2")["segments"]  # the held job's manifest says what was published
    assert "held" not in entry and (entry["version"], entry["released"]["heldFor"]) == (2, held["reason"])
    assert release(name) == {"released": None} and of("Audience Segment Ready", aws.events()) == []  # once


def test_a_refresh_within_the_threshold_is_published_and_replaces_a_pending_hold(aws):
    run(aws, "genre-1", [f"u{i}" for i in range(10)])
    held = run(aws, "genre-2", [f"u{i}" for i in range(10, 20)])  # everyone changed
    assert of("Audience Refresh Held", held["events"])
    calm = run(aws, "genre-3", [f"u{i}" for i in range(1, 11)])  # 1 joined, 1 left: 20%
    (ready,) = of("Audience Segment Ready", calm["events"])
    assert ready["segment"]["version"] == 2 and ready["segment"]["previousVersion"]["jobName"] == "genre-1"
    assert release(held["segment"]["name"]) == {"released": None}  # the newer refresh replaced it


def test_a_refresh_that_came_back_empty_is_held_and_its_release_publishes_nothing(aws):
    first = run(aws, "genre-1", ["u1", "u2"])
    name = first["segment"]["name"]
    empty = run(aws, "genre-2", [])
    (held,) = of("Audience Refresh Held", empty["events"])
    assert held["reason"] == "it came back empty (the previous version had 2 users)" and held["userCount"] == 0
    assert release(name)["released"] == name
    assert of("Audience Segment Ready", aws.events()) == [] and latest(aws, name)["jobName"] == "genre-1"
    (entry,) = manifest(aws, "genre-2")["segments"]
    assert "held" not in entry and "version" not in entry and entry["released"]["heldFor"] == held["reason"]


def test_with_no_threshold_nothing_is_held(aws, monkeypatch):
    monkeypatch.setenv("HOLD_THRESHOLD", "off")
    run(aws, "genre-1", ["u1", "u2"])
    second = run(aws, "genre-2", ["u3", "u4"])
    assert of("Audience Refresh Held", second["events"]) == []
    assert of("Audience Segment Ready", second["events"])[0]["segment"]["version"] == 2

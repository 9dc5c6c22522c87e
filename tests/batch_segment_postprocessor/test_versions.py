"""Audience versions (publish/versions.py): each refresh of an audience is its next version, linked to the previous
one, whose files are tagged for the lifecycle rule."""

from __future__ import annotations

import json

import pytest

from batch_segment_postprocessor.export import handler as export_handler
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.segment_jobs import ACTION, COMEDY, export, job_event, manifest, segment_job

POSTPROCESSOR = ("batch_segment_postprocessor.plan", "batch_segment_postprocessor.export",
                 "batch_segment_postprocessor.publish")


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        function_environment.use(monkeypatch, *POSTPROCESSOR, AUDIENCE_BUCKET=BUCKET, SOURCE_BUCKET=BUCKET,
                                 EVENT_BUS_NAME=fake.bus_name)
        monkeypatch.setattr(export_handler, "_suppression", {})
        yield fake


def run(aws, job: str, lines=(ACTION, COMEDY)) -> dict[str, dict]:
    prefix = f"batch/bingewatch/genre-affinity/{job}/output/"
    export(job_event(segment_job(aws, {"job_config.json.out": list(lines)}, job, output_prefix=prefix)))
    return {s["query"]: s for s in manifest(aws, job)["segments"]}


def tags(aws, key: str) -> dict:
    return {t["Key"]: t["Value"] for t in aws.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def test_each_refresh_is_the_next_version_linked_to_the_one_before(aws):
    first = run(aws, "genre-segments-1")
    second = run(aws, "genre-segments-2")
    for query, segment in second.items():
        assert first[query]["version"] == 1 and first[query]["previousVersion"] is None
        assert segment["version"] == 2
        previous = segment["previousVersion"]
        assert (previous["version"], previous["jobName"], previous["audienceKey"]) == (
            1, "genre-segments-1", first[query]["audienceKey"])
        index = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=f"audiences/_audiences/{segment['name']}.json")
                           ["Body"].read())
        assert (index["version"], index["jobName"], index["audienceKey"]) == (2, "genre-segments-2",
                                                                               segment["audienceKey"])
    announced = [e["detail"]["segment"] for e in aws.events() if e["detail-type"] == "Audience Segment Ready"]
    assert sorted((s["version"], s["name"]) for s in announced) == sorted(
        [(1, s["name"]) for s in first.values()] + [(2, s["name"]) for s in second.values()])


def test_the_version_a_refresh_replaces_is_tagged_for_the_lifecycle_rule_and_the_latest_is_not(aws):
    first = run(aws, "genre-segments-1")
    second = run(aws, "genre-segments-2")
    for query in first:
        assert tags(aws, first[query]["audienceKey"]) == {"segmentation-superseded": "true"}
        assert tags(aws, second[query]["audienceKey"]) == {}


def test_publishing_the_same_output_again_keeps_its_version(aws):
    arn = segment_job(aws, {"job_config.json.out": [ACTION]}, "genre-segments-1",
                      output_prefix="batch/bingewatch/genre-affinity/genre-segments-1/output/")
    export(job_event(arn))
    from batch_segment_postprocessor.publish import handler as publish_handler
    from batch_segment_postprocessor.plan import handler as plan_handler

    plan = {**plan_handler.handler(job_event(arn), None), "executionArn": "arn:aws:states:::execution:x:1"}
    aws.s3.delete_object(Bucket=BUCKET, Key=f"audiences/genre-segments-1/_work/published-{plan['sourceId']}")
    publish_handler.handler(plan, None)  # a publish that lost its claim record, run again
    (segment,) = manifest(aws, "genre-segments-1")["segments"]
    assert segment["version"] == 1 and segment["previousVersion"] is None

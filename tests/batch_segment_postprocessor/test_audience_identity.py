"""An audience's identity (issue 12, item 8): its solution and query, the same on every run; a file per run.

Each run of a solution writes its audiences under its own job folder, named after the audience, so destinations
(which name their segment after it) update one segment per audience instead of adding one per run.
"""

from __future__ import annotations

import json

import pytest

from batch_segment_postprocessor.export import handler as export_handler
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.segment_jobs import ACTION, COMEDY, export, job_event, manifest, segment_job

POSTPROCESSOR = ("batch_segment_postprocessor.plan", "batch_segment_postprocessor.export",
                 "batch_segment_postprocessor.publish")
LONG = "bingewatch-genre-affinity-with-a-name-over-forty-characters"


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        function_environment.use(monkeypatch, *POSTPROCESSOR, AUDIENCE_BUCKET=BUCKET, SOURCE_BUCKET=BUCKET,
                                 EVENT_BUS_NAME=fake.bus_name)
        monkeypatch.setattr(export_handler, "_suppression", {})
        yield fake


def run(aws, job: str, solution: str = "genre-affinity") -> dict[str, dict]:
    """One run's batch segment job (a new solution version) exported: its segments by query."""
    prefix = f"batch/bingewatch/{solution}/{job}/output/"
    export(job_event(segment_job(aws, {"job_config.json.out": [ACTION, COMEDY]}, job, solution=solution,
                                 output_prefix=prefix)))
    return {s["query"]: s for s in manifest(aws, job)["segments"]}


def test_every_run_of_a_solution_writes_the_same_audiences_each_under_its_own_run(aws):
    first, second = run(aws, "genre-segments-1a2b3c4d"), run(aws, "genre-segments-9f8e7d6c")
    assert {q: s["name"] for q, s in first.items()} == {q: s["name"] for q, s in second.items()}
    assert len({s["name"] for s in first.values()}) == 2  # one audience a query
    for query, segment in second.items():
        assert segment["audienceKey"] == f"audiences/genre-segments-9f8e7d6c/{segment['name']}.csv"
        assert first[query]["audienceKey"] == f"audiences/genre-segments-1a2b3c4d/{segment['name']}.csv"
        assert aws.s3.head_object(Bucket=BUCKET, Key=first[query]["audienceKey"])  # the first run's file is kept


def test_two_solutions_whose_names_begin_alike_never_share_an_audience(aws):
    one, other = run(aws, "a-segments-1", solution=f"{LONG}-one"), run(aws, "b-segments-1", solution=f"{LONG}-two")
    for query in one:
        assert one[query]["name"] != other[query]["name"]
        assert one[query]["name"].startswith(LONG[:40].rstrip("-"))  # still readable
        assert len(one[query]["name"]) <= 100


def test_a_dropped_output_file_is_the_same_audience_each_time_it_is_dropped_in_its_folder(aws):
    names = []
    for body in ([ACTION], [ACTION, COMEDY]):
        key = "manual/spring/job_config.json.out"  # the object trigger prefix the IAM gates know
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body="".join(json.dumps(r) + "\n" for r in body))
        event = {"source": "aws.s3", "detail-type": "Object Created",
                 "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}}
        export(event)
        names.append({s["query"]: s["name"] for s in manifest(aws, "spring")["segments"]})
    assert names[0]['ITEMS.GENRES = "Action"'] == names[1]['ITEMS.GENRES = "Action"']

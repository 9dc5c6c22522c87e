"""The post-processing Lambdas (plan → export per line → publish) against moto S3/EventBridge and FakePersonalize."""

from __future__ import annotations

import datetime as dt
import functools
import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from batch_segment_postprocessor.export import handler as export_handler
from batch_segment_postprocessor.plan import handler as plan_handler
from batch_segment_postprocessor.publish import handler as publish_handler
from segmentation_constructs import BatchSegmentPostprocessor
from shared import audiences, claims
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.segment_jobs import (ACTION, COMEDY, OUTPUT_PREFIX, export, job_event, manifest, read_audience,
                                     segment_job)
from tests.fakes.workflow import FunctionTimedOut

POSTPROCESSOR = ("batch_segment_postprocessor.plan", "batch_segment_postprocessor.export",
                 "batch_segment_postprocessor.publish")


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        fake.environment = functools.partial(function_environment.use, monkeypatch, *POSTPROCESSOR,
                                             AUDIENCE_BUCKET=BUCKET, SOURCE_BUCKET=BUCKET, EVENT_BUS_NAME=fake.bus_name)
        fake.environment()
        monkeypatch.setattr(export_handler, "_suppression", {})
        yield fake


def test_each_query_becomes_one_audience_file_with_a_manifest_and_one_event(aws):
    arn = segment_job(aws, {"job_config.json.out": [ACTION, COMEDY]})
    result = export(job_event(arn))
    segments = manifest(aws)["segments"]
    assert [s["query"] for s in segments] == ['ITEMS.GENRES = "Action"', 'ITEMS.GENRES = "Comedy"']
    action, comedy = segments
    assert action["audienceKey"].startswith("audiences/genre-segments-1a2b3c4d/genre-affinity-genres-action-")
    assert read_audience(aws, action["audienceKey"]) == ["u1", "u2", "u3"]
    assert read_audience(aws, comedy["audienceKey"]) == ["u4", "u,5"]
    assert (comedy["userCount"], comedy["duplicateCount"]) == (2, 1)
    assert manifest(aws)["jobArn"] == arn and manifest(aws)["eventsPublished"] is True
    ready = [e for e in aws.events() if e["detail-type"] == "Audience Segment Ready"]
    assert len(ready) == 2 and {e["source"] for e in ready} == {"segmentation.audiences"}
    assert ready[0]["resources"] == [arn]
    assert {e["detail"]["segment"]["name"] for e in ready} == {action["name"], comedy["name"]}
    assert result["published"] == {"manifestUri": f"s3://{BUCKET}/audiences/genre-segments-1a2b3c4d/manifest.json",
                                   "segments": 2, "ready": 2, "errors": 0, "announced": 2, "held": []}
    leftovers = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="audiences/genre-segments-1a2b3c4d/_work/lines/")
    assert leftovers.get("KeyCount", 0) == 0


def test_every_line_of_every_file_is_processed_and_bad_lines_do_not_stop_the_others(aws):
    arn = segment_job(aws, {
        "a.json.out": [ACTION, {"input": {"itemId": "m1"}, "error": "Item not in training data"}],
        "b.json.out": ['{"input": {"itemId": "m2"}, "output": {"recommendedUsers": ["x"', COMEDY,
                       {"input": {"itemId": "m3"}, "output": {"recommendedUsers": []}}],
    })
    export(job_event(arn))
    segments = manifest(aws)["segments"]
    assert [(s["source"].rsplit("/", 1)[1], s["line"], s["error"]) for s in segments] == [
        ("a.json.out", 1, None),
        ("a.json.out", 2, "line 2: Personalize reported: Item not in training data"),
        ("b.json.out", 1, segments[2]["error"]),
        ("b.json.out", 2, None),
        ("b.json.out", 3, None),
    ]
    assert segments[2]["error"].startswith("line 1: not valid JSON")
    assert segments[4]["userCount"] == 0 and segments[4]["audienceKey"] is None
    assert [s["audienceKey"] is not None for s in segments] == [True, False, False, True, False]
    assert len([e for e in aws.events() if e["detail-type"] == "Audience Segment Ready"]) == 2


def test_duplicate_delivery_makes_the_same_files_and_no_second_events(aws):
    arn = segment_job(aws, {"job_config.json.out": [ACTION, COMEDY]})
    export(job_event(arn))
    first = {s["audienceKey"] for s in manifest(aws)["segments"]}
    aws.events()
    again = export(job_event(arn))
    assert again["skip"] is True
    assert {s["audienceKey"] for s in manifest(aws)["segments"]} == first
    assert aws.events() == []


def test_two_deliveries_racing_announce_once(aws):
    arn = segment_job(aws, {"job_config.json.out": [ACTION]})
    plans = [plan_handler.handler(job_event(arn), None) for _ in range(2)]  # both before either publishes
    items = json.loads(audiences.s3().get_object(Bucket=BUCKET, Key=plans[0]["itemsKey"])["Body"].read())
    for plan in plans:
        for item in items:
            export_handler.handler(item, None)
    announced = [publish_handler.handler(plan, None)["announced"] for plan in plans]
    assert announced == [1, 0]
    assert len(aws.events()) == 1
    assert manifest(aws)["eventsPublished"] is True  # the run that lost the claim left the manifest alone
    assert plan_handler.handler(job_event(arn), None)["skip"] is True


def exported_lines(aws, lines: list, arn: str | None = None) -> dict:
    """The plan of a job of ``lines`` (``arn``: the job's output written again), its lines exported (the workflow's
    steps before PublishAudiences)."""
    if arn:
        aws.s3.put_object(Bucket=BUCKET, Key=f"{OUTPUT_PREFIX}x.out", Body="".join(
            json.dumps(line) + "\n" for line in lines).encode())
    plan = plan_handler.handler(job_event(arn or segment_job(aws, {"x.out": lines})), None)
    for item in json.loads(audiences.s3().get_object(Bucket=BUCKET, Key=plan["itemsKey"])["Body"].read()):
        export_handler.handler(item, None)
    return plan


EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:audiences:"


def times_out_once(monkeypatch, name: str) -> None:
    """The publish function's ``name`` step stops the invocation the first time (Lambda's timeout: nothing after it
    runs, no clean-up)."""
    step, stopped = getattr(publish_handler, name), []

    def once(*args, **kwargs):
        if not stopped:
            stopped.append(name)
            raise FunctionTimedOut(name)
        return step(*args, **kwargs)

    monkeypatch.setattr(publish_handler, name, once)


def test_a_publish_that_timed_out_after_its_claim_announces_on_its_executions_retry_only(aws, monkeypatch):
    plan = exported_lines(aws, [ACTION, COMEDY])
    times_out_once(monkeypatch, "_announce")
    with pytest.raises(FunctionTimedOut):
        publish_handler.handler({**plan, "executionArn": f"{EXECUTION}first"}, None)
    # another delivery's run leaves the claim to the run that took it (it may still be announcing)
    assert publish_handler.handler({**plan, "executionArn": f"{EXECUTION}second"}, None)["announced"] == 0
    assert publish_handler.handler({**plan, "executionArn": f"{EXECUTION}first"}, None)["announced"] == 2  # its retry
    assert len(ready_names(aws)) == 2 and manifest(aws)["eventsPublished"] is True
    assert publish_handler.handler({**plan, "executionArn": f"{EXECUTION}first"}, None)["announced"] == 0


def test_a_publish_claim_left_by_a_run_that_died_is_taken_over_once_stale(aws, monkeypatch):
    plan = exported_lines(aws, [ACTION])
    times_out_once(monkeypatch, "_announce")
    with pytest.raises(FunctionTimedOut):
        publish_handler.handler({**plan, "executionArn": f"{EXECUTION}first"}, None)
    assert publish_handler.handler(plan, None)["announced"] == 0  # not stale yet
    monkeypatch.setattr(claims, "STALE", dt.timedelta(0))  # as if written 16 minutes ago
    assert publish_handler.handler(plan, None)["announced"] == 1
    assert publish_handler.handler(plan, None)["announced"] == 0 and len(ready_names(aws)) == 1


def test_a_publish_that_timed_out_before_marking_the_manifest_has_it_marked_by_the_next_run(aws, monkeypatch):
    plan = exported_lines(aws, [ACTION])
    times_out_once(monkeypatch, "_mark")
    with pytest.raises(FunctionTimedOut):
        publish_handler.handler(plan, None)
    assert manifest(aws)["eventsPublished"] is False and len(ready_names(aws)) == 1
    assert publish_handler.handler(plan, None)["announced"] == 0  # announced already: the manifest marked
    assert manifest(aws)["eventsPublished"] is True and ready_names(aws) == []
    assert plan_handler.handler(job_event(plan["jobArn"]), None)["skip"] is True


def test_a_late_run_of_an_earlier_output_leaves_the_later_outputs_manifest_alone(aws, monkeypatch):
    first = exported_lines(aws, [ACTION])
    times_out_once(monkeypatch, "_mark")
    with pytest.raises(FunctionTimedOut):
        publish_handler.handler(first, None)
    later = exported_lines(aws, [ACTION, COMEDY], first["jobArn"])  # the output written again: a new sourceId
    publish_handler.handler(later, None)
    assert publish_handler.handler(first, None)["announced"] == 0
    assert manifest(aws)["sourceId"] == later["sourceId"] and manifest(aws)["eventsPublished"] is True


def test_out_files_dropped_by_hand_are_exported_under_their_folder_and_file_names(aws):
    for name in ("queries", "more-queries"):
        key = f"manual/spring-campaign/output/{name}.json.out"
        aws.s3.put_object(Bucket=BUCKET, Key=key, Body=(json.dumps(ACTION) + "\n").encode())
        export({"source": "aws.s3", "detail-type": "Object Created",
                "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}})
    (segment,) = manifest(aws, "spring-campaign-queries")["segments"]
    assert segment["audienceKey"].startswith("audiences/spring-campaign-queries/spring-campaign-queries-genres-action-")
    assert manifest(aws, "spring-campaign-queries")["jobArn"] is None
    (other,) = manifest(aws, "spring-campaign-more-queries")["segments"]  # two files never share a folder
    assert other["source"].endswith("more-queries.json.out")


def test_a_reuploaded_shorter_file_leaves_no_stale_segments(aws):
    key = "manual/weekly/output/job_config.json.out"
    event = {"source": "aws.s3", "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}}
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=(json.dumps(ACTION) + "\n" + json.dumps(COMEDY) + "\n").encode())
    export(event)
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=(json.dumps(COMEDY) + "\n").encode())
    export(event)
    assert [s["query"] for s in manifest(aws, "weekly")["segments"]] == ['ITEMS.GENRES = "Comedy"']


def test_parse_errors_never_quote_the_line(aws):
    broken = '{"input": {"itemId": "m1"}, "output": {"recommendedUsers": ["alice@example.com" "carol@example.com"]}}'
    arn = segment_job(aws, {"x.out": [broken]})
    export(job_event(arn))
    (segment,) = manifest(aws)["segments"]
    assert segment["error"].startswith("line 1: not valid JSON") and "example.com" not in segment["error"]


@pytest.fixture(scope="module")
def holdout_and_suppression(cdk_app_context) -> dict:
    """A post-processor with a holdout and a suppression list, as synthesized."""
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Holdout")
    bucket = s3.Bucket.from_bucket_name(stack, "Data", BUCKET)
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
                              source_bucket=bucket, holdout_percent=10, suppression_list_bucket=bucket,
                              suppression_list_key="suppression/opt-outs.csv")
    return Template.from_stack(stack).to_json()


def test_holdout_and_suppression_are_applied_and_counted(aws, holdout_and_suppression):
    users = [f"user-{i}" for i in range(2000)]
    aws.s3.put_object(Bucket=BUCKET, Key="suppression/opt-outs.csv", Body=b"User.UserId\nuser-1\nuser-2\nuser-3\n")
    aws.environment(template=holdout_and_suppression, EVENT_BUS_NAME=aws.bus_name)
    arn = segment_job(aws, {"x.out": [{"input": {"itemId": "m9"}, "output": {"recommendedUsers": users}}]})
    export(job_event(arn))
    (segment,) = manifest(aws)["segments"]
    audience, control = read_audience(aws, segment["audienceKey"]), read_audience(aws, segment["controlKey"])
    assert segment["suppressedCount"] == 3 and not {"user-1", "user-2", "user-3"} & set(audience + control)
    assert (segment["userCount"], segment["controlCount"]) == (len(audience), len(control))
    assert len(audience) + len(control) == 1997 and 150 < len(control) < 250
    assert segment["controlKey"] == f"audiences/genre-segments-1a2b3c4d/control/{segment['name']}.csv"


def test_a_job_that_is_not_active_is_refused(aws):
    arn = segment_job(aws, {"x.out": [ACTION]})
    aws.personalize.set_status(arn, "CREATE IN_PROGRESS")
    with pytest.raises(ValueError, match="is CREATE IN_PROGRESS, not ACTIVE"):
        plan_handler.handler(job_event(arn), None)


def test_a_job_written_outside_this_postprocessors_bucket_and_prefix_is_left_to_its_own(aws):
    """Two post-processors on one bus both hear every job; each exports only what lands where it watches."""
    arn = segment_job(aws, {"x.out": [ACTION]})
    aws.environment(SOURCE_BUCKET="another-teams-bucket")
    assert export(job_event(arn))["skip"] is True
    aws.environment(BATCH_OUTPUT_PREFIX="batch/another-group/")
    assert export(job_event(arn))["skip"] is True
    assert aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="audiences/").get("KeyCount") == 0
    aws.environment()
    assert export(job_event(arn))["skip"] is False


def test_a_job_without_output_files_is_refused(aws):
    arn = segment_job(aws, {})
    with pytest.raises(ValueError, match=r"no \.out file under"):
        plan_handler.handler(job_event(arn), None)


def test_a_line_that_breaks_after_its_first_part_leaves_no_file_and_no_open_upload(aws):
    users = [f"user-{i:07d}" for i in range(700_000)]  # 9.1 MB of CSV: one 8 MiB part is uploaded before the break
    broken = json.dumps({"input": {"itemId": "m1"}, "output": {"recommendedUsers": users}})[:-5]
    arn = segment_job(aws, {"x.out": [broken, ACTION]})
    export(job_event(arn))
    first, second = manifest(aws)["segments"]
    assert first["error"].startswith("line 1: not valid JSON") and first["audienceKey"] is None
    assert second["error"] is None
    assert aws.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    keys = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="audiences/")["Contents"]]
    assert [k for k in keys if k.endswith(".csv")] == [second["audienceKey"]]


def test_events_that_cannot_be_put_fail_the_publish_and_a_retry_announces(aws):
    arn = segment_job(aws, {"x.out": [ACTION]})
    aws.environment(EVENT_BUS_NAME="no-such-bus")
    with pytest.raises(Exception):
        export(job_event(arn))
    assert manifest(aws)["eventsPublished"] is False
    aws.environment()
    assert export(job_event(arn))["published"]["announced"] == 1


def test_a_line_whose_query_comes_after_its_users_is_moved_to_its_query_name(aws):
    late = {"output": {"recommendedUsers": ["u7", "u8"]}, "input": {"itemId": "m42"}}
    arn = segment_job(aws, {"x.out": [late]})
    export(job_event(arn))
    (segment,) = manifest(aws)["segments"]
    assert segment["name"].startswith("genre-affinity-item-m42-")
    assert read_audience(aws, segment["audienceKey"]) == ["u7", "u8"]
    leftovers = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="audiences/genre-segments-1a2b3c4d/_work/lines/")
    assert leftovers.get("KeyCount", 0) == 0


def test_a_long_line_whose_query_comes_after_its_users_is_copied_to_its_name_and_its_work_file_deleted(aws):
    """Over one 8 MiB part the audience is already uploading under its work key when the query arrives."""
    users = [f"user-{i:07d}" for i in range(700_000)]  # 9.1 MB of CSV
    arn = segment_job(aws, {"x.out": [{"output": {"recommendedUsers": users}, "input": {"itemId": "m43"}}]})
    export(job_event(arn))
    (segment,) = manifest(aws)["segments"]
    assert segment["name"].startswith("genre-affinity-item-m43-") and segment["userCount"] == 700_000
    assert read_audience(aws, segment["audienceKey"])[-1] == "user-0699999"
    leftovers = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="audiences/genre-segments-1a2b3c4d/_work/")
    assert not [o["Key"] for o in leftovers.get("Contents", []) if "/lines/" in o["Key"]]


@pytest.mark.parametrize("stored, delivered", [
    ("manual/autumn sale/output/q+1.json.out", "manual/autumn+sale/output/q%2B1.json.out"),  # URL-encoded
    ("manual/autumn+sale/output/q.json.out", "manual/autumn+sale/output/q.json.out"),  # a real plus sign
])
def test_object_keys_are_read_whether_or_not_the_event_encoded_them(aws, stored, delivered):
    aws.s3.put_object(Bucket=BUCKET, Key=stored, Body=(json.dumps(ACTION) + "\n").encode())
    plan = plan_handler.handler({"source": "aws.s3", "detail": {"bucket": {"name": BUCKET}, "object": {"key": delivered}}},
                                None)
    assert plan["sourceFiles"] == [f"s3://{BUCKET}/{stored}"] and plan["lines"] == 1


COUNTS = ("userCount", "controlCount", "suppressedCount", "duplicateCount", "invalidCount")


def ready_names(aws) -> list[str]:
    return sorted(e["detail"]["segment"]["name"] for e in aws.events() if e["detail-type"] == "Audience Segment Ready")


def csv_keys(aws) -> list[str]:
    return sorted(o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="audiences/").get("Contents", [])
                  if o["Key"].endswith(".csv"))


def test_a_line_that_breaks_midway_reports_no_users_in_the_manifest(aws):
    users = ", ".join(json.dumps(f"user-{i}") for i in range(20_000))  # two batches written before the break
    arn = segment_job(aws, {"x.out": ['{"input": {"itemId": "m1"}, "output": {"recommendedUsers": [' + users
                                      + ', "x" "y"]}}']})
    export(job_event(arn))
    (segment,) = manifest(aws)["segments"]
    assert segment["error"] == "line 1: not valid JSON (IncompleteJSONError)" and segment["audienceKey"] is None
    assert {k: segment.get(k, 0) for k in COUNTS} == dict.fromkeys(COUNTS, 0)
    assert csv_keys(aws) == [] and segment["invalidCount"] == 0


def test_an_output_file_that_starts_with_a_byte_order_mark_is_read_as_if_it_had_none(aws):
    arn = segment_job(aws, {"x.out": [ACTION, COMEDY]}, bom=True)
    export(job_event(arn))
    action, comedy = manifest(aws)["segments"]
    assert (action["line"], action["error"], comedy["error"]) == (1, None, None)
    assert read_audience(aws, action["audienceKey"]) == ["u1", "u2", "u3"]


def test_null_empty_and_object_user_ids_are_skipped_and_counted(aws):
    arn = segment_job(aws, {"x.out": [{"input": {"itemId": "m1"},
                                       "output": {"recommendedUsers": ["a", None, "", {"id": "b"}, 7]}}]})
    export(job_event(arn))
    (segment,) = manifest(aws)["segments"]
    assert (segment["userCount"], segment["invalidCount"]) == (2, 3)
    assert read_audience(aws, segment["audienceKey"]) == ["a", "7"]


AGAIN = {"input": ACTION["input"], "output": {"recommendedUsers": ["u3", "u9"]}}  # ACTION's query, other users


def test_the_same_query_twice_makes_one_file_and_one_event_and_the_later_line_says_why_it_has_none(aws):
    arn = segment_job(aws, {"x.out": [ACTION, COMEDY, AGAIN]})
    result = export(job_event(arn))
    action, comedy, again = manifest(aws)["segments"]
    assert action["error"] is None and read_audience(aws, action["audienceKey"]) == ["u1", "u2", "u3"]
    assert again["error"] == "line 3: the same query as line 1 of x.out, which has its audience; skipped"
    assert (again["name"], again["audienceKey"], again["userCount"]) == (action["name"], None, 0)
    assert ready_names(aws) == sorted([action["name"], comedy["name"]])
    assert csv_keys(aws) == sorted([action["audienceKey"], comedy["audienceKey"]])
    assert result["published"]["ready"] == 2 and result["published"]["errors"] == 1


def test_whichever_line_reads_a_repeated_query_first_keeps_it_and_no_two_lines_write_one_file(aws):
    arn = segment_job(aws, {"x.out": [ACTION, AGAIN]})
    export(job_event(arn), reverse=True)  # line 2 exported first, as concurrent exports may run
    action, again = manifest(aws)["segments"]
    assert action["error"] == "line 1: the same query as line 2 of x.out, which has its audience; skipped"
    assert read_audience(aws, again["audienceKey"]) == ["u3", "u9"] and again["userCount"] == 2
    assert ready_names(aws) == [again["name"]] and csv_keys(aws) == [again["audienceKey"]]


def test_a_repeated_query_after_its_users_is_refused_and_leaves_no_work_file(aws):
    late = {"output": AGAIN["output"], "input": AGAIN["input"]}
    arn = segment_job(aws, {"x.out": [ACTION, late]})
    export(job_event(arn))
    action, again = manifest(aws)["segments"]
    assert action["error"] is None and again["error"].startswith("line 2: the same query as line 1 of x.out")
    assert csv_keys(aws) == [action["audienceKey"]]
    assert aws.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_line_exported_again_keeps_its_own_query(aws):
    arn = segment_job(aws, {"x.out": [ACTION, AGAIN]})
    plan = plan_handler.handler(job_event(arn), None)
    first, second = json.loads(audiences.s3().get_object(Bucket=BUCKET, Key=plan["itemsKey"])["Body"].read())
    for item in (first, second, first):  # the Map retries line 1
        export_handler.handler(item, None)
    publish_handler.handler(plan, None)
    action, again = manifest(aws)["segments"]
    assert action["error"] is None and again["error"].startswith("line 2: the same query as line 1")
    assert len(ready_names(aws)) == 1


def test_publish_announces_each_audience_file_once(aws):
    arn = segment_job(aws, {"x.out": [ACTION]})
    plan = plan_handler.handler(job_event(arn), None)
    (item,) = json.loads(audiences.s3().get_object(Bucket=BUCKET, Key=plan["itemsKey"])["Body"].read())
    export_handler.handler(item, None)
    entries = f"audiences/genre-segments-1a2b3c4d/_work/{plan['sourceId']}/entries/"
    entry = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=f"{entries}000001.json")["Body"].read())
    aws.s3.put_object(Bucket=BUCKET, Key=f"{entries}000002.json", Body=json.dumps({**entry, "ordinal": 2}).encode())
    assert publish_handler.handler(plan, None)["announced"] == 1 and len(ready_names(aws)) == 1

"""Stable audiences and deltas (issue 14): who joined and who left an audience since its previous version.

Each refresh of an audience writes, next to its file, ``deltas/<name>.joined.csv`` and ``deltas/<name>.left.csv``
against the previous version's file, and its manifest entry and event carry their counts, keys and ``deltaFrom``.
"""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest

from batch_segment_postprocessor.export import deltas
from batch_segment_postprocessor.export import handler as export_handler
from tests.fakes import function_environment
from tests.fakes.environment import BUCKET, fake_aws
from batch_segment_postprocessor.plan import handler as plan_handler
from batch_segment_postprocessor.publish import handler as publish_handler
from tests.fakes.segment_jobs import export, job_event, manifest, read_audience, segment_job

POSTPROCESSOR = ("batch_segment_postprocessor.plan", "batch_segment_postprocessor.export",
                 "batch_segment_postprocessor.publish")
ACTION, COMEDY = 'ITEMS.GENRES = "Action"', 'ITEMS.GENRES = "Comedy"'
DELTA_FIELDS = ("joinedCount", "leftCount", "joinedKey", "leftKey", "deltaFrom")


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        function_environment.use(monkeypatch, *POSTPROCESSOR, AUDIENCE_BUCKET=BUCKET, SOURCE_BUCKET=BUCKET,
                                 EVENT_BUS_NAME=fake.bus_name, HOLD_THRESHOLD="off")  # every refresh published
        monkeypatch.setattr(export_handler, "_suppression", {})
        yield fake


def line(query: str, users: list[str]) -> str:
    return json.dumps({"input": {"itemAttributes": query}, "output": {"recommendedUsers": users}})


def run(aws, job: str, audiences: dict[str, list[str]]) -> dict[str, dict]:
    """One run of the genre-affinity solution whose output holds a line per query (query -> its users); its manifest
    segments by query, each with the event announcing it (``event``)."""
    prefix = f"batch/bingewatch/genre-affinity/{job}/output/"
    aws.events()  # what earlier runs put
    export(job_event(segment_job(aws, {"job_config.json.out": [line(q, u) for q, u in audiences.items()]}, job,
                                 output_prefix=prefix)))
    announced = {e["detail"]["segment"]["query"]: e["detail"]["segment"] for e in aws.events()
                 if e["detail-type"] == "Audience Segment Ready"}
    return {s["query"]: {**s, "event": announced.get(s["query"])} for s in manifest(aws, job)["segments"]}


def raw(aws, key: str) -> bytes:
    return aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def delta_keys(aws) -> list[str]:
    found = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="audiences/").get("Contents", [])
    return sorted(o["Key"] for o in found if "/deltas/" in o["Key"])


def users(n: int, start: int = 0, prefix: str = "u") -> list[str]:
    return [f"{prefix}{i:06d}" for i in range(start, start + n)]


def test_joined_and_left_are_the_users_of_one_version_not_in_the_other(aws, caplog):
    caplog.set_level(logging.INFO)
    before = users(60) + ['say "hi"', "a,b", "left,too"]
    after = users(70, start=20) + ['say "hi"', "a,b", "new,one", "line\nbreak"]  # quoted as RFC 4180 wants
    first = run(aws, "genre-segments-1", {ACTION: before, COMEDY: users(5, prefix="c")})
    second = run(aws, "genre-segments-2", {ACTION: after, COMEDY: users(5, prefix="c")})
    segment, previous = second[ACTION], first[ACTION]
    was, now = set(before), set(after)
    joined, left = [u for u in after if u not in was], [u for u in before if u not in now]
    assert len(joined) == 32 and len(left) == 21  # users 60..89 and two new; users 0..19 and one gone
    name = segment["name"]
    assert segment["joinedKey"] == f"audiences/genre-segments-2/deltas/{name}.joined.csv"
    assert segment["leftKey"] == f"audiences/genre-segments-2/deltas/{name}.left.csv"
    assert read_audience(aws, segment["joinedKey"]) == joined  # in this version's order
    assert read_audience(aws, segment["leftKey"]) == left  # in the previous version's order
    assert (segment["joinedCount"], segment["leftCount"]) == (32, 21)
    assert segment["deltaFrom"] == {"version": 1, "jobName": "genre-segments-1",
                                    "audienceKey": previous["audienceKey"], "userCount": len(before)}
    assert segment["deltaFrom"]["version"] == segment["previousVersion"]["version"]
    event = segment["event"]
    assert {k: event[k] for k in DELTA_FIELDS} == {k: segment[k] for k in DELTA_FIELDS}
    comedy = second[COMEDY]  # the same users: nobody joined or left
    assert (comedy["joinedCount"], comedy["leftCount"]) == (0, 0)
    logged = caplog.text + " ".join(str(vars(record)) for record in caplog.records)  # extra= fields too
    assert "audience deltas" in logged
    assert not [u for u in before + after if u in logged]  # counts and names, never a user ID


def test_a_user_erased_since_the_previous_version_is_in_no_left_file(aws, monkeypatch):
    """Erased (on the erased users' list) before the previous version's file was scrubbed: the user left, but is
    never written again."""
    run(aws, "genre-segments-1", {ACTION: users(10)})
    erased_list = function_environment.SHARED_REFERENCES["ERASED_USERS_URI"].removeprefix(f"s3://{BUCKET}/")
    aws.s3.put_object(Bucket=BUCKET, Key=erased_list, Body=b"User.UserId\nu000003\n")
    segment = run(aws, "genre-segments-2", {ACTION: users(8, start=4)})[ACTION]
    assert read_audience(aws, segment["leftKey"]) == users(3)  # u000003 left, and is not listed
    assert (segment["joinedCount"], segment["leftCount"]) == (2, 3)


def test_a_first_version_has_no_deltas(aws):
    first = run(aws, "genre-segments-1", {ACTION: users(10)})
    segment = first[ACTION]
    assert segment["version"] == 1
    assert {k: segment[k] for k in DELTA_FIELDS} == dict.fromkeys(DELTA_FIELDS)
    assert {k: segment["event"][k] for k in DELTA_FIELDS} == dict.fromkeys(DELTA_FIELDS)
    assert delta_keys(aws) == []


def test_an_empty_delta_is_a_file_with_the_header_alone(aws):
    run(aws, "genre-segments-1", {ACTION: users(10)})
    segment = run(aws, "genre-segments-2", {ACTION: list(reversed(users(10)))})[ACTION]
    assert (segment["joinedCount"], segment["leftCount"]) == (0, 0)
    assert raw(aws, segment["joinedKey"]) == raw(aws, segment["leftKey"]) == b"User.UserId\n"
    assert delta_keys(aws) == sorted([segment["joinedKey"], segment["leftKey"]])


def test_a_line_that_leaves_no_file_has_no_deltas(aws):
    run(aws, "genre-segments-1", {ACTION: users(10)})
    second = run(aws, "genre-segments-2", {ACTION: []})
    assert second[ACTION]["audienceKey"] is None
    assert {k: second[ACTION][k] for k in DELTA_FIELDS} == dict.fromkeys(DELTA_FIELDS)
    assert delta_keys(aws) == []


def test_a_user_listed_twice_in_the_previous_file_counts_once(aws):
    first = run(aws, "genre-segments-1", {ACTION: users(10)})
    # edited by hand: every user twice, CRLF line ends, blank rows, a quoted ID; and far more users than its count
    hand = users(10) + users(10) + ["", '"u000003"'] + users(3000, start=100) + users(3000, start=100)
    body = "\ufeffUser.UserId\r\n" + "".join(u + "\r\n" for u in hand)
    aws.s3.put_object(Bucket=BUCKET, Key=first[ACTION]["audienceKey"], Body=body.encode())
    now = users(5, start=5) + users(2, start=3098) + ["new"]
    segment = run(aws, "genre-segments-2", {ACTION: now})[ACTION]
    previous = set(users(10) + users(3000, start=100))
    left = read_audience(aws, segment["leftKey"])
    assert sorted(left) == sorted(previous - set(now)) and len(left) == len(set(left))
    assert read_audience(aws, segment["joinedKey"]) == ["new"]
    assert (segment["joinedCount"], segment["leftCount"]) == (1, len(previous) - 7)


def test_a_previous_version_whose_file_is_gone_gives_no_deltas(aws, caplog):
    first = run(aws, "genre-segments-1", {ACTION: users(10)})
    aws.s3.delete_object(Bucket=BUCKET, Key=first[ACTION]["audienceKey"])  # expired by the lifecycle rule
    segment = run(aws, "genre-segments-2", {ACTION: users(10, start=5)})[ACTION]
    assert segment["version"] == 2
    assert {k: segment[k] for k in DELTA_FIELDS} == dict.fromkeys(DELTA_FIELDS)
    assert "the previous version's file is gone" in caplog.text


def test_a_previous_file_that_is_no_audience_file_gives_no_deltas(aws):
    first = run(aws, "genre-segments-1", {ACTION: users(10)})
    aws.s3.put_object(Bucket=BUCKET, Key=first[ACTION]["audienceKey"], Body=b"User.UserId\n\xff\xfe\n")
    segment = run(aws, "genre-segments-2", {ACTION: users(10, start=5)})[ACTION]
    assert {k: segment[k] for k in DELTA_FIELDS} == dict.fromkeys(DELTA_FIELDS)
    assert delta_keys(aws) == []


def test_a_version_this_job_published_already_is_compared_with_the_one_it_replaced(aws):
    first = run(aws, "genre-segments-1", {ACTION: users(10)})
    second = run(aws, "genre-segments-2", {ACTION: users(10, start=5)})
    name = second[ACTION]["name"]
    assert deltas.previous_version(name, "genre-segments-2")["audienceKey"] == first[ACTION]["audienceKey"]
    assert deltas.previous_version(name, "genre-segments-3")["audienceKey"] == second[ACTION]["audienceKey"]
    assert deltas.previous_version("another-audience", "genre-segments-3") is None


def drop(aws, key: str, members: list[str], scope: str | None = None) -> dict:
    """A .out file of one ACTION line dropped at ``key`` and exported (its audiences named after ``scope``, if given,
    instead of its folder); its segment."""
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=(line(ACTION, members) + "\n").encode())
    plan = plan_handler.handler({"source": "aws.s3", "detail-type": "Object Created",
                                 "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}}, None)
    for item in json.loads(raw(aws, plan["itemsKey"])):
        export_handler.handler({**item, "audienceScope": scope or item["audienceScope"]}, None)
    publish_handler.handler(plan, None)
    (segment,) = manifest(aws, plan["jobName"])["segments"]
    return segment


def test_a_dropped_output_file_has_deltas_against_its_audiences_previous_version(aws):
    """Deltas of a dropped file's audience (named after its folder) as of a job's. A drop under another folder is
    another job; its work items name the first drop's audience here, as a later version of it would."""
    first = drop(aws, "manual/spring/job_config.json.out", users(10))
    second = drop(aws, "manual/summer/job_config.json.out", users(10, start=4), scope="spring")
    assert second["name"] == first["name"] and second["version"] == 2
    assert second["deltaFrom"] == {"version": 1, "jobName": "spring", "audienceKey": first["audienceKey"],
                                   "userCount": 10}
    assert read_audience(aws, second["joinedKey"]) == users(4, start=10)
    assert read_audience(aws, second["leftKey"]) == users(4)


def test_a_file_dropped_again_in_its_folder_is_no_new_version_and_has_no_deltas(aws):
    """The same folder is the same job: publishing it again keeps its version (versions.py), with no previous."""
    drop(aws, "manual/spring/job_config.json.out", users(10))
    again = drop(aws, "manual/spring/job_config.json.out", users(10, start=4))
    assert again["version"] == 1 and again["previousVersion"] is None
    assert {k: again[k] for k in DELTA_FIELDS} == dict.fromkeys(DELTA_FIELDS)


def test_deltas_of_long_lines_are_written_in_parts(aws):
    """Hundreds of thousands of users joining and leaving: each delta file over one 8 MiB part."""
    wide = "member-{:012d}-of-the-genre-affinity-audience"  # 46 bytes a row: 200,000 rows are 9.2 MB
    before = [wide.format(i) for i in range(230_000)]
    after = [wide.format(i) for i in range(200_000, 430_000)]
    run(aws, "genre-segments-1", {ACTION: before})
    segment = run(aws, "genre-segments-2", {ACTION: after})[ACTION]
    assert (segment["joinedCount"], segment["leftCount"]) == (200_000, 200_000)
    for key in (segment["joinedKey"], segment["leftKey"]):
        assert aws.s3.head_object(Bucket=BUCKET, Key=key)["ETag"].endswith('-2"')  # two parts
    was, now = set(before), set(after)
    assert read_audience(aws, segment["joinedKey"]) == [u for u in after if u not in was]
    assert read_audience(aws, segment["leftKey"]) == [u for u in before if u not in now]


TRICKY = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", '""', "last"]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 10_000])
def test_audience_files_read_in_chunks_of_any_size_give_their_user_ids(size):
    from shared.audiences import csv_rows, user_id_batches

    for body in ("User.UserId\n" + csv_rows(TRICKY), "\ufeffUser.UserId\r\n" + "\r\n".join(TRICKY[:1] * 3 + [""]),
                 "User.UserId\n" + csv_rows(users(50)).rstrip("\n")):  # as written; CRLF and a BOM; no last line end
        data = body.encode()
        read = [u for batch in user_id_batches(data[i:i + size] for i in range(0, len(data), size)) for u in batch]
        expected = [row[0] for row in csv.reader(io.StringIO(body.lstrip("\ufeff"), newline="")) if row and row[0]]
        assert read == expected[1:]

"""Erasure steps 3 and 4 (user_erasure/scrub): one S3 object less the erased users, its older versions holding one
deleted, against moto S3 with a versioned bucket.

Files are written as the library writes them (``shared.audiences.csv_rows`` for audience, control and delta files,
the post-processor's line shapes for ``.out``, the sample's training CSVs) and read back by the library's own readers
where it has them (``shared.audiences.user_ids``, the export's ``export_line``).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging

import pytest
from botocore.exceptions import ClientError

from batch_segment_postprocessor.export.segments import export_line
from shared import aws as lambda_clients
from shared.audiences import csv_rows, user_ids
from tests.fakes.environment import BUCKET, DATA, fake_aws
from tests.fakes.segment_jobs import ACTION, COMEDY
from user_erasure.scrub import erased as erased_module
from user_erasure.scrub import objects
from shared.erasure_file import NotAnErasureFile
from user_erasure.scrub.handler import handler
from shared.contract import ObjectChanged

VERSIONED = "erasure-versioned"
REQUEST = {"bucket": BUCKET, "key": "erasure/_work/r-1/users.csv"}  # the work file of an accepted request
SAMPLE = DATA / "train/bingewatch"


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        fake.s3.create_bucket(Bucket=VERSIONED)
        fake.s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        monkeypatch.setattr(erased_module, "_loaded", {})  # a cold container
        yield fake


def request(aws, users: list[str]) -> None:
    aws.s3.put_object(Bucket=REQUEST["bucket"], Key=REQUEST["key"], Body=("USER_ID\n" + csv_rows(users)).encode())


def put(aws, key: str, data: bytes, bucket: str = VERSIONED) -> str:
    """Writes a version of ``key``; its ID (in the versioned bucket)."""
    return aws.s3.put_object(Bucket=bucket, Key=key, Body=data).get("VersionId")


def scrub(key: str, bucket: str = VERSIONED) -> dict:
    return handler({"bucket": bucket, "key": key, "erased": REQUEST}, None)


def body(aws, key: str, bucket: str = VERSIONED, **version) -> bytes:
    return aws.s3.get_object(Bucket=bucket, Key=key, **version)["Body"].read()


def versions(aws, key: str, bucket: str = VERSIONED) -> list[str]:
    """The key's version IDs, newest first."""
    found = aws.s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return [v["VersionId"] for v in found if v["Key"] == key]


def without(data: bytes, users: set[str], column: int = 0) -> bytes:
    """The expected rewrite of a CSV without quotes: its lines whose user column is not erased, byte for byte."""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[:1] + [line for line in lines[1:] if line.decode().split(",")[column].strip() not in users])


# ------------------------------------------------------------------ training CSVs


def test_the_erased_users_rows_leave_the_interactions_every_other_byte_stays_and_the_old_version_goes(aws):
    sample = (SAMPLE / "interactions.csv").read_bytes()
    erased = {"u01669", "u00627", "u00001"}
    request(aws, sorted(erased) + ["never-seen"])
    old = put(aws, "train/bingewatch/interactions.csv", sample)
    result = scrub("train/bingewatch/interactions.csv")
    expected = without(sample, erased)
    rows = sample.count(b"\n") - 1
    assert result == {"key": "train/bingewatch/interactions.csv", "format": "training", "action": "rewritten",
                      "rows": rows, "users": rows, "removed": rows - (expected.count(b"\n") - 1),
                      "versionsDeleted": 1, "versionsSkipped": 0, "reason": None}
    assert result["removed"] > 3  # users with several interactions: every row goes
    assert body(aws, "train/bingewatch/interactions.csv") == expected
    (current,) = versions(aws, "train/bingewatch/interactions.csv")  # the version that held them is gone
    assert current != old


def test_users_csv_loses_the_users_rows_and_items_csv_is_unchanged(aws):
    request(aws, ["u00002", "u00005"])
    users, items = (SAMPLE / "users.csv").read_bytes(), (SAMPLE / "items.csv").read_bytes()
    put(aws, "train/bingewatch/users.csv", users)
    put(aws, "train/bingewatch/items.csv", items)
    assert scrub("train/bingewatch/users.csv")["removed"] == 2
    assert body(aws, "train/bingewatch/users.csv") == without(users, {"u00002", "u00005"})
    result = scrub("train/bingewatch/items.csv")
    assert (result["format"], result["action"], result["removed"]) == ("csv", "unchanged", 0)
    assert body(aws, "train/bingewatch/items.csv") == items and len(versions(aws, "train/bingewatch/items.csv")) == 1


def test_quoted_fields_a_bom_and_crlf_survive_byte_for_byte(aws):
    request(aws, ["gone", "gone,too", 'say "bye"'])
    data = ('\ufeffITEM_ID,"USER_ID",NOTE\r\n'
            'm1,kept,"a, note\r\nover two lines"\r\n'
            'm2,gone,plain\r\n'
            '"m,3","gone,too","x"\r\n'
            'm4,"kept,also","""quoted"""\r\n'
            '\r\n'
            'm5,"say ""bye""","line\nbreak"\r\n'
            'm6,gonе,cyrillic e: another user\r\n'
            'm7,gone,last line without a line end').encode()
    put(aws, "train/quoted/interactions.csv", data)
    result = scrub("train/quoted/interactions.csv")
    assert (result["rows"], result["users"], result["removed"]) == (7, 7, 4)
    assert body(aws, "train/quoted/interactions.csv") == (
        '\ufeffITEM_ID,"USER_ID",NOTE\r\n'
        'm1,kept,"a, note\r\nover two lines"\r\n'
        'm4,"kept,also","""quoted"""\r\n'
        '\r\n'
        'm6,gonе,cyrillic e: another user\r\n').encode()


def test_a_bom_crlf_blank_rows_and_a_last_line_without_a_line_end_survive_without_quotes(aws):
    request(aws, ["gone"])
    put(aws, "train/crlf/interactions.csv",
        b"\xef\xbb\xbfUSER_ID,ITEM_ID\r\nkept,m1\r\ngone,m2\r\n\r\nshort\r\ngone,m3")
    result = scrub("train/crlf/interactions.csv")
    assert (result["rows"], result["users"], result["removed"]) == (4, 4, 2)
    assert body(aws, "train/crlf/interactions.csv") == b"\xef\xbb\xbfUSER_ID,ITEM_ID\r\nkept,m1\r\n\r\nshort\r\n"


def test_a_file_without_an_erased_user_is_not_written(aws):
    request(aws, ["nobody-here"])
    sample = (SAMPLE / "users.csv").read_bytes()
    only = put(aws, "train/bingewatch/users.csv", sample)
    result = scrub("train/bingewatch/users.csv")
    assert (result["action"], result["rows"], result["removed"]) == ("unchanged", 2000, 0)
    assert versions(aws, "train/bingewatch/users.csv") == [only]


def test_an_unversioned_bucket_gets_the_rewrite_alone(aws):
    request(aws, ["u1"])
    put(aws, "audiences/job/a.csv", b"User.UserId\nu1\nu2\n", bucket=BUCKET)
    result = scrub("audiences/job/a.csv", bucket=BUCKET)
    assert (result["action"], result["versionsDeleted"]) == ("rewritten", 0)
    assert body(aws, "audiences/job/a.csv", bucket=BUCKET) == b"User.UserId\nu2\n"


# ------------------------------------------------------------------ audience, control and delta files


@pytest.mark.parametrize("key", ["audiences/genre-segments-2/genre-affinity-action-0a1b2c3d.csv",
                                 "audiences/genre-segments-2/control/genre-affinity-action-0a1b2c3d.csv",
                                 "audiences/genre-segments-2/deltas/genre-affinity-action-0a1b2c3d.left.csv"])
def test_audience_control_and_delta_files_lose_the_erased_users(aws, key):
    users = ["u1", "a,b", 'say "hi"', "line\nbreak", "u2", "u3"]
    request(aws, ["a,b", "line\nbreak", "u3"])
    put(aws, key, ("User.UserId\n" + csv_rows(users)).encode())
    result = scrub(key)
    assert (result["format"], result["action"], result["rows"], result["removed"]) == ("audience", "rewritten", 6, 3)
    written = body(aws, key)
    assert written == ("User.UserId\n" + csv_rows(["u1", 'say "hi"', "u2"])).encode()
    assert list(user_ids(written.splitlines(keepends=True))) == ["u1", 'say "hi"', "u2"]  # the library reads it


def test_a_file_left_with_its_header_alone_stays(aws):
    request(aws, ["u1", "u2"])
    put(aws, "audiences/job/a.csv", b"User.UserId\nu1\nu2\n")
    assert scrub("audiences/job/a.csv")["action"] == "rewritten"
    assert body(aws, "audiences/job/a.csv") == b"User.UserId\n"


def test_a_rewrite_keeps_the_tags_the_lifecycle_rule_reads_and_the_content_type(aws):
    request(aws, ["u1"])
    aws.s3.put_object(Bucket=VERSIONED, Key="audiences/job/a.csv", Body=b"User.UserId\nu1\nu2\n",
                      ContentType="text/csv; charset=utf-8", Tagging="segmentation-superseded=true")
    scrub("audiences/job/a.csv")
    tags = aws.s3.get_object_tagging(Bucket=VERSIONED, Key="audiences/job/a.csv")["TagSet"]
    assert tags == [{"Key": "segmentation-superseded", "Value": "true"}]
    assert aws.s3.head_object(Bucket=VERSIONED, Key="audiences/job/a.csv")["ContentType"] == "text/csv; charset=utf-8"


# ------------------------------------------------------------------ older versions


def test_noncurrent_versions_holding_an_erased_user_are_deleted_and_the_others_kept(aws):
    request(aws, ["u1"])
    key = "audiences/job/a.csv"
    holds = put(aws, key, b"User.UserId\nu1\nu9\n")
    clean = put(aws, key, b"User.UserId\nu8\n")
    other = put(aws, key, b"not,a,user,file\nu1\n")  # no user column: no user the library can find
    replaced = put(aws, key, b"User.UserId\nu7\nu1\n")
    result = scrub(key)
    assert (result["action"], result["versionsDeleted"]) == ("rewritten", 2)
    remaining = versions(aws, key)
    assert holds not in remaining and replaced not in remaining
    assert remaining[1:] == [other, clean]
    assert body(aws, key) == b"User.UserId\nu7\n"


def test_an_unchanged_file_still_loses_its_old_versions_that_hold_an_erased_user(aws):
    request(aws, ["u1"])
    key = "train/bingewatch/users.csv"
    old = put(aws, key, b"USER_ID,AGE\nu1,30\n")
    current = put(aws, key, b"USER_ID,AGE\nu2,40\n")
    result = scrub(key)
    assert (result["action"], result["versionsDeleted"]) == ("unchanged", 1)
    assert old not in versions(aws, key) and versions(aws, key) == [current]


def test_a_deleted_key_loses_its_old_versions_that_hold_an_erased_user(aws):
    request(aws, ["u1"])
    key = "audiences/job/a.csv"
    put(aws, key, b"User.UserId\nu1\n")
    kept = put(aws, key, b"User.UserId\nu2\n")
    aws.s3.delete_object(Bucket=VERSIONED, Key=key)  # a delete marker: no current version
    result = scrub(key)
    assert (result["action"], result["versionsDeleted"]) == ("absent", 1)
    assert versions(aws, key) == [kept]


def test_only_the_exact_key_is_swept_across_pages_of_versions(aws, monkeypatch):
    request(aws, ["u1"])
    key = "audiences/job/a.csv"
    old = [put(aws, key, b"User.UserId\nu1\n") for _ in range(3)]
    neighbour = put(aws, key + ".bak", b"User.UserId\nu1\n")
    put(aws, key, b"User.UserId\nu2\n")
    calls = []
    client = lambda_clients.client("s3")
    list_versions = client.list_object_versions

    def paged(**params):
        calls.append(params)
        return list_versions(**params, MaxKeys=1)

    monkeypatch.setattr(client, "list_object_versions", paged)
    assert scrub(key)["versionsDeleted"] == 3
    assert len(calls) >= 4 and not set(old) & set(versions(aws, key))
    assert versions(aws, key + ".bak") == [neighbour]


# ------------------------------------------------------------------ a concurrent change


def another_writer_puts(aws, operation: str, key: str, data: bytes) -> list:
    """Before the function's ``operation`` call, another writer puts a new version of ``key``."""
    written = []

    def put_first(**_):
        if not written:
            written.append(put(aws, key, data))

    lambda_clients.client("s3").meta.events.register(f"before-parameter-build.s3.{operation}", put_first)
    return written


def test_a_change_between_the_read_and_the_write_is_refused_and_nothing_is_lost(aws):
    request(aws, ["u1"])
    key = "audiences/job/a.csv"
    mine = put(aws, key, b"User.UserId\nu1\nu2\n")
    theirs = another_writer_puts(aws, "PutObject", key, b"User.UserId\nu3\n")
    with pytest.raises(ObjectChanged, match="changed since it was read"):
        scrub(key)
    assert versions(aws, key) == [theirs[0], mine]  # theirs is current, nothing written over it, nothing deleted
    assert body(aws, key) == b"User.UserId\nu3\n"


def test_a_multipart_rewrite_is_conditional_too_and_a_refused_one_leaves_no_upload(aws, monkeypatch):
    """moto does not check ``IfMatch`` on CompleteMultipartUpload: a hook does what S3 does."""
    monkeypatch.setattr(objects, "MultipartWriter", functools.partial(objects.MultipartWriter, part_size=5 << 20))
    request(aws, ["u1"])
    key = "audiences/job/big.csv"
    data = b"User.UserId\nu1\n" + b"".join(b"user-%09d\n" % i for i in range(400_000))  # 6 MB: two parts
    mine = put(aws, key, data)
    theirs = another_writer_puts(aws, "CompleteMultipartUpload", key, b"User.UserId\nu3\n")
    conditions = []

    def check_if_match(params, **_):
        conditions.append(params.get("IfMatch"))
        current = aws.s3.head_object(Bucket=VERSIONED, Key=key)["ETag"]
        if params.get("IfMatch") != current:
            raise ClientError({"Error": {"Code": "PreconditionFailed", "Message": "At least one of the pre-conditions "
                                         "you specified did not hold"}}, "CompleteMultipartUpload")

    lambda_clients.client("s3").meta.events.register("before-parameter-build.s3.CompleteMultipartUpload",
                                                     check_if_match)
    with pytest.raises(ObjectChanged):
        scrub(key)
    assert conditions == [aws.s3.head_object(Bucket=VERSIONED, Key=key, VersionId=mine)["ETag"]]
    assert versions(aws, key) == [theirs[0], mine]
    assert aws.s3.list_multipart_uploads(Bucket=VERSIONED).get("Uploads", []) == []


# ------------------------------------------------------------------ raw batch segment output


def output_file(*lines) -> bytes:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()


def exported_users(line: bytes) -> list[str]:
    """The users the export would read from a line."""
    written = []
    result = export_line(io.BytesIO(line), line=1, audience=written.append, control=len, salt=b"s",
                         reopen=lambda: io.BytesIO(line))
    assert result.error is None
    return [row[0] for row in csv.reader(io.StringIO("".join(written)))][1:]


def test_raw_output_loses_the_erased_users_in_both_forms_and_a_failed_line_stays(aws):
    request(aws, ["u2", "u,5", "101"])
    failed = {"input": {"itemAttributes": 'ITEMS.GENRES = "Drama"'}, "error": "Personalize could not score it"}
    numbers = {"input": {"itemId": "m1"}, "output": {"recommendedUsers": [101, 102, None, ""]}}
    key = "batch/bingewatch/genre-affinity/job-1/output/job_config.json.out"
    put(aws, key, b"\xef\xbb\xbf" + output_file(ACTION, COMEDY, failed, numbers))
    result = scrub(key)
    assert (result["format"], result["action"], result["rows"], result["users"], result["removed"]) == (
        "batch-output", "rewritten", 4, 8, 3)
    written = body(aws, key)
    assert written.startswith(b"\xef\xbb\xbf{")
    lines = written[3:].splitlines(keepends=True)
    assert [json.loads(line) for line in lines] == [
        {**ACTION, "output": {"recommendedUsers": ["u1", "u3"]}},
        {**COMEDY, "output": {"usersList": ["u4", "u4"]}},
        failed,
        {**numbers, "output": {"recommendedUsers": [102, None, ""]}}]
    assert exported_users(lines[0]) == ["u1", "u3"] and exported_users(lines[1]) == ["u4"]
    assert len(versions(aws, key)) == 1


def test_raw_output_without_an_erased_user_is_not_written(aws):
    request(aws, ["nobody"])
    key = "batch/job-1/output/job_config.json.out"
    only = put(aws, key, output_file(ACTION, COMEDY))
    result = scrub(key)
    assert (result["action"], result["rows"], result["users"]) == ("unchanged", 2, 6)
    assert versions(aws, key) == [only]


def test_raw_output_that_is_not_json_lines_is_skipped_with_its_reason(aws):
    request(aws, ["u1"])
    key = "batch/job-1/output/broken.json.out"
    only = put(aws, key, output_file(ACTION) + b'{"output": {"recommendedUsers": ["u1", \n')
    result = scrub(key)
    assert (result["action"], result["format"]) == ("skipped", "batch-output")
    assert result["reason"].startswith("not JSON Lines") and "u1" not in result["reason"]
    assert versions(aws, key) == [only]


# ------------------------------------------------------------------ what is not scrubbed


@pytest.mark.parametrize("key", ["audiences/job/manifest.json", "audiences/job/_work/queries/x.json",
                                 "pinpoint/exports/endpoints.gz", "train/bingewatch/config.json", "README"])
def test_other_files_are_skipped_with_their_reason_never_guessed_at(aws, key):
    request(aws, ["u1"])
    only = put(aws, key, b'{"users": ["u1"]}')
    result = scrub(key)
    assert (result["format"], result["action"], result["versionsDeleted"]) == ("other", "skipped", 0)
    assert result["reason"] and versions(aws, key) == [only]


def test_a_request_file_without_the_user_id_header_is_refused(aws):
    aws.s3.put_object(Bucket=REQUEST["bucket"], Key=REQUEST["key"], Body=b"u1\nu2\n")
    put(aws, "audiences/job/a.csv", b"User.UserId\nu1\nu2\n")
    with pytest.raises(NotAnErasureFile) as refused:
        scrub("audiences/job/a.csv")
    assert "u1" not in str(refused.value)


def test_a_warm_container_reads_the_request_again_once_it_changed(aws):
    put(aws, "audiences/job/a.csv", b"User.UserId\nu1\nu2\n")
    request(aws, ["nobody"])
    assert scrub("audiences/job/a.csv")["action"] == "unchanged"
    request(aws, ["u2"])
    assert scrub("audiences/job/a.csv")["action"] == "rewritten"


def test_no_log_record_holds_an_erased_user(aws, caplog):
    caplog.set_level(logging.INFO)
    erased = ["u1", "user-secret-7", "u,5"]
    request(aws, erased)
    put(aws, "audiences/job/a.csv", ("User.UserId\n" + csv_rows(erased + ["u9"])).encode())
    put(aws, "train/t/interactions.csv", b"USER_ID,ITEM_ID\nuser-secret-7,m1\n")
    put(aws, "batch/job/out/x.json.out", output_file(ACTION, COMEDY))
    put(aws, "batch/job/out/broken.json.out", b'{"output": {"usersList": ["u1", ')
    for key in ("audiences/job/a.csv", "train/t/interactions.csv", "batch/job/out/x.json.out",
                "batch/job/out/broken.json.out", "audiences/job/manifest.json"):
        scrub(key)
    assert [r.message for r in caplog.records if r.name == "user_erasure.scrub.handler"] == ["scrubbed"] * 5
    logged = caplog.text + " ".join(str(vars(record)) for record in caplog.records)  # extra= fields too
    assert not [user for user in erased if user in logged]


# ------------------------------------------------------------------ the workflow's sweep


class NoTimeLeft:
    """A Lambda context with no time left: each invocation does one key (the first always runs)."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 0


def test_the_sweep_scrubs_every_key_of_each_area_across_invocations_and_counts_them(aws, monkeypatch):
    """Keys come from the versions listing: a file deleted since (only older versions left) is swept too."""
    from shared import budget as budget_module

    request(aws, ["u1", "u2"])
    put(aws, "train/a/interactions.csv", b"USER_ID,ITEM_ID\nu1,m1\nu3,m2\n")
    put(aws, "train/a/items.csv", b"ITEM_ID,GENRES\nm1,Action\n")
    put(aws, "train/a/odd.csv", b"USER_ID,User.UserId\nu1,u1\n")  # two user columns: left as it is, counted
    put(aws, "audiences/job/x.csv", ("User.UserId\n" + csv_rows(["u2", "u4"])).encode())
    put(aws, "audiences/job/gone.csv", ("User.UserId\n" + csv_rows(["u1"])).encode())
    aws.s3.delete_object(Bucket=VERSIONED, Key="audiences/job/gone.csv")
    areas = [{"bucket": VERSIONED, "prefix": "train/"}, {"bucket": VERSIONED, "prefix": "audiences/"}]
    monkeypatch.setattr(budget_module, "RESERVE_SECONDS", 0)
    answers, cursor = [], None
    while not answers or not answers[-1]["done"]:
        event = {"action": "sweep", "areas": areas, "erased": REQUEST, **({"cursor": cursor} if cursor else {})}
        answers.append(handler(event, NoTimeLeft()))
        cursor = answers[-1]["cursor"]
    assert len(answers) == 6  # a key an invocation; the last one finds the listing at its end
    assert answers[-1]["counts"] == {"files": 5, "rewritten": 2, "unchanged": 1, "skipped": 1, "absent": 1,
                                     "unreadable": 1, "rowsRemoved": 2, "versionsDeleted": 3, "versionsSkipped": 0}
    assert body(aws, "train/a/interactions.csv") == b"USER_ID,ITEM_ID\nu3,m2\n"
    assert versions(aws, "audiences/job/gone.csv") == []  # its one version held u1

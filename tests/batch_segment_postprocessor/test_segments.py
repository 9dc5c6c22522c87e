"""Streaming a batch segment output line into audience CSV: shapes, errors, odd IDs, holdout, suppression."""

from __future__ import annotations

import csv
import dataclasses
import importlib.machinery
import io
import json
import os
import subprocess
import sys
import tracemalloc
import types
from pathlib import Path

import ijson
import pytest

from shared.s3_stream import line_ranges
from shared.audiences import csv_rows
from batch_segment_postprocessor.export import segments
from batch_segment_postprocessor.export.segments import (
    AUDIENCE_HEADER,
    export_line,
    holdout_salt,
    in_control_group,
    load_suppression,
    segment_name,
)


def run(data_line, **kwargs):
    """``export_line`` over one line (a dict, JSON text or bytes); the result and the rows written."""
    audience, control = io.StringIO(), io.StringIO()
    data = json.dumps(data_line) if not isinstance(data_line, (str, bytes)) else data_line
    data = data.encode() if isinstance(data, str) else data
    result = export_line(io.BytesIO(data), line=kwargs.pop("line", 1), audience=audience.write, control=control.write,
                         salt=kwargs.pop("salt", b"salt"), capacity=kwargs.pop("capacity", 100_000),
                         reopen=lambda: io.BytesIO(data), **kwargs)
    return result, read_csv(audience.getvalue()), read_csv(control.getvalue())


def read_csv(text):
    if not text:
        return []
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [AUDIENCE_HEADER]
    return [r[0] for r in rows[1:]]


USERS = [f"u{i}" for i in range(50)]


@pytest.mark.parametrize("line, kind, query", [
    ({"input": {"itemAttributes": 'ITEMS.GENRES = "Action"'}, "output": {"recommendedUsers": USERS}},
     "itemAttributes", 'ITEMS.GENRES = "Action"'),
    ({"itemAttributes": 'ITEMS.GENRES = "Action"', "output": {"recommendedUsers": USERS}},
     "itemAttributes", 'ITEMS.GENRES = "Action"'),
    ({"input": {"itemAttributes": 'ITEMS.GENRES = "Action"'}, "output": {"usersList": USERS}},
     "itemAttributes", 'ITEMS.GENRES = "Action"'),
    ({"input": {"itemId": "105"}, "output": {"recommendedUsers": USERS}}, "itemId", "105"),
    ({"output": {"usersList": USERS}, "input": {"itemId": "105"}}, "itemId", "105"),
])
def test_every_output_shape_in_the_wild_is_read(line, kind, query):
    result, audience, control = run(line)
    assert (result.query_kind, result.query, result.error) == (kind, query, None)
    assert audience == USERS and result.users == 50 and control == []


def test_a_line_personalize_marked_failed_is_an_error_with_its_line_number():
    result, _, _ = run({"input": {"itemId": "9"}, "error": "Item not found in training data"}, line=7)
    assert result.error == "line 7: Personalize reported: Item not found in training data"


def test_a_line_that_is_not_json_is_an_error_with_its_line_number():
    result, _, _ = run(b'{"input": {"itemId": "9"}, "output": {"recommendedUsers": ["a", "b"', line=3)
    assert result.error.startswith("line 3: not valid JSON")


def test_a_line_without_a_query_is_an_error():
    result, _, _ = run({"output": {"recommendedUsers": ["a"]}}, line=2)
    assert result.error == "line 2: no itemAttributes or itemId query found"


def test_empty_results_are_counted_not_an_error():
    result, audience, _ = run({"input": {"itemId": "1"}, "output": {"recommendedUsers": []}})
    assert result.error is None and result.users == 0 and audience == []


def test_duplicate_users_within_a_line_are_written_once_and_counted():
    result, audience, _ = run({"input": {"itemId": "1"}, "output": {"recommendedUsers": ["a", "b", "a", "c", "b"]}})
    assert audience == ["a", "b", "c"] and result.duplicates == 2 and result.users == 3


def test_duplicates_across_batches_are_found():
    users = [f"u{i}" for i in range(20_000)] + ["u3", "u19999"]
    result, audience, _ = run({"input": {"itemId": "1"}, "output": {"recommendedUsers": users}})
    assert result.duplicates == 2 and len(audience) == 20_000


def test_each_user_is_kept_where_it_first_appears_across_batches_in_order():
    batch = segments.BATCH
    firsts = [f"u{i}" for i in range(3 * batch)]
    # repeats in the same batch, in the next ones, and at the very end, interleaved with new users
    users = firsts[:batch] + ["u5", "u0"] + firsts[batch:2 * batch] + firsts[3:9] + firsts[2 * batch:] + ["u0", "u1"]
    result, audience, _ = run({"input": {"itemId": "1"}, "output": {"recommendedUsers": users}},
                              capacity=len(firsts))
    assert audience == firsts and result.users == len(firsts) and result.duplicates == len(users) - len(firsts)


def test_duplicates_holdout_and_suppression_together_each_count_once():
    users = [f"user-{i}" for i in range(30_000)]
    line = {"input": {"itemId": "1"}, "output": {"recommendedUsers": users + users[:5_000]}}
    suppression = load_suppression(f"{u}\n" for u in users[::10])
    result, audience, control = run(line, holdout_percent=10, salt=holdout_salt("job", 1), suppression=suppression)
    listed = set(users[::10])
    allowed = [u for u in users if u not in listed]
    salt = holdout_salt("job", 1)
    assert control == [u for u in allowed if in_control_group(u, salt, 1000)]
    assert audience == [u for u in allowed if not in_control_group(u, salt, 1000)]
    assert (result.duplicates, result.suppressed, result.control, result.users) == \
        (5_000, 3_000, len(control), len(audience))
    assert 0.08 < len(control) / len(allowed) < 0.12


ODD_IDS = ["plain", "with,comma", 'with "quotes"', "naïve-Ünïcode-用户", "line\nbreak", "tab\tand\r\nCRLF", "'single'"]


def test_user_ids_with_commas_quotes_unicode_and_escaped_newlines_survive_the_round_trip():
    line = json.dumps({"input": {"itemId": "1"}, "output": {"recommendedUsers": ODD_IDS}}, ensure_ascii=True)
    assert "\n" not in line  # JSON Lines: the newline inside an ID is escaped
    result, audience, _ = run(line)
    assert audience == ODD_IDS and result.users == len(ODD_IDS)


def test_csv_rows_quotes_only_when_needed():
    assert csv_rows(["a", "b"]) == "a\nb\n"
    assert csv_rows(["a,b", 'c"d']) == '"a,b"\n"c""d"\n'
    assert csv_rows([]) == ""


def test_holdout_is_deterministic_and_close_to_its_share():
    users = [f"user-{i}" for i in range(40_000)]
    line = {"input": {"itemId": "1"}, "output": {"recommendedUsers": users}}
    first, audience, control = run(line, holdout_percent=20, salt=holdout_salt("job", 1))
    again, audience2, control2 = run(line, holdout_percent=20, salt=holdout_salt("job", 1))
    assert (audience, control) == (audience2, control2)
    assert first.control == len(control) and first.users == len(audience) == 40_000 - len(control)
    assert 0.19 < len(control) / 40_000 < 0.21
    assert set(audience).isdisjoint(control)
    other_segment = run(line, holdout_percent=20, salt=holdout_salt("job", 2))[2]
    assert set(other_segment) != set(control)  # a per-segment salt: not the same people held out everywhere


def test_holdout_percent_must_be_sensible():
    with pytest.raises(ValueError, match="from 0 to 50"):
        run({"input": {"itemId": "1"}, "output": {"recommendedUsers": ["a"]}}, holdout_percent=80)


def test_in_control_group_depends_on_user_and_salt_only():
    assert in_control_group("u1", b"s", 5000) == in_control_group("u1", b"s", 5000)
    assert in_control_group("u1", b"s", 10_000) is True and in_control_group("u1", b"s", 0) is False


def test_control_flags_are_in_control_group_of_each_user():
    users = ["", "u1", "é", "a,b", *(f"user-{i}" for i in range(5000))]
    for salt, threshold in ((holdout_salt("job", 1), 1000), (b"s", 5000), (holdout_salt("job", 2), 0), (b"", 10_000)):
        assert segments.control_flags(users, salt, threshold) == [in_control_group(u, salt, threshold) for u in users]
    assert segments.control_flags([], b"s", 1000) == []


def test_without_leaves_out_exactly_the_listed_users_in_order():
    listed = [f"out-{i}" for i in range(3000)]
    suppression = load_suppression(f"{u}\n" for u in listed)
    users = [f"out-{i}" if i % 7 == 0 else f"in-{i}" for i in range(20_000)]  # some listed, most not
    for batch in (users, users[:1], users[1:2], [], listed[:1] * 3, users[:5000] + listed[::50]):
        assert suppression.without(batch) == [u for u in batch if u not in suppression]
        assert [u for u in batch if u not in suppression] == [u for u in batch if u not in set(listed)]


def test_suppressed_users_are_removed_and_counted():
    suppression = load_suppression(["User.UserId\n", "u1\n", "u3\r\n", "\n", "nobody\n"])
    result, audience, _ = run({"input": {"itemId": "1"}, "output": {"recommendedUsers": ["u0", "u1", "u2", "u3"]}},
                              suppression=suppression)
    assert audience == ["u0", "u2"] and result.suppressed == 2


def test_segment_names_are_readable_unique_deterministic_and_safe():
    a = segment_name("bingewatch-genre-affinity-50af1611", "itemAttributes", 'ITEMS.GENRES = "Sci-Fi"')
    b = segment_name("bingewatch-genre-affinity-50af1611", "itemAttributes", 'ITEMS.GENRES = "Sci Fi"')
    assert a.startswith("bingewatch-genre-affinity-50af1611-genres-sci-fi-")
    assert a != b and a == segment_name("bingewatch-genre-affinity-50af1611", "itemAttributes",
                                        'ITEMS.GENRES = "Sci-Fi"')
    long = segment_name("j" * 80, "itemAttributes", " AND ".join(f'ITEMS.F{i} = "{"v" * 30}"' for i in range(9)))
    assert len(long) <= 100
    odd = segment_name("job", "itemId", "ß/../ 漢字?*")
    assert all(c.isalnum() and c.isascii() or c == "-" for c in odd) and odd.startswith("job-item-")


def test_line_ranges_handle_chunk_boundaries_blank_lines_and_no_final_newline():
    data = b'{"a": 1}\n\n  \n{"b": 2}\n{"c": 3}'
    for size in (1, 2, 3, 7, 100):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        ranges = list(line_ranges(iter(chunks)))
        assert [(n, data[s:e]) for n, s, e in ranges] == [(1, b'{"a": 1}'), (4, b'{"b": 2}'), (5, b'{"c": 3}')]


def test_more_users_than_the_job_declared_still_terminates_and_dedupes():
    users = [f"u{i}" for i in range(5000)] + ["u7"]
    result, audience, _ = run({"input": {"itemId": "1"}, "output": {"recommendedUsers": users}}, capacity=10)
    assert len(audience) == 5000 and result.duplicates == 1


def test_numeric_user_ids_are_written_as_text():
    result, audience, _ = run({"input": {"itemId": "1"}, "output": {"recommendedUsers": [101, 102, 101]}})
    assert audience == ["101", "102"] and result.duplicates == 1


def test_numeric_ids_with_fractions_or_signs_are_written_as_their_text():
    result, audience, _ = run(b'{"input": {"itemId": "1"}, "output": {"recommendedUsers": [7, -3, 2.50, "7"]}}')
    assert audience == ["7", "-3", "2.50"] and result.duplicates == 1 and result.invalid == 0


# ---------------------------------------------------------------- one behaviour whatever the line's shape

BIG = [f"user-{i:06d}" for i in range(8_000)]  # 104 KB of IDs: what follows them is past the first 64 KB
BIG_JSON = ", ".join(json.dumps(u) for u in BIG)
QUERY_KEYS = {"input", "itemAttributes", "itemId"}
INPUT = ("input", json.dumps({"itemId": "m1"}))


def users(*ids) -> tuple[str, str]:
    return "output", json.dumps({"recommendedUsers": list(ids)})


def line_of(pairs: list[tuple[str, str]], query_last: bool, ending: str = "}") -> bytes:
    """A line from (key, JSON text) pairs in their order, then ``ending``; ``query_last`` moves the query's pairs
    after the others (what sent the old export down its slow path)."""
    if query_last:
        pairs = [p for p in pairs if p[0] not in QUERY_KEYS] + [p for p in pairs if p[0] in QUERY_KEYS]
    return ("{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + ending).encode()


FAILED = {"users": 0, "control": 0, "suppressed": 0, "duplicates": 0, "invalid": 0}
SHAPES = {  # name: (the line's pairs, what the export makes of it (rows: audience and control together), ending)
    "string IDs": ([INPUT, users("a", "b", "a")], {"rows": ["a", "b"], "duplicates": 1}),
    "numeric IDs, as their text": (
        [INPUT, users(101, "a", 102.5, 101, -7)], {"rows": ["101", "a", "102.5", "-7"], "duplicates": 1}),
    "null, boolean, object, array and empty IDs: skipped and counted": (
        [INPUT, users("a", None, True, False, {"id": "b"}, ["c"], "", "d")], {"rows": ["a", "d"], "invalid": 6}),
    "non-string IDs after 64 KB of strings": (
        [INPUT, users(*BIG, 5, None, "")], {"rows": BIG + ["5"], "invalid": 2}),
    "an error after 64 KB of users": (
        [INPUT, users(*BIG), ("error", json.dumps("Item not found"))],
        {**FAILED, "rows": [], "error": "line 1: Personalize reported: Item not found"}),
    "an error inside output, after 64 KB of users": (
        [INPUT, ("output", json.dumps({"recommendedUsers": BIG, "error": "Timed out"}))],
        {**FAILED, "rows": [], "error": "line 1: Personalize reported: Timed out"}),
    "an errorMessage after 64 KB of users": (
        [INPUT, users(*BIG), ("errorMessage", json.dumps("Throttled"))],
        {**FAILED, "rows": [], "error": "line 1: Personalize reported: Throttled"}),
    "an error that is not text": (
        [INPUT, users(*BIG), ("error", json.dumps({"code": 500}))],
        {**FAILED, "rows": [], "error": "line 1: Personalize reported an error"}),
    "an empty error is none": ([INPUT, users("a"), ("error", "null"), ("errorMessage", '""')], {"rows": ["a"]}),
    "a null error after 64 KB of users": ([INPUT, users(*BIG), ("error", "null")], {"rows": BIG}),
    "a null error, then another field": ([INPUT, users(*BIG), ("error", "null"), ("v", "2")], {"rows": BIG}),
    "a null error inside output": (
        [INPUT, ("output", json.dumps({"recommendedUsers": BIG, "error": None}))], {"rows": BIG}),
    "a user called error is a user": ([INPUT, users("error", '"error"')], {"rows": ["error", '"error"']}),
    "two different queries": (
        [INPUT, users("a"), ("itemId", json.dumps("m2"))],
        {**FAILED, "rows": [], "error": "line 1: more than one query"}),
    "the same query twice is one query": ([INPUT, users("a"), ("itemId", json.dumps("m1"))], {"rows": ["a"]}),
    "two user lists": (
        [INPUT, ("output", json.dumps({"recommendedUsers": ["a"], "usersList": ["b", "a"]}))],
        {**FAILED, "rows": [], "error": "line 1: more than one user list"}),
    "one user list twice": (
        [INPUT, ("output", '{"recommendedUsers": ["a"], "recommendedUsers": ["b"]}')],
        {**FAILED, "rows": [], "error": "line 1: more than one user list"}),
    "other fields after 64 KB of users": (
        [INPUT, ("output", json.dumps({"recommendedUsers": BIG, "scores": [1, 2]})), ("model", '{"v": 2}')],
        {"rows": BIG}),
    "user IDs with colons and quotes": ([INPUT, users("urn:a", 'b": 1', "c:")], {"rows": ["urn:a", 'b": 1', "c:"]}),
    "an error after a user list in which another query": (
        [INPUT, users(*BIG, {"itemId": "x"}), ("error", json.dumps("late"))],
        {**FAILED, "rows": [], "error": "line 1: Personalize reported: late"}),
    "a query-like key elsewhere is not the query": (
        [("input", json.dumps({"context": {"itemId": "x"}, "itemId": "m1"})), users("a")], {"rows": ["a"]}),
    "an escaped key": ([("input", '{"\\u0069temId": "m1"}'), users("a")], {"rows": ["a"]}),
    "invalid JSON after 64 KB of users": (  # at the end, so that the query is read in both shapes
        [INPUT, users(*BIG)], {**FAILED, "rows": [], "error": "line 1: not valid JSON (IncompleteJSONError)"},
        ', "x" "y"}'),
}


def outcome(data: bytes, **kwargs) -> dict:
    result, audience, control = run(data, holdout_percent=20, **kwargs)
    return {**dataclasses.asdict(result), "audience rows": audience, "control rows": control}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_line_gives_the_same_result_whether_its_query_comes_first_or_last(shape):
    pairs, expected, *ending = SHAPES[shape]
    first = outcome(line_of(pairs, False, *ending))
    assert outcome(line_of(pairs, True, *ending)) == first
    assert outcome(line_of(pairs, False, *ending), fast=False) == first  # event by event: the reference
    assert outcome(line_of(pairs, True, *ending), fast=False) == first
    assert (first["query_kind"], first["query"]) == ("itemId", "m1")
    rows = first.pop("audience rows") + first.pop("control rows")
    assert sorted(rows) == sorted(expected["rows"]) and first["users"] + first["control"] == len(rows)
    counts = {"duplicates": 0, "invalid": 0, "error": None, **expected}
    assert {k: first[k] for k in counts if k != "rows"} == {k: v for k, v in counts.items() if k != "rows"}


@pytest.mark.parametrize("read_size", [3, 7, 4096])
@pytest.mark.parametrize("shape", ["an error after 64 KB of users", "other fields after 64 KB of users",
                                   "an errorMessage after 64 KB of users", "non-string IDs after 64 KB of strings",
                                   "a null error after 64 KB of users", "a null error, then another field"])
def test_the_fast_path_agrees_however_the_line_is_cut_into_reads(monkeypatch, shape, read_size):
    pairs, _, *ending = SHAPES[shape]
    data = line_of(pairs, False, *ending)
    reference = outcome(data, fast=False)
    monkeypatch.setattr(segments, "READ_SIZE", read_size)
    assert outcome(data) == reference


def reads(data: bytes) -> int:
    """How often ``export_line`` reads the line."""
    opened = []

    def reopen():
        opened.append(1)
        return io.BytesIO(data)

    export_line(io.BytesIO(data), line=1, audience=len, control=len, salt=b"s", reopen=reopen)
    return 1 + len(opened)


@pytest.mark.parametrize("shape, query_last, expected", [
    ("string IDs", False, 1), ("non-string IDs after 64 KB of strings", False, 1),
    ("string IDs", True, 1),  # the reference from the start
    ("a null error after 64 KB of users", False, 1),  # {"input": …, "output": {…}, "error": null}: none to check
    ("an error after 64 KB of users", False, 2), ("other fields after 64 KB of users", False, 2),
    ("a null error, then another field", False, 2), ("a null error inside output", False, 2),
    ("null, boolean, object, array and empty IDs: skipped and counted", False, 2),  # the object is a key to vouch for
])
def test_a_usual_line_is_read_once_and_only_what_the_fast_path_cannot_vouch_for_twice(shape, query_last, expected):
    pairs, _, *ending = SHAPES[shape]
    assert reads(line_of(pairs, query_last, *ending)) == expected


def test_a_key_is_noticed_however_the_reads_cut_it():
    data = b'["a", "b:c"], "error" \n :"x"}'
    for size in range(1, len(data) + 1):
        watch = segments._KeyWatch(segments._Replay(b"", io.BytesIO(data)), skip=1)
        while watch.read(size):
            pass
        assert watch.keys >= 1 and not watch.vouches(), size
    watch = segments._KeyWatch(segments._Replay(b"", io.BytesIO(b'"x": ["a:b", "c"]}}')), skip=6)
    while watch.read(100):
        pass
    assert watch.keys == 0 and watch.vouches()  # the key before the list's start, the colon in a string: no key
    ending = b'["a", "b"]}, "error": null}\r\n'
    for size in range(1, len(ending) + 1):
        watch = segments._KeyWatch(segments._Replay(b"", io.BytesIO(ending)), skip=1)
        while watch.read(size):
            pass
        assert watch.keys == 1 and watch.vouches(), size


def test_a_line_that_breaks_after_some_users_were_written_reports_none():
    ids = [f"u{i}" for i in range(20_000)]  # two batches go to the writers before the break
    broken = '{"input": {"itemId": "9"}, "output": {"recommendedUsers": [' + ", ".join(json.dumps(u) for u in ids)
    result, _, _ = run(broken + ', "x" "y"]}}', holdout_percent=10, suppression=load_suppression(["u1", "u2"]))
    assert result.error == "line 1: not valid JSON (IncompleteJSONError)" and result.query == "9"
    assert (result.users, result.control, result.suppressed, result.duplicates) == (0, 0, 0, 0)
    assert result.invalid == 0


def test_a_query_the_caller_refuses_stops_the_line_with_its_reason():
    seen = []

    def refuse(kind, query):
        seen.append((kind, query))
        return "line 4: the same query as line 1 of x.out, which has its audience; skipped"

    result, _, _ = run({"input": {"itemId": "9"}, "output": {"recommendedUsers": ["a", "b"]}}, line=4,
                       on_query=refuse)
    assert seen == [("itemId", "9")] and result.error.startswith("line 4: the same query as line 1")
    assert (result.users, result.query) == (0, "9")


# ---------------------------------------------------------------- byte-order mark


def test_line_ranges_start_after_a_byte_order_mark():
    for data, expected in ((b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n', [(1, b'{"a": 1}'), (2, b'{"b": 2}')]),
                           (b'\xef\xbb\xbf\n{"b": 2}', [(2, b'{"b": 2}')]),
                           (b'\xef\xbb\xbf', [])):
        for size in (1, 2, 3, 4, 100):
            chunks = [data[i:i + size] for i in range(0, len(data), size)]
            assert [(n, data[s:e]) for n, s, e in line_ranges(iter(chunks))] == expected


def test_a_byte_order_mark_elsewhere_is_data():
    data = b'{"a": 1}\n\xef\xbb\xbf{"b": 2}\n'
    assert [data[s:e] for _, s, e in line_ranges(iter([data]))] == [b'{"a": 1}', b'\xef\xbb\xbf{"b": 2}']


# ---------------------------------------------------------------- suppression list


def test_the_suppression_list_holds_about_eleven_bytes_per_id():
    ids = [f"opted-out-{i:07d}" for i in range(200_000)]
    tracemalloc.start()
    try:
        held = load_suppression(f"{u}\n" for u in ids)
        size = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(held) == len(ids) and size / len(ids) < 13.5  # 8-byte fingerprints, bitmap, ranges: 10.5 to 13.5


def test_every_suppressed_id_is_removed_and_no_other():
    held = load_suppression([f"s{i}\n" for i in range(50_000)] + ["s7\n"])  # a repeated line counts once
    assert len(held) == 50_000 and "s49999" in held and "s50000" not in held
    ids = [f"s{i}" for i in range(0, 100_000, 3)]
    result, audience, _ = run({"input": {"itemId": "1"}, "output": {"recommendedUsers": ids}}, suppression=held)
    assert audience == [u for u in ids if int(u[1:]) >= 50_000] and result.suppressed == len(ids) - len(audience)


# ---------------------------------------------------------------- the parser's C backend


def test_the_export_parses_with_ijsons_c_backend():
    assert ijson.backend == segments.C_BACKEND == "yajl2_c"
    segments.require_c_backend(ijson)  # what importing the module did


def test_ijsons_python_backend_fails_the_export_at_import_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(ijson, "backend", "python")
    with pytest.raises(ImportError, match=r"needs ijson's C backend \(yajl2_c\), not its python one, which parses "
                                          r"about 16 times slower: ijson chose its python backend"):
        segments.require_c_backend(ijson)


def test_importing_the_export_with_ijsons_python_backend_fails_not_slowly():
    lambda_src = Path(segments.__file__).parents[2]
    run = subprocess.run([sys.executable, "-c", "import batch_segment_postprocessor.export.segments"],
                         env={**os.environ, "IJSON_BACKEND": "python", "PYTHONPATH": str(lambda_src)},
                         capture_output=True, text=True)
    assert run.returncode == 1 and "ImportError: the audience export needs ijson's C backend" in run.stderr


def fake_ijson(tmp_path: Path, name: str, extensions: list[str], backend: str = "python") -> types.ModuleType:
    """An ijson package ``name`` under ``tmp_path`` whose ``backends`` hold ``extensions`` (file names) and a
    ``yajl2_c`` that fails to load as an extension missing its library would."""
    backends = tmp_path / name / "backends"
    backends.mkdir(parents=True)
    (tmp_path / name / "__init__.py").write_text("")
    (backends / "__init__.py").write_text("")
    (backends / "yajl2_c.py").write_text("raise ImportError('libyajl.so.2: cannot open shared object file')\n")
    for extension in extensions:
        (backends / extension).write_bytes(b"\x7fELF")
    return types.SimpleNamespace(__name__=name, __file__=str(tmp_path / name / "__init__.py"), backend=backend)


def test_a_c_extension_for_this_interpreter_that_does_not_load_fails_with_the_loaders_reason(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    module = fake_ijson(tmp_path, "ijson_broken", [f"_yajl2{importlib.machinery.EXTENSION_SUFFIXES[0]}"])
    with pytest.raises(ImportError, match=r"not its python one.*ImportError: libyajl\.so\.2: cannot open"):
        segments.require_c_backend(module)


def test_an_ijson_without_a_c_extension_fails(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match=r"not its python one.*ijson has no C extension here"):
        segments.require_c_backend(fake_ijson(tmp_path, "ijson_pure", []))


def test_the_layers_extension_for_another_interpreter_only_warns(tmp_path, monkeypatch):
    """The asset gate's stand-in runs the export with its layer (arm64, the runtime's CPython) on this machine:
    that extension cannot load here, parsing is slow but right; in Lambda it loads (or the error above)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    layer = Path(segments.__file__).parents[2] / "vendor" / "ijson" / "python" / "ijson" / "backends"
    built = sorted(p.name for p in layer.glob("_yajl2.*.so"))
    assert built == ["_yajl2.cpython-314-aarch64-linux-gnu.so"]  # scripts/build_layers.py: arm64, CPython 3.14
    module = fake_ijson(tmp_path, "ijson_layer", built)
    if any((layer / f"_yajl2{suffix}").is_file() for suffix in importlib.machinery.EXTENSION_SUFFIXES):
        pytest.skip("this interpreter is the layer's: its extension loads here")
    with pytest.warns(RuntimeWarning, match=r"python backend, about 16 times slower.*built for another interpreter"):
        segments.require_c_backend(module)

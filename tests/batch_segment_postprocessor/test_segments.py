"""Streaming a batch segment output line into audience CSV: shapes, errors, odd IDs, holdout, suppression."""

from __future__ import annotations

import csv
import io
import json

import pytest

from shared.s3_stream import line_ranges
from shared.audiences import csv_rows
from batch_segment_postprocessor.export.segments import (
    AUDIENCE_HEADER,
    export_line,
    holdout_salt,
    in_control_group,
    load_suppression,
    segment_name,
)


def run(data_line, **kwargs):
    audience, control = io.StringIO(), io.StringIO()
    data = json.dumps(data_line) if not isinstance(data_line, (str, bytes)) else data_line
    data = data.encode() if isinstance(data, str) else data
    result = export_line(io.BytesIO(data), line=kwargs.pop("line", 1), audience=audience.write, control=control.write,
                         salt=kwargs.pop("salt", b"salt"), capacity=kwargs.pop("capacity", 100_000), **kwargs)
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

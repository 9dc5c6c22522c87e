"""Schedules in a training config (issue 14): checked as EventBridge Scheduler takes them, and planned.

MPEwML's shapes (``datasetGroup.workflowConfig.schedules.import``, ``solutions[].workflowConfig.schedules.full``,
``solutions[].batchSegmentJobs[].workflowConfig.schedule``) plan one entry each; every invalid form is refused with its
JSON path and what is wrong; ``maxAge`` and ``timeStarted`` are accepted with a warning.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training_pipeline.validate_config import schedules, training_config
from training_pipeline.validate_config.schedules import expression_problem, expression_warning, timezone_problem, with_ids
from training_pipeline.validate_config.training_config import validate
from tests.fakes.sample_config import ATTRIBUTE, HEADERS, SAMPLE, SAMPLE_KEY

SOLUTION = "$.solutions[0].workflowConfig"
JOB = "$.solutions[0].batchSegmentJobs[0].workflowConfig"
GROUP = "$.datasetGroup.workflowConfig"
FREQUENCY = "runs of a config take far longer than an hour and queue behind each other; schedule it at most hourly"
FORMS = "cron(minutes hours day-of-month month day-of-week year), rate(value unit) or at(yyyy-mm-ddThh:mm:ss)"


def run(config):
    return validate(json.dumps(config), bucket="data-bucket", config_key=SAMPLE_KEY, read_object=HEADERS.get)


def errors(result):
    return [str(p) for p in result.errors]


def warnings(result):
    return [str(p) for p in result.warnings]


def sample():
    return copy.deepcopy(SAMPLE)


def with_workflow(group=None, solution=None, job=None):
    """The sample with these workflowConfig blocks (None: none)."""
    config = sample()
    if group is not None:
        config["datasetGroup"]["workflowConfig"] = group
    if solution is not None:
        config["solutions"][0]["workflowConfig"] = solution
    if job is not None:
        config["solutions"][0]["batchSegmentJobs"][0]["workflowConfig"] = job
    return config


def mpewml_example():
    """The MPEwML examples: imports every 6 hours, weekly retraining, nightly segments, a second solution."""
    config = with_workflow(group={"schedules": {"import": "cron(0 */6 * * ? *)"}},
                           solution={"schedules": {"full": "cron(0 0 ? * 1 *)"}, "timezone": "Europe/Paris"},
                           job={"schedule": "cron(0 3 * * ? *)"})
    jobs = config["solutions"][0]["batchSegmentJobs"]
    jobs.append({"serviceConfig": {"numResults": 50}, "queries": [{"itemAttributes": 'ITEMS.GENRES = "Drama"'}],
                 "workflowConfig": {"schedule": "rate(1 day)", "timezone": "America/New_York"}})
    jobs.append({"serviceConfig": {"numResults": 50}, "queries": [{"itemAttributes": 'ITEMS.GENRES = "Drama"'}]})
    config["solutions"].append({
        "serviceConfig": {"name": "bw-items", "recipeArn": "arn:aws:personalize:::recipe/aws-item-affinity"},
        "workflowConfig": {"schedules": {"full": "rate(7 days)"}},
        "batchSegmentJobs": [{"queries": [{"itemId": "m1"}], "workflowConfig": {"schedule": "at(2030-01-31T03:00:00)"}}],
    })
    return config


# ---------------------------------------------------------------- planning


def test_mpewml_schedules_are_planned_in_config_order_with_their_time_zones():
    result = run(mpewml_example())
    assert errors(result) == [] and warnings(result) == []
    assert result.plan["schedules"] == [
        {"id": "import", "kind": "import", "expression": "cron(0 */6 * * ? *)", "timezone": "UTC",
         "path": "$.datasetGroup.workflowConfig.schedules.import"},
        {"id": "full-bingewatch-genre-affinity", "kind": "full", "expression": "cron(0 0 ? * 1 *)",
         "timezone": "Europe/Paris", "solution": "bingewatch-genre-affinity",
         "path": "$.solutions[0].workflowConfig.schedules.full"},
        {"id": "segments-bingewatch-genre-affinity-0", "kind": "segments", "expression": "cron(0 3 * * ? *)",
         "timezone": "UTC", "solution": "bingewatch-genre-affinity", "job": 0,
         "path": "$.solutions[0].batchSegmentJobs[0].workflowConfig.schedule"},
        {"id": "segments-bingewatch-genre-affinity-1", "kind": "segments", "expression": "rate(1 day)",
         "timezone": "America/New_York", "solution": "bingewatch-genre-affinity", "job": 1,
         "path": "$.solutions[0].batchSegmentJobs[1].workflowConfig.schedule"},
        {"id": "full-bw-items", "kind": "full", "expression": "rate(7 days)", "timezone": "UTC",
         "solution": "bw-items", "path": "$.solutions[1].workflowConfig.schedules.full"},
        {"id": "segments-bw-items-0", "kind": "segments", "expression": "at(2030-01-31T03:00:00)", "timezone": "UTC",
         "solution": "bw-items", "job": 0, "path": "$.solutions[1].batchSegmentJobs[0].workflowConfig.schedule"},
    ]


def test_a_config_without_schedules_plans_none():
    for config in (sample(), with_workflow(group={}, solution={"schedules": {}}, job={})):
        result = run(config)
        assert errors(result) == [] and warnings(result) == []
        assert result.plan["schedules"] == []


def test_an_mpewml_config_of_the_seed_solution_trains_unchanged():
    """The seed's shape: queries in job_config.json, numResults, a weekly FULL schedule."""
    config = sample()
    config["solutions"] = [{
        "serviceConfig": {"name": "bw_aws-item-attribute-affinity", "recipeArn": ATTRIBUTE,
                          "solutionVersion": {"trainingMode": "FULL"}},
        "workflowConfig": {"schedules": {"full": "cron(0 0 ? * 1 *)"}},
        "batchSegmentJobs": [{"serviceConfig": {"numResults": 50}, "workflowConfig": {"schedule": "cron(0 3 * * ? *)"}}],
    }]
    objects = {**HEADERS, "batch/bingewatch/bw_aws-item-attribute-affinity/job_config.json":
               '{"itemAttributes": "ITEMS.GENRES = \\"Action\\""}\n'}
    result = validate(json.dumps(config), bucket="b", config_key=SAMPLE_KEY, read_object=objects.get)
    assert errors(result) == []
    assert [(s["id"], s["kind"]) for s in result.plan["schedules"]] == [
        ("full-bw-aws-item-attribute-affinity", "full"), ("segments-bw-aws-item-attribute-affinit-0", "segments")]


# ---------------------------------------------------------------- ids


def entry(kind, solution=None, job=None, path=None):
    found = {"kind": kind, "expression": "rate(1 day)", "timezone": "UTC",
             "path": path or f"$.{kind}.{solution}.{job}"}
    if solution is not None:
        found["solution"] = solution
    if job is not None:
        found["job"] = job
    return found


def test_ids_are_slugs_of_the_solution_cut_to_40_characters():
    long = "A" * 63
    ids = [e["id"] for e in with_ids([entry("import"), entry("full", "Genre_Affinity.v2"),
                                      entry("segments", "Genre_Affinity.v2", 12), entry("full", long),
                                      entry("segments", long, 3)])]
    assert ids == ["import", "full-genre-affinity-v2", "segments-genre-affinity-v2-12", "full-" + "a" * 35,
                   "segments-" + "a" * 29 + "-3"]


def test_ids_made_equal_by_cutting_or_slugging_get_a_hash_of_the_solution():
    common = "segmentation-of-the-catalogue-by-genre-affinity"  # cut to the same 35 characters
    entries = [entry("full", common + "-a"), entry("full", common + "-b"), entry("full", "Genre_A"),
               entry("full", "genre-a"), entry("segments", "genre-a", 0), entry("full", "other")]
    ids = [e["id"] for e in with_ids(entries)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9-]{1,40}", i) for i in ids)
    hashed = re.compile(r"(full|segments)-[a-z0-9-]+-[0-9a-f]{6}(-[0-9]+)?")
    assert all(hashed.fullmatch(i) for i in ids[:4])
    assert ids[0].startswith("full-segmentation-of-the-catalo") and len(ids[0]) == 40
    assert ids[4] == "segments-genre-a-0" and ids[5] == "full-other"  # unequal ids keep their plain form
    assert [e["id"] for e in with_ids(entries)] == ids  # stable


def test_solutions_whose_names_slug_alike_get_distinct_ids_in_the_plan():
    config = mpewml_example()
    config["solutions"][1]["serviceConfig"]["name"] = "Bingewatch_Genre_Affinity"
    config["solutions"][1]["serviceConfig"]["recipeArn"] = ATTRIBUTE
    config["solutions"][1]["batchSegmentJobs"] = []
    result = run(config)
    assert errors(result) == []
    ids = [s["id"] for s in result.plan["schedules"]]
    assert len(set(ids)) == len(ids) == 5
    assert re.fullmatch(r"full-bingewatch-genre-affinity-[0-9a-f]{6}", ids[1])
    assert re.fullmatch(r"full-bingewatch-genre-affinity-[0-9a-f]{6}", ids[4]) and ids[1] != ids[4]
    assert ids[2] == "segments-bingewatch-genre-affinity-0"  # no other id is equal to it


# ---------------------------------------------------------------- expressions

VALID = [
    "cron(0 */6 * * ? *)", "cron(0 0 ? * 1 *)", "cron(0 3 * * ? *)", "cron(15 10 ? * 6L 2022-2023)",
    "cron(0 18 ? * MON-FRI *)", "cron(0 8 1 * ? *)", "cron(0/15 * * * ? *)", "cron(0 0 L * ? *)", "cron(0 0 LW * ? *)",
    "cron(0 0 15W * ? *)", "cron(0 9 ? * 6#3 *)", "cron(0 9 ? * L *)", "cron(5,35 14 * JAN,JUL ? *)",
    "cron(0 0 1-31/2 DEC ? 2030/2)", "cron(59 23 31 12 ? 2199)", "cron(0 0 ? * SUN-SAT 1970)", "cron(0 0 ? JUL WED *)",
    "cron(0 10-20/5 * * ? *)", "rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)",
    "rate(7 days)", "at(2030-01-31T03:00:00)", "at(2028-02-29T23:59:59)",
]


@pytest.mark.parametrize("expression", VALID)
def test_valid_expressions(expression):
    assert expression_problem(expression) is None


BOTH_DAYS = "day-of-month and day-of-week are both set; one of them must be ?"
ALONE_DOM = ("L and W stand alone in the day-of-month field, as L (the last day of the month), LW (its last weekday) "
             "or nW (the weekday nearest day n, 1-31)")
ALONE_DOW = ("L and # stand alone in the day-of-week field, as L (Saturday), nL (the last day n of the month) or n#k "
             "(the k-th day n of the month, k 1-5), n being 1-7 (SUN is 1)")
SIX = "EventBridge Scheduler takes 6: minutes hours day-of-month month day-of-week year"

INVALID = [
    # field counts and spacing
    ("cron(0 0 * * ?)", f"cron(0 0 * * ?): has 5 fields; {SIX} (add the year: * for every year)"),
    ("cron(0 0 0 * * ? *)", f"cron(0 0 0 * * ? *): has 7 fields; {SIX} (it has no seconds field)"),
    ("cron()", f"cron(): has 0 fields; {SIX}"),
    ("cron(0  0 * * ? *)", "cron(0  0 * * ? *): separate the six fields with single spaces"),
    # the day fields
    ("cron(0 0 * * 1 *)", f"cron(0 0 * * 1 *): {BOTH_DAYS}"),
    ("cron(0 0 1 * MON *)", f"cron(0 0 1 * MON *): {BOTH_DAYS}"),
    ("cron(0 0 * * * *)", f"cron(0 0 * * * *): {BOTH_DAYS}"),
    ("cron(0 0 ? * ? *)", "cron(0 0 ? * ? *): day-of-month and day-of-week are both ?; one of them must be set "
                          "(* for every day)"),
    # ranges of values
    ("cron(60 0 * * ? *)", "cron(60 0 * * ? *): in the minutes field, 60 is out of range 0-59"),
    ("cron(0 24 * * ? *)", "cron(0 24 * * ? *): in the hours field, 24 is out of range 0-23"),
    ("cron(0 0 0 * ? *)", "cron(0 0 0 * ? *): in the day-of-month field, 0 is out of range 1-31"),
    ("cron(0 0 32 * ? *)", "cron(0 0 32 * ? *): in the day-of-month field, 32 is out of range 1-31"),
    ("cron(0 0 1 13 ? *)", "cron(0 0 1 13 ? *): in the month field, 13 is out of range 1-12 or JAN-DEC"),
    ("cron(0 0 ? * 0 *)", "cron(0 0 ? * 0 *): in the day-of-week field, 0 is out of range 1-7 or SUN-SAT (SUN is 1)"),
    ("cron(0 0 ? * 8 *)", "cron(0 0 ? * 8 *): in the day-of-week field, 8 is out of range 1-7 or SUN-SAT (SUN is 1)"),
    ("cron(0 0 * * ? 1969)", "cron(0 0 * * ? 1969): in the year field, 1969 is out of range 1970-2199"),
    ("cron(0 0 * * ? 2200)", "cron(0 0 * * ? 2200): in the year field, 2200 is out of range 1970-2199"),
    ("cron(0 5-70 * * ? *)", "cron(0 5-70 * * ? *): in the hours field, 70 is out of range 0-23"),
    # names and values
    ("cron(0 0 ? jan MON *)", "cron(0 0 ? jan MON *): in the month field, jan is not a value; it takes 1-12 or "
                              "JAN-DEC and , - * / (names in capitals)"),
    ("cron(0 0 ? JANUARY MON *)", "cron(0 0 ? JANUARY MON *): in the month field, JANUARY is not a value; it takes "
                                  "1-12 or JAN-DEC and , - * /"),
    ("cron(0 0 ? APRIL * *)", "cron(0 0 ? APRIL * *): in the month field, APRIL is not a value; it takes 1-12 or "
                              "JAN-DEC and , - * /"),
    ("cron(0 0 ? * MONDAY *)", "cron(0 0 ? * MONDAY *): in the day-of-week field, MONDAY is not a value; it takes "
                               "1-7 or SUN-SAT (SUN is 1) and , - * ? L #"),
    ("cron(0 0 ? * TUE-MON *)", "cron(0 0 ? * TUE-MON *): in the day-of-week field, TUE-MON runs from a higher value "
                                "to a lower one; write it as two ranges: TUE-SAT,SUN-MON"),
    ("cron(0 22-2 * * ? *)", "cron(0 22-2 * * ? *): in the hours field, 22-2 runs from a higher value to a lower one; "
                             "write it as two ranges: 22-23,0-2"),
    ("cron(0 1,,2 * * ? *)", "cron(0 1,,2 * * ? *): in the hours field, 1,,2 has an empty item in its list"),
    ("cron(0 1- * * ? *)", "cron(0 1- * * ? *): in the hours field, 1- is not a range a-b; it takes 0-23 and , - * /"),
    ("cron(1.5 0 * * ? *)", "cron(1.5 0 * * ? *): in the minutes field, 1.5 is not a value; it takes 0-59 and , - * /"),
    ("cron(0 0 \uff15 * ? *)", '"cron(0 0 \\uff15 * ? *)": in the day-of-month field, "\\uff15" is not a value; '
                               "it takes 1-31 and , - * ? / L W"),
    # wildcards where a field does not take them
    ("cron(? 0 * * ? *)", "cron(? 0 * * ? *): the minutes field does not take ?; it takes 0-59 and , - * /"),
    ("cron(0 0 * * ? ?)", "cron(0 0 * * ? ?): the year field does not take ?; it takes 1970-2199 and , - * /"),
    ("cron(0 0 ? * MON/2 *)", "cron(0 0 ? * MON/2 *): the day-of-week field does not take /; it takes 1-7 or SUN-SAT "
                              "(SUN is 1) and , - * ? L #"),
    ("cron(0 0 1 L ? *)", "cron(0 0 1 L ? *): the month field does not take L; it takes 1-12 or JAN-DEC and , - * /"),
    ("cron(0 0 ? * 2W *)", "cron(0 0 ? * 2W *): the day-of-week field does not take W; it takes 1-7 or SUN-SAT "
                           "(SUN is 1) and , - * ? L #"),
    ("cron(0 0 1#2 * ? *)", "cron(0 0 1#2 * ? *): the day-of-month field does not take #; it takes 1-31 and "
                            ", - * ? / L W"),
    ("cron(0 0 ?,1 * ? *)", "cron(0 0 ?,1 * ? *): in the day-of-month field, ? stands alone (any day)"),
    # L, W and #
    ("cron(0 0 1,15W * ? *)", f"cron(0 0 1,15W * ? *): in the day-of-month field, 1,15W is not valid: {ALONE_DOM}"),
    ("cron(0 0 32W * ? *)", f"cron(0 0 32W * ? *): in the day-of-month field, 32W is not valid: {ALONE_DOM}"),
    ("cron(0 0 L-3 * ? *)", f"cron(0 0 L-3 * ? *): in the day-of-month field, L-3 is not valid: {ALONE_DOM}"),
    ("cron(0 0 5L * ? *)", f"cron(0 0 5L * ? *): in the day-of-month field, 5L is not valid: {ALONE_DOM}"),
    ("cron(0 0 ? * 6#6 *)", f"cron(0 0 ? * 6#6 *): in the day-of-week field, 6#6 is not valid: {ALONE_DOW}"),
    ("cron(0 0 ? * 8#1 *)", f"cron(0 0 ? * 8#1 *): in the day-of-week field, 8#1 is not valid: {ALONE_DOW}"),
    ("cron(0 0 ? * 2#1,6#3 *)", f"cron(0 0 ? * 2#1,6#3 *): in the day-of-week field, 2#1,6#3 is not valid: {ALONE_DOW}"),
    ("cron(0 0 ? * MON#2 *)", f"cron(0 0 ? * MON#2 *): in the day-of-week field, MON#2 is not valid: {ALONE_DOW}"),
    ("cron(0 0 ? * L,2 *)", f"cron(0 0 ? * L,2 *): in the day-of-week field, L,2 is not valid: {ALONE_DOW}"),
    ("cron(0 0 ? * 0L *)", f"cron(0 0 ? * 0L *): in the day-of-week field, 0L is not valid: {ALONE_DOW}"),
    # increments
    ("cron(0/0 * * * ? *)", "cron(0/0 * * * ? *): in the minutes field, the increment of 0/0 must be a whole number "
                            "from 1 to 59"),
    ("cron(0 */24 * * ? *)", "cron(0 */24 * * ? *): in the hours field, the increment of */24 must be a whole number "
                             "from 1 to 23"),
    ("cron(0 0 * */x ? *)", "cron(0 0 * */x ? *): in the month field, the increment of */x must be a whole number "
                            "from 1 to 12"),
    ("cron(0 0 1/2/3 * ? *)", "cron(0 0 1/2/3 * ? *): in the day-of-month field, the increment of 1/2/3 must be a "
                              "whole number from 1 to 31"),
    # several fields wrong at once
    ("cron(61 25 * * ? *)", "cron(61 25 * * ? *): in the minutes field, 61 is out of range 0-59; in the hours field, "
                            "25 is out of range 0-23"),
    # rate
    ("rate(1 hours)", "rate(1 hours): with the value 1 the unit is singular: hour, not hours"),
    ("rate(1 minutes)", "rate(1 minutes): with the value 1 the unit is singular: minute, not minutes"),
    ("rate(2 hour)", "rate(2 hour): with a value other than 1 the unit is plural: hours, not hour"),
    ("rate(7 day)", "rate(7 day): with a value other than 1 the unit is plural: days, not day"),
    ("rate(0 days)", "rate(0 days): the value must be a positive whole number, not 0"),
    ("rate(-1 days)", "rate(-1 days): the value must be a positive whole number, not -1"),
    ("rate(1.5 hours)", "rate(1.5 hours): the value must be a positive whole number, not 1.5"),
    ("rate(2 weeks)", "rate(2 weeks): weeks is not a unit; the units are minute, minutes, hour, hours, day and days"),
    ("rate(1 second)", "rate(1 second): second is not a unit; the units are minute, minutes, hour, hours, day and days"),
    ("rate(2 Hours)", "rate(2 Hours): Hours is not a unit; the units are minute, minutes, hour, hours, day and days "
                      "(in lowercase)"),
    ("rate(5)", "rate(5): must be rate(value unit), e.g. rate(12 hours), with one space between value and unit"),
    ("rate(5  minutes)", "rate(5  minutes): must be rate(value unit), e.g. rate(12 hours), with one space between "
                         "value and unit"),
    # at
    ("at(2030-02-29T00:00:00)", "at(2030-02-29T00:00:00): day 29 is out of range: February 2030 has 28 days"),
    ("at(2030-04-31T00:00:00)", "at(2030-04-31T00:00:00): day 31 is out of range: April 2030 has 30 days"),
    ("at(2030-00-10T00:00:00)", "at(2030-00-10T00:00:00): month 00 is out of range 01-12"),
    ("at(2030-13-01T00:00:00)", "at(2030-13-01T00:00:00): month 13 is out of range 01-12"),
    ("at(2030-01-01T24:00:00)", "at(2030-01-01T24:00:00): hour 24 is out of range 00-23"),
    ("at(2030-01-01T00:60:00)", "at(2030-01-01T00:60:00): minute 60 is out of range 00-59"),
    ("at(2030-01-01T00:00:60)", "at(2030-01-01T00:00:60): second 60 is out of range 00-59"),
    ("at(0000-01-01T00:00:00)", "at(0000-01-01T00:00:00): year 0000 does not exist"),
    ("at(2030-1-1T00:00:00)", "at(2030-1-1T00:00:00): must be at(yyyy-mm-ddThh:mm:ss), e.g. at(2030-01-31T03:00:00)"),
    ("at(2030-01-01 00:00:00)", "at(2030-01-01 00:00:00): must be at(yyyy-mm-ddThh:mm:ss), e.g. "
                                "at(2030-01-31T03:00:00)"),
    ("at(2030-01-01T00:00:00Z)", "at(2030-01-01T00:00:00Z): must be at(yyyy-mm-ddThh:mm:ss), e.g. "
                                 "at(2030-01-31T03:00:00)"),
    # not an expression at all
    ("every day", f"every day: is not a schedule expression; EventBridge Scheduler takes {FORMS}"),
    ("0 3 * * *", f"0 3 * * *: is not a schedule expression; EventBridge Scheduler takes {FORMS}"),
    ("", f'"": is not a schedule expression; EventBridge Scheduler takes {FORMS}'),
    ("CRON(0 0 * * ? *)", f"CRON(0 0 * * ? *): is not a schedule expression; EventBridge Scheduler takes {FORMS}; "
                          "write cron in lowercase"),
    ("Rate(1 day)", f"Rate(1 day): is not a schedule expression; EventBridge Scheduler takes {FORMS}; write rate in "
                    "lowercase"),
    ("cron(0 3 * * ? *", f"cron(0 3 * * ? *: is not a schedule expression; EventBridge Scheduler takes {FORMS}"),
    ("cron (0 3 * * ? *)", f"cron (0 3 * * ? *): is not a schedule expression; EventBridge Scheduler takes {FORMS}"),
    (" cron(0 3 * * ? *)", '" cron(0 3 * * ? *)": starts or ends with whitespace; write the expression alone'),
    ("cron(0 3 * * ? *)\n", '"cron(0 3 * * ? *)\\n": starts or ends with whitespace; write the expression alone'),
    ("cron(" + "1," * 150 + "1 0 * * ? *)", "is 317 characters; EventBridge Scheduler takes expressions of at most 256"),
    (7, f"must be a string: a schedule expression, {FORMS}, not a number"),
    (None, f"must be a string: a schedule expression, {FORMS}, not null"),
    (["cron(0 3 * * ? *)"], f"must be a string: a schedule expression, {FORMS}, not a list"),
]


@pytest.mark.parametrize("expression, message", INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_invalid_expressions_say_precisely_what_is_wrong(expression, message):
    assert expression_problem(expression) == message


@pytest.mark.parametrize("expression, warning", [
    ("rate(30 minutes)", f"rate(30 minutes) fires more often than hourly: {FREQUENCY}"),
    ("rate(59 minutes)", f"rate(59 minutes) fires more often than hourly: {FREQUENCY}"),
    ("rate(1 minute)", f"rate(1 minute) fires more often than hourly: {FREQUENCY}"),
    ("cron(0/15 * * * ? *)", f"cron(0/15 * * * ? *) fires 4 times in each hour it runs: {FREQUENCY}"),
    ("cron(0,30 9 * * ? *)", f"cron(0,30 9 * * ? *) fires 2 times in each hour it runs: {FREQUENCY}"),
    ("cron(* 9 ? * MON *)", f"cron(* 9 ? * MON *) fires 60 times in each hour it runs: {FREQUENCY}"),
    ("cron(10-14 9 * * ? *)", f"cron(10-14 9 * * ? *) fires 5 times in each hour it runs: {FREQUENCY}"),
    ("cron(50/5 9 * * ? *)", f"cron(50/5 9 * * ? *) fires 2 times in each hour it runs: {FREQUENCY}"),
    ("rate(60 minutes)", None),
    ("rate(1 hour)", None),
    ("cron(0 * * * ? *)", None),
    ("cron(5 */2 * * ? *)", None),
    ("at(2030-01-31T03:00:00)", None),
    ("rate(0 minutes)", None),  # invalid: an error, not a warning
])
def test_schedules_firing_more_often_than_hourly_are_warned_about(expression, warning):
    assert expression_warning(expression) == warning


# ---------------------------------------------------------------- time zones


@pytest.mark.parametrize("name", ["UTC", "Europe/Paris", "America/New_York", "America/Argentina/Buenos_Aires",
                                  "Etc/GMT+5", "Asia/Kolkata"])
def test_iana_time_zones_are_accepted(name):
    assert timezone_problem(name) is None


@pytest.mark.parametrize("name, message", [
    ("europe/paris", "europe/paris is not an IANA time zone name; did you mean Europe/Paris?"),
    ("utc", "utc is not an IANA time zone name; did you mean UTC?"),
    ("Mars/Olympus", "Mars/Olympus is not an IANA time zone name (such as UTC, Europe/Paris or America/New_York)"),
    ("CEST", "CEST is not an IANA time zone name (such as UTC, Europe/Paris or America/New_York)"),
    ("UTC+2", "UTC+2 is not an IANA time zone name (such as UTC, Europe/Paris or America/New_York)"),
    ("localtime", "localtime is not an IANA time zone name (such as UTC, Europe/Paris or America/New_York)"),
    ("", '"" is not an IANA time zone name (such as UTC, Europe/Paris or America/New_York)'),
    ("Europe/" + "x" * 50, "is 57 characters; EventBridge Scheduler takes time zone names of at most 50"),
    (2, "must be a string: an IANA time zone name such as Europe/Paris, not a number"),
    ({"name": "UTC"}, "must be a string: an IANA time zone name such as Europe/Paris, not an object"),
])
def test_invalid_time_zones(name, message):
    assert timezone_problem(name) == message


def test_without_a_tz_database_time_zones_are_checked_by_their_syntax(monkeypatch):
    monkeypatch.setattr(schedules, "_zones", lambda: frozenset())
    for name in ("UTC", "Europe/Paris", "Etc/GMT-14", "America/Port-au-Prince", "Mars/Olympus"):
        assert timezone_problem(name) is None, name
    for name in ("Europe/", "/Paris", "Europe Paris", "Europe//Paris", "2024/Paris", ""):
        assert timezone_problem(name) == (f"{schedules.quote(name)} is not an IANA time zone name: Area/Location "
                                          "such as Europe/Paris, of letters, digits, _ + and -"), name


# ---------------------------------------------------------------- in a config

UNKNOWN_WORKFLOW_KEY = "unknown key; expected one of maxAge, schedules, timeStarted, timezone"
NOT_STRING = f"must be a string: a schedule expression, {FORMS}, not a number"

IN_CONFIG = [
    # the expression, in each place
    (with_workflow(group={"schedules": {"import": "cron(0 */6 * * *)"}}), f"{GROUP}.schedules.import",
     f"cron(0 */6 * * *): has 5 fields; {SIX} (add the year: * for every year)"),
    (with_workflow(solution={"schedules": {"full": "cron(0 0 * * 1 *)"}}), f"{SOLUTION}.schedules.full",
     f"cron(0 0 * * 1 *): {BOTH_DAYS}"),
    (with_workflow(job={"schedule": "rate(1 days)"}), f"{JOB}.schedule",
     "rate(1 days): with the value 1 the unit is singular: day, not days"),
    (with_workflow(job={"schedule": 3}), f"{JOB}.schedule", NOT_STRING),
    (with_workflow(solution={"schedules": {"full": 3}}), f"{SOLUTION}.schedules.full", NOT_STRING),
    # the time zone, in each place
    (with_workflow(group={"schedules": {"import": "rate(6 hours)"}, "timezone": "Paris"}), f"{GROUP}.timezone",
     "Paris is not an IANA time zone name (such as UTC, Europe/Paris or America/New_York)"),
    (with_workflow(solution={"schedules": {"full": "rate(7 days)"}, "timezone": "europe/paris"}),
     f"{SOLUTION}.timezone", "europe/paris is not an IANA time zone name; did you mean Europe/Paris?"),
    (with_workflow(job={"schedule": "rate(1 day)", "timezone": 1}), f"{JOB}.timezone",
     "must be a string: an IANA time zone name such as Europe/Paris, not a number"),
    # misplaced keys
    (with_workflow(solution={"schedule": "cron(0 0 ? * 1 *)"}), f"{SOLUTION}.schedule",
     "is not a key of a solution's workflowConfig, which takes maxAge, schedules, timeStarted and timezone: give "
     'schedules, an object such as {"full": "cron(0 0 ? * 1 *)"} (schedule, one expression, is a batch segment '
     "job's)"),
    (with_workflow(group={"schedule": "cron(0 */6 * * ? *)"}), f"{GROUP}.schedule",
     "is not a key of a dataset group's workflowConfig, which takes maxAge, schedules, timeStarted and timezone: give "
     'schedules, an object such as {"import": "cron(0 */6 * * ? *)"}'),
    (with_workflow(job={"schedules": {"full": "cron(0 3 * * ? *)"}}), f"{JOB}.schedules",
     "is not a key of a batch segment job's workflowConfig, which takes maxAge, schedule, timeStarted and timezone: "
     'give schedule, one expression such as "cron(0 3 * * ? *)"'),
    (with_workflow(solution={"schedules": {"nightly": "cron(0 3 * * ? *)"}}), f"{SOLUTION}.schedules.nightly",
     "unknown schedule; a solution's schedules take full only"),
    (with_workflow(group={"schedules": {"nightly": "cron(0 3 * * ? *)"}}), f"{GROUP}.schedules.nightly",
     "unknown schedule; a dataset group's schedules take import only"),
    (with_workflow(group={"schedules": {"full": "cron(0 3 * * ? *)"}}), f"{GROUP}.schedules.full",
     "is a solution's schedule: put it in solutions[].workflowConfig.schedules; a dataset group's schedules take "
     "import only"),
    (with_workflow(solution={"schedules": {"import": "cron(0 3 * * ? *)"}}), f"{SOLUTION}.schedules.import",
     "is the dataset group's schedule: put it in datasetGroup.workflowConfig.schedules; a solution's schedules take "
     "full only"),
    (with_workflow(solution={"schedules": {"my schedule": "cron(0 3 * * ? *)"}}),
     f'{SOLUTION}.schedules["my schedule"]', "unknown schedule; a solution's schedules take full only"),
    (with_workflow(solution={"cron": "cron(0 3 * * ? *)"}), f"{SOLUTION}.cron", UNKNOWN_WORKFLOW_KEY),
    (with_workflow(job={"timeZone": "UTC", "schedule": "rate(1 day)"}), f"{JOB}.timeZone",
     "unknown key; expected one of maxAge, schedule, timeStarted, timezone"),
    # update training
    (with_workflow(solution={"schedules": {"update": "cron(0 * * * ? *)"}}), f"{SOLUTION}.schedules.update",
     "is not supported: USER_SEGMENTATION recipes train FULL only (UPDATE training is not available to them); "
     "schedule full instead"),
    # shapes
    (with_workflow(solution={"schedules": "cron(0 0 ? * 1 *)"}), f"{SOLUTION}.schedules",
     'must be an object of schedule expressions, e.g. {"full": "cron(0 0 ? * 1 *)"}, not a string'),
    (with_workflow(group={"schedules": ["cron(0 0 ? * 1 *)"]}), f"{GROUP}.schedules",
     'must be an object of schedule expressions, e.g. {"import": "cron(0 */6 * * ? *)"}, not a list'),
    (with_workflow(solution="weekly"), SOLUTION, "must be an object, not a string"),
    (with_workflow(job=[]), JOB, "must be an object, not a list"),
]


@pytest.mark.parametrize("config, path, message", IN_CONFIG, ids=[f"{i}-{c[1]}" for i, c in enumerate(IN_CONFIG)])
def test_each_invalid_form_is_refused_with_its_path_and_message(config, path, message):
    result = run(config)
    assert f"{path}: {message}" in errors(result)
    assert result.plan is None


def test_every_wrong_schedule_of_a_config_is_reported_at_once():
    config = with_workflow(group={"schedules": {"import": "rate(2 hour)"}},
                           solution={"schedules": {"full": "cron(0 0 * * ? *)", "update": "rate(1 day)"}},
                           job={"schedule": "at(2030-02-30T00:00:00)", "timezone": "Nowhere"})
    assert errors(run(config)) == [
        f"{GROUP}.schedules.import: rate(2 hour): with a value other than 1 the unit is plural: hours, not hour",
        f"{SOLUTION}.schedules.update: is not supported: USER_SEGMENTATION recipes train FULL only (UPDATE training "
        "is not available to them); schedule full instead",
        f"{JOB}.timezone: Nowhere is not an IANA time zone name (such as UTC, Europe/Paris or America/New_York)",
        f"{JOB}.schedule: at(2030-02-30T00:00:00): day 30 is out of range: February 2030 has 28 days",
    ]


def test_max_age_and_time_started_are_accepted_with_a_warning_that_they_are_ignored():
    config = with_workflow(group={"maxAge": 86400, "schedules": {"import": "cron(0 */6 * * ? *)"}},
                           solution={"timeStarted": "2024-01-01T00:00:00Z", "schedules": {"full": "rate(7 days)"}},
                           job={"schedule": "cron(0 3 * * ? *)", "maxAge": "1 day", "timeStarted": None})
    result = run(config)
    assert errors(result) == []
    max_age = ("is ignored by this library: MPEwML recreates a resource older than maxAge, while this library reuses "
               "a resource by its name and data and trains again when a CSV is uploaded again or a schedule fires")
    time_started = ("is ignored by this library: MPEwML's workflow sets it when a run starts; this library does not "
                    "read it")
    assert warnings(result) == [f"{GROUP}.maxAge: {max_age}", f"{SOLUTION}.timeStarted: {time_started}",
                                f"{JOB}.maxAge: {max_age}", f"{JOB}.timeStarted: {time_started}"]
    assert [s["kind"] for s in result.plan["schedules"]] == ["import", "full", "segments"]


def test_schedules_that_refresh_no_audience_by_themselves_are_valid_with_a_warning_saying_why():
    """Personalize builds user segments from the data of the solution version's training: a job rerun on the same
    version, or an import never followed by a training, changes no audience."""
    result = run(with_workflow(group={"schedules": {"import": "rate(1 day)"}}, job={"schedule": "rate(1 day)"}))
    assert errors(result) == []
    assert warnings(result) == [f"{JOB}.schedule: {schedules.STALE_SEGMENTS}",
                                f"{GROUP}.schedules.import: {schedules.UNTRAINED_IMPORTS}"]
    retrained = run(with_workflow(group={"schedules": {"import": "rate(1 day)"}},
                                  solution={"schedules": {"full": "rate(7 days)"}}, job={"schedule": "rate(1 day)"}))
    assert warnings(retrained) == []


def test_frequent_schedules_are_valid_with_a_warning():
    result = run(with_workflow(group={"schedules": {"import": "rate(15 minutes)"}},
                               solution={"schedules": {"full": "rate(1 day)"}},
                               job={"schedule": "cron(0/30 8-18 ? * MON-FRI *)"}))
    assert errors(result) == []
    assert warnings(result) == [
        f"{GROUP}.schedules.import: rate(15 minutes) fires more often than hourly: {FREQUENCY}",
        f"{JOB}.schedule: cron(0/30 8-18 ? * MON-FRI *) fires 2 times in each hour it runs: {FREQUENCY}"]
    assert [s["expression"] for s in result.plan["schedules"]] == ["rate(15 minutes)", "rate(1 day)",
                                                                   "cron(0/30 8-18 ? * MON-FRI *)"]


def test_a_time_zone_without_a_schedule_is_warned_about():
    result = run(with_workflow(solution={"timezone": "Europe/Paris"}))
    assert errors(result) == []
    assert warnings(result) == [f"{SOLUTION}.timezone: applies to no schedule: this workflowConfig has none"]


def test_a_long_expression_is_quoted_only_in_an_excerpt():
    result = run(with_workflow(job={"schedule": "cron(" + "\u00e9" * 200 + ")"}))
    (message,) = [p.message for p in result.errors if p.path == f"{JOB}.schedule"]
    assert message.startswith('"cron(\\u00e9') and '..."' in message and len(message) < 200


def test_schedules_count_toward_the_plan_size(monkeypatch):
    config = mpewml_example()
    plan = run(config).plan
    without = len(json.dumps({**plan, "schedules": []}))
    assert len(json.dumps(plan)) > without
    monkeypatch.setattr(training_config, "MAX_PLAN_BYTES", without)
    result = run(config)
    assert result.plan is None
    assert errors(result)[0].startswith(f"$: the planned run is {len(json.dumps(plan)):,} bytes")


# ---------------------------------------------------------------- never raises

keys = st.sampled_from(["schedules", "schedule", "timezone", "maxAge", "timeStarted", "import", "full", "update", ""])
scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
           | st.sampled_from(["cron(0 3 * * ? *)", "rate(1 day)", "at(2030-01-31T03:00:00)", "Europe/Paris", "UTC"])
           | st.builds("cron({} {} {} {} {} {})".format, *[st.sampled_from(["*", "?", "0", "L", "5W", "2#3", "1-5/2",
                                                                              "MON", "JAN", "-", "/", ",", "99"])] * 6)
           | st.builds("rate({} {})".format, st.integers(-2, 100), st.sampled_from(["minute", "hours", "day", "x"])))
blocks = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
                      max_leaves=20)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(blocks, blocks, blocks)
def test_any_workflow_config_is_validated_without_raising(group, solution, job):
    result = run(with_workflow(group=group, solution=solution, job=job))
    assert result.valid == (result.plan is not None)
    if result.valid:
        ids = [s["id"] for s in result.plan["schedules"]]
        assert len(set(ids)) == len(ids)
        for planned in result.plan["schedules"]:
            assert expression_problem(planned["expression"]) is None
            assert timezone_problem(planned["timezone"]) is None

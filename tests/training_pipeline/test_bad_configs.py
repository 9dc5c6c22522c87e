"""Every bad training config is refused clearly and none crashes the validator (issue 12, item 10).

``CASES`` are malformed configs as a new user writes them, each with the JSON path and a part of the message it must
be refused with. A case is handled well when ``validate`` returns (no exception), rejects the config, reports the
expected path and message, no message is longer than the handler's ``MAX_MESSAGE_CHARS`` (so none echoes unbounded
input), and the rejection as the handler bounds it (``bounded``, errors and warnings) is at most ``REJECTION_BOUND``
bytes of JSON as ``json.dumps`` writes it (non-ASCII escaped, as moto measures a state): the workflow carries it in a
256 KiB state, its event and an SNS message of at most 256 KB.

Run against the code as it was before this change (a copy of lambda_src/ from before it), 7 of the 51 cases were
handled well: 8 crashed the validator (RecursionError, ValueError, AttributeError, IndexError), 27 were accepted
(Personalize would refuse them, or they would break a run later), 2 produced rejections of about 290 KB after
``bounded``, 3 echoed the user's value whole (messages of 69 KB to 500 KB, cut only by ``bounded``) and 4 named the
wrong path or no clear reason; 10 reported an error at the expected path at all. After it, all 51. The cases of
schedules (workflowConfig, issue 14) came later.

The property tests then throw arbitrary JSON, and mutations of the sample config, at the validator: it never raises,
and the bounded rejection stays within ``REJECTION_BOUND``. They are derandomized (CI runs the same examples every
time) and take about 3 seconds.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training_pipeline.validate_config import handler as validate_handler
from training_pipeline.validate_config.training_config import validate
from tests.fakes.sample_config import ATTRIBUTE, HEADERS, SAMPLE, SAMPLE_KEY

JOB_CONFIG = "batch/bingewatch/bw_aws-item-attribute-affinity/job_config.json"
# errors and warnings together, as the handler returns them; 256 KiB / 5, far from every quota on the way
REJECTION_BOUND = 48_000


@dataclasses.dataclass
class Case:
    id: str
    build: Callable[[], Any]  # the config: a dict, or its text
    path: str  # the path an error must name; a trailing * matches any path starting with the rest
    message: str  # a part of that error's message
    objects: dict = dataclasses.field(default_factory=dict)  # S3 objects beside the config (CSV headers...)


def sample() -> dict:
    return copy.deepcopy(SAMPLE)


def edited(change: Callable[[dict], Any]) -> Callable[[], dict]:
    def build():
        config = sample()
        change(config)
        return config
    return build


def schema(config: dict, dataset: str) -> dict:
    return config["datasets"][dataset]["schema"]["serviceConfig"]["schema"]


def service(config: dict, dataset: str) -> dict:
    return config["datasets"][dataset]["schema"]["serviceConfig"]


def job(config: dict) -> dict:
    return config["solutions"][0]["batchSegmentJobs"][0]


def text_of(change: Callable[[dict], Any], old: str, new: str) -> Callable[[], str]:
    """The sample's text with a change no ``json.dumps`` can write (huge numbers, NaN, repeated keys, deep nesting)."""
    def build():
        config = sample()
        change(config)
        text = json.dumps(config)
        assert old in text
        return text.replace(old, new, 1)
    return build


def mpewml() -> dict:
    """An MPEwML config whose queries are read from job_config.json (given in ``objects``)."""
    config = sample()
    config["solutions"] = [{"serviceConfig": {"name": "bw_aws-item-attribute-affinity", "recipeArn": ATTRIBUTE},
                            "batchSegmentJobs": [{"serviceConfig": {"numResults": 50}}]}]
    return config


def add_fields(dataset: str, count: int, **attributes) -> Callable[[dict], None]:
    def change(config):
        schema(config, dataset)["fields"].extend({"name": f"F{i}", "type": "string", **attributes} for i in range(count))
    return change


def workflow(config: dict, where: str, block: Any) -> None:
    """Set the workflowConfig of the dataset group, the first solution or its first job."""
    target = {"group": config["datasetGroup"], "solution": config["solutions"][0], "job": job(config)}[where]
    target["workflowConfig"] = block


def huge_names(config):
    config["solutions"] = [{"serviceConfig": {"name": "\x01" * 5_000, "recipeArn": ATTRIBUTE}}] * 40


def many_unknown_keys(config):
    for i in range(5_000):
        config[f"k{i:05d}" + "\u00e9" * 1_000] = i


def two_textual(config):
    fields = schema(config, "items")["fields"]
    fields[1].update(textual=True)
    fields[2].update(textual=True)


def no_domain(config):
    del config["datasetGroup"]["serviceConfig"]["domain"]


CASES = [
    # ---- the review's crashes
    Case("deep-nesting", lambda: '{"datasetGroup": ' + "[" * 100_000 + "]" * 100_000 + "}", "$", "levels deep"),
    Case("deep-nesting-in-schema-string",
         edited(lambda c: service(c, "items").update(schema="[" * 5_000 + "]" * 5_000)),
         "$.datasets.items.schema.serviceConfig.schema", "levels deep"),
    Case("deep-nesting-in-job-config-line", mpewml, f"s3://data-bucket/{JOB_CONFIG} line 1", "levels deep",
         {JOB_CONFIG: '{"itemAttributes": ' + "[" * 5_000 + "]" * 5_000 + "}\n"}),
    Case("huge-integer", text_of(lambda c: None, '"numResults": 500', '"numResults": 1' + "0" * 5_000),
         "$.solutions[0].batchSegmentJobs[0].serviceConfig.numResults", "5,001 digits"),
    Case("huge-integer-in-schema-string",
         text_of(lambda c: service(c, "users").update(schema=json.dumps(schema(c, "users"))),
                 '\\"AGE\\", \\"type\\": [\\"null\\", \\"int\\"]',
                 '\\"AGE\\", \\"type\\": [\\"null\\", \\"int\\"], \\"default\\": 9' + "9" * 5_000),
         "$.datasets.users.schema.serviceConfig.schema.fields[3].default", "digits"),
    Case("huge-integer-in-job-config-line", mpewml, f"s3://data-bucket/{JOB_CONFIG} line 1.itemAttributes",
         "digits", {JOB_CONFIG: '{"itemAttributes": 1' + "0" * 5_000 + "}\n"}),
    Case("recipe-arn-of-the-wrong-type", edited(lambda c: c["solutions"][0]["serviceConfig"].update(recipeArn=[ATTRIBUTE])),
         "$.solutions[0].serviceConfig.recipeArn", "must be a string, not a list"),
    Case("csv-of-only-a-byte-order-mark", sample, "$.datasets.users", "users.csv is empty",
         {"train/bingewatch/users.csv": "\ufeff"}),
    # ---- rejections too big for the workflow
    Case("huge-echoed-names", edited(huge_names), "$.solutions[0].serviceConfig.name", "may contain only"),
    Case("thousands-of-unknown-keys", edited(many_unknown_keys), '$["k00000*', "unknown key"),
    # ---- accepted, but Personalize refuses them or they break later
    Case("name-with-a-trailing-newline",
         edited(lambda c: c["datasetGroup"]["serviceConfig"].update(name="bingewatch\n")),
         "$.datasetGroup.serviceConfig.name", "whitespace"),
    Case("job-name-with-a-trailing-newline", edited(lambda c: job(c)["serviceConfig"].update(jobName="genres\n")),
         "$.solutions[0].batchSegmentJobs[0].serviceConfig.jobName", "whitespace"),
    Case("items-schema-with-101-metadata-fields", edited(add_fields("items", 98, categorical=True)),
         "$.datasets.items.schema.serviceConfig.schema.fields", "has 101 metadata fields"),
    Case("users-schema-with-26-metadata-fields", edited(add_fields("users", 23, categorical=True)),
         "$.datasets.users.schema.serviceConfig.schema.fields", "has 26 metadata fields"),
    Case("interactions-schema-with-6-metadata-fields", edited(add_fields("interactions", 6, categorical=True)),
         "$.datasets.interactions.schema.serviceConfig.schema.fields", "has 6 metadata fields"),
    Case("users-schema-without-metadata",
         edited(lambda c: schema(c, "users").update(fields=[{"name": "USER_ID", "type": "string"}])),
         "$.datasets.users.schema.serviceConfig.schema.fields", "at least one metadata field"),
    Case("items-schema-with-two-textual-fields", edited(two_textual),
         "$.datasets.items.schema.serviceConfig.schema.fields[2].textual", "at most one"),
    Case("textual-field-in-a-users-schema", edited(lambda c: schema(c, "users")["fields"][2].update(textual=True)),
         "$.datasets.users.schema.serviceConfig.schema.fields[2].textual", "only items schemas"),
    Case("schema-over-20000-characters", edited(lambda c: schema(c, "items").update(doc="x" * 20_000)),
         "$.datasets.items.schema.serviceConfig.schema", "20,000"),
    Case("field-names-differing-only-in-underscores",
         edited(lambda c: schema(c, "items")["fields"].extend([{"name": "GENRES_FIELD_1", "type": "int"},
                                                               {"name": "GENRESFIELD1", "type": "int"}])),
         "$.datasets.items.schema.serviceConfig.schema.fields[6].name", "differ only in underscores"),
    Case("reserved-field-of-the-wrong-type",
         edited(lambda c: schema(c, "interactions")["fields"][2].update(type="string")),
         "$.datasets.interactions.schema.serviceConfig.schema.fields[2].type", "reserved field of type float or null"),
    Case("creation-timestamp-as-a-string",
         edited(lambda c: schema(c, "items")["fields"][3].update(type="string")),
         "$.datasets.items.schema.serviceConfig.schema.fields[3].type", "reserved field of type long"),
    Case("categorical-event-type",
         edited(lambda c: schema(c, "interactions")["fields"][3].update(categorical=True)),
         "$.datasets.interactions.schema.serviceConfig.schema.fields[3].categorical", "may not be categorical"),
    Case("import-mode-not-documented",
         edited(lambda c: c["datasets"].update(serviceConfig={"importMode": "REPLACE"})),
         "$.datasets.serviceConfig.importMode", "must be one of FULL, INCREMENTAL"),
    Case("attribution-flag-as-a-string",
         edited(lambda c: c["datasets"].update(serviceConfig={"publishAttributionMetricsToS3": "yes"})),
         "$.datasets.serviceConfig.publishAttributionMetricsToS3", "must be true or false"),
    Case("import-tags-as-an-object",
         edited(lambda c: c["datasets"].update(serviceConfig={"tags": {"team": "ml"}})),
         "$.datasets.serviceConfig.tags", "must be a list"),
    Case("domain-schemas-in-a-group-without-domain", edited(no_domain),
         "$.datasets.interactions.schema.serviceConfig.domain", "the dataset group has no domain"),
    Case("schema-of-another-domain", edited(lambda c: service(c, "users").update(domain="ECOMMERCE")),
         "$.datasets.users.schema.serviceConfig.domain", "dataset group's domain is VIDEO_ON_DEMAND"),
    Case("51-tags", edited(lambda c: c["datasetGroup"]["serviceConfig"].update(
        tags=[{"tagKey": f"k{i}", "tagValue": "v"} for i in range(51)])),
         "$.datasetGroup.serviceConfig.tags", "at most 50"),
    Case("tag-key-with-the-aws-prefix", edited(lambda c: c["datasetGroup"]["serviceConfig"].update(
        tags=[{"tagKey": "aws:team", "tagValue": "ml"}])),
         "$.datasetGroup.serviceConfig.tags[0].tagKey", "may not start with aws:"),
    Case("tag-key-given-twice", edited(lambda c: c["datasetGroup"]["serviceConfig"].update(
        tags=[{"tagKey": "team", "tagValue": "ml"}, {"tagKey": "team", "tagValue": "data"}])),
         "$.datasetGroup.serviceConfig.tags[1].tagKey", "repeats the key of tags[0]"),
    Case("nan-in-a-schema", text_of(lambda c: None, '"name": "AGE", "type": ["null", "int"]',
                                    '"name": "AGE", "type": ["null", "int"], "default": NaN'),
         "$.datasets.users.schema.serviceConfig.schema.fields[3].default", "NaN"),
    Case("infinity-in-a-workflow-config", text_of(lambda c: c["datasetGroup"].update(workflowConfig={"maxAge": 0}),
                                                  '"maxAge": 0', '"maxAge": Infinity'),
         "$.datasetGroup.workflowConfig.maxAge", "Infinity"),
    Case("key-given-twice", text_of(lambda c: None, '"name": "bingewatch"', '"name": "bingewatch", "name": "bw"'),
         "$.datasetGroup.serviceConfig.name", "appears 2 times"),
    Case("filter-values-without-a-filter", edited(lambda c: job(c)["queries"][0].update(
        filterValues={"GENRE": '"Action"'})),
         "$.solutions[0].batchSegmentJobs[0].queries[0].filterValues", "filterArn"),
    Case("filter-value-named-with-its-dollar", edited(lambda c: (
        job(c)["serviceConfig"].update(filterArn="arn:aws:personalize:us-east-1:123456789012:filter/genre"),
        job(c)["queries"][0].update(filterValues={"$GENRE": '"Action"'}))),
         '$.solutions[0].batchSegmentJobs[0].queries[0].filterValues["$GENRE"]', "is not a placeholder parameter name"),
    Case("two-solutions-of-one-name", edited(lambda c: c["solutions"].append(copy.deepcopy(c["solutions"][0]))),
         "$.solutions[1].serviceConfig.name", "already names $.solutions[0]"),
    # ---- other mistakes: types, sizes, shapes
    Case("empty-file", lambda: "", "$", "is not valid JSON"),
    Case("config-is-a-list", lambda: "[]", "$", "must be an object"),
    Case("solutions-is-an-object", edited(lambda c: c.update(solutions={"name": "x"})), "$.solutions",
         "must be a non-empty list"),
    Case("queries-is-a-string", edited(lambda c: job(c).update(queries='ITEMS.GENRES = "Action"')),
         "$.solutions[0].batchSegmentJobs[0].queries", "must be a list of query objects"),
    Case("num-results-as-a-string", edited(lambda c: job(c)["serviceConfig"].update(numResults="500")),
         "$.solutions[0].batchSegmentJobs[0].serviceConfig.numResults", "must be a whole number from 1 to 5,000,000"),
    Case("recipe-arn-of-half-a-megabyte", edited(lambda c: c["solutions"][0]["serviceConfig"].update(
        recipeArn="arn:aws:personalize:::recipe/" + "x" * 500_000)),
         "$.solutions[0].serviceConfig.recipeArn", "at most 256"),
    Case("filter-arn-that-is-a-name", edited(lambda c: job(c)["serviceConfig"].update(filterArn="my-filter")),
         "$.solutions[0].batchSegmentJobs[0].serviceConfig.filterArn", "does not match"),
    Case("query-of-300000-characters", edited(lambda c: job(c)["queries"][0].update(itemAttributes="x" * 300_000)),
         "$.solutions[0].batchSegmentJobs[0].queries[0].itemAttributes", "is not of the form ITEMS.<field>"),
    Case("item-id-longer-than-personalize-takes", edited(lambda c: (
        c["solutions"][0]["serviceConfig"].update(recipeArn="arn:aws:personalize:::recipe/aws-item-affinity"),
        job(c).update(queries=[{"itemId": "m" * 300}]))),
         "$.solutions[0].batchSegmentJobs[0].queries[0].itemId", "at most 256"),
    Case("field-of-a-complex-type", edited(lambda c: schema(c, "items")["fields"][1].update(
        type={"type": "array", "items": "string"})),
         "$.datasets.items.schema.serviceConfig.schema.fields[1].type", "must be a primitive type name"),
    Case("schema-name-as-a-number", edited(lambda c: schema(c, "items").update(name=7)),
         "$.datasets.items.schema.serviceConfig.schema.name", "must be an Avro name"),
    Case("tag-with-an-unknown-key", edited(lambda c: c["datasetGroup"]["serviceConfig"].update(
        tags=[{"tagKey": "team", "tagValue": "ml", "color": "red"}])),
         "$.datasetGroup.serviceConfig.tags[0].color", "unknown key; expected one of tagKey, tagValue"),
    Case("solution-config-as-a-string", edited(lambda c: c["solutions"][0]["serviceConfig"].update(
        solutionConfig="fast")),
         "$.solutions[0].serviceConfig.solutionConfig", "must be an object, not a string"),
    Case("csv-header-of-10000-columns", sample, "$.datasets.users", "header has",
         {"train/bingewatch/users.csv": ",".join(f"c{i}" for i in range(10_000)) + "\n"}),
    # ---- schedules (issue 14)
    Case("unix-cron-of-five-fields", edited(lambda c: workflow(c, "solution", {"schedules": {"full": "cron(0 0 * * 1)"}})),
         "$.solutions[0].workflowConfig.schedules.full", "cron(0 0 * * 1): has 5 fields"),
    Case("cron-with-both-day-fields", edited(lambda c: workflow(c, "job", {"schedule": "cron(0 3 * * * *)"})),
         "$.solutions[0].batchSegmentJobs[0].workflowConfig.schedule", "both set; one of them must be ?"),
    Case("rate-of-one-hours", edited(lambda c: workflow(c, "group", {"schedules": {"import": "rate(1 hours)"}})),
         "$.datasetGroup.workflowConfig.schedules.import", "the unit is singular: hour"),
    Case("update-training-schedule", edited(lambda c: workflow(c, "solution", {"schedules": {"update": "rate(1 day)"}})),
         "$.solutions[0].workflowConfig.schedules.update", "USER_SEGMENTATION recipes train FULL only"),
    Case("schedule-on-a-solution", edited(lambda c: workflow(c, "solution", {"schedule": "rate(1 day)"})),
         "$.solutions[0].workflowConfig.schedule", "give schedules, an object"),
    Case("schedules-on-a-job", edited(lambda c: workflow(c, "job", {"schedules": {"full": "rate(1 day)"}})),
         "$.solutions[0].batchSegmentJobs[0].workflowConfig.schedules", "give schedule, one expression"),
    Case("schedules-as-a-list", edited(lambda c: workflow(c, "group", {"schedules": ["rate(1 day)"]})),
         "$.datasetGroup.workflowConfig.schedules", "must be an object of schedule expressions"),
    Case("time-zone-abbreviation", edited(lambda c: workflow(c, "job", {"schedule": "rate(1 day)", "timezone": "CET+1"})),
         "$.solutions[0].batchSegmentJobs[0].workflowConfig.timezone", "is not an IANA time zone name"),
    Case("expression-of-half-a-megabyte", edited(lambda c: workflow(
        c, "job", {"schedule": "cron(" + "1," * 250_000 + "1 * * ? *)"})),
         "$.solutions[0].batchSegmentJobs[0].workflowConfig.schedule", "is 500,015 characters"),
    Case("time-zone-of-half-a-megabyte", edited(lambda c: workflow(
        c, "solution", {"schedules": {"full": "rate(1 day)"}, "timezone": "\u00e9" * 500_000})),
         "$.solutions[0].workflowConfig.timezone", "is 500,000 characters"),
    Case("thousands-of-schedule-names", edited(lambda c: workflow(
        c, "solution", {"schedules": {f"nightly{i:04d}" + "\u00e9" * 1_000: "rate(1 day)" for i in range(5_000)}})),
         '$.solutions[0].workflowConfig.schedules["nightly0000*', "unknown schedule"),
]


def headers_of(config: Any) -> dict:
    """CSV headers that match the config's schemas, so that a case shows only its own mistake."""
    headers = dict(HEADERS)
    try:
        for dataset in ("interactions", "items", "users"):
            fields = schema(config, dataset)["fields"]
            headers[f"train/bingewatch/{dataset}.csv"] = ",".join(f["name"] for f in fields) + "\n"
    except (KeyError, TypeError):
        pass
    return headers


def run(case: Case, validate_fn=validate):
    config = case.build()
    text = config if isinstance(config, str) else json.dumps(config)
    store = {**headers_of(config), **case.objects}
    return validate_fn(text, bucket="data-bucket", config_key=SAMPLE_KEY, read_object=store.get)


def rejection_size(result, bounded=validate_handler.bounded) -> int:
    return len(json.dumps(bounded(result.errors))) + len(json.dumps(bounded(result.warnings)))


def verdict(case: Case, validate_fn=validate, bounded=validate_handler.bounded,
            max_chars: int = validate_handler.MAX_MESSAGE_CHARS) -> str:
    """'ok', or what went wrong: the measure of 'handled well'."""
    try:
        result = run(case, validate_fn)
    except Exception as exc:  # noqa: BLE001 - a crash is the finding
        return f"crashed: {type(exc).__name__}"
    if result.valid:
        return "accepted"
    size = rejection_size(result, bounded)
    if size > REJECTION_BOUND:
        return f"rejection of {size:,} bytes"
    longest = max(len(str(p)) for p in result.errors)
    if longest > max_chars:
        return f"a message of {longest:,} characters"
    if not any(matches(case, p) for p in result.errors):
        return "expected error missing; got " + "; ".join(str(p) for p in result.errors[:3])[:500]
    return "ok"


def matches(case: Case, problem, *, any_message: bool = False) -> bool:
    path_ok = problem.path.startswith(case.path[:-1]) if case.path.endswith("*") else problem.path == case.path
    return path_ok and (any_message or case.message in problem.message)


def test_the_corpus_has_a_case_for_each_finding():
    assert len(CASES) >= 34 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_config_is_refused_with_its_path_and_what_is_wrong(case):
    assert verdict(case) == "ok"


def test_the_handler_bound_is_within_the_one_these_tests_check():
    assert 2 * validate_handler.MAX_REJECTION_BYTES <= REJECTION_BOUND


# ---------------------------------------------------------------- properties

CONFIG_KEYS = ["datasetGroup", "datasets", "solutions", "serviceConfig", "workflowConfig", "name", "domain", "tags",
               "interactions", "items", "users", "dataset", "schema", "type", "fields", "categorical", "textual",
               "recipeArn", "batchSegmentJobs", "queries", "itemAttributes", "itemId", "numResults", "jobName",
               "solutionVersion", "trainingMode", "importMode", "tagKey", "tagValue", "filterValues", "filterArn",
               "schedules", "schedule", "timezone", "import", "full", "update", "maxAge"]
scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from(["record", "string", "long", ATTRIBUTE, "FULL", "VIDEO_ON_DEMAND", "USER_ID",
                            "cron(0 3 * * ? *)", "rate(1 day)", "Europe/Paris"]))
keys = st.sampled_from(CONFIG_KEYS) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(keys, inner, max_size=6),
                           max_leaves=40)


def check_bounded(text: str, objects: Optional[dict] = None) -> None:
    store = {**HEADERS, **(objects or {})}
    result = validate(text, bucket="data-bucket", config_key=SAMPLE_KEY, read_object=store.get)
    for problems in (result.errors, result.warnings):
        shown = validate_handler.bounded(problems)
        assert len(json.dumps(shown)) <= validate_handler.MAX_REJECTION_BYTES
        assert all(len(m) <= validate_handler.MAX_MESSAGE_CHARS for m in shown)
    assert rejection_size(result) <= REJECTION_BOUND
    assert result.valid == (result.plan is not None)


FAST = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FAST
@given(json_values)
def test_any_json_value_is_validated_without_raising(value):
    check_bounded(json.dumps(value))


@settings(FAST, max_examples=60)
@given(st.dictionaries(st.sampled_from(["datasetGroup", "datasets", "solutions"]), json_values, min_size=1))
def test_any_top_level_blocks_are_validated_without_raising(config):
    check_bounded(json.dumps(config))


def locations(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path into ``value``, containers and leaves."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += locations(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += locations(item, path + (i,))
    return found


SAMPLE_PATHS = locations(SAMPLE)[1:]
DEEP = "\x00deep\x00"


def mutate(config: dict, path: tuple, how: str, value: Any):
    parent = config
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    current = parent[last]
    if how == "delete":
        del parent[last]
    elif how == "retype":
        parent[last] = value
    elif how == "enlarge":
        if isinstance(current, str):
            parent[last] = current * 2_000
        elif isinstance(current, list):
            parent[last] = current * 100
        elif isinstance(current, dict):
            current.update({f"{k}{i}": v for i, (k, v) in enumerate(list(current.items()) * 50)})
        else:
            parent[last] = 10 ** 30
    elif how == "nest":
        parent[last] = DEEP
    elif how == "keys":
        target = current if isinstance(current, dict) else parent
        if isinstance(target, dict):
            target.update({f"key{i}\u00e9\x01" + "k" * 40: i for i in range(500)})


mutations = st.lists(st.tuples(st.sampled_from(SAMPLE_PATHS), st.sampled_from(["delete", "retype", "enlarge", "nest",
                                                                                "keys"]), json_values),
                     min_size=1, max_size=3)


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutations, st.sampled_from([10, 200, 5_000]))
def test_mutations_of_the_sample_are_validated_without_raising(changes, depth):
    config = sample()
    for path, how, value in changes:
        try:
            mutate(config, path, how, value)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier change removed or retyped this path
    text = json.dumps(config).replace(json.dumps(DEEP), "[" * depth + "]" * depth)
    check_bounded(text)

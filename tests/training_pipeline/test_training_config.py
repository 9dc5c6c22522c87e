"""Config validation: the sample passes, MPEwML configs pass unchanged, each mistake is named with its path."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from training_pipeline.validate_config.training_config import parse_attribute_query, validate
from tests.fakes.sample_config import ATTRIBUTE, DATA, HEADERS, SAMPLE, SAMPLE_KEY



def run(config, objects=None, key=SAMPLE_KEY):
    store = {**HEADERS, **(objects or {})}
    text = config if isinstance(config, str) else json.dumps(config)
    return validate(text, bucket="data-bucket", config_key=key, read_object=store.get)


def messages(result):
    return [str(p) for p in result.errors]


def sample():
    return copy.deepcopy(SAMPLE)


def only_error(result, path):
    found = [p for p in result.errors if p.path == path]
    assert found, f"no error at {path}; got {messages(result)}"
    return found[0].message


def test_sample_config_is_valid_and_plans_every_resource():
    result = run(sample())
    assert messages(result) == []
    plan = result.plan
    assert plan["datasetGroup"] == {"name": "bingewatch", "domain": "VIDEO_ON_DEMAND"}
    assert [d["datasetType"] for d in plan["datasets"]] == ["INTERACTIONS", "ITEMS", "USERS"]
    assert plan["datasets"][0]["import"]["dataLocation"] == "s3://data-bucket/train/bingewatch/interactions.csv"
    assert json.loads(plan["datasets"][1]["schema"]["schema"])["fields"][4]["name"] == "GENRES"
    job = plan["solutions"][0]["batchSegmentJobs"][0]
    assert job["inputSource"] == "inline" and len(job["queries"]) == 5
    assert job["params"] == {"numResults": 500}
    assert job["baseName"] == "bingewatch-genre-affinity"
    assert plan["schedules"] == []


def mpewml_config():
    """An MPEwML-format config as the seed solution writes it: queries come from job_config.json."""
    config = sample()
    config["solutions"] = [{
        "serviceConfig": {"name": "bw_aws-item-attribute-affinity", "recipeArn": ATTRIBUTE,
                          "solutionVersion": {"trainingMode": "FULL"}},
        "workflowConfig": {"schedules": {"full": "cron(0 0 ? * 1 *)"}},
        "batchSegmentJobs": [{"serviceConfig": {"numResults": 50}}],
    }]
    return config


def test_mpewml_config_reads_queries_from_job_config_json_convention():
    job_config = {"batch/bingewatch/bw_aws-item-attribute-affinity/job_config.json":
                  '{ "itemAttributes": "ITEMS.genres = \\"Action\\"" }\n'}
    result = run(mpewml_config(), job_config)
    assert messages(result) == []
    job = result.plan["solutions"][0]["batchSegmentJobs"][0]
    assert job["inputSource"] == "s3"
    assert job["inputKey"] == "batch/bingewatch/bw_aws-item-attribute-affinity/job_config.json"
    assert job["queries"] == [{"itemAttributes": 'ITEMS.genres = "Action"'}]
    assert result.warnings == []
    assert result.plan["schedules"] == [{
        "id": "full-bw-aws-item-attribute-affinity", "kind": "full", "expression": "cron(0 0 ? * 1 *)",
        "timezone": "UTC", "solution": "bw_aws-item-attribute-affinity", "path": "$.solutions[0].workflowConfig.schedules.full"}]


def test_missing_job_config_json_names_where_to_put_queries():
    message = only_error(run(mpewml_config()), "$.solutions[0].batchSegmentJobs[0].queries")
    assert "s3://data-bucket/batch/bingewatch/bw_aws-item-attribute-affinity/job_config.json" in message


def test_malformed_json_gives_line_and_column():
    result = run('{"datasetGroup": {,}')
    assert messages(result) == ["$: is not valid JSON: Expecting property name enclosed in double quotes at line 1 column 19"]
    assert result.plan is None


def test_unknown_keys_are_named_at_every_level():
    config = sample()
    config["datasetGroupp"] = {}
    config["datasets"]["items"]["dataset"]["serviceConfig"]["nmae"] = "x"
    config["solutions"][0]["batchSegmentJobs"][0]["serviceConfig"]["numresults"] = 3
    errors = messages(run(config))
    assert "$.datasetGroupp: unknown key; expected one of datasetGroup, datasets, solutions" in errors
    assert any(e.startswith("$.datasets.items.dataset.serviceConfig.nmae: unknown key") for e in errors)
    assert any(e.startswith("$.solutions[0].batchSegmentJobs[0].serviceConfig.numresults: unknown key") for e in errors)


def test_unsupported_mpewml_blocks_say_why():
    config = sample()
    config["solutions"][0]["campaigns"] = [{"serviceConfig": {"name": "c"}}]
    assert "campaigns do not produce user segments" in only_error(run(config), "$.solutions[0].campaigns")


def test_keys_the_pipeline_sets_are_rejected():
    config = sample()
    config["solutions"][0]["serviceConfig"]["datasetGroupArn"] = "arn:aws:personalize:us-east-1:1:dataset-group/x"
    message = only_error(run(config), "$.solutions[0].serviceConfig.datasetGroupArn")
    assert message == "is set by the pipeline; remove it from the config"


def test_botocore_model_checks_parameter_types():
    config = sample()
    config["datasetGroup"]["serviceConfig"]["tags"] = [{"tagKey": "team"}]
    config["solutions"][0]["serviceConfig"]["performHPO"] = "no"
    config["solutions"][0]["serviceConfig"]["solutionConfig"] = {"eventValueThreshold": 0.5}
    result = run(config)
    assert only_error(result, "$.datasetGroup.serviceConfig.tags[0].tagValue") == "is required"
    assert only_error(result, "$.solutions[0].serviceConfig.performHPO") == "must be true or false, not a string"
    assert only_error(result, "$.solutions[0].serviceConfig.solutionConfig.eventValueThreshold") == \
        "must be a string, not a number"


def test_missing_interactions_dataset():
    config = sample()
    del config["datasets"]["interactions"]
    assert only_error(run(config), "$.datasets.interactions") == "the interactions dataset is required"


@pytest.mark.parametrize("mutate, path, expected", [
    (lambda s: s.update(type="enum"), "$.datasets.items.schema.serviceConfig.schema.type", 'must be "record", not "enum"'),
    (lambda s: s["fields"][1].update(type="varchar"), "$.datasets.items.schema.serviceConfig.schema.fields[1].type",
     "unknown Avro type varchar"),
    (lambda s: s["fields"][2].update(name="RELEASE YEAR"), "$.datasets.items.schema.serviceConfig.schema.fields[2].name",
     '"RELEASE YEAR" is not an Avro field name'),
    (lambda s: s["fields"][3].update(type="long", categorical=True),
     "$.datasets.items.schema.serviceConfig.schema.fields[3].categorical", "only string fields can be categorical"),
    (lambda s: s["fields"].append({"name": "TITLE", "type": "string"}),
     "$.datasets.items.schema.serviceConfig.schema.fields[5].name", "duplicate field TITLE"),
    (lambda s: s.update(fields=[]), "$.datasets.items.schema.serviceConfig.schema.fields", "must be a non-empty list"),
    (lambda s: s["fields"].pop(0), "$.datasets.items.schema.serviceConfig.schema.fields", "needs a ITEM_ID field"),
])
def test_invalid_avro_schema(mutate, path, expected):
    config = sample()
    mutate(config["datasets"]["items"]["schema"]["serviceConfig"]["schema"])
    assert expected in only_error(run(config), path)


def test_schema_given_as_json_string_is_parsed():
    config = sample()
    schema = config["datasets"]["users"]["schema"]["serviceConfig"]
    schema["schema"] = json.dumps(schema["schema"])
    assert messages(run(config)) == []
    schema["schema"] = "{not json"
    assert "is not valid JSON" in only_error(run(config), "$.datasets.users.schema.serviceConfig.schema")


def test_timestamp_must_be_long():
    config = sample()
    config["datasets"]["interactions"]["schema"]["serviceConfig"]["schema"]["fields"][4]["type"] = "string"
    assert only_error(run(config), "$.datasets.interactions.schema.serviceConfig.schema.fields") == \
        "TIMESTAMP must have type long"


@pytest.mark.parametrize("recipe", ["aws-user-personalization", "aws-similar-items"])
def test_segment_job_needs_a_user_segmentation_recipe(recipe):
    config = sample()
    config["solutions"][0]["serviceConfig"]["recipeArn"] = f"arn:aws:personalize:::recipe/{recipe}"
    message = only_error(run(config), "$.solutions[0].batchSegmentJobs")
    assert message == ("batch segment jobs need a USER_SEGMENTATION recipe (aws-item-attribute-affinity or "
                       f"aws-item-affinity), not arn:aws:personalize:::recipe/{recipe}")


def test_item_affinity_takes_item_ids_up_to_500():
    config = sample()
    config["solutions"][0]["serviceConfig"]["recipeArn"] = "arn:aws:personalize:::recipe/aws-item-affinity"
    job = config["solutions"][0]["batchSegmentJobs"][0]
    job["queries"] = [{"itemId": f"m{i:04d}"} for i in range(500)]
    assert messages(run(config)) == []
    job["queries"].append({"itemId": "m9999"})
    assert only_error(run(config), "$.solutions[0].batchSegmentJobs[0].queries") == \
        "501 queries; a itemId job takes at most 500 per input file"
    job["queries"] = [{"itemAttributes": 'ITEMS.GENRES = "Action"'}]
    assert "the recipe takes itemId, not itemAttributes" in only_error(
        run(config), "$.solutions[0].batchSegmentJobs[0].queries[0]")


def test_at_most_ten_attribute_queries():
    config = sample()
    config["solutions"][0]["batchSegmentJobs"][0]["queries"] = [
        {"itemAttributes": f'ITEMS.GENRES = "G{i}"'} for i in range(11)]
    assert only_error(run(config), "$.solutions[0].batchSegmentJobs[0].queries") == \
        "11 queries; a itemAttributes job takes at most 10 per input file"


@pytest.mark.parametrize("query, expected", [
    ('ITEMS.GENRES = "Action" OR ITEMS.GENRES = "Drama"', "only AND may combine conditions (OR is not supported)"),
    ('ITEMS.GENRES != "Action"', "only '=' is allowed in a condition"),
    ('ITEMS.GENRES IN ("Action")', "only '=' is allowed in a condition"),
    ("GENRES = Action", '"GENRES = Action" is not of the form ITEMS.<field> = "<value>"'),
    ('ITEMS.MOOD = "dark"', "ITEMS.MOOD is not a field of the items schema"),
    ('ITEMS.ITEM_ID = "m0001"', "ITEMS.ITEM_ID cannot be queried: only non-textual metadata fields can"),
])
def test_query_syntax(query, expected):
    config = sample()
    config["solutions"][0]["batchSegmentJobs"][0]["queries"] = [{"itemAttributes": query}]
    assert only_error(run(config), "$.solutions[0].batchSegmentJobs[0].queries[0].itemAttributes") == expected


def test_attribute_query_parser_accepts_and_and_escaped_quotes():
    assert parse_attribute_query('ITEMS.genres = "Sci-Fi" AND ITEMS.mood = "say \\"hi\\""') == (
        [("genres", "Sci-Fi"), ("mood", 'say \\"hi\\"')], None)


def test_job_config_json_lines_that_are_not_json_are_named_by_line():
    objects = {"batch/bingewatch/bw_aws-item-attribute-affinity/job_config.json":
               '{"itemAttributes": "ITEMS.GENRES = \\"Action\\""}\n{oops\n'}
    result = run(mpewml_config(), objects)
    assert "s3://data-bucket/batch/bingewatch/bw_aws-item-attribute-affinity/job_config.json line 2: is not valid JSON: " \
           "Expecting property name enclosed in double quotes at line 1 column 2" in messages(result)


def test_csv_header_must_match_schema_fields():
    objects = {"train/bingewatch/users.csv": "USER_ID,GENDER,EMAIL,AGE\nu1,F,a@example.com,30\n"}
    errors = [p.message for p in run(sample(), objects).errors if p.path == "$.datasets.users"]
    assert errors == ["users.csv header has EMAIL, not in the schema", "users.csv header lacks schema field E_MAIL"]


def test_missing_csv_is_reported():
    store = dict(HEADERS)
    del store["train/bingewatch/items.csv"]
    result = validate(json.dumps(sample()), bucket="b", config_key=SAMPLE_KEY, read_object=store.get)
    assert only_error(result, "$.datasets.items") == "items.csv was not found beside the config"


def test_header_row_with_bom_and_any_column_order_is_fine():
    objects = {"train/bingewatch/users.csv": "\ufeffAGE,E_MAIL,GENDER,USER_ID\n"}
    assert messages(run(sample(), objects)) == []


def test_generated_job_name_over_personalize_limit():
    config = sample()
    config["solutions"][0]["serviceConfig"]["name"] = "s" * 60
    errors = messages(run(config))
    assert f'$.solutions[0].serviceConfig.name: "{"s" * 40}..." is 60 characters; at most 54 are allowed (the ' \
           "pipeline appends a 9-character suffix to names derived from it)" in errors
    assert any(e.startswith("$.solutions[0].batchSegmentJobs[0].serviceConfig.jobName: the generated job name")
               and "would be 69 characters, over Personalize's 63" in e for e in errors)


def test_explicit_job_name_over_limit():
    config = sample()
    config["solutions"][0]["batchSegmentJobs"][0]["serviceConfig"]["jobName"] = "genre-segments-" + "x" * 45
    message = only_error(run(config), "$.solutions[0].batchSegmentJobs[0].serviceConfig.jobName")
    assert "is 60 characters; at most 54 are allowed" in message


def test_num_results_range():
    config = sample()
    config["solutions"][0]["batchSegmentJobs"][0]["serviceConfig"]["numResults"] = 5_000_001
    assert only_error(run(config), "$.solutions[0].batchSegmentJobs[0].serviceConfig.numResults") == \
        "must be a whole number from 1 to 5,000,000"


def test_training_mode_must_be_full():
    config = sample()
    config["solutions"][0]["serviceConfig"]["solutionVersion"] = {"trainingMode": "UPDATE"}
    assert "must be FULL" in only_error(run(config), "$.solutions[0].serviceConfig.solutionVersion.trainingMode")


def test_a_config_with_several_mistakes_reports_every_one():
    config = sample()
    del config["datasets"]["interactions"]
    config["datasets"]["items"]["schema"]["serviceConfig"]["schema"]["fields"][1]["type"] = "text"
    config["solutions"][0]["serviceConfig"]["recipeArn"] = "arn:aws:personalize:::recipe/aws-user-personalization"
    config["solutions"][0]["serviceConfig"]["name"] = "bad name!"
    config["solutions"][0]["batchSegmentJobs"][0]["serviceConfig"]["numResults"] = 0
    config["extra"] = True
    objects = {"train/bingewatch/users.csv": "USER_ID,GENDER\n"}
    result = run(config, objects)
    paths = [p.path for p in result.errors]
    assert result.plan is None
    assert set(paths) >= {
        "$.extra",
        "$.datasets.interactions",
        "$.datasets.items.schema.serviceConfig.schema.fields[1].type",
        "$.datasets.users",
        "$.solutions[0].serviceConfig.name",
        "$.solutions[0].batchSegmentJobs",
        "$.solutions[0].batchSegmentJobs[0].serviceConfig.numResults",
    }, messages(result)


# ---------------------------------------------------------------- filter values (issue 12, item 10)

FILTER_ARN = "arn:aws:personalize:us-east-1:123456789012:filter/genre-of-the-week"


def test_filter_values_are_a_query_option_personalize_documents():
    """Personalize reads filterValues from each input line of a batch segment job (filter-batch.html); botocore's
    CreateBatchSegmentJob has no such parameter. Inline queries and job_config.json lines may carry them."""
    import botocore.session

    members = botocore.session.get_session().get_service_model("personalize").operation_model(
        "CreateBatchSegmentJob").input_shape.members
    assert "filterValues" not in members and "filterArn" in members
    config = sample()
    job = config["solutions"][0]["batchSegmentJobs"][0]
    job["serviceConfig"]["filterArn"] = FILTER_ARN
    job["queries"][0]["filterValues"] = {"RATING": '"PG","PG-13"'}
    result = run(config)
    assert messages(result) == []
    planned = result.plan["solutions"][0]["batchSegmentJobs"][0]
    assert planned["queries"][0] == {"itemAttributes": 'ITEMS.GENRES = "Action"', "filterValues": {"RATING": '"PG","PG-13"'}}
    assert planned["params"] == {"numResults": 500, "filterArn": FILTER_ARN}

    config = mpewml_config()
    config["solutions"][0]["batchSegmentJobs"][0]["serviceConfig"]["filterArn"] = FILTER_ARN
    line = {"itemAttributes": 'ITEMS.GENRES = "Action"', "filterValues": {"RATING": '"PG"'}}
    result = run(config, {"batch/bingewatch/bw_aws-item-attribute-affinity/job_config.json": json.dumps(line) + "\n"})
    assert messages(result) == []
    assert result.plan["solutions"][0]["batchSegmentJobs"][0]["queries"] == [line]


def test_filter_values_in_the_job_parameters_say_where_they_go():
    config = sample()
    config["solutions"][0]["batchSegmentJobs"][0]["serviceConfig"]["filterValues"] = {"RATING": '"PG"'}
    message = only_error(run(config), "$.solutions[0].batchSegmentJobs[0].serviceConfig.filterValues")
    assert "queries[].filterValues" in message


@pytest.mark.parametrize("values, path, expected", [
    ({}, "filterValues", "must be an object of placeholder parameter names and values"),
    ({"RATING": 5}, "filterValues.RATING", "must be a non-empty string"),
    ({"RATING": "x" * 1001}, "filterValues.RATING", "is 1,001 characters; at most 1,000"),
    ({f"P{i}": '"x"' for i in range(26)}, "filterValues", "has 26 parameters; at most 25"),
])
def test_filter_values_follow_personalizes_limits(values, path, expected):
    config = sample()
    job = config["solutions"][0]["batchSegmentJobs"][0]
    job["serviceConfig"]["filterArn"] = FILTER_ARN
    job["queries"][0]["filterValues"] = values
    assert expected in only_error(run(config), f"$.solutions[0].batchSegmentJobs[0].queries[0].{path}")


# ---------------------------------------------------------------- what messages quote

def test_messages_quote_only_a_short_cut_excerpt_of_a_value():
    config = sample()
    config["datasetGroup"]["serviceConfig"]["name"] = "\u00e9\x01" * 50_000
    config["solutions"][0]["serviceConfig"]["recipeArn"] = "arn:aws:personalize:::recipe/" + "y" * 100_000
    config["solutions"][0]["batchSegmentJobs"][0]["queries"][0] = {"itemAttributes": "GENRES " * 50_000}
    config["datasets"]["items"]["schema"]["serviceConfig"]["schema"]["fields"][1]["name"] = "T I T L E" * 10_000
    result = run(config)
    assert len(result.errors) >= 5
    assert max(len(p.message) for p in result.errors) < 260, max(result.errors, key=lambda p: len(p.message))
    assert all(p.message.isascii() and p.message.isprintable() for p in result.errors)
    assert '"\\u00e9\\u0001\\u00e9\\u0001\\u00e9\\u0001..." may contain only letters' in \
        only_error(result, "$.datasetGroup.serviceConfig.name")


def test_a_key_that_is_not_an_identifier_is_named_by_an_excerpt():
    config = sample()
    config["datasetGroup"]["serviceConfig"]["my key\n" + "z" * 1000] = 1
    (problem,) = run(config).errors
    assert problem.path == '$.datasetGroup.serviceConfig["my key\\n' + "z" * 32 + '..."]'
    assert problem.message.startswith("unknown key; expected one of domain, kmsKeyArn, name, roleArn, tags")


# ---------------------------------------------------------------- accepted as written

def test_a_byte_order_mark_before_the_config_is_ignored():
    assert messages(run("\ufeff" + json.dumps(sample()))) == []


def test_a_schema_named_otherwise_than_its_dataset_type_is_a_warning():
    config = sample()
    config["datasets"]["users"]["schema"]["serviceConfig"]["schema"]["name"] = "Customers"
    result = run(config)
    assert messages(result) == []
    assert "$.datasets.users.schema.serviceConfig.schema.name: Personalize documents that a schema's name matches " \
           "its dataset type: Users, not Customers" in [str(w) for w in result.warnings]


def test_two_schemas_may_share_a_name_only_when_they_are_the_same():
    config = sample()
    interactions = config["datasets"]["interactions"]["schema"]["serviceConfig"]
    config["datasets"]["users"]["schema"]["serviceConfig"]["name"] = interactions["name"]
    assert only_error(run(config), "$.datasets.users.schema.serviceConfig.name") == \
        "bingewatch-interactions-schema already names $.datasets.interactions.schema; give each schema its own name"


def test_a_schema_given_as_a_string_is_checked_like_an_object():
    config = sample()
    schema = config["datasets"]["users"]["schema"]["serviceConfig"]
    schema["schema"] = json.dumps(schema["schema"]).replace('"name": "AGE"', '"name": "AGE", "name": "AGE2"')
    assert only_error(run(config), "$.datasets.users.schema.serviceConfig.schema.fields[3].name") == \
        "appears 2 times in the same object; JSON keeps only the last one, so give it once"


# ---------------------------------------------------------------- the handler and the local command

def test_the_handler_refuses_a_config_that_is_not_utf8_or_too_large(monkeypatch):
    from shared.contract import Env
    from training_pipeline.validate_config import handler

    monkeypatch.setenv(Env.POLLING_BUDGET_SECONDS, "3600")
    event = {"bucket": "b", "key": "train/x/config.json", "executionStartTime": "2026-11-23T10:00:00Z"}
    for body, expected in [(b'{"datasetGroup": "\xff"}', "$: the config is not UTF-8 text (byte 18 cannot be decoded)"),
                           (b" " * (handler.MAX_CONFIG_BYTES + 1), "$: the config is over 1,000,000 bytes")]:
        monkeypatch.setattr(handler, "read_bytes", lambda *a, _body=body, **k: (_body, {}))
        result = handler.handler(event, None)
        assert result["valid"] is False and result["errors"][0].startswith(expected)


def test_bounded_keeps_the_rejection_within_its_bytes_whatever_the_messages():
    from training_pipeline.validate_config.handler import MAX_REJECTION_BYTES, bounded

    for messages_ in (["\U0001f600" * 5_000] * 60, ["\x01" * 2_000] * 3, ["$: short"] * 60):
        shown = bounded(messages_)
        assert len(json.dumps(shown)) <= MAX_REJECTION_BYTES
        assert shown[0] == str(messages_[0])[:999] + "…" or shown[0] == messages_[0]
        assert shown[-1].startswith("$: … and ") or len(shown) == len(messages_)


@pytest.fixture
def local_config(tmp_path):
    """The sample data in a folder of its own: train/bingewatch/ with the config and its CSVs."""
    folder = tmp_path / "train" / "bingewatch"
    folder.mkdir(parents=True)
    for name in ("config.json", "interactions.csv", "items.csv", "users.csv"):
        (folder / name).write_bytes((DATA / "train/bingewatch" / name).read_bytes())
    return folder / "config.json"


def test_local_command_validates_a_config_on_disk(local_config, capsys):
    from training_pipeline.validate_config.training_config import _main

    assert _main(["prog", str(local_config)]) == 0
    assert capsys.readouterr().out == "valid\n"
    (local_config.parent / "users.csv").write_bytes(b"USER_ID,GENDER,E_MAIL,\xff\xfeAGE\n")  # not UTF-8
    assert _main(["prog", str(local_config)]) == 1
    assert "header has" in capsys.readouterr().out


@pytest.mark.parametrize("content, expected", [
    (b" " * 1_000_001, "error   $: the config is over 1,000,000 bytes, the most the pipeline reads"),
    (b'{"datasetGroup": {"serviceConfig": {"name": "caf\xe9"}}}',
     "error   $: the config is not UTF-8 text (byte 48 cannot be decoded); save it as UTF-8"),
])
def test_local_command_refuses_what_the_pipeline_would_refuse(local_config, capsys, content, expected):
    from training_pipeline.validate_config.training_config import _main

    local_config.write_bytes(content)
    assert _main(["prog", str(local_config)]) == 1
    assert capsys.readouterr().out.startswith(expected)


def test_local_command_names_a_file_it_cannot_read(tmp_path, capsys):
    from training_pipeline.validate_config.training_config import _main

    assert _main(["prog", str(tmp_path / "none.json")]) == 2
    assert "cannot be read (No such file or directory)" in capsys.readouterr().out
    assert _main(["prog"]) == 2


def test_local_command_never_prints_a_traceback(local_config):
    """As people run it: a non-UTF-8 file, then one nested 100,000 levels deep."""
    import subprocess
    import sys

    lambda_src = Path(__file__).resolve().parents[2] / "lambda_src"
    for content, expected in [(b"\xff\xfe{}", "is not UTF-8 text"), (b"[" * 100_000 + b"]" * 100_000, "levels deep")]:
        local_config.write_bytes(content)
        done = subprocess.run([sys.executable, "-m", "training_pipeline.validate_config.training_config",
                               str(local_config)], cwd=lambda_src, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and expected in done.stdout, (done.stdout, done.stderr)
        assert "Traceback" not in done.stdout + done.stderr


def test_only_depth_is_refused_not_breadth():
    """Forty sibling objects nest two levels, not forty (the depth check counts brackets, not nesting, only when
    there are too few to matter)."""
    config = sample()
    config["solutions"] = [{}] * 40
    assert not any("levels deep" in p.message for p in run(config).errors)
    nested: list = [1]
    for _ in range(29):
        nested = [nested]
    config["datasetGroup"]["workflowConfig"] = {"schedules": {"x": nested}}  # 3 + 30 lists + the config: 34
    assert messages(run(config)) == ["$: nests 34 levels deep; a config needs about 10 and at most 32 are accepted"]


def test_import_options_are_checked_and_planned_for_every_import():
    config = sample()
    config["datasets"]["serviceConfig"] = {"importMode": "FULL", "publishAttributionMetricsToS3": False,
                                           "tags": [{"tagKey": "team", "tagValue": "ml"}]}
    result = run(config)
    assert messages(result) == [] and result.warnings == []
    assert result.plan["datasets"][2]["import"] == {
        "dataLocation": "s3://data-bucket/train/bingewatch/users.csv", "key": "train/bingewatch/users.csv",
        "importMode": "FULL", "publishAttributionMetricsToS3": False, "tags": [{"tagKey": "team", "tagValue": "ml"}]}
    config["datasets"]["serviceConfig"] = {"importMode": "INCREMENTAL", "dataSource": {"dataLocation": "s3://x/y"}}
    result = run(config)
    assert only_error(result, "$.datasets.serviceConfig.dataSource") == "is set by the pipeline; remove it from the config"
    assert "only from bulk data imported in FULL mode" in [w.message for w in result.warnings][0]

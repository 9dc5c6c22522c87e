"""Config validation: the sample passes, MPEwML configs pass unchanged, each mistake is named with its path."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from training_pipeline.validate_config.training_config import parse_attribute_query, validate

DATA = Path(__file__).resolve().parents[2] / "data"
SAMPLE_KEY = "train/bingewatch/config.json"
SAMPLE = json.loads((DATA / SAMPLE_KEY).read_text())
HEADERS = {
    f"train/bingewatch/{name}.csv": (DATA / f"train/bingewatch/{name}.csv").read_text().splitlines()[0] + "\n"
    for name in ("interactions", "items", "users")
}
ATTRIBUTE = "arn:aws:personalize:::recipe/aws-item-attribute-affinity"


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
    assert [str(w) for w in result.warnings] == [
        "$.solutions[0].workflowConfig: schedules are not run by this library and are ignored"]


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
    message = only_error(run(config), "$.datasetGroup.serviceConfig")
    assert 'Missing required parameter in tags[0]: "tagValue"' in message


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
    ("GENRES = Action", "'GENRES = Action' is not of the form ITEMS.<field> = \"<value>\""),
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
           "Expecting property name enclosed in double quotes" in messages(result)


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
    assert any(e.startswith("$.solutions[0].serviceConfig.name: '" + "s" * 60 + "' is 60 characters; at most 54")
               for e in errors)
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

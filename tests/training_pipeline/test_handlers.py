"""The training Lambdas against moto S3/EventBridge/SQS and an in-process Personalize checked against botocore's model."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace
from urllib.parse import quote_plus

import pytest

from training_pipeline.ensure_resource import handler as ensure_handler
from shared.contract import PollingBudgetExceeded, ResourceConflict, ResourceFailed, ServiceLimitExceeded, ServiceThrottled
from tests.fakes.environment import BUCKET, DATA, ROLE_ARN, fake_aws
from tests.fakes.personalize import ACCOUNT, REGION
from training_pipeline.validate_config import handler as validate_handler
from training_pipeline.validate_config import triggers

CONTEXT = SimpleNamespace(invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ensure")
STARTED = "2026-11-23T10:00:00.000Z"


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        fake.training_environment()
        yield fake


def validate(key: str = "train/bingewatch/config.json") -> dict:
    return validate_handler.handler({"bucket": BUCKET, "key": key, "executionStartTime": STARTED}, None)


def ensure(kind: str, spec: dict, parents: dict, deadline: str = "2099-01-01T00:00:00+00:00") -> dict:
    """Poll as the workflow does: call again with the last result until done (bounded)."""
    current: dict = {}
    for _ in range(20):
        current = ensure_handler.handler(
            {"kind": kind, "spec": spec, "parents": parents, "current": current, "deadline": deadline}, CONTEXT)
        if current["done"]:
            return current
    raise AssertionError(f"{kind} never became ACTIVE")


def train(plan: dict) -> list[dict]:
    """The workflow's order of work, as the state machine runs it."""
    group = ensure("datasetGroup", plan["datasetGroup"], {})
    imports = []
    for dataset in plan["datasets"]:
        schema = ensure("schema", dataset["schema"], {})
        ds = ensure("dataset", dataset, {"datasetGroupArn": group["arn"], "schemaArn": schema["arn"]})
        imports.append(ensure("datasetImportJob", dataset, {"datasetArn": ds["arn"]}))
    jobs = []
    for solution_plan in plan["solutions"]:
        solution = ensure("solution", solution_plan["params"], {"datasetGroupArn": group["arn"]})
        version = ensure("solutionVersion", solution_plan["solutionVersion"], {
            "solutionArn": solution["arn"], "importsUpdatedAt": [i["updatedAt"] for i in imports]})
        for job in solution_plan["batchSegmentJobs"]:
            jobs.append(ensure("batchSegmentJob", job, {
                "solutionVersionArn": version["arn"], "solutionName": solution["name"],
                "datasetGroupName": plan["datasetGroup"]["name"], "bucket": plan["bucket"]}))
    return jobs


# ---------------------------------------------------------------- validate_config


def test_validate_handler_plans_the_sample_upload(aws):
    aws.upload_sample()
    result = validate()
    assert result["valid"] is True and result["errors"] == []
    assert result["configUri"] == f"s3://{BUCKET}/train/bingewatch/config.json"
    head = aws.s3.head_object(Bucket=BUCKET, Key="train/bingewatch/config.json")
    assert result["upload"] == {"etag": head["ETag"].strip('"'), "versionId": head.get("VersionId") or "",
                                "lastModified": head["LastModified"].isoformat(), "trigger": {"kind": "upload"}}
    assert result["plan"]["bucket"] == BUCKET


def test_validate_handler_decodes_url_encoded_keys(aws):
    aws.upload_sample(prefix="train/binge watch/")
    result = validate(quote_plus("train/binge watch/config.json", safe="/"))
    assert result["valid"] is True
    assert result["configUri"] == f"s3://{BUCKET}/train/binge watch/config.json"


def test_validate_handler_rejects_a_missing_config(aws):
    result = validate("train/none/config.json")
    assert result["valid"] is False
    assert result["errors"] == [f"$: s3://{BUCKET}/train/none/config.json could not be read"]


def test_a_config_s3_cannot_decrypt_for_the_function_fails_saying_so_not_as_unreadable(aws, monkeypatch):
    """SSE-KMS without kms:Decrypt answers AccessDenied, as a missing key does without ListBucket; the message tells
    them apart, and a key problem is a deployment problem to name, never a rejected config."""
    from botocore.exceptions import ClientError

    from shared import aws as lambda_clients

    aws.upload_sample(config={})
    denied = {"Error": {"Code": "AccessDenied", "Message": "User: arn:aws:sts::123456789012:assumed-role/v is not "
              "authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/k"}}

    def get_object(**kwargs):
        raise ClientError(denied, "GetObject")

    monkeypatch.setattr(lambda_clients.client("s3"), "get_object", get_object)
    with pytest.raises(PermissionError, match="encrypted with a KMS key this function may not use.*encryption_key="):
        validate()


def test_a_rejection_fits_the_workflow_state_however_many_mistakes_the_config_has(aws):
    """30,000 empty solutions give 90,000 messages (5.5 MB); the workflow would die before reporting them."""
    aws.upload_sample(config={"datasetGroup": {"serviceConfig": {"name": "x" * 5000}}, "solutions": [{}] * 30_000})
    result = validate()
    assert result["valid"] is False and len(result["errors"]) == 51
    assert result["errors"][-1].startswith("$: … and ") and "more" in result["errors"][-1]
    assert all(len(e) <= 1000 for e in result["errors"])
    assert len(json.dumps(result).encode()) < 64 * 1024


def test_validate_handler_reports_missing_csvs(aws):
    aws.s3.upload_file(str(DATA / "train/bingewatch/config.json"), BUCKET, "train/x/config.json")
    result = validate("train/x/config.json")
    assert result["valid"] is False
    assert "$.datasets.users: users.csv was not found beside the config" in result["errors"]
    assert "plan" not in result


# ---------------------------------------------------------------- personalize_ensure


def test_sample_run_creates_each_resource_once(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    jobs = train(plan)

    created = [op for op, _ in aws.personalize.created()]
    assert sorted(created) == sorted(
        ["CreateDatasetGroup"] + ["CreateSchema", "CreateDataset", "CreateDatasetImportJob"] * 3
        + ["CreateSolution", "CreateSolutionVersion", "CreateBatchSegmentJob"])
    (_, solution), = aws.personalize.created("CreateSolution")
    assert solution["performAutoTraining"] is False
    (_, version), = aws.personalize.created("CreateSolutionVersion")
    assert version["trainingMode"] == "FULL"
    (_, job), = aws.personalize.created("CreateBatchSegmentJob")
    assert job["numResults"] == 500 and job["roleArn"] == ROLE_ARN
    assert job["jobName"].startswith("bingewatch-genre-affinity-") and len(job["jobName"]) == 34
    prefix = f"batch/bingewatch/bingewatch-genre-affinity/{job['jobName']}/"
    assert job["jobInput"]["s3DataSource"]["path"] == f"s3://{BUCKET}/{prefix}input/job_config.json"
    assert jobs[0]["outputPath"] == f"s3://{BUCKET}/{prefix}output/"
    written = aws.s3.get_object(Bucket=BUCKET, Key=f"{prefix}input/job_config.json")["Body"].read().decode()
    assert [json.loads(line) for line in written.splitlines()] == plan["solutions"][0]["batchSegmentJobs"][0]["queries"]
    imports = aws.personalize.created("CreateDatasetImportJob")
    assert {p["dataSource"]["dataLocation"] for _, p in imports} == {
        f"s3://{BUCKET}/train/bingewatch/{n}.csv" for n in ("interactions", "items", "users")}


def test_every_status_change_is_an_mpewml_event(aws):
    aws.upload_sample()
    jobs = train(validate()["plan"])
    received = aws.events()
    job_events = [e for e in received if e["detail-type"] == "Personalize Batch Segment Job State Change"]
    assert [e["detail"]["Status"] for e in job_events] == ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]
    for event in job_events:
        assert event["source"] == "solutions.aws.personalize"
        assert event["resources"] == [jobs[0]["arn"]]
        assert set(event["detail"]) == {"Arn", "Status", "Duration"}
        assert event["detail"]["Arn"] == jobs[0]["arn"]
    assert job_events[-1]["detail"]["Duration"] > 0
    kinds = {e["detail-type"] for e in received}
    assert kinds == {f"Personalize {k} State Change" for k in (
        "Dataset Group", "Schema", "Dataset", "Dataset Import Job", "Solution", "Solution Version", "Batch Segment Job")}


def test_same_config_uploaded_twice_starts_no_new_work(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    first = train(plan)
    before = len(aws.personalize.created())
    second = train(plan)
    assert len(aws.personalize.created()) == before
    assert second[0]["arn"] == first[0]["arn"]


def test_new_interactions_data_retrains_and_reruns_segments(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    first = train(plan)
    body = (DATA / "train/bingewatch/interactions.csv").read_text() + "u00001,m0001,0.5,watch,1735000000\n"
    aws.s3.put_object(Bucket=BUCKET, Key="train/bingewatch/interactions.csv", Body=body.encode())
    counts = {op: len(aws.personalize.created(op)) for op in ("CreateDatasetImportJob", "CreateSolutionVersion")}
    second = train(plan)
    assert len(aws.personalize.created("CreateDatasetImportJob")) == counts["CreateDatasetImportJob"] + 1
    assert len(aws.personalize.created("CreateSolutionVersion")) == counts["CreateSolutionVersion"] + 1
    assert second[0]["arn"] != first[0]["arn"]


def test_create_failed_raises_the_service_reason_and_publishes_it(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    group = ensure("datasetGroup", plan["datasetGroup"], {})
    dataset = plan["datasets"][0]
    schema = ensure("schema", dataset["schema"], {})
    ds = ensure("dataset", dataset, {"datasetGroupArn": group["arn"], "schemaArn": schema["arn"]})
    aws.events()
    aws.personalize.fail["bingewatch-interactions-"] = "Input CSV has 3 rows with a missing USER_ID"
    with pytest.raises(ResourceFailed, match="Dataset Import Job bingewatch-interactions-[0-9a-f]{8} failed: "
                                             "Input CSV has 3 rows with a missing USER_ID"):
        ensure("datasetImportJob", dataset, {"datasetArn": ds["arn"]})
    failed = [e for e in aws.events() if e["detail"]["Status"] == "CREATE FAILED"]
    assert len(failed) == 1
    assert failed[0]["detail-type"] == "Personalize Dataset Import Job State Change"
    assert failed[0]["detail"]["FailureReason"] == "Input CSV has 3 rows with a missing USER_ID"


def test_job_that_failed_in_an_earlier_run_is_retried_under_the_next_name(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    jobs = train(plan)
    aws.personalize.set_status(jobs[0]["arn"], "CREATE FAILED", "The role could not read the input")
    retried = train(plan)
    assert retried[0]["arn"] != jobs[0]["arn"]
    names = [p["jobName"] for _, p in aws.personalize.created("CreateBatchSegmentJob")]
    assert len(names) == 2 and names[0][:-8] == names[1][:-8]


def test_polling_budget_running_out_fails_the_resource_in_progress(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)).isoformat()
    with pytest.raises(PollingBudgetExceeded, match="Dataset Group bingewatch was still CREATE PENDING"):
        ensure("datasetGroup", plan["datasetGroup"], {}, deadline=past)


def test_throttling_and_full_quotas_become_retryable_errors(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    aws.personalize.throttle["DescribeDatasetGroup"] = 1
    with pytest.raises(ServiceThrottled):
        ensure("datasetGroup", plan["datasetGroup"], {})
    aws.personalize.throttle["DescribeDatasetGroup"] = 0
    aws.personalize.limit["CreateDatasetGroup"] = 1
    with pytest.raises(ServiceLimitExceeded):
        ensure("datasetGroup", plan["datasetGroup"], {})
    assert ensure("datasetGroup", plan["datasetGroup"], {})["status"] == "ACTIVE"


def test_existing_schema_with_another_definition_is_a_conflict(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    schema = dict(plan["datasets"][0]["schema"])
    ensure("schema", schema, {})
    changed = json.loads(schema["schema"])
    changed["fields"].append({"name": "DEVICE", "type": "string"})
    with pytest.raises(ResourceConflict, match="schema bingewatch-interactions-schema exists with another definition"):
        ensure("schema", {**schema, "schema": json.dumps(changed)}, {})


@pytest.mark.parametrize("status", ["CREATE STOPPING", "CREATE STOPPED"])
def test_a_stopped_solution_version_is_not_reused_and_a_new_one_is_trained(aws, status):
    aws.upload_sample()
    plan = validate()["plan"]
    train(plan)
    (_, first), = [(op, p) for op, p in aws.personalize.created("CreateSolutionVersion")]
    versions = [r for r in aws.personalize.resources if ":solution/" in r and r.count("/") == 2]
    aws.personalize.set_status(versions[0], status)
    train(plan)
    assert len(aws.personalize.created("CreateSolutionVersion")) == 2


def test_a_solution_version_stopped_while_the_run_waits_ends_the_wait_with_the_reason(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    group = ensure("datasetGroup", plan["datasetGroup"], {})
    solution = ensure("solution", plan["solutions"][0]["params"], {"datasetGroupArn": group["arn"]})
    current = ensure_handler.handler({"kind": "solutionVersion", "spec": plan["solutions"][0]["solutionVersion"],
                                      "parents": {"solutionArn": solution["arn"], "importsUpdatedAt": []},
                                      "current": {}, "deadline": "2099-01-01T00:00:00+00:00"}, CONTEXT)
    assert current["done"] is False
    aws.personalize.set_status(current["arn"], "CREATE STOPPED")
    with pytest.raises(ResourceFailed, match="was stopped \\(CREATE STOPPED\\) before it became ACTIVE"):
        ensure_handler.handler({"kind": "solutionVersion", "spec": {}, "parents": {}, "current": current,
                                "deadline": "2099-01-01T00:00:00+00:00"}, CONTEXT)


# ---------------------------------------------------------------- scheduled runs (validate_config/triggers.py)


def scheduled(plan: dict, schedule: dict, at: str) -> dict:
    """The plan of a run that ``schedule`` started at ``at``."""
    restricted, refusal = triggers.restrict({**plan, "schedules": [schedule]},
                                            {"kind": "schedule", "id": schedule["id"], "scheduledTime": at})
    assert refusal is None
    return restricted


def segment_schedule(plan: dict) -> dict:
    return {"id": "segments-0", "kind": "segments", "expression": "cron(0 3 * * ? *)", "timezone": "UTC",
            "solution": plan["solutions"][0]["params"]["name"], "job": 0}


def test_a_segment_schedule_runs_its_job_on_the_latest_active_version_once_per_firing(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    (first,) = train(plan)
    (_, trained), = aws.personalize.created("CreateSolutionVersion")
    before = {op: len(aws.personalize.created(op)) for op in ("CreateSolutionVersion", "CreateDatasetImportJob")}
    (tuesday,) = train(scheduled(plan, segment_schedule(plan), "2026-11-03T03:00:00Z"))
    assert {op: len(aws.personalize.created(op)) for op in before} == before  # no import, no training
    jobs = aws.personalize.created("CreateBatchSegmentJob")
    assert len(jobs) == 2 and tuesday["arn"] != first["arn"]
    assert jobs[-1][1]["solutionVersionArn"] == jobs[0][1]["solutionVersionArn"]  # the version trained before
    (again,) = train(scheduled(plan, segment_schedule(plan), "2026-11-03T03:00:00Z"))  # a duplicate trigger
    assert again["arn"] == tuesday["arn"] and len(aws.personalize.created("CreateBatchSegmentJob")) == 2
    train(scheduled(plan, segment_schedule(plan), "2026-11-04T03:00:00Z"))
    assert len(aws.personalize.created("CreateBatchSegmentJob")) == 3


def test_a_segment_schedule_uses_the_newest_active_version_not_a_newer_failed_one(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    train(plan)
    solution_arn = aws.personalize.created("CreateSolutionVersion")[0][1]["solutionArn"]
    (active,) = [arn for arn, r in aws.personalize.resources.items() if r.get("solutionVersionArn") == arn]
    failed = aws.personalize.client.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"]
    aws.personalize.set_status(failed, "CREATE FAILED", "Not enough interactions")
    train(scheduled(plan, segment_schedule(plan), "2026-11-03T03:00:00Z"))
    assert aws.personalize.created("CreateBatchSegmentJob")[-1][1]["solutionVersionArn"] == active


def test_a_segment_schedule_before_the_first_training_fails_with_the_reason(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    with pytest.raises(ResourceFailed, match="has no ACTIVE version yet: a segment schedule runs jobs on the latest "
                                             "trained version; upload the config to train one"):
        train(scheduled(plan, segment_schedule(plan), "2026-11-03T03:00:00Z"))


def test_a_full_schedule_retrains_once_per_firing_and_reruns_the_solutions_jobs(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    train(plan)
    full = {"id": "full", "kind": "full", "expression": "cron(0 0 ? * 1 *)", "timezone": "UTC",
            "solution": plan["solutions"][0]["params"]["name"]}
    at = aws.personalize.now().isoformat()  # the fake service's clock: later than the first version
    train(scheduled(plan, full, at))
    assert len(aws.personalize.created("CreateSolutionVersion")) == 2
    assert len(aws.personalize.created("CreateBatchSegmentJob")) == 2
    assert len(aws.personalize.created("CreateDatasetImportJob")) == 3  # the CSVs did not change
    train(scheduled(plan, full, at))  # a duplicate trigger
    assert len(aws.personalize.created("CreateSolutionVersion")) == 2


def test_an_import_schedule_imports_new_csvs_only_and_trains_nothing(aws):
    aws.upload_sample()
    plan = validate()["plan"]
    train(plan)
    imports = {"id": "import", "kind": "import", "expression": "rate(6 hours)", "timezone": "UTC"}
    assert train(scheduled(plan, imports, "2026-11-03T06:00:00Z")) == []
    assert len(aws.personalize.created("CreateDatasetImportJob")) == 3
    body = (DATA / "train/bingewatch/interactions.csv").read_text() + "u00001,m0001,0.5,watch,1735000000\n"
    aws.s3.put_object(Bucket=BUCKET, Key="train/bingewatch/interactions.csv", Body=body.encode())
    train(scheduled(plan, imports, "2026-11-03T12:00:00Z"))
    assert len(aws.personalize.created("CreateDatasetImportJob")) == 4
    assert len(aws.personalize.created("CreateSolutionVersion")) == 1


def test_a_run_of_a_schedule_the_config_no_longer_has_is_rejected_with_the_reason(aws):
    aws.upload_sample()
    result = validate_handler.handler({"bucket": BUCKET, "key": "train/bingewatch/config.json", "trigger": {
        "kind": "schedule", "id": "segments-gone-0", "scheduledTime": "2026-11-03T03:00:00Z"}}, None)
    assert result["valid"] is False and "plan" not in result
    assert result["errors"] == ["$: this run was started by the schedule 'segments-gone-0', which the config no "
                                "longer has; upload the config again to bring its schedules in line with it"]

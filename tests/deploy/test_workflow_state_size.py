"""State-size gate: every workflow of the library, run with the largest input its validator accepts,
keeps every state input and output under Step Functions' 256 KiB payload quota.

A payload over 262,144 bytes raises ``States.DataLimitExceeded``, which no Catch handles: the run
dies with no failure event and no notification. Each workflow runs here in moto's ASL interpreter
with its real handlers (as in the workflow tests), and every history event's input, output,
parameters and result is measured in UTF-8 bytes, as moto records it (Lambda payloads and task
parameters with the spaces of Python's ``json.dumps``, so a little larger than Step Functions'
compact JSON).

moto checks the quota too, but stops the run at the first oversized state; the gate turns that
check off so that it measures every state and names the largest.

Training: the validator bounds the plan (``training_config.MAX_PLAN_BYTES``); the configs below
fill it in the shapes that make the state largest for their plan size:

- ``many-jobs``: one solution with as many batch segment jobs as fit, each with one short inline
  query (the smallest plan entry a job can have), and every name at its longest: each job's
  result (ARN and output path, which repeat the dataset group, solution and job names) is larger
  than its part of the plan, and each job's workflowConfig adds a validation warning;
- ``long-queries``: jobs of up to 500 inline queries of 256-character item IDs: the plan is almost
  all query text, which the run's results do not repeat.

Spreading the jobs over solutions adds more to the plan (each solution's parameters) than to the
results (each solution version's ARN), so one solution is the worst case.

The measured state of a plan at the limit must stay under 256 KiB with the margin the limit was
derived with (``PLAN_SIZE_MARGIN``), so raising the limit without measuring again fails here.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import Callable

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template
from moto.stepfunctions.parser.asl.component.common.path import result_path as moto_result_path
from moto.stepfunctions.parser.asl.component.state import state as moto_state
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda as moto_lambda_task
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import \
    state_task_service as moto_service_task
from moto.stepfunctions.parser.asl.utils import json_path as moto_json_path

from training_pipeline.ensure_resource import handler as ensure_handler
from training_pipeline.schedule_runs import handler as schedule_handler
from segmentation_constructs import PersonalizeTrainingPipeline
from training_pipeline.validate_config import training_config
from tests.fakes import function_environment
from tests.fakes.templates import delivered
from tests.fakes import personalize as fake_personalize
from tests.fakes.environment import fake_aws
from tests.fakes.workflow import MOTO_CONFIG, REGION, LambdaRouter, function_names, history, lambda_arn, \
    logical_id, render_definition, run_execution
from training_pipeline.validate_config import handler as validate_handler

STATE_QUOTA = 262_144  # bytes: Step Functions' payload quota for a state's input, output and task data
PLAN_SIZE_MARGIN = 1.1  # the limit keeps the largest state measured 10% under the quota
# The longest names the validator and S3 allow; a bucket name is at most 63 characters.
LONG_BUCKET = ("segmentation-data-" + "b" * 63)[:63]
DATASET_GROUP = "g" * training_config.NAME_MAX
SOLUTION = "s" * (training_config.NAME_MAX - training_config.HASH_SUFFIX_LEN)
MAX_ITEM_ID = 256  # Personalize's longest item ID


# ---------------------------------------------------------------- measuring


@pytest.fixture(autouse=True)
def measure_every_state(monkeypatch):
    """moto's own quota check would end the run at the first oversized state; the gate measures them all.

    And two speed-ups for runs of a thousand states: moto parses every JSONPath again at each use
    (a new parser each time), so parsed paths are kept; FakePersonalize resources turn ACTIVE at
    their first describe, as polling only repeats states with the same data.
    """
    for module in (moto_state, moto_lambda_task, moto_service_task):
        monkeypatch.setattr(module, "is_within_size_quota", lambda value: True)
    for module in (moto_json_path, moto_result_path):
        monkeypatch.setattr(module, "parse", functools.lru_cache(maxsize=None)(module.parse))
    monkeypatch.setattr(fake_personalize, "PROGRESSION", fake_personalize.PROGRESSION[1:])


DATA_FIELDS = ("input", "output", "parameters", "result")


def state_sizes(execution_arn: str) -> list[tuple[int, str, str]]:
    """(bytes, event type and field, state name) of every piece of data in the execution's history."""
    found = history(execution_arn)
    by_id = {e["id"]: e for e in found}

    def state_of(event: dict) -> str:
        for _ in range(50):
            entered = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
            if entered:
                return entered["name"]
            if event.get("previousEventId") not in by_id:
                return "(execution)"
            event = by_id[event["previousEventId"]]
        return "?"

    sizes = []
    for event in found:
        for key, details in event.items():
            if not key.endswith("EventDetails") or not isinstance(details, dict):
                continue
            for field in DATA_FIELDS:
                if isinstance(details.get(field), str):
                    sizes.append((len(details[field].encode("utf-8")), f"{event['type']}.{field}", state_of(event)))
    return sizes


def failure(execution: dict) -> str:
    """Why a run failed: the error its Catch put in the state, else the execution's own."""
    for event in reversed(history(execution["executionArn"])):
        data = (event.get("stateEnteredEventDetails") or {}).get("input", "")
        if '"failure"' in data:
            return json.dumps(json.loads(data)["failure"])[:2000]
    return f"{execution.get('error')}: {execution.get('cause')}"


def largest_state(execution_arn: str) -> tuple[int, str, str]:
    return max(state_sizes(execution_arn))


def report(workflow: str, largest: tuple[int, str, str], **extra) -> None:
    size, where, state = largest
    more = "".join(f", {k} {v:,}" if isinstance(v, int) else f", {k} {v}" for k, v in extra.items())
    print(f"\nstate-size gate: {workflow}: largest state {size:,} bytes ({where} of {state}){more}")


def assert_under_quota(workflow: str, largest: tuple[int, str, str], *, margin: float = 1.0) -> None:
    size, where, state = largest
    assert size * margin <= STATE_QUOTA, (
        f"{workflow}: {where} of state {state} is {size:,} bytes"
        + (f" ({size * margin:,.0f} with the {margin - 1:.0%} margin the plan-size limit keeps)" if margin > 1 else "")
        + f"; Step Functions fails a run with a payload over {STATE_QUOTA:,} bytes (States.DataLimitExceeded, "
        "not catchable)")


# ---------------------------------------------------------------- training


def plan_bytes(plan: dict) -> int:
    """The plan's size as the validator measures it."""
    return len(json.dumps(plan))


INTERACTIONS_SCHEMA = {"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
                       "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                                  {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"}
CSV_HEADERS = {"interactions.csv": "USER_ID,ITEM_ID,TIMESTAMP\nu1,i1,1704181371\n"}
ITEM_AFFINITY = "arn:aws:personalize:::recipe/aws-item-affinity"


def training_config_of(jobs: list[dict]) -> dict:
    """An item-affinity config: the longest names, one solution holding ``jobs``."""
    return {
        "datasetGroup": {"serviceConfig": {"name": DATASET_GROUP}, "workflowConfig": {}},
        "datasets": {"interactions": {
            "dataset": {"serviceConfig": {"name": "i" * (training_config.NAME_MAX - training_config.HASH_SUFFIX_LEN)}},
            "schema": {"serviceConfig": {"name": "c" * training_config.NAME_MAX, "schema": INTERACTIONS_SCHEMA}}}},
        "solutions": [{"serviceConfig": {"name": SOLUTION, "recipeArn": ITEM_AFFINITY},
                       "workflowConfig": {}, "batchSegmentJobs": jobs}],
    }


def many_jobs(count: int, pad: int) -> dict:
    jobs = [{"workflowConfig": {}, "queries": [{"itemId": f"{i:x}"}]} for i in range(count)]
    if pad:
        jobs[-1]["queries"][0]["itemId"] += "p" * pad
    return training_config_of(jobs)


def long_queries(count: int, pad: int) -> dict:
    """``count`` queries, 500 a job (the most an item-affinity input file takes)."""
    ids = [f"{i:06d}".ljust(MAX_ITEM_ID, "q") for i in range(count)]
    if pad:
        ids.append("p" * pad)
    per_job = training_config.MAX_ITEM_IDS
    return training_config_of([{"queries": [{"itemId": i} for i in ids[start:start + per_job]]}
                               for start in range(0, len(ids), per_job)])


SHAPES: dict[str, tuple[Callable[[int, int], dict], int]] = {  # shape: (config of n units + padding, largest pad)
    "many-jobs": (many_jobs, MAX_ITEM_ID - 3),
    "long-queries": (long_queries, MAX_ITEM_ID),
}


def validated(config: dict, config_key: str):
    folder = config_key.rsplit("/", 1)[0] + "/"
    headers = {folder + name: text for name, text in CSV_HEADERS.items()}
    return training_config.validate(json.dumps(config), bucket=LONG_BUCKET, config_key=config_key,
                                    read_object=headers.get)


def largest_accepted(shape: str, config_key: str, limit: int) -> tuple[dict, int]:
    """The config of this shape with the largest plan the validator accepts, and that plan's size."""
    build, largest_pad = SHAPES[shape]

    def size(n: int, pad: int = 0) -> int:
        result = validated(build(n, pad), config_key)
        assert result.valid or result.plan is None, result.errors
        return plan_bytes(result.plan) if result.valid else limit + 1

    first, second = size(1), size(2)
    n = max(1, (limit - first) // (second - first) + 1)
    while size(n) > limit:
        n -= 1
    while size(n + 1) <= limit:
        n += 1
    pad = min(largest_pad, limit - size(n))  # a longer ID adds its characters (a new one a few more)
    while pad > 0 and size(n, pad) > limit:
        pad -= size(n, pad) - limit
    pad = max(pad, 0)
    config = build(n, pad)
    result = validated(config, config_key)
    assert result.valid, [str(p) for p in result.errors]
    return config, plan_bytes(result.plan)


@pytest.fixture(scope="module")
def training_template(cdk_app_context) -> dict:
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "StateSizeTraining")
    PersonalizeTrainingPipeline(stack, "Training", poll_interval=cdk.Duration.seconds(1),
                                polling_budget=cdk.Duration.minutes(5), upload_settle_time=cdk.Duration.seconds(0),
                                retry_interval=cdk.Duration.seconds(1))
    return Template.from_stack(stack).to_json()


@pytest.fixture
def training(training_template, monkeypatch):
    template = training_template
    bus_id = logical_id(template, "AWS::Events::EventBus", "EventBus")
    topic_id = logical_id(template, "AWS::SNS::Topic", "Topic")
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name=bus_id, topic_name=topic_id) as aws:
        aws.training_environment(template=template)
        aws.personalize.steps_to_active = 0
        aws.s3.create_bucket(Bucket=LONG_BUCKET)
        # Nothing here reads the resources' state-change events: no queue behind the bus.
        aws.events_client.remove_targets(Rule="capture", EventBusName=aws.bus_name, Ids=["q"])
        names = {**function_names(template), bus_id: aws.bus_name, f"{bus_id}.Arn": aws.bus_arn,
                 topic_id: aws.topic_arn}
        LambdaRouter(monkeypatch, {
            lambda_arn(logical_id(template, "AWS::Lambda::Function", "ValidateConfig")): validate_handler.handler,
            lambda_arn(logical_id(template, "AWS::Lambda::Function", "EnsureResource")): ensure_handler.handler,
            lambda_arn(logical_id(template, "AWS::Lambda::Function", "ScheduleRuns")): schedule_handler.handler,
        })
        aws.state_machine_arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="training", definition=render_definition(template, names),
            roleArn="arn:aws:iam::123456789012:role/workflow")["stateMachineArn"]
        yield aws


def config_key(folder: str) -> str:
    # A long folder makes the config's key long: it is in the plan, and beside it as the run's ConfigUri.
    return f"train/{folder.ljust(200, 'f')}/config.json"


@pytest.mark.parametrize("shape", SHAPES)
def test_the_largest_plan_the_validator_accepts_keeps_every_training_state_under_the_quota(training, shape):
    key = config_key(shape)
    limit = training_config.MAX_PLAN_BYTES
    config, size = largest_accepted(shape, key, limit)
    assert limit - size < 300, f"the {shape} config does not fill the plan: {size:,} of {limit:,} bytes"
    folder = key.rsplit("/", 1)[0] + "/"
    for name, text in CSV_HEADERS.items():
        training.s3.put_object(Bucket=LONG_BUCKET, Key=folder + name, Body=text.encode())
    training.s3.put_object(Bucket=LONG_BUCKET, Key=key, Body=json.dumps(config).encode())
    execution = run_execution(training.state_machine_arn, {"bucket": LONG_BUCKET, "key": key}, timeout=600)
    largest = largest_state(execution["executionArn"])
    report(f"training[{shape}]", largest, plan=size, ratio=f"{largest[0] / size:.3f}")
    assert_under_quota(f"training[{shape}]", largest, margin=PLAN_SIZE_MARGIN)
    assert execution["status"] == "SUCCEEDED", failure(execution)


def test_a_plan_one_job_over_the_limit_is_rejected():
    key = config_key("many-jobs")
    config, size = largest_accepted("many-jobs", key, training_config.MAX_PLAN_BYTES)
    config["solutions"][0]["batchSegmentJobs"].append({"queries": [{"itemId": "one-more"}]})
    result = validated(config, key)
    assert not result.valid and result.plan is None
    (problem,) = result.errors
    assert problem.path == "$" and f"{training_config.MAX_PLAN_BYTES:,}" in problem.message


# ---------------------------------------------------------------- audience export

# A job of the longest names the validator accepts, one output file (Personalize writes one .out file per
# input file, and a job has one), each line with the longest item ID. Lines go to the Distributed Map through S3
# and its results are discarded, so no state grows with them: the job runs with a few lines, then again with
# more, and the largest state must be the same size (up to the digits of its counts). Up to 500 lines (the most
# queries an item-affinity input file takes) then leave it as it is, without running 500 child executions here.
AUDIENCE_JOB = "j" * training_config.NAME_MAX
OUTPUT_PREFIX = f"batch/{DATASET_GROUP}/{SOLUTION}/{AUDIENCE_JOB}/output/"
LINES = (4, 40)
# What the object trigger takes: any .out file under its prefix, up to S3's 1,024-byte keys (a few lines: the
# job event's run shows the lines do not reach the state).
DROPPED_OUT_KEY = f"manual/{'m' * 500}/{'o' * 500}.json.out"
DROPPED_LINES = 10


@pytest.fixture(scope="module")
def audience_template(cdk_app_context) -> dict:
    from segmentation_constructs import BatchSegmentPostprocessor

    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "StateSizeAudiences")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
                              source_bucket=s3.Bucket.from_bucket_name(stack, "Data", LONG_BUCKET),
                              object_trigger_prefix="manual/", max_concurrency=10)
    return Template.from_stack(stack).to_json()


@pytest.fixture
def audiences(audience_template, monkeypatch):
    from batch_segment_postprocessor.export import handler as export_handler
    from batch_segment_postprocessor.plan import handler as plan_handler
    from batch_segment_postprocessor.publish import handler as publish_handler

    template = audience_template
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="bus") as aws:
        aws.s3.create_bucket(Bucket=LONG_BUCKET)
        function_environment.use(monkeypatch, template=template)
        monkeypatch.setattr(export_handler, "_suppression", {})
        LambdaRouter(monkeypatch, {
            lambda_arn(logical_id(template, "AWS::Lambda::Function", part)): handler
            for part, handler in (("Plan", plan_handler.handler), ("Export", export_handler.handler),
                                  ("Publish", publish_handler.handler))})
        definition = render_definition(template, function_names(template)).replace(
            '"EventBusName":"bus"', f'"EventBusName":"{aws.bus_arn}"')
        aws.state_machine_arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="audiences", definition=definition,
            roleArn="arn:aws:iam::123456789012:role/workflow")["stateMachineArn"]
        yield aws


def output_lines(count: int) -> bytes:
    return "".join(json.dumps({"input": {"itemId": f"{i:06d}".ljust(MAX_ITEM_ID, "q")},
                               "output": {"recommendedUsers": ["u1", "u2", "u3"]}}) + "\n"
                   for i in range(count)).encode()


def finished_job(aws, lines: int) -> str:
    client = aws.personalize.client
    solution = client.create_solution(
        name=SOLUTION, recipeArn=ITEM_AFFINITY,
        datasetGroupArn=f"arn:aws:personalize:{REGION}:123456789012:dataset-group/{DATASET_GROUP}")["solutionArn"]
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    arn = client.create_batch_segment_job(
        jobName=AUDIENCE_JOB, solutionVersionArn=version, roleArn="arn:aws:iam::123456789012:role/p",
        jobInput={"s3DataSource": {"path": f"s3://{LONG_BUCKET}/batch/{DATASET_GROUP}/{SOLUTION}/job_config.json"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{LONG_BUCKET}/{OUTPUT_PREFIX}"}})["batchSegmentJobArn"]
    aws.personalize.set_status(arn, "ACTIVE")
    aws.s3.put_object(Bucket=LONG_BUCKET, Key=OUTPUT_PREFIX + "job_config.json.out", Body=output_lines(lines))
    aws.s3.put_object(Bucket=LONG_BUCKET, Key=OUTPUT_PREFIX + "_SUCCESS", Body=b"")
    return arn


def eventbridge_event(source: str, detail_type: str, detail: dict, resources: list[str]) -> dict:
    """An event as EventBridge hands it to a rule's target: the envelope around the detail."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
            "account": "123456789012", "time": "2026-11-23T00:00:00Z", "region": REGION, "resources": resources,
            "detail": detail}


def test_the_largest_job_output_keeps_every_audience_export_state_under_the_quota(audiences):
    sizes = []
    arn = finished_job(audiences, LINES[0])
    for lines in LINES:
        # a new version of the output file: a new export of the same job, not a duplicate delivery
        audiences.s3.put_object(Bucket=LONG_BUCKET, Key=OUTPUT_PREFIX + "job_config.json.out", Body=output_lines(lines))
        event = eventbridge_event("solutions.aws.personalize", "Personalize Batch Segment Job State Change",
                                  {"Arn": arn, "Status": "ACTIVE", "Duration": 86_399.999}, [arn])
        execution = run_execution(audiences.state_machine_arn, event, timeout=600)
        assert execution["status"] == "SUCCEEDED", failure(execution)
        assert json.loads(execution["output"])["published"]["ready"] == lines
        largest = largest_state(execution["executionArn"])
        report("audience export (job event)", largest, lines=lines)
        assert_under_quota("audience export", largest)
        sizes.append(largest[0])
    assert sizes[-1] - sizes[0] <= 8, f"the largest state grows with the job's lines: {dict(zip(LINES, sizes))}"


def test_the_longest_dropped_output_file_keeps_every_audience_export_state_under_the_quota(audiences):
    assert len(DROPPED_OUT_KEY.encode()) <= 1024
    audiences.s3.put_object(Bucket=LONG_BUCKET, Key=DROPPED_OUT_KEY, Body=output_lines(DROPPED_LINES))
    event = eventbridge_event("aws.s3", "Object Created", {
        "version": "0", "bucket": {"name": LONG_BUCKET},
        "object": {"key": DROPPED_OUT_KEY, "size": 150_000, "etag": "0" * 32, "sequencer": "0" * 18},
        "request-id": "R" * 16, "requester": "123456789012", "source-ip-address": "203.0.113.7",
        "reason": "PutObject"}, [f"arn:aws:s3:::{LONG_BUCKET}"])
    execution = run_execution(audiences.state_machine_arn, event, timeout=600)
    largest = largest_state(execution["executionArn"])
    report("audience export (dropped .out file)", largest, lines=DROPPED_LINES)
    assert_under_quota("audience export", largest)
    assert execution["status"] == "SUCCEEDED", failure(execution)


# ---------------------------------------------------------------- audience importers

# The Audience Segment Ready event as segment_publish puts it, every field at its longest for a job the training
# pipeline ran: its query as long as a plan the validator accepts can hold (the plan carries it once), a
# 100-character segment name, a holdout file, the largest counts.
IMPORT_QUERY = 'ITEMS.GENRES = "' + "x" * (training_config.MAX_PLAN_BYTES - 17) + '"'


def ready_event() -> dict:
    from batch_segment_postprocessor.export.segments import segment_name

    name = segment_name(AUDIENCE_JOB, "itemAttributes", IMPORT_QUERY)
    job_arn = f"arn:aws:personalize:{REGION}:123456789012:batch-segment-job/{AUDIENCE_JOB}"
    segment = {"line": 10, "ordinal": 10, "source": f"s3://{LONG_BUCKET}/{OUTPUT_PREFIX}job_config.json.out",
               "queryKind": "itemAttributes", "query": IMPORT_QUERY, "name": name,
               "audienceKey": f"audiences/{AUDIENCE_JOB}/{name}.csv",
               "controlKey": f"audiences/{AUDIENCE_JOB}/control/{name}.csv", "userCount": 4_999_999,
               "controlCount": 4_999_999, "suppressedCount": 4_999_999, "duplicateCount": 4_999_999,
               "invalidCount": 4_999_999, "error": None}
    return eventbridge_event("segmentation.audiences", "Audience Segment Ready", {
        "jobName": AUDIENCE_JOB, "jobArn": job_arn, "bucket": LONG_BUCKET,
        "manifestUri": f"s3://{LONG_BUCKET}/audiences/{AUDIENCE_JOB}/manifest.json", "segment": segment}, [job_arn])


IMPORTERS = {  # destination: the importer's props
    "pinpoint-user-id": {"segment_kind": "user-id"},
    "pinpoint-endpoint-id": {"segment_kind": "endpoint-id", "endpoint_channels": ["EMAIL", "SMS"]},
    "connect": {},
}
UNRESOLVED_ENVIRONMENT = {"PINPOINT_APPLICATION_ID": "0123456789abcdef0123456789abcdef",
                          "IMPORT_ROLE_ARN": "arn:aws:iam::123456789012:role/pinpoint-import",
                          "EXPORT_ROLE_ARN": "arn:aws:iam::123456789012:role/pinpoint-export",
                          "DOMAIN_NAME": "audiences-domain"}


@pytest.fixture(scope="module", params=IMPORTERS)
def importer_template(request, cdk_app_context) -> tuple[str, dict]:
    from segmentation_constructs import ConnectCustomerProfilesSegmentImporter, PinpointSegmentImporter

    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "StateSizeImporter")
    common = {"event_bus": events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
              "audience_bucket": s3.Bucket.from_bucket_name(stack, "Data", LONG_BUCKET),
              "poll_interval": cdk.Duration.seconds(1), "retry_interval": cdk.Duration.seconds(1),
              "import_budget": cdk.Duration.minutes(5)}
    if request.param == "connect":
        ConnectCustomerProfilesSegmentImporter(stack, "Connect", data_expiry=cdk.Duration.days(90), **common)
    else:
        PinpointSegmentImporter(stack, "Pinpoint", **IMPORTERS[request.param], **common)
    return request.param, Template.from_stack(stack).to_json()


@pytest.fixture
def importer(importer_template, monkeypatch):
    from connect_segment_importer.importer import handler as connect_handler
    from pinpoint_segment_importer.importer import handler as pinpoint_handler
    from shared import aws as lambda_clients
    from tests.fakes.customer_profiles import FakeCustomerProfiles
    from tests.fakes.pinpoint import FakePinpoint
    from tests.fakes.workflow import import_workflow

    destination, template = importer_template
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="bus") as aws:
        aws.s3.create_bucket(Bucket=LONG_BUCKET)
        names = {n for f in function_environment.functions_of(template)
                 for n in function_environment.template_variables(f, template)}
        function_environment.use(monkeypatch, template=template,
                                 **{k: v for k, v in UNRESOLVED_ENVIRONMENT.items() if k in names})
        if destination == "connect":
            aws.profiles = FakeCustomerProfiles(lambda_clients.client("customer-profiles"))
            handler = connect_handler.handler
        else:
            aws.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"), s3=aws.s3, polls_to_complete=2)
            aws.pinpoint.endpoints = [{"Id": f"e{i}", "ChannelType": "EMAIL", "Address": f"e{i}@example.com",
                                       "EndpointStatus": "ACTIVE", "OptOut": "NONE",
                                       "User": {"UserId": f"u{i}", "UserAttributes": {}}} for i in range(3)]
            handler = pinpoint_handler.handler
        aws.state_machine_arn = import_workflow(monkeypatch, template, aws, handler, {
            lid: "app" for lid, r in template["Resources"].items() if r["Type"] == "AWS::Pinpoint::App"})
        aws.destination, aws.template = destination, template
        yield aws
        if destination == "connect":
            aws.profiles.uploads.close()


def test_the_largest_audience_event_keeps_every_import_state_under_the_quota(importer):
    event = ready_event()
    importer.s3.put_object(Bucket=LONG_BUCKET, Key=event["detail"]["segment"]["audienceKey"],
                           Body=b"User.UserId\nu0\nu1\nu2\n")
    execution = run_execution(importer.state_machine_arn, delivered(importer.template, "AudienceReady", event),
                              timeout=120)
    largest = largest_state(execution["executionArn"])
    report(f"{importer.destination} import", largest, event=len(json.dumps(event)))
    assert_under_quota(f"{importer.destination} import", largest)
    assert execution["status"] == "SUCCEEDED", failure(execution)
    (imported,) = importer.import_events()
    assert imported["Status"] == "IMPORTED"

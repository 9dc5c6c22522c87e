"""The asset gate: every function of the synthesized app, as deployed, imports and runs its main path.

The other handler tests import ``lambda_src`` in the dev venv, where every package is installed. Here the
example stack (every destination, endpoint-ID Pinpoint segments, so every function is present), as the package
gate's consumer app synthesized it from the installed wheel (tests/fakes/package.py), has each function's
staged code asset run with its layers in a stand-in for the
Lambda Python runtime (``tests/fakes/lambda_runtime.py``: a clean interpreter with only the standard
library and boto3's closure), with the environment of the template, against moto and the in-process fakes.
A module a handler imports that neither its asset nor its layers hold fails here as it would in Lambda.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import boto3
import pytest

from segmentation_constructs._lambda import ARCHITECTURE, RUNTIME
from segmentation_constructs.pinpoint_segment_importer import SEGMENT_KINDS
from shared import aws as lambda_clients
from shared.audiences import work_key
from tests.fakes.customer_profiles import FakeCustomerProfiles
from tests.fakes.environment import BUCKET, DATA, fake_aws
from tests.fakes.lambda_runtime import (
    RUNTIME_DISTRIBUTIONS,
    LambdaFunction,
    LambdaRuntime,
    read_assembly,
    native_extension_problems,
    resolve_environment,
    runtime_distribution_closure,
)
from tests.fakes.personalize import ACCOUNT, REGION
from tests.fakes.pinpoint import FakePinpoint
from tests.fakes.segment_jobs import ACTION, COMEDY, OUTPUT_PREFIX, job_event, segment_job
from tests.fakes.audience_events import KEY, NAME

pytestmark = pytest.mark.xdist_group("package")  # the package gate's assembly, on the worker that built it

# The example stack with every destination and endpoint-ID Pinpoint segments (every function), as the consumer
# app of the package gate synthesized it from the installed wheel, offline: the assets are what ships.
STACK = "ExampleAll"
PINPOINT_APP_ID = "0123456789abcdef0123456789abcdef"
DOMAIN_NAME = "audiences-domain"
STARTED = "2026-11-23T10:00:00.000Z"
JOB = "genre-segments-1a2b3c4d"
SOURCE_ID = "00112233aabbccdd"
AUDIENCE = b'User.UserId\nu1\n"u,2"\nu3\n'


@pytest.fixture(scope="module")
def functions(installed_package) -> list[LambdaFunction]:
    synth = installed_package.synth
    assert synth.returncode == 0, synth.stderr[-4000:]
    return read_assembly(installed_package.cdk_out, {STACK})


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> LambdaRuntime:
    return LambdaRuntime(tmp_path_factory.mktemp("lambda-runtime"))


def the_function(functions: list[LambdaFunction], handler: str) -> LambdaFunction:
    found = [f for f in functions if f.handler == handler]
    assert len(found) == 1, f"{len(found)} functions with handler {handler} in the assembly: {found}"
    return found[0]


def fake_names(aws) -> dict:
    """The fake behind each resource a template's environment refers to (by CloudFormation type)."""
    return {"AWS::S3::Bucket": BUCKET, "AWS::Events::EventBus": aws.bus_name, "AWS::SNS::Topic": aws.topic_arn,
            "AWS::Pinpoint::App": PINPOINT_APP_ID, "AWS::CustomerProfiles::Domain": DOMAIN_NAME,
            ("AWS::SQS::Queue", "Arn"): f"arn:aws:sqs:{REGION}:{ACCOUNT}:training-dead-letters"}


# ---------------------------------------------------------------- the stand-in itself


def throwaway_function(tmp_path: Path, source: str, *, layers: tuple[Path, ...] = ()) -> LambdaFunction:
    """A function of one handler module ``probe/handler.py``, with the library's runtime and CPU."""
    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "handler.py").write_text(textwrap.dedent(source))
    return LambdaFunction(stack="Throwaway", logical_id="Probe", handler="probe.handler.handler", runtime=RUNTIME.name,
                          architecture=ARCHITECTURE.name, code_dir=tmp_path, layer_dirs=layers, environment={},
                          timeout=30)


PROBE = """
    import importlib
    import sys

    def handler(event, context):
        found = {}
        for name in event["modules"]:
            try:
                importlib.import_module(name)
                found[name] = True
            except ImportError:
                found[name] = False
        return {"found": found, "path": sys.path, "remaining": context.get_remaining_time_in_millis()}
"""


def test_the_stand_in_holds_only_the_standard_library_boto3_and_the_asset(tmp_path, runtime):
    assert runtime_distribution_closure("boto3") == set(RUNTIME_DISTRIBUTIONS)
    runtime_modules = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3", "json", "ssl"]
    dev_modules = ["moto", "pytest", "ijson", "yaml", "aws_cdk", "cffi", "certifi", "requests", "shared",
                   "segmentation_constructs", "tests"]
    function = throwaway_function(tmp_path, PROBE)
    invocation = runtime.invoke(function, {"modules": runtime_modules + dev_modules}, environment={})
    result = invocation.check()
    assert result["found"] == {**{m: True for m in runtime_modules}, **{m: False for m in dev_modules}}
    assert result["path"][:2] == [str(tmp_path), str(runtime.boto3_dir)]
    assert not any(p.startswith(sys.prefix) or "site-packages" in p for p in result["path"]), result["path"]
    assert invocation.interpreter["no_site"] and invocation.interpreter["isolated"]
    assert not invocation.interpreter["site_imported"]
    assert 0 < result["remaining"] <= 30_000


def test_the_gate_fails_a_handler_that_imports_a_package_no_layer_provides(tmp_path, runtime):
    function = throwaway_function(tmp_path, "import ijson\n\ndef handler(event, context):\n    return {}\n")
    invocation = runtime.invoke(function, {}, environment={})
    assert invocation.outcome == "import_failed"
    assert invocation.error["type"] == "builtins.ModuleNotFoundError" and invocation.error["module"] == "ijson"
    with pytest.raises(AssertionError, match=r"Throwaway/Probe .*module 'ijson' could not be imported.*\n"
                                             r"The Lambda runtime would fail the same way"):
        invocation.check()


# ---------------------------------------------------------------- one invocation per function, its main path


def validate_config(aws, invoke):
    aws.upload_sample()
    result = invoke({"bucket": BUCKET, "key": "train/bingewatch/config.json", "executionStartTime": STARTED})
    assert result["valid"] is True and result["errors"] == [], result
    assert result["plan"]["bucket"] == BUCKET and result["plan"]["datasetGroup"]["name"] == "bingewatch"


def personalize_ensure(aws, invoke):
    spec = json.loads((DATA / "train/bingewatch/config.json").read_text())["datasetGroup"]["serviceConfig"]
    result = invoke({"kind": "datasetGroup", "spec": spec, "parents": {}, "current": {},
                     "deadline": "2099-01-01T00:00:00+00:00"})
    assert result["arn"] == f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset-group/bingewatch", result
    assert [operation for operation, _ in aws.personalize.created()] == ["CreateDatasetGroup"]
    assert "Personalize Dataset Group State Change" in {e["detail-type"] for e in aws.events()}


def schedule_runs(aws, invoke):
    # the group the construct names (a literal in the template): created by the stack, before any run
    boto3.client("scheduler", region_name=REGION).create_schedule_group(Name=os.environ["SCHEDULE_GROUP"])
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:training"
    result = invoke({"bucket": BUCKET, "key": "train/bingewatch/config.json", "stateMachineArn": machine,
                     "schedules": [{"id": "import", "kind": "import", "expression": "rate(6 hours)",
                                    "timezone": "UTC"}]})
    assert len(result["created"]) == 1 and result["created"][0].endswith("-import"), result


def segment_plan(aws, invoke):
    arn = segment_job(aws, {"job_config.json.out": [ACTION, COMEDY]}, name=JOB)
    result = invoke(job_event(arn))
    assert result["skip"] is False and result["lines"] == 2 and result["jobArn"] == arn, result
    items = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=result["itemsKey"])["Body"].read())
    assert [(i["line"], i["ordinal"]) for i in items] == [(1, 1), (2, 2)]


def segment_export(aws, invoke):
    line = json.dumps(ACTION).encode()
    key = f"{OUTPUT_PREFIX}job_config.json.out"
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=line + b"\n" + json.dumps(COMEDY).encode() + b"\n")
    result = invoke({"bucket": BUCKET, "key": key, "line": 1, "start": 0, "end": len(line), "ordinal": 1,
                     "jobName": JOB, "capacity": 1000, "sourceId": SOURCE_ID,
                     "audienceScope": f"arn:aws:personalize:us-east-1:123456789012:solution/{JOB}"})
    assert result["userCount"] == 3 and result["error"] is None, result
    written = [o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="audiences/").get("Contents", [])]
    (audience,) = [k for k in written if k.endswith(f"/{result['name']}.csv")]
    assert aws.s3.get_object(Bucket=BUCKET, Key=audience)["Body"].read() == b"User.UserId\nu1\nu2\nu3\n"


def segment_publish(aws, invoke):
    name = f"{JOB}-genres-action-0a1b2c3d"
    entry = {"line": 1, "ordinal": 1, "source": f"s3://{BUCKET}/{OUTPUT_PREFIX}job_config.json.out",
             "queryKind": "itemAttributes", "query": 'ITEMS.GENRES = "Action"', "name": name,
             "audienceKey": f"audiences/{JOB}/{name}.csv", "controlKey": None, "userCount": 3, "controlCount": 0,
             "suppressedCount": 0, "duplicateCount": 0, "error": None}
    aws.s3.put_object(Bucket=BUCKET, Key=work_key(JOB, f"{SOURCE_ID}/entries/000001.json"),
                      Body=json.dumps(entry).encode())
    job_arn = f"arn:aws:personalize:{REGION}:{ACCOUNT}:batch-segment-job/{JOB}"
    result = invoke({"jobName": JOB, "jobArn": job_arn, "sourceId": SOURCE_ID, "skip": False, "lines": 1,
                     "sourceFiles": [entry["source"]], "itemsKey": work_key(JOB, f"items-{SOURCE_ID}.json")})
    assert result == {"manifestUri": f"s3://{BUCKET}/audiences/{JOB}/manifest.json", "segments": 1, "ready": 1,
                      "errors": 0, "announced": 1, "held": []}
    ready = [e for e in aws.events() if e["detail-type"] == "Audience Segment Ready"]
    assert [e["detail"]["segment"]["name"] for e in ready] == [name]


def start_import(invoke, **overrides: str) -> dict:
    """The import workflow's first two calls, as the function sees them: check the delivered audience, start it."""
    delivered = {"bucket": BUCKET, "audienceKey": KEY, "segmentName": NAME, "jobName": "genre-job"}
    audience = invoke({"action": "check", "audience": delivered}, **overrides)
    assert audience["problem"] is None and audience["audienceKey"] == KEY, audience
    return invoke({"action": "start", "audience": audience}, **overrides)


def pinpoint_endpoint_ids(aws, invoke):
    aws.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"), s3=aws.s3)
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=AUDIENCE)
    result = start_import(invoke)
    assert result["state"] == "STARTED" and result["exportJobId"] in aws.pinpoint.exports, result
    assert aws.pinpoint.created() == []  # the import starts once the export is joined


def pinpoint_user_ids(aws, invoke):
    aws.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"), s3=aws.s3)
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=AUDIENCE)
    # The template is of endpoint-ID segments; the user-ID kind differs in this variable only (the export role
    # and channels it also sets are not read by the user-ID path).
    assert "user-id" in SEGMENT_KINDS
    result = start_import(invoke, SEGMENT_KIND="user-id")
    assert result["state"] == "STARTED" and result["importJobId"], result
    (request,) = aws.pinpoint.created()
    assert request["SegmentName"] == NAME and request["S3Url"] == f"s3://{BUCKET}/{KEY}"


def connect_import(aws, invoke):
    profiles = FakeCustomerProfiles(lambda_clients.client("customer-profiles"))
    try:
        aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=AUDIENCE)
        result = start_import(invoke)
        assert result["state"] == "STARTED" and result["importJobId"] in profiles.jobs, result
        (uploaded,) = profiles.uploads.files.values()  # PUT by the function to the pre-signed URL's server
        assert uploaded.decode().splitlines()[0] == "UserId,PersonalizeSegmentBatch"
        assert profiles.jobs[result["importJobId"]]["Status"] == "IN_PROGRESS"
    finally:
        profiles.uploads.close()



# ---------------------------------------------------------------- user erasure

def erasure_request(aws, invoke):
    aws.s3.put_object(Bucket=BUCKET, Key="erasure/requests/r1.csv", Body=b"USER_ID\nu1\nu2\n")
    accepted = invoke({"action": "accept", "request": {"bucket": BUCKET, "key": "erasure/requests/r1.csv"},
                       "executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:erasure:e1",
                       "startTime": STARTED, "deadlineDays": 30})
    assert accepted["state"] == "accepted" and accepted["users"] == 2, accepted
    suppressed = invoke({"action": "suppress", "requestId": accepted["requestId"], "erased": accepted["erased"]})
    assert suppressed["added"] == 2, suppressed


def erasure_personalize(aws, invoke):
    aws.personalize.client.create_dataset_group(name="bingewatch")
    aws.s3.put_object(Bucket=BUCKET, Key="train/bingewatch/config.json",
                      Body=json.dumps({"datasetGroup": {"serviceConfig": {"name": "bingewatch"}}}).encode())
    (group,) = invoke({"action": "groups"})["groups"]
    assert group["name"] == "bingewatch" and group["configKeys"] == ["train/bingewatch/config.json"], group
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:erasure:e1"
    locked = invoke({"action": "lock", "group": group, "executionArn": execution, "requestId": "ab" * 32})
    assert locked["state"] == "locked", locked


def erasure_scrub(aws, invoke):
    aws.s3.put_object(Bucket=BUCKET, Key="erasure/_work/r/users.csv", Body=b"USER_ID\nu1\nu2\n")
    aws.s3.put_object(Bucket=BUCKET, Key="train/bingewatch/users.csv", Body=b"USER_ID,AGE\nu1,30\nu3,41\n")
    aws.s3.put_object(Bucket=BUCKET, Key=f"{OUTPUT_PREFIX}job_config.json.out",
                      Body=(json.dumps(ACTION) + "\n").encode())
    swept = invoke({"action": "sweep", "erased": {"bucket": BUCKET, "key": "erasure/_work/r/users.csv"},
                    "areas": [{"bucket": BUCKET, "prefix": "train/"}, {"bucket": BUCKET, "prefix": "batch/"}]})
    assert swept["done"] and swept["counts"]["rewritten"] == 2 and swept["counts"]["rowsRemoved"] == 3, swept
    assert aws.s3.get_object(Bucket=BUCKET, Key="train/bingewatch/users.csv")["Body"].read() == b"USER_ID,AGE\nu3,41\n"


def erasure_destinations(aws, invoke):
    aws.s3.put_object(Bucket=BUCKET, Key="erasure/_work/r/users.csv", Body=b"USER_ID\nu1\nu2\n")
    aws.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"), s3=aws.s3)
    result = invoke({"destination": "pinpoint",
                     "erased": {"bucket": BUCKET, "key": "erasure/_work/r/users.csv"}})
    assert result["done"] and result["usersNotFound"] == 2, result


SCENARIOS = {
    "training_pipeline.validate_config": ("training_pipeline.validate_config.handler.handler", validate_config),
    "training_pipeline.ensure_resource": ("training_pipeline.ensure_resource.handler.handler", personalize_ensure),
    "training_pipeline.schedule_runs": ("training_pipeline.schedule_runs.handler.handler", schedule_runs),
    "batch_segment_postprocessor.plan": ("batch_segment_postprocessor.plan.handler.handler", segment_plan),
    "batch_segment_postprocessor.export": ("batch_segment_postprocessor.export.handler.handler", segment_export),
    "batch_segment_postprocessor.publish": ("batch_segment_postprocessor.publish.handler.handler", segment_publish),
    "pinpoint_segment_importer.importer[endpoint-id]": ("pinpoint_segment_importer.importer.handler.handler", pinpoint_endpoint_ids),
    "pinpoint_segment_importer.importer[user-id]": ("pinpoint_segment_importer.importer.handler.handler", pinpoint_user_ids),
    "connect_segment_importer.importer": ("connect_segment_importer.importer.handler.handler", connect_import),
    "user_erasure.request": ("user_erasure.request.handler.handler", erasure_request),
    "user_erasure.personalize": ("user_erasure.personalize.handler.handler", erasure_personalize),
    "user_erasure.scrub": ("user_erasure.scrub.handler.handler", erasure_scrub),
    "user_erasure.destinations": ("user_erasure.destinations.handler.handler", erasure_destinations),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_the_function_imports_and_runs_its_main_path_in_the_lambda_runtime(scenario, functions, runtime, monkeypatch):
    handler, run = SCENARIOS[scenario]
    function = the_function(functions, handler)
    with fake_aws(monkeypatch) as aws:
        environment = resolve_environment(function, fake_names(aws), region=REGION, account=ACCOUNT)
        for name, value in environment.items():  # test helpers reading it (shared.audiences) agree with the function
            monkeypatch.setenv(name, value)

        # The handlers' clients as the handler tests have them (fakes attached); moto's services by the fake's own.
        ready = {"s3": aws.s3, "events": aws.events_client, "sns": aws.sns, "sqs": aws.sqs}

        def clients(service: str):
            return ready.get(service) or lambda_clients.client(service)

        def invoke(event: dict, **overrides: str):
            invocation = runtime.invoke(function, event, environment={**environment, **overrides}, clients=clients,
                                        absent=() if function.layer_dirs else ("ijson",))
            print(invocation.summary())
            result = invocation.check()
            if invocation.ijson_file:
                assert any(invocation.ijson_file.startswith(str(layer)) for layer in function.layer_dirs), \
                    f"{function.name}: ijson came from {invocation.ijson_file}, not from a layer"
            return result

        run(aws, invoke)


def test_every_python_function_of_the_app_is_invoked_by_the_gate(functions):
    assert sorted({f.handler for f in functions}) == sorted({handler for handler, _ in SCENARIOS.values()})
    assert all(f.code_dir.is_dir() and (f.code_dir / f.module.split(".")[0]).is_dir() for f in functions)


def test_native_code_in_assets_and_layers_fits_each_functions_cpu_and_python(functions):
    """What the stand-in cannot load (this machine is x86_64, Python 3.11) is checked by its ELF header."""
    problems = {f.name: native_extension_problems(f) for f in functions}
    assert {name: found for name, found in problems.items() if found} == {}


def test_the_native_code_check_catches_an_extension_built_for_this_machine():
    import ijson.backends  # the dev venv's: x86_64, CPython 3.11

    venv_ijson = Path(ijson.backends.__file__).parent.parent
    function = LambdaFunction(stack="Throwaway", logical_id="VenvIjson", handler="ijson.handler", runtime="python3.14",
                              architecture="arm64", code_dir=venv_ijson, layer_dirs=(), environment={})
    problems = native_extension_problems(function)
    assert any("built for x86_64, the function runs on arm64" in p for p in problems), problems
    assert any("built for CPython 311, the function runs python3.14" in p for p in problems), problems


def test_with_the_ijson_layer_the_same_handler_imports_the_layers_ijson(tmp_path, functions, runtime):
    layers = the_function(functions, "batch_segment_postprocessor.export.handler.handler").layer_dirs
    assert layers, "the export function has no layer"
    function = throwaway_function(tmp_path, "import ijson\n\ndef handler(event, context):\n    return ijson.backend\n",
                                  layers=layers)
    invocation = runtime.invoke(function, {}, environment={})
    backend = invocation.check()
    print(f"ijson from the layer: backend {backend} ({invocation.ijson_file})")
    assert invocation.ijson_file.startswith(str(layers[0]))
    # Here (x86_64, Python 3.11) the layer's C extension (arm64, the runtime's Python) cannot load, so ijson
    # falls back to its pure-Python backend; in Lambda it is yajl2_c.
    assert backend in ("yajl2_c", "python")

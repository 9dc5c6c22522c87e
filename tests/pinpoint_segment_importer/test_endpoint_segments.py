"""Endpoint-ID segments: one endpoint export per import, joined with the audience as a stream.

The handler, the construct's roles and props, and its workflow run in moto's ASL interpreter.

Against moto S3 and the in-process Pinpoint (requests and responses checked against botocore's model),
which writes its export as gzipped JSON lines the way Pinpoint does.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from pinpoint_segment_importer.importer import endpoint_segments
from pinpoint_segment_importer.importer import handler as pinpoint_handler
from segmentation_constructs import PinpointSegmentImporter
from shared import aws as lambda_clients
from shared import claims
from shared.contract import Env, ImportFailed, ImportStarting, PollingBudgetExceeded, ServiceThrottled
from shared.s3_stream import MultipartWriter
from tests.fakes import function_environment
from tests.fakes.audience_events import KEY, NAME, Steps, ready_audience, ready_event
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.pinpoint import FakePinpoint
from tests.fakes.templates import delivered, policy_statements
from tests.fakes.workflow import MOTO_CONFIG, import_workflow, run_execution

AUDIENCE = b'User.UserId\nu1\n"u,2"\nu3\nu4\n'
steps = Steps(pinpoint_handler.handler)
redeliver, poll = steps.deliver, steps.poll


def endpoint(id_: str, user: str, channel: str = "EMAIL", **extra) -> dict:
    return {"Id": id_, "ChannelType": channel, "Address": f"{id_}@example.com", "EndpointStatus": "ACTIVE",
            "OptOut": "NONE", "User": {"UserId": user, "UserAttributes": {}}, **extra}


ENDPOINTS = [
    endpoint("e1", "u1"), endpoint("e1-sms", "u1", "SMS"),
    endpoint("e2", "u,2"), endpoint("e2-old", "u,2", EndpointStatus="INACTIVE"),
    endpoint("e3", "u3", OptOut="ALL"),
    endpoint("e9", "u9"),  # not in the audience
    {"Id": "anonymous", "ChannelType": "EMAIL", "Address": "x@example.com"},  # no user
]


# The references of the function's environment (the rest comes from the template: kind, channels, budget).
REFERENCES = {Env.AUDIENCE_BUCKET: BUCKET, Env.PINPOINT_APPLICATION_ID: "0123456789abcdef0123456789abcdef",
              Env.IMPORT_ROLE_ARN: "arn:aws:iam::123456789012:role/pinpoint-import",
              Env.EXPORT_ROLE_ARN: "arn:aws:iam::123456789012:role/pinpoint-export"}


@pytest.fixture
def aws(monkeypatch):
    with fake_aws(monkeypatch) as fake:
        function_environment.use(monkeypatch, "pinpoint_segment_importer.importer", **REFERENCES)  # every channel
        fake.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"), s3=fake.s3)
        fake.pinpoint.endpoints = list(ENDPOINTS)
        yield fake


def deliver(aws, body: bytes = AUDIENCE) -> tuple[dict, dict]:
    """The file written, then checked and its import started: (audience, import state)."""
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)
    return steps.deliver()


def keys(aws, prefix: str = "audiences/") -> list[str]:
    return [o["Key"] for o in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def operations(aws) -> list[str]:
    return [name for name, _ in aws.pinpoint.requests]


def test_the_audiences_messageable_endpoints_become_an_endpoint_id_segment(aws, caplog):
    caplog.set_level(logging.INFO)
    audience, started = deliver(aws)
    assert started["state"] == "STARTED" and aws.pinpoint.created() == []
    (export,) = aws.pinpoint.exports.values()
    assert started["marker"] == f"audiences/genre-job/_imports/pinpoint/{NAME}/{audience['etag']}.json"
    assert re.fullmatch(f"audiences/_exports/pinpoint/genre-job/{NAME}/{audience['etag']}/[0-9a-f]{{16}}/",
                        started["exportPrefix"])  # one folder per export: a later one never mixes with it
    assert export["Definition"] == {"RoleArn": "arn:aws:iam::123456789012:role/pinpoint-export",
                                    "S3UrlPrefix": f"s3://{BUCKET}/{started['exportPrefix']}"}
    resolving = poll(audience, started)  # the export completes: joined, then the import starts
    (request,) = aws.pinpoint.created()
    ids_key = f"{started['marker'].removesuffix('.json')}/endpoint-ids.csv"
    assert request == {"Format": "CSV", "S3Url": f"s3://{BUCKET}/{ids_key}", "DefineSegment": True,
                       "SegmentName": NAME, "RegisterEndpoints": False,
                       "RoleArn": "arn:aws:iam::123456789012:role/pinpoint-import"}
    assert aws.s3.get_object(Bucket=BUCKET, Key=ids_key)["Body"].read() == b"Id\ne1\ne1-sms\ne2\n"
    assert resolving["done"] is False and resolving["importJobId"]
    assert resolving["resolved"] == {"users": 4, "usersMatched": 2, "endpoints": 3, "inactive": 1, "optedOut": 1,
                                     "otherChannel": 0, "usersWithoutEndpoints": 2}  # u3 opted out, u4 has none
    assert keys(aws, "audiences/_exports/") == []  # every address exported is gone
    done = poll(audience, resolving)
    assert done["state"] == "IMPORTED" and done["size"] == 3 and done["segmentId"].startswith("seg-")
    assert done["exportJobId"] == started["exportJobId"] and done["resolved"]["usersWithoutEndpoints"] == 2
    assert keys(aws, ids_key) == []  # the endpoint IDs go once imported
    assert set(operations(aws)) == {"CreateExportJob", "GetExportJob", "CreateImportJob", "GetImportJob"}
    logged = caplog.text + " ".join(str(vars(record)) for record in caplog.records)  # extra= fields too
    assert "resolved" in logged and not any(word in logged for word in ("u1", "e1", "example.com"))


def test_channels_keep_only_the_endpoints_of_those_channels(aws, monkeypatch):
    monkeypatch.setenv(Env.ENDPOINT_CHANNELS, "SMS,PUSH")
    resolving = poll(*deliver(aws))
    key = aws.pinpoint.created()[0]["S3Url"].removeprefix(f"s3://{BUCKET}/")
    assert aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"Id\ne1-sms\n"
    assert resolving["resolved"]["usersWithoutEndpoints"] == 3 and resolving["resolved"]["otherChannel"] == 2


def test_a_file_delivered_again_during_the_export_joins_it_and_one_segment_is_imported(aws):
    audience, first = deliver(aws)
    again, second = redeliver()
    assert second["state"] == "STARTED" and second["exportJobId"] == first["exportJobId"]
    assert poll(audience, first)["importJobId"] == poll(again, second)["importJobId"]
    assert len(aws.pinpoint.exports) == 1 and len(aws.pinpoint.created()) == 1


def test_a_poll_racing_the_one_resolving_waits_then_joins_its_import(aws):
    audience, started = deliver(aws)
    lock = f"{started['marker'].removesuffix('.json')}/resolving"
    aws.s3.put_object(Bucket=BUCKET, Key=lock, Body=b"{}")  # another delivery is joining right now
    with pytest.raises(ImportStarting):
        poll(audience, started)
    aws.s3.delete_object(Bucket=BUCKET, Key=lock)
    assert poll(audience, started)["importJobId"] and len(aws.pinpoint.created()) == 1


def test_a_lock_left_by_an_invocation_that_timed_out_is_taken_over(aws, monkeypatch):
    audience, started = deliver(aws)
    lock = f"{started['marker'].removesuffix('.json')}/resolving"
    aws.s3.put_object(Bucket=BUCKET, Key=lock, Body=b"{}")
    monkeypatch.setattr(claims, "STALE", dt.timedelta(0))  # as if written 16 minutes ago
    assert poll(audience, started)["importJobId"] and len(aws.pinpoint.created()) == 1
    assert keys(aws, lock) == []


def test_a_full_import_quota_after_the_join_retries_the_import_without_joining_again(aws):
    """Pinpoint's TooManyRequestsException is ServiceThrottled (shared.aws.call), retried like ServiceLimitExceeded."""
    audience, started = deliver(aws)
    aws.pinpoint.busy = 1
    with pytest.raises(ServiceThrottled):
        poll(audience, started)
    exports_polled = operations(aws).count("GetExportJob")
    resolving = poll(audience, started)  # the workflow's retry
    assert resolving["importJobId"] and operations(aws).count("GetExportJob") == exports_polled + 1
    assert len(aws.pinpoint.jobs) == 1 and resolving["resolved"]["endpoints"] == 3


def test_a_failed_export_raises_pinpoints_reason_and_a_new_delivery_exports_again(aws):
    aws.pinpoint.fail_exports = "Access denied to s3://audiences/export/"
    audience, started = deliver(aws)
    with pytest.raises(ImportFailed, match="endpoint export .* failed: Access denied"):
        poll(audience, started)
    assert keys(aws, started["exportPrefix"]) == [] and keys(aws, started["marker"]) == []
    aws.pinpoint.fail_exports = ""
    audience, retried = redeliver()
    assert retried["state"] == "STARTED" and poll(audience, retried)["importJobId"]
    assert len(aws.pinpoint.exports) == 2


def test_an_audience_without_a_messageable_endpoint_fails_with_the_counts_and_imports_nothing(aws):
    aws.pinpoint.endpoints = [endpoint("e3", "u3", OptOut="ALL"), endpoint("e2", "u,2", EndpointStatus="INACTIVE"),
                              endpoint("e9", "u9")]
    with pytest.raises(ImportFailed, match=r"none of the 4 users of .* has an endpoint Pinpoint can message "
                                           r"\(1 inactive, 1 opted out, 0 on other channels\)"):
        poll(*deliver(aws))
    assert aws.pinpoint.created() == [] and [k for k in keys(aws) if "/_imports/" in k] == []
    assert keys(aws, "audiences/_exports/") == []


def test_an_export_line_that_is_not_an_endpoint_fails_naming_the_file_and_line(aws):
    audience, started = deliver(aws)
    aws.pinpoint.endpoints = [endpoint("e1", "u1"), endpoint("e2", "u,2"), "not an endpoint"]
    with pytest.raises(ImportFailed, match=r"/1\.gz line 1 is not an endpoint as JSON"):
        poll(audience, started)
    assert aws.pinpoint.created() == [] and keys(aws, "audiences/_exports/") == []
    aws.pinpoint.endpoints = list(ENDPOINTS)
    retried = poll(*redeliver())  # the file delivered again
    assert retried["resolved"]["endpoints"] == 3  # a fresh export, none of the bad one's lines


def test_endpoint_ids_over_1_gb_fail_and_their_partial_upload_is_aborted(aws, monkeypatch):
    monkeypatch.setattr(endpoint_segments, "MAX_BYTES", 10)  # stands for 1 GB
    monkeypatch.setattr(endpoint_segments, "MultipartWriter", functools.partial(MultipartWriter, part_size=4))
    with pytest.raises(ImportFailed, match=r"make 16 bytes; Pinpoint imports files under 1 GB"):
        poll(*deliver(aws))
    assert aws.pinpoint.created() == [] and keys(aws, "audiences/_exports/") == []
    assert aws.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert [k for k in keys(aws) if k.endswith("endpoint-ids.csv")] == []


def test_a_delivery_that_waited_on_the_lock_while_the_import_finished_reports_it_done(aws):
    audience, waiting = deliver(aws)  # the export-phase state a second delivery keeps retrying with
    poll(audience, poll(audience, waiting))
    done = poll(audience, waiting)
    assert done["done"] is True and done["state"] == "IMPORTED" and done["resolved"]["endpoints"] == 3
    assert done["exportJobId"] == waiting["exportJobId"] and len(aws.pinpoint.created()) == 1


def test_a_poll_after_another_delivery_gave_the_import_up_says_so(aws):
    audience, started = deliver(aws)
    aws.s3.delete_object(Bucket=BUCKET, Key=started["marker"])
    with pytest.raises(ImportFailed, match="another delivery of .* failed and gave the import up"):
        poll(audience, started)


def test_an_export_past_the_budget_fails_and_gives_the_file_up_for_a_fresh_export(aws):
    aws.pinpoint.polls_to_complete = 100
    audience, started = deliver(aws)
    assert poll(audience, started)["done"] is False
    with pytest.raises(PollingBudgetExceeded, match="endpoint export .* was still PROCESSING"):
        poll(audience, {**started, "deadline": "2000-01-01T00:00:00+00:00"})
    assert keys(aws, started["marker"]) == []  # unclaimed
    aws.pinpoint.polls_to_complete = 1
    audience, retried = redeliver()
    assert retried["exportPrefix"] != started["exportPrefix"] and len(aws.pinpoint.exports) == 2
    assert poll(audience, retried)["resolved"]["endpoints"] == 3


def test_an_import_of_the_joined_file_past_the_budget_keeps_its_claim_for_a_later_delivery(aws):
    aws.pinpoint.polls_to_complete = 2
    audience, started = deliver(aws)
    poll(audience, started)  # the export is still processing
    resolving = poll(audience, started)  # completed: joined and imported
    with pytest.raises(PollingBudgetExceeded, match=r"Pinpoint import \w+ of .* was still PROCESSING"):
        poll(audience, {**resolving, "deadline": "2000-01-01T00:00:00+00:00"})
    audience, later = redeliver()
    assert later["importJobId"] == resolving["importJobId"] and poll(audience, later)["state"] == "IMPORTED"
    assert len(aws.pinpoint.exports) == 1 and len(aws.pinpoint.created()) == 1


def test_a_stale_delivery_of_a_failed_export_leaves_a_later_deliverys_import_alone(aws):
    aws.pinpoint.fail_exports = "Access denied"
    audience, first = deliver(aws)
    with pytest.raises(ImportFailed):
        poll(audience, first)
    aws.pinpoint.fail_exports = ""
    _, second = redeliver()  # a new claim, a new export
    with pytest.raises(ImportFailed, match="a later delivery of .* started an import of its own"):
        poll(audience, first)  # a delivery that had joined the first export polls it once more
    assert aws.s3.get_object(Bucket=BUCKET, Key=second["marker"])  # the new claim stands
    assert poll(audience, second)["resolved"]["endpoints"] == 3 and len(aws.pinpoint.created()) == 1


def test_an_export_that_left_no_files_fails_saying_so(aws):
    aws.pinpoint.endpoints = []
    with pytest.raises(ImportFailed, match="left no files under audiences/_exports/pinpoint/.*: the project has no "
                                           "endpoints, or they expired"):
        poll(*deliver(aws))


def test_a_malformed_file_is_rejected_before_anything_is_exported(aws):
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"Id\ne1\n")
    assert "must start with the header User.UserId" in steps.check()["problem"]
    assert aws.pinpoint.exports == {}


def test_user_ids_with_quotes_and_non_ascii_letters_are_matched(aws):
    aws.pinpoint.endpoints = [endpoint("e-quote", 'u"q'), endpoint("e-umlaut", "jürgen"), endpoint("e-other", "u")]
    resolving = poll(*deliver(aws, 'User.UserId\n"u""q"\njürgen\n'.encode()))
    key = aws.pinpoint.created()[0]["S3Url"].removeprefix(f"s3://{BUCKET}/")
    assert aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"Id\ne-quote\ne-umlaut\n"
    assert resolving["resolved"]["usersWithoutEndpoints"] == 0

# ---------------------------------------------------------------- the construct


@pytest.fixture(scope="module")
def template_and_stack(cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "EndpointStack")
    PinpointSegmentImporter(stack, "Pinpoint", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
                            audience_bucket=s3.Bucket.from_bucket_name(stack, "Data", BUCKET),
                            segment_kind="endpoint-id", endpoint_channels=["EMAIL", "SMS"],
                            poll_interval=cdk.Duration.seconds(1), retry_interval=cdk.Duration.seconds(1),
                            import_budget=cdk.Duration.minutes(5))
    return Template.from_stack(stack), stack


@pytest.fixture(scope="module")
def template(template_and_stack):
    return template_and_stack[0]


def test_pinpoint_may_only_write_exports_and_only_for_this_project(template):
    (role_id,) = [lid for lid in template.find_resources("AWS::IAM::Role") if "ExportRole" in lid]
    trust = template.to_json()["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "pinpoint.amazonaws.com"}
    assert set(trust["Condition"]) == {"StringEquals", "ArnLike"}
    statements = policy_statements(template, "PinpointExportRole")
    (objects,) = [s for s in statements if s["Action"] != "s3:ListBucket"]
    assert objects["Action"] == "s3:PutObject"  # it cannot read back what it exported
    assert json.dumps(objects["Resource"]).endswith(f':s3:::{BUCKET}/audiences/_exports/pinpoint/*"]]' + "}")
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["audiences/_exports/pinpoint/*"]}}


def test_exports_expire_after_a_day_on_a_bucket_of_the_app_and_a_handed_in_one_gets_a_warning(
        example_template, template_and_stack):
    (rule,) = [r for bucket in example_template.find_resources("AWS::S3::Bucket").values()
               for r in bucket["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
               if r.get("Prefix") == "audiences/_exports/pinpoint/"]  # on the training bucket, the audiences' too
    assert rule["ExpirationInDays"] == 1 and rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    Annotations.from_stack(template_and_stack[1]).has_warning("/EndpointStack/Pinpoint", Match.string_like_regexp(
        "lifecycle rule .* expiring audiences/_exports/pinpoint/ .*after one day"))


def test_the_channel_types_accepted_at_synth_are_pinpoints_own():
    import botocore.session

    from segmentation_constructs.pinpoint_segment_importer import CHANNEL_TYPES

    model = botocore.session.get_session().get_service_model("pinpoint")
    assert list(CHANNEL_TYPES) == model.shape_for("ChannelType").enum


def test_the_importer_is_told_the_kind_channels_and_export_role_and_may_export(template):
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["SEGMENT_KIND"] == "endpoint-id" and variables["ENDPOINT_CHANNELS"] == "EMAIL,SMS"
    assert function["Properties"]["Timeout"] == 900 and function["Properties"]["MemorySize"] == 1769  # the join
    assert "PinpointExportRole" in json.dumps(variables["EXPORT_ROLE_ARN"])
    actions = {a for s in policy_statements(template, "PinpointImporterRole")
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"mobiletargeting:CreateExportJob", "mobiletargeting:GetExportJob", "s3:ListBucket"} <= actions


@pytest.mark.parametrize("props, message", [
    ({"segment_kind": "endpoints"}, "segment_kind must be one of 'user-id', 'endpoint-id'; got 'endpoints'"),
    ({"endpoint_channels": ["EMAIL"]}, r"endpoint_channels must be left out unless segment_kind='endpoint-id' \(only "
                                       r"endpoint-ID segments keep some channels\)"),
    ({"segment_kind": "endpoint-id", "endpoint_channels": ["EMAIL", "WHATSAPP"]},
     r"endpoint_channels must be a non-empty list of some of PUSH, .*EMAIL.*; got \['EMAIL', 'WHATSAPP'\]"),
    ({"segment_kind": "endpoint-id", "endpoint_channels": []},
     r"endpoint_channels must be a non-empty list of .*; got \[\]"),
    ({"drop_prefix": "audiences/"}, "drop_prefix='audiences/' overlaps audience_prefix='audiences/': the "
                                    "post-processor's audience files and the importers' work files would be imported"),
])
def test_bad_segment_props_are_named_at_synth(props, message):
    stack = cdk.Stack(cdk.App())
    with pytest.raises(ValueError, match=message):
        PinpointSegmentImporter(stack, "Pinpoint", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
                                audience_bucket=s3.Bucket.from_bucket_name(stack, "Data", BUCKET), **props)


@pytest.fixture
def workflow(template, monkeypatch):
    tjson = template.to_json()
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="bus") as aws:
        function_environment.use(monkeypatch, "pinpoint_segment_importer.importer", template=tjson, **REFERENCES)
        aws.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"), s3=aws.s3, polls_to_complete=2)
        aws.pinpoint.endpoints = list(ENDPOINTS)
        aws.state_machine_arn = import_workflow(monkeypatch, tjson, aws, pinpoint_handler.handler, {})
        aws.run = lambda: run_execution(aws.state_machine_arn, delivered(tjson, "AudienceReady", ready_event()))
        yield aws


def test_the_handler_tests_deliver_audiences_as_the_rule_does(template):
    assert delivered(template.to_json(), "AudienceReady", ready_event()) == {"audience": ready_audience()}


def test_the_workflow_exports_joins_imports_and_reports_the_users_without_endpoints(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=AUDIENCE)
    assert workflow.run()["status"] == "SUCCEEDED"
    (imported,) = workflow.import_events()
    (export_id,) = workflow.pinpoint.exports
    assert imported["Status"] == "IMPORTED" and imported["Size"] == 3 and imported["UsersWithoutEndpoints"] == 2
    assert imported["ExportJobId"] == export_id and imported["SegmentId"].startswith("seg-")
    again = workflow.run()
    assert again["status"] == "SUCCEEDED" and workflow.import_events() == [] and len(workflow.pinpoint.exports) == 1


def test_a_failed_export_reaches_the_failed_event_with_pinpoints_reason(workflow):
    workflow.s3.put_object(Bucket=BUCKET, Key=KEY, Body=AUDIENCE)
    workflow.pinpoint.fail_exports = "The role cannot write to the bucket"
    execution = workflow.run()
    assert execution["status"] == "FAILED" and execution["error"] == "AudienceImportFailed"
    (failed,) = workflow.import_events()
    assert failed["Status"] == "FAILED" and "The role cannot write to the bucket" in failed["Cause"]
    assert workflow.pinpoint.created() == []


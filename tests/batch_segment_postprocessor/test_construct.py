"""BatchSegmentPostprocessor's template: triggers that match the MPEwML event, the Distributed Map, IAM."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from segmentation_constructs import BatchSegmentPostprocessor
from tests.fakes.templates import all_states, definition, policy_statements, resources
from tests.fakes.templates import matches

MPEWML_EVENT = {
    "id": "1", "account": "123456789012", "region": "us-east-1", "time": "2026-11-23T10:00:00Z",
    "version": "0", "source": "solutions.aws.personalize",
    "detail-type": "Personalize Batch Segment Job State Change",
    "resources": ["arn:aws:personalize:us-east-1:123456789012:batch-segment-job/batch_bw_2026_11_23"],
    "detail": {"Arn": "arn:aws:personalize:us-east-1:123456789012:batch-segment-job/batch_bw_2026_11_23",
               "Status": "ACTIVE", "Duration": 1234.5},
}


@pytest.fixture(scope="module")
def stack_and_template(cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Audiences")
    bus = events.EventBus.from_event_bus_name(stack, "MpewmlBus", "mpewml-bus")
    bucket = s3.Bucket.from_bucket_name(stack, "Data", "personalize-data")
    optouts = s3.Bucket.from_bucket_name(stack, "OptOuts", "crm-exports")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=bus, source_bucket=bucket, object_trigger_prefix="manual/",
                              holdout_percent=10, suppression_list_bucket=optouts,
                              suppression_list_key="optouts/current.csv", max_concurrency=7)
    return stack, Template.from_stack(stack)


@pytest.fixture(scope="module")
def template(stack_and_template):
    return stack_and_template[1]


def rule_pattern(template, logical_id_part):
    (rule,) = [r for lid, r in resources(template, "AWS::Events::Rule").items() if logical_id_part in lid]
    return rule["Properties"]["EventPattern"]


def test_rule_on_the_handed_in_bus_matches_the_mpewml_active_event(template):
    template.has_resource_properties("AWS::Events::Rule", {"EventBusName": "mpewml-bus",
                                                           "EventPattern": Match.any_value()})
    pattern = rule_pattern(template, "SegmentJobActive")
    assert matches(pattern, MPEWML_EVENT)
    assert not matches(pattern, {**MPEWML_EVENT, "detail": {**MPEWML_EVENT["detail"], "Status": "CREATING"}})
    assert not matches(pattern, {**MPEWML_EVENT, "detail-type": "Personalize Solution Version State Change"})


def test_object_trigger_matches_out_files_under_its_prefix_only(template):
    pattern = rule_pattern(template, "OutputFileCreated")
    event = {**MPEWML_EVENT, "source": "aws.s3", "detail-type": "Object Created",
             "detail": {"bucket": {"name": "personalize-data"}, "object": {"key": "manual/spring/queries.json.out"}}}
    assert matches(pattern, event)
    assert not matches(pattern, {**event, "detail": {**event["detail"], "object": {"key": "manual/spring/x.json"}}})
    assert not matches(pattern, {**event, "detail": {**event["detail"], "object": {"key": "batch/x.json.out"}}})


def test_lines_are_exported_by_a_distributed_map_with_bounded_concurrency(template):
    states = all_states(definition(template, "AudiencesWorkflow"))
    export = states["ExportSegments"]
    assert export["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert export["MaxConcurrency"] == 7
    assert export["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert export["ItemReader"]["Parameters"]["Key.$"] == "$.plan.itemsKey"
    assert states["AlreadyExported?"]["Choices"][0]["Variable"] == "$.plan.skip"
    for name in ("PlanExport", "ExportSegments", "PublishAudiences"):
        assert states[name]["Catch"][0]["Next"] == "PublishExportFailed"


def test_export_function_gets_holdout_and_suppression_settings(template):
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "batch_segment_postprocessor.export.handler.handler", "MemorySize": 1769, "Timeout": 900,
        "Layers": [Match.any_value()],
        "Environment": {"Variables": Match.object_like({
            "HOLDOUT_PERCENT": "10", "SUPPRESSION_LIST_URI": "s3://crm-exports/optouts/current.csv"})}})


def test_ijson_layer_is_for_arm64_and_the_function_runtime(template):
    template.has_resource_properties("AWS::Lambda::LayerVersion", {
        "CompatibleArchitectures": ["arm64"], "CompatibleRuntimes": ["python3.14"]})


def test_export_reads_only_batch_output_and_writes_only_audiences(template):
    statements = policy_statements(template, "AudiencesExportRole")
    text = json.dumps(statements)
    assert "personalize-data/batch/*" in text and "personalize-data/audiences/*.csv" in text
    assert "crm-exports/optouts/current.csv" in text
    assert "personalize-data/*" not in text and '"s3:*"' not in text


def test_plan_may_describe_batch_segment_jobs_only(template):
    statements = policy_statements(template, "AudiencesPlanRole")
    personalize = [s for s in statements if "personalize" in json.dumps(s["Action"])]
    assert [s["Action"] for s in personalize] == ["personalize:DescribeBatchSegmentJob"]


def test_handed_in_bucket_gets_eventbridge_delivery_without_losing_its_notifications(template):
    template.has_resource_properties("Custom::S3BucketNotifications", {"BucketName": "personalize-data",
                                                                       "Managed": False})


BUS = "one of the app's event buses"
BUCKET = "one of the app's buckets"  # placeholders the test replaces with constructs of its stack
IS_BUS = "must be an events.IEventBus (an events.EventBus, or events.EventBus.from_event_bus_name(scope, id, name))"
IS_BUCKET = "must be an s3.IBucket (an s3.Bucket, or s3.Bucket.from_bucket_name(scope, id, name))"
IS_PREFIX = "must be a key prefix of the bucket that ends with '/' and does not start with it, like {!r} (not an " \
            "s3:// URI or ARN, no * or ?); got {!r}"
HOLDOUT = "holdout_percent must be a number from 0 to 50 in steps of 0.01 (each user's group is drawn out of " \
          "10,000); got "
KEY = "suppression_list_key must be the key of one object of the bucket, like 'optouts/current.csv' (not a " \
      "folder, an s3:// URI or ARN; no leading '/', no * or ?); got "
REMOVAL = "removal_policy must be RemovalPolicy.RETAIN, RemovalPolicy.DESTROY or " \
          "RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE"


@pytest.mark.parametrize("props, message", [
    ({"event_bus": "mpewml-bus"}, f"event_bus {IS_BUS}; got 'mpewml-bus'"),
    ({"event_bus": None}, f"event_bus {IS_BUS}; got None"),
    ({"source_bucket": "personalize-data"}, f"source_bucket {IS_BUCKET}; got 'personalize-data'"),
    ({"batch_output_prefix": "s3://personalize-data/batch/"},
     "batch_output_prefix " + IS_PREFIX.format("batch/", "s3://personalize-data/batch/")),
    ({"audience_bucket": "audiences-bucket"}, f"audience_bucket {IS_BUCKET}, or left out; got 'audiences-bucket'"),
    ({"audience_prefix": "arn:aws:s3:::personalize-data/audiences/"},
     "audience_prefix " + IS_PREFIX.format("audiences/", "arn:aws:s3:::personalize-data/audiences/")),
    ({"object_trigger_prefix": "manual"}, "object_trigger_prefix " + IS_PREFIX.format("manual/", "manual")),
    ({"object_trigger_prefix": ""}, "object_trigger_prefix " + IS_PREFIX.format("manual/", "")),
    ({"object_trigger_prefix": "batch/manual/"}, "object_trigger_prefix must be a prefix outside batch_output_prefix "
     "('batch/') and not containing it: a job's output under both would be exported twice; got 'batch/manual/'"),
    ({"object_trigger_prefix": "batch/", "batch_output_prefix": "batch/jobs/"}, "object_trigger_prefix must be a "
     "prefix outside batch_output_prefix ('batch/jobs/') and not containing it"),
    ({"holdout_percent": 12.345}, HOLDOUT + "12.345"),  # the export draws out of 10,000: 12.345 would be 12.34
    ({"holdout_percent": True}, HOLDOUT + "True (a bool)"),
    ({"holdout_percent": "10"}, HOLDOUT + "'10'"),
    ({"suppression_list_bucket": "crm-exports", "suppression_list_key": "optouts/current.csv"},
     f"suppression_list_bucket {IS_BUCKET}, or left out; got 'crm-exports'"),
    ({"suppression_list_bucket": BUCKET, "suppression_list_key": "s3://crm-exports/optouts/current.csv"},
     KEY + "'s3://crm-exports/optouts/current.csv'"),
    ({"suppression_list_bucket": BUCKET, "suppression_list_key": "optouts/"}, KEY + "'optouts/'"),
    ({"suppression_list_bucket": BUCKET}, "suppression_list_bucket and suppression_list_key must be given together, "
                                          "or both left out; got only suppression_list_bucket"),
    ({"max_concurrency": 2.5}, "max_concurrency must be a whole number from 1 to 1000; got 2.5"),
    ({"hold_threshold": 0}, "hold_threshold must be a number from 0.01 to 10"),
    ({"hold_threshold": "0.5"}, "hold_threshold must be a number from 0.01 to 10"),
    ({"superseded_retention": 30}, "superseded_retention must be a Duration of whole days"),
    ({"max_concurrency": "10"}, "max_concurrency must be a whole number from 1 to 1000; got '10'"),
    ({"topic": "arn:aws:sns:us-east-1:123456789012:alerts"}, "topic must be an sns.ITopic (an sns.Topic, or "
     "sns.Topic.from_topic_arn(scope, id, arn)), or left out; got 'arn:aws:sns:us-east-1:123456789012:alerts'"),
    ({"removal_policy": "RETAIN"}, f"{REMOVAL} (its resources cannot be snapshotted); got 'RETAIN'"),
    ({"removal_policy": cdk.RemovalPolicy.SNAPSHOT}, f"{REMOVAL} (its resources cannot be snapshotted); got "
                                                     "RemovalPolicy.SNAPSHOT"),
])
def test_misuse_fails_at_synth_with_a_clear_message(props, message):
    stack = cdk.Stack(cdk.App())
    built = {BUS: events.EventBus(stack, "Bus"), BUCKET: s3.Bucket.from_bucket_name(stack, "OptOuts", "crm-exports")}
    props = {name: built.get(value, value) if isinstance(value, str) else value for name, value in props.items()}
    with pytest.raises(ValueError, match=re.escape(message)):
        BatchSegmentPostprocessor(stack, "Audiences", **{
            "event_bus": built[BUS], "source_bucket": s3.Bucket(stack, "B"), **props})


@pytest.mark.parametrize("props", [
    {"holdout_percent": 12.34}, {"holdout_percent": 50}, {"holdout_percent": 0.01}, {"max_concurrency": 1000},
    {"object_trigger_prefix": "manual/spring/", "suppression_list_bucket": BUCKET,
     "suppression_list_key": "optouts.csv"},
    {"audience_bucket": BUCKET, "removal_policy": cdk.RemovalPolicy.DESTROY, "topic": None},
])
def test_the_values_the_props_accept_still_build(props):
    stack = cdk.Stack(cdk.App())
    bucket = s3.Bucket.from_bucket_name(stack, "Other", "crm-exports")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
                              source_bucket=s3.Bucket(stack, "B"),
                              **{name: bucket if value is BUCKET else value for name, value in props.items()})


# ------------------------------------------------------------------ the object trigger's EventBridge warning

EVENTBRIDGE_WARNING = "segmentation:object-trigger-needs-eventbridge"


def object_trigger_warnings(make_bucket) -> list:
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = cdk.Stack(app, "Warned")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus(stack, "Bus"),
                              source_bucket=make_bucket(stack), object_trigger_prefix="manual/")
    return Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp(EVENTBRIDGE_WARNING))


def test_a_bucket_of_the_app_without_eventbridge_gets_the_warning():
    assert len(object_trigger_warnings(lambda stack: s3.Bucket(stack, "Data"))) == 1


def test_a_bucket_of_the_app_with_eventbridge_gets_no_warning():
    assert object_trigger_warnings(lambda stack: s3.Bucket(stack, "Data", event_bridge_enabled=True)) == []


def test_a_bucket_whose_cfn_bucket_enables_eventbridge_gets_no_warning():
    def bucket(stack):
        data = s3.Bucket(stack, "Data")
        data.node.default_child.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(event_bridge_enabled=True))
        return data
    assert object_trigger_warnings(bucket) == []


def test_the_training_pipelines_bucket_gets_no_warning():
    from segmentation_constructs import PersonalizeTrainingPipeline

    assert object_trigger_warnings(lambda stack: PersonalizeTrainingPipeline(stack, "Training").bucket) == []


def test_out_files_under_the_object_trigger_prefix_are_readable_by_plan_and_export(template):
    for role in ("AudiencesPlanRole", "AudiencesExportRole"):
        reads = [s for s in policy_statements(template, role) if s["Action"] == "s3:GetObject"]
        assert any("personalize-data/manual/*.out" in json.dumps(s["Resource"]) for s in reads), role


# ------------------------------------------------------------------ the public surface


@pytest.fixture(scope="module")
def tuned(cdk_app_context):
    """Every function's settings overridden, and a role granted the audiences."""
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs

    from segmentation_constructs import FunctionSettings

    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Tuned")
    audiences = BatchSegmentPostprocessor(
        stack, "Audiences", event_bus=events.EventBus.from_event_bus_name(stack, "Bus", "bus"),
        source_bucket=s3.Bucket.from_bucket_name(stack, "Data", "personalize-data"),
        export_function_settings=FunctionSettings(memory_size=3008, timeout=cdk.Duration.minutes(10),
                                                  log_retention=logs.RetentionDays.ONE_YEAR,
                                                  tracing=lambda_.Tracing.ACTIVE),
        plan_function_settings=FunctionSettings(memory_size=1024))
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    audiences.grant_read_audiences(reader)
    return audiences, Template.from_stack(stack)


def test_function_settings_set_memory_timeout_log_retention_and_tracing_of_that_function_only(tuned):
    audiences, template = tuned
    functions = {lid: r["Properties"] for lid, r in resources(template, "AWS::Lambda::Function").items()
                 if "Audiences" in lid}
    export = next(p for lid, p in functions.items() if lid.startswith("AudiencesExport"))
    plan = next(p for lid, p in functions.items() if lid.startswith("AudiencesPlan"))
    publish = next(p for lid, p in functions.items() if lid.startswith("AudiencesPublish"))
    assert (export["MemorySize"], export["Timeout"], export["TracingConfig"]) == (3008, 600, {"Mode": "Active"})
    assert (plan["MemorySize"], plan["Timeout"], "TracingConfig" in plan) == (1024, 900, False)
    assert (publish["MemorySize"], publish["Timeout"]) == (256, 300)  # the defaults
    retention = {lid: r["Properties"]["RetentionInDays"] for lid, r in resources(template, "AWS::Logs::LogGroup").items()
                 if lid.startswith(("AudiencesExport", "AudiencesPlan"))}
    assert sorted(retention.values()) == [90, 365]


def test_functions_state_machine_and_log_groups_are_exposed_for_alarms(tuned):
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs

    audiences, _ = tuned
    for function in (audiences.plan_function, audiences.export_function, audiences.publish_function):
        assert isinstance(function, lambda_.Function) and isinstance(function.log_group, logs.LogGroup)
    assert isinstance(audiences.workflow_log_group, logs.LogGroup)
    assert audiences.state_machine.metric_failed() is not None


def test_grant_read_audiences_covers_audience_and_control_files_and_manifests_not_work_files(tuned):
    _, template = tuned
    (statement,) = [s for s in policy_statements(template, "Reader") if s["Action"] == "s3:GetObject"]
    rendered = json.dumps(statement["Resource"])
    assert "/audiences/*.csv" in rendered and "/audiences/*/manifest.json" in rendered
    assert '/audiences/*"' not in rendered  # not the whole prefix: work files and endpoint exports stay private


@pytest.mark.parametrize("settings, message", [
    ({"memory_size": 64}, "export_function_settings.memory_size must be a whole number of MB from 128 to 10240"),
    ({"timeout": 60}, "export_function_settings.timeout must be a Duration"),
    ({"timeout": cdk.Duration.minutes(20)}, "from 1 second to 15 minutes"),
    ({"log_retention": 30}, "export_function_settings.log_retention must be a logs.RetentionDays"),
])
def test_function_settings_out_of_range_fail_at_synth_naming_the_prop(settings, message):
    from segmentation_constructs import FunctionSettings

    stack = cdk.Stack(cdk.App())
    with pytest.raises(ValueError, match=message):
        BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus(stack, "Bus"),
                                  source_bucket=s3.Bucket(stack, "B"),
                                  export_function_settings=FunctionSettings(**settings))


def test_function_settings_of_the_wrong_type_fail_at_synth_naming_the_prop():
    stack = cdk.Stack(cdk.App())
    with pytest.raises(ValueError, match="plan_function_settings must be a FunctionSettings"):
        BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus(stack, "Bus"),
                                  source_bucket=s3.Bucket(stack, "B"), plan_function_settings={"memory_size": 512})


# ------------------------------------------------------------------ superseded audience versions


def superseded_rules(stack_of) -> tuple[list[dict], list[str]]:
    """(the lifecycle rules that expire superseded versions, the warnings about them) in an app whose audience bucket
    ``stack_of(stack)`` makes."""
    app = cdk.App()
    stack = cdk.Stack(app, "S")
    bucket = stack_of(stack)
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus(stack, "Bus"), source_bucket=bucket,
                              superseded_retention=cdk.Duration.days(30))
    rules = [r for b in resources(Template.from_stack(stack), "AWS::S3::Bucket").values()
             for r in b["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
             if r.get("TagFilters") == [{"Key": "segmentation-superseded", "Value": "true"}]]
    warnings = [m.entry.data for m in app.synth().get_stack_by_name("S").messages
                if "segmentation:superseded-lifecycle" in str(m.entry.data)]
    return rules, warnings


def test_versions_a_refresh_replaced_expire_after_the_retention_in_a_bucket_of_the_app():
    rules, warnings = superseded_rules(lambda stack: s3.Bucket(stack, "Data"))
    (rule,) = rules
    assert (rule["Prefix"], rule["ExpirationInDays"], rule["Status"]) == ("audiences/", 30, "Enabled")
    assert warnings == []


def test_a_bucket_from_outside_the_app_gets_a_warning_saying_which_rule_to_add():
    rules, (warning,) = superseded_rules(lambda stack: s3.Bucket.from_bucket_name(stack, "Data", "crm-audiences"))
    assert rules == [] and "tagged segmentation-superseded=true after 30 days" in warning


def test_a_release_request_on_the_bus_runs_the_publish_function_and_no_threshold_is_off(template):
    pattern = rule_pattern(template, "ReleaseRequested")
    assert pattern == {"source": ["segmentation.audiences"], "detail-type": ["Audience Release Requested"],
                       "detail": {"audience": [{"exists": True}]}}
    (rule,) = [r for lid, r in resources(template, "AWS::Events::Rule").items() if "ReleaseRequested" in lid]
    (target,) = rule["Properties"]["Targets"]
    assert "AudiencesPublish" in json.dumps(target["Arn"]) and "DeadLetterConfig" in target
    publish = [f for lid, f in resources(template, "AWS::Lambda::Function").items() if "AudiencesPublish" in lid]
    assert publish[0]["Properties"]["Environment"]["Variables"]["HOLD_THRESHOLD"] == "0.5"
    app = cdk.App()
    stack = cdk.Stack(app, "Off")
    BatchSegmentPostprocessor(stack, "Audiences", event_bus=events.EventBus(stack, "Bus"),
                              source_bucket=s3.Bucket(stack, "Data"), hold_threshold=None)
    (off,) = [f for lid, f in resources(Template.from_stack(stack), "AWS::Lambda::Function").items()
              if "AudiencesPublish" in lid]
    assert off["Properties"]["Environment"]["Variables"]["HOLD_THRESHOLD"] == "off"

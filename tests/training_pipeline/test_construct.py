"""What the synthesized template must hold: trigger, IAM, encryption, the workflow and its event contract."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match, Template

from segmentation_constructs import PersonalizeTrainingPipeline
from tests.fakes.templates import all_states, definition, policy_statements, resources


def test_data_bucket_is_encrypted_tls_only_private_logged_and_retained(example_template):
    example_template.has_resource("AWS::S3::Bucket", {
        "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "LoggingConfiguration": {"DestinationBucketName": Match.any_value()},
            "VersioningConfiguration": {"Status": "Enabled"},
            "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
        },
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
    })
    for policy in resources(example_template, "AWS::S3::BucketPolicy").values():
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in denies]


def test_owned_bucket_needs_no_notification_custom_resource(example_template):
    assert resources(example_template, "Custom::S3BucketNotifications") == {}


def test_config_upload_under_train_starts_the_workflow(example_template):
    example_template.has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [{"Ref": Match.string_like_regexp("TrainingDataBucket")}]},
                       "object": {"key": [{"wildcard": "train/*.json"}]}},
        },
        "Targets": [Match.object_like({
            "Arn": {"Ref": Match.string_like_regexp("TrainingWorkflow")},
            "InputTransformer": Match.object_like({
                "InputPathsMap": {"detail-bucket-name": "$.detail.bucket.name",
                                  "detail-object-key": "$.detail.object.key"}}),
            "DeadLetterConfig": {"Arn": Match.any_value()},
        })],
    })


def test_workflows_are_standard_logged_and_traced(example_template):
    # training, export, Pinpoint, Connect, erasure, and each one's reporter of executions that end without reporting it
    example_template.resource_count_is("AWS::StepFunctions::StateMachine", 10)
    example_template.all_resources_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineType": "STANDARD",
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": False}),
    })


def test_every_resource_is_polled_in_a_bounded_wait_loop_with_jittered_retries(example_template):
    states = all_states(definition(example_template))
    loops = [n[len("Ensure"):] for n in states if n.startswith("Ensure")]
    assert sorted(loops) == sorted(["DatasetGroup", "Schema", "Dataset", "DatasetImportJob", "Solution",
                                    "SolutionVersion", "BatchSegmentJob"])
    for name in loops:
        ensure, choice, wait = states[f"Ensure{name}"], states[f"{name}Active?"], states[f"Wait{name}"]
        assert ensure["Next"] == f"{name}Active?"
        assert choice["Default"] == f"Wait{name}" and wait["Next"] == f"Ensure{name}"
        assert wait["Seconds"] == 300
        assert ensure["Parameters"]["deadline.$"] == "$.deadline"
        throttling = [r for r in ensure["Retry"] if r["ErrorEquals"] == ["ServiceThrottled", "ServiceLimitExceeded"]]
        assert throttling == [{"ErrorEquals": ["ServiceThrottled", "ServiceLimitExceeded"], "IntervalSeconds": 30,
                               "MaxAttempts": 8, "BackoffRate": 2, "MaxDelaySeconds": 900, "JitterStrategy": "FULL"}]
        assert not any("ResourcePending" in r["ErrorEquals"] for r in ensure["Retry"])


def test_batch_segment_jobs_respect_personalize_concurrency(example_template):
    states = all_states(definition(example_template))
    assert states["BatchSegmentJobs"]["MaxConcurrency"] == 5
    assert states["Datasets"]["MaxConcurrency"] == 3


def test_run_events_and_notifications_cover_start_success_failure_and_rejection(example_template):
    asl = definition(example_template)
    states = all_states(asl)
    for name, status in [("PublishStarted", "STARTED"), ("PublishSucceeded", "SUCCEEDED"),
                         ("PublishFailed", "FAILED"), ("PublishRejected", "REJECTED")]:
        (entry,) = states[name]["Parameters"]["Entries"]
        assert entry["Source"] == "solutions.aws.personalize"
        assert entry["DetailType"] == "Personalize Training Run State Change"
        assert entry["Detail"]["Status"] == status
    assert asl["States"]["Train"]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure",
                                                "Next": "ReleaseFailedRun"}]
    # the run's claim of its config is released first; a release that fails does not stop the failure's report
    assert asl["States"]["ReleaseFailedRun"]["Next"] == "PublishFailed"
    assert asl["States"]["ReleaseFailedRun"]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": None,
                                                           "Next": "PublishFailed"}]
    assert states["PublishFailed"]["Next"] == "NotifyFailed"
    assert states["PublishRejected"]["Next"] == "NotifyRejected"
    assert states["NotifyRejected"]["Next"] == "ConfigRejected"
    assert states["ConfigRejected"]["Type"] == "Fail"
    assert asl["States"]["ConfigValid?"]["Default"] == "PublishRejected"


@pytest.mark.parametrize("workflow", ["TrainingWorkflow", "PinpointWorkflow", "ConnectWorkflow"])
def test_a_notification_that_cannot_be_sent_never_fails_the_run_it_reports(example_template, workflow):
    """The outcome is decided and its event published before the email: SNS throttling, or a topic key the role
    may not use, is retried and then caught into the state the notification leads to."""
    notifies = {n: s for n, s in all_states(definition(example_template, workflow)).items()
                if s.get("Resource", "").endswith(":sns:publish")}
    assert notifies
    for name, state in notifies.items():
        assert state["Retry"][0]["ErrorEquals"] == ["States.ALL"], name
        (catch,) = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == state["Next"], name


def test_personalize_role_is_trusted_only_from_this_account_and_its_personalize_resources(example_template):
    example_template.has_resource_properties("AWS::IAM::Role", {
        "AssumeRolePolicyDocument": {"Statement": [{
            "Action": "sts:AssumeRole", "Effect": "Allow",
            "Principal": {"Service": "personalize.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                          "ArnLike": {"aws:SourceArn": {"Fn::Join": ["", [
                              "arn:", {"Ref": "AWS::Partition"}, ":personalize:", {"Ref": "AWS::Region"}, ":",
                              {"Ref": "AWS::AccountId"}, ":*"]]}}},
        }]},
    })


def test_personalize_role_reads_training_data_and_erasure_requests_and_writes_batch_output_only(example_template):
    statements = policy_statements(example_template, "TrainingPersonalizeRole")
    assert {json.dumps(s["Action"]) for s in statements} == {'"s3:GetObject"', '"s3:ListBucket"', '"s3:PutObject"'}
    read = json.dumps([s["Resource"] for s in statements if s["Action"] == "s3:GetObject"])
    assert "/train/*" in read and "/batch/*/job_config.json" in read
    assert "/erasure/_work/*" in read  # the users a data deletion job deletes (UserErasure)
    assert "/batch/*" in json.dumps([s["Resource"] for s in statements if s["Action"] == "s3:PutObject"])
    listed = [s["Condition"] for s in statements if s["Action"] == "s3:ListBucket"]
    assert sorted(listed, key=json.dumps) == [{"StringLike": {"s3:prefix": ["erasure/_work/*"]}},
                                              {"StringLike": {"s3:prefix": ["train/*", "batch/*"]}}]


# Actions IAM only authorizes on "*": Step Functions' vended log delivery and X-Ray trace upload.
def only_on_every_resource(action: str) -> bool:
    """Whether the Service Authorization Reference lists no resource type for the action (IAM matches it on * only:
    personalize:TagResource, scheduler:ListSchedules, the log-delivery and X-Ray actions)."""
    from tests.fakes import arns

    return arns.resource_types(action) == {"": None}


def test_no_statement_grants_every_action_or_every_resource_where_a_narrower_form_exists(example_template):
    for policy in resources(example_template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any(a == "*" or a.endswith(":*") for a in actions), statement
            if statement.get("Resource") == "*":
                assert all(only_on_every_resource(a) for a in actions), statement


def test_tagging_is_granted_on_every_resource_as_iam_requires_and_nothing_else_is(example_template):
    """personalize:TagResource takes no resource-level permission: granted on an ARN, it never matches and every
    Create* call carrying tags is denied."""
    statements = [s for p in resources(example_template, "AWS::IAM::Policy").values()
                  for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if "personalize:TagResource" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        (["personalize:ListSolutionVersions", "personalize:TagResource"], "*")]


def test_ensure_function_passes_only_the_personalize_role_to_personalize(example_template):
    statements = policy_statements(example_template, "TrainingEnsureResourceRole")
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "personalize.amazonaws.com"}}
    assert pass_role["Resource"] == {"Fn::GetAtt": [Match.string_like_regexp("TrainingPersonalizeRole"), "Arn"]} \
        or "TrainingPersonalizeRole" in json.dumps(pass_role["Resource"])
    personalize = [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
                   if a.startswith("personalize:")]
    assert "personalize:CreateBatchSegmentJob" in personalize
    assert not any(a.startswith("personalize:Delete") for a in personalize)
    # the one listing: a segment schedule's run finds the solution's latest ACTIVE version
    assert [a for a in personalize if a.startswith("personalize:List")] == ["personalize:ListSolutionVersions"]


def test_functions_run_the_newest_python_on_arm64(example_template):
    functions = resources(example_template, "AWS::Lambda::Function")
    assert len(functions) == 12  # training 3, audiences 3, one importer a destination, erasure 4
    for function in functions.values():
        assert function["Properties"]["Runtime"] == "python3.14"
        assert function["Properties"]["Architectures"] == ["arm64"]


def test_topic_and_bus_exist_and_topic_is_encrypted(example_template):
    example_template.resource_count_is("AWS::Events::EventBus", 1)
    example_template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


# ---------------------------------------------------------------- bring your own resources


@pytest.fixture(scope="module")
def byo(cdk_app_context):
    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Byo", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    bucket = s3.Bucket.from_bucket_name(stack, "Existing", "team-data-bucket")
    bus = events.EventBus.from_event_bus_name(stack, "Bus", "mpewml-bus")
    pipeline = PersonalizeTrainingPipeline(stack, "Training", bucket=bucket, event_bus=bus, encryption_key=key,
                                           notification_email="ops@example.com",
                                           poll_interval=cdk.Duration.seconds(5),
                                           polling_budget=cdk.Duration.minutes(30))
    uploader = iam.Role(stack, "Uploader", assumed_by=iam.AccountRootPrincipal())
    pipeline.grant_upload_training_data(uploader)
    return stack, Template.from_stack(stack)


def test_handed_in_bucket_keeps_its_existing_notifications(byo):
    _, template = byo
    template.has_resource_properties("Custom::S3BucketNotifications", {
        "BucketName": "team-data-bucket",
        "NotificationConfiguration": {"EventBridgeConfiguration": {}},
        "Managed": False,
    })
    template.resource_count_is("AWS::S3::Bucket", 0)


def test_handed_in_bucket_warns_that_its_policy_must_allow_personalize(byo):
    stack, _ = byo
    Annotations.from_stack(stack).has_warning(
        "/Byo/Training", Match.string_like_regexp("allow personalize.amazonaws.com"))


def test_handed_in_bus_receives_events_and_no_bus_is_created(byo):
    _, template = byo
    template.resource_count_is("AWS::Events::EventBus", 0)
    template.has_resource_properties("AWS::Lambda::Function", {
        "Environment": {"Variables": Match.object_like({"EVENT_BUS_NAME": "mpewml-bus"})}})


def test_kms_key_encrypts_topic_and_is_usable_by_personalize(byo):
    _, template = byo
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("Key"), "Arn"]}})
    statements = policy_statements(template, "TrainingPersonalizeRole")
    assert any("kms:Decrypt" in s["Action"] for s in statements if isinstance(s["Action"], list))
    template.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    (key,) = resources(template, "AWS::KMS::Key").values()
    (for_personalize,) = [st for st in key["Properties"]["KeyPolicy"]["Statement"]
                          if st.get("Principal") == {"Service": "personalize.amazonaws.com"}]
    assert set(for_personalize["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey",
                                              "kms:CreateGrant", "kms:ListGrants"}
    assert for_personalize["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_grant_upload_training_data_is_limited_to_train_and_job_configs(byo):
    _, template = byo
    statements = policy_statements(template, "Uploader")
    resources_ = json.dumps([s["Resource"] for s in statements])
    assert "team-data-bucket/train/*" in resources_ and "team-data-bucket/batch/*/job_config.json" in resources_
    assert all("s3:PutObject" in s["Action"] for s in statements if "s3:" in json.dumps(s["Action"]))


def test_poll_interval_prop_sets_every_wait_and_a_queued_run_polls_at_most_100_times_a_budget(byo):
    _, template = byo
    states = all_states(definition(template))
    waits = [s for n, s in states.items() if n.startswith("Wait") and n != "WaitForRunningRun"]
    assert waits and all(w["Seconds"] == 5 for w in waits)
    assert states["WaitForRunningRun"]["Seconds"] == 18  # 30 minutes / 100: longer than the 5-second poll_interval
    # a budget of waiting, a budget of work and an hour
    assert definition(template)["TimeoutSeconds"] == 30 * 60 * 2 + 3600


@pytest.mark.parametrize("props, message", [
    ({"poll_interval": cdk.Duration.millis(500)}, "poll_interval must be a Duration of whole seconds"),
    ({"polling_budget": cdk.Duration.seconds(30)}, "polling_budget must be longer than poll_interval"),
    ({"poll_interval": cdk.Duration.minutes(1), "polling_budget": cdk.Duration.hours(24)},
     "allows 1,440 polls; at most 500 keep a run under Step Functions' 25,000-event history limit"),
    ({"poll_interval": 300}, "poll_interval must be a Duration"),
    ({"polling_budget": cdk.Duration.days(400)}, "polling_budget must be"),
    ({"upload_settle_time": cdk.Duration.hours(30)}, "upload_settle_time must be shorter than polling_budget"),
    ({"retry_interval": cdk.Duration.hours(1)}, "retry_interval must be"),
    ({"notification_email": "segments at example.com"}, "notification_email must be"),
    ({"bucket": "my-bucket"}, "bucket must be"),
    ({"removal_policy": cdk.RemovalPolicy.SNAPSHOT}, "removal_policy must be"),
])
def test_misuse_fails_at_synth_with_a_clear_message(props, message):
    stack = cdk.Stack(cdk.App())
    with pytest.raises(ValueError, match=message):
        PersonalizeTrainingPipeline(stack, "Training", **props)

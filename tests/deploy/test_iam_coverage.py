"""IAM coverage gate: what the code calls is granted, and what is granted is called.

- every AWS API action a Lambda handler made during this test session (recorded by
  tests/fakes/iam_recorder.py) is allowed by the synthesized policy of the role that runs it;
- every task of the state machine is allowed by the workflow role;
- the reverse: an action granted that no code path uses is reported, unless listed in IMPLIED with why;
- by ARN: each recorded call, on the ARN it targets and with the request context its conditions look at, is
  allowed by the statements (resources and conditions) of the role that runs the function, in the layouts of
  ARN_LAYOUTS; the names the tests give buckets, buses, domains, projects and roles are put in place of the
  layout's own (read from the function's environment), the fixed parts (prefixes, resource types,
  ``/jobs/import``) must match as they are;
- KMS: in those layouts, a role allowed to read or write objects of a bucket that has a KMS key (in the
  template, or handed in with the bucket) may use that key (kms:Decrypt; kms:GenerateDataKey to write).

The gates that read the records run after all other tests (marker ``after_all_tests``; ``make test`` runs them
in a second pytest process over every worker's records, with the layouts the first run saved); run alone they
have nothing recorded and say so. The checks that need no records, and the proofs that each gate can fail, run
with the rest of the suite. Under pytest-xdist they read what every worker recorded (``IAM_RECORD_DIR``, see iam_recorder).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from typing import Optional

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from tests.fakes import arns, iam_recorder

# Every layout is synthesized once per process: the modules that read them share one worker.
pytestmark = pytest.mark.xdist_group("layouts")

EXAMPLE = "example stack with every destination"  # every function and every grant of the example stack

# Granted actions no recorded API call shows, each with why it is needed anyway.
IMPLIED = {
    "logs:CreateLogStream": "the Lambda runtime writes the function's logs",
    "logs:PutLogEvents": "the Lambda runtime writes the function's logs",
    "personalize:TagResource": "Create* calls with tags from the config need it (tag-on-create)",
}
# The same, for one function only.
IMPLIED_FOR = {
    **{(function, a): "Customer Profiles encrypts what the function writes into a domain with the domain's customer "
                      "managed key, using the caller's permissions (the Connect services' pattern)"
       for function in ("connect_segment_importer.importer", "user_erasure.destinations")
       for a in ("kms:Decrypt", "kms:GenerateDataKey")},
    **{(function, "s3:ListBucket"): "a missing object reads as missing (404), not denied (403), only with "
                                    "ListBucket: the erased users' list before the first erasure, a request file "
                                    "already deleted, a key deleted since it was listed"
       for function in ("batch_segment_postprocessor.export", "user_erasure.request", "user_erasure.scrub")},
    ("user_erasure.request", "s3:AbortMultipartUpload"): "an erased users' list over 8 MB, written in parts, whose "
                                                         "rewrite finds nothing to add aborts its upload",
}
WORKFLOW_IMPLIED = {
    **{a: "Step Functions delivers execution logs through CloudWatch Logs vended delivery" for a in (
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups")},
    **{a: "tracing is enabled on the state machine" for a in (
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets")},
}


def role_actions(template: dict, role_id: str) -> set[str]:
    """Every action an attached policy of the role allows (default policy and separate ones)."""
    actions = set()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_id} not in resource["Properties"].get("Roles", []):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                listed = statement["Action"]
                actions |= set(listed if isinstance(listed, list) else [listed])
    return actions


def allowed(action: str, granted: set[str]) -> bool:
    return any(fnmatch.fnmatchcase(action, pattern) for pattern in granted)


def function_roles(template: dict) -> dict[str, str]:
    """lambda_src folder -> logical ID of the role that runs it."""
    roles = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            handler = resource["Properties"]["Handler"]
            roles[iam_recorder.function_of(handler)] = resource["Properties"]["Role"]["Fn::GetAtt"][0]
    return roles


@pytest.mark.after_all_tests
def test_each_function_is_granted_every_action_its_code_calls(example_layout):
    (template,) = example_layout.templates.values()
    roles = function_roles(template)
    recorded, _ = iam_recorder.load()
    assert set(recorded) == set(roles), (
        f"recorded calls for {sorted(recorded)}; functions are {sorted(roles)} "
        "(run the whole suite: this gate reads what the handler and workflow tests recorded)")
    missing = {f"{function} (role {roles[function]}): {action}"
               for function, actions in recorded.items()
               for action in actions if not allowed(action, role_actions(template, roles[function]))
               and not unconfigured_destination(template, function, action)}
    assert sorted(missing) == []


def unconfigured_destination(template: dict, function: str, action: str) -> bool:
    """Whether ``action`` is of a destination the function's construct was not given in ``template`` (its
    environment does not name it), which the tests exercise all the same."""
    service = action.split(":", 1)[0]
    if function not in OPTIONAL_DESTINATIONS or service not in NAMED_BY:
        return False
    (variables,) = [r["Properties"].get("Environment", {}).get("Variables", {})
                    for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                    and r["Properties"].get("Handler") == f"{function}.handler.handler"]
    return NAMED_BY[service] not in variables


@pytest.mark.after_all_tests
def test_no_function_is_granted_an_action_no_code_path_uses(example_layout):
    (template,) = example_layout.templates.values()
    recorded, _ = iam_recorder.load()
    unused = {f"{function} (role {role}): {action}"
              for function, role in function_roles(template).items()
              for action in role_actions(template, role)
              if action not in recorded[function] and action not in IMPLIED
              and (function, action) not in IMPLIED_FOR}
    assert sorted(unused) == []


def _tasks(states: dict):
    for state in states.values():
        if state["Type"] == "Task":
            yield state["Resource"]
        for branch in state.get("Branches", []):
            yield from _tasks(branch["States"])
        if "ItemProcessor" in state:
            yield from _tasks(state["ItemProcessor"]["States"])


def workflow_needs(machine: dict) -> set[str]:
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    asl = json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))
    needs = set()
    for resource in _tasks(asl["States"]):
        if resource == "TOKEN":  # a Lambda function ARN
            needs.add("lambda:InvokeFunction")
        else:  # arn:aws:states:::sns:publish, arn:aws:states:::aws-sdk:service:action
            service, action = resource.rsplit(":", 2)[-2:]
            needs.add(f"{service}:{action[0].upper()}{action[1:]}")
    if '"ItemReader"' in json.dumps(asl):
        needs.add("s3:GetObject")  # the Distributed Map reads its items from S3
    if '"DISTRIBUTED"' in json.dumps(asl):
        needs |= {"states:StartExecution", "states:DescribeExecution", "states:StopExecution"}
    return needs


def machines(template: dict) -> dict[str, dict]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == "AWS::StepFunctions::StateMachine"}


def test_each_workflow_role_allows_every_task_and_nothing_unused(example_template):
    template = example_template.to_json()
    expected = {
        "TrainingWorkflow": {"lambda:InvokeFunction", "events:PutEvents", "sns:Publish"},
        "AudiencesWorkflow": {"lambda:InvokeFunction", "events:PutEvents", "sns:Publish", "s3:GetObject",
                              "states:StartExecution", "states:DescribeExecution", "states:StopExecution"},
        "PinpointWorkflow": {"lambda:InvokeFunction", "events:PutEvents", "sns:Publish"},
        "ConnectWorkflow": {"lambda:InvokeFunction", "events:PutEvents", "sns:Publish"},
        "ErasureWorkflow": {"lambda:InvokeFunction", "events:PutEvents", "sns:Publish"},
        # each construct's reporter of executions that end without reporting it: an event and a notification
        **{f"{construct}WatchReporter": {"events:PutEvents", "sns:Publish"}
           for construct in ("Training", "Audiences", "Pinpoint", "Connect", "Erasure")},
    }
    found = machines(template)
    assert sorted(p for p in expected if not any(lid.startswith(p) for lid in found)) == []
    for logical_id, machine in found.items():
        role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        granted, needs = role_actions(template, role_id), workflow_needs(machine)
        assert needs == next(v for p, v in expected.items() if logical_id.startswith(p))
        assert sorted(a for a in needs if not allowed(a, granted)) == [], logical_id
        assert sorted(a for a in granted if a not in needs and a not in WORKFLOW_IMPLIED) == [], logical_id


# ------------------------------------------------------------------ by ARN

ARN_LAYOUTS = ("example stack with every destination",
               "everything handed in and encrypted with customer managed keys",
               "Connect and endpoint-ID Pinpoint on a bucket imported by name")
# Functions that read a bucket their environment does not name: a call on the tests' bucket may stand for any
# bucket the role is granted on (its key must still be granted there). Every other function's bucket is one
# its environment names (BUCKET_VARIABLES, SUPPRESSION_LIST_URI).
UNNAMED_BUCKETS = {
    "training_pipeline.validate_config": "the uploaded config's bucket comes with the S3 event",
    "training_pipeline.ensure_resource": "the data bucket comes with the validated plan",
    "batch_segment_postprocessor.export": "each work item names the bucket of the job output it reads",
    "user_erasure.scrub": "the workflow names the areas it sweeps (training, output and audience buckets)",
    "user_erasure.destinations": "the workflow names the request's work file",
}
# Functions whose destinations are whichever the construct was given (each named by its environment variable).
OPTIONAL_DESTINATIONS = ("user_erasure.destinations",)
# Functions asking about the executions of another construct's workflow (not of the one that invokes them).
DESCRIBED_WORKFLOWS = {"user_erasure.personalize": "TrainingWorkflow"}  # the training runs holding a config's claim
# Lists of users an environment variable names whole (s3://bucket/key): the test's object stands for the layout's.
LIST_VARIABLES = ("SUPPRESSION_LIST_URI", "ERASED_USERS_URI")
BUCKET_VARIABLES = ("AUDIENCE_BUCKET", "SOURCE_BUCKET")
PREFIX_VARIABLES = ("AUDIENCE_PREFIX", "BATCH_OUTPUT_PREFIX")
# Where the handler tests put what a drop_prefix or object_trigger_prefix brings in; the ARN layouts set neither
# (checked by test_the_arn_layouts_configure_no_drop_or_object_trigger_prefix), so such calls are not theirs.
TEST_OPTION_PREFIXES = ("manual/",)
# Configuration values that decide which code paths run, with the value a function without them has.
MODES = {"SEGMENT_KIND": "user-id"}
# What each environment variable names, so a test's value can be swapped for the layout's.
NAMED_BY = {"events": "EVENT_BUS_NAME", "mobiletargeting": "PINPOINT_APPLICATION_ID", "profile": "DOMAIN_NAME",
            "scheduler": "SCHEDULE_GROUP"}
ROLE_VARIABLES = ("PERSONALIZE_ROLE_ARN", "IMPORT_ROLE_ARN", "EXPORT_ROLE_ARN", "SCHEDULER_ROLE_ARN")
# What an S3 object action needs of the bucket's KMS key.
KEY_USE = {"s3:GetObject": ["kms:Decrypt"], "s3:PutObject": ["kms:Decrypt", "kms:GenerateDataKey"]}


@dataclasses.dataclass
class Function:
    directory: str  # lambda_src/<directory>
    stack: str
    logical_id: str
    role: str  # logical ID
    environment: dict[str, str]  # rendered
    statements: list[arns.Statement]


def layout_functions(layout: arns.Layout) -> list[Function]:
    found = []
    for stack, template in layout.templates.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            props = resource["Properties"]
            if not iam_recorder.is_ours(props["Handler"]):
                continue  # not one of ours (a CDK custom resource's handler)
            role = props["Role"]["Fn::GetAtt"][0]
            variables = props.get("Environment", {}).get("Variables", {})
            found.append(Function(iam_recorder.function_of(props["Handler"]), stack, logical_id, role,
                                  {k: layout.renderer.render(v, stack) for k, v in variables.items()},
                                  arns.role_statements(layout, stack, role)))
    return found


def _s3_parts(arn: str) -> tuple[str, str, str]:
    bucket, sep, key = arn.split(":", 5)[5].partition("/")
    return bucket, sep, key


def _swap_prefix(value: str, test: dict, function: Function) -> str:
    """The key (or listed prefix) with the test's prefix of it (the longest) replaced by the layout's."""
    swaps = sorted(((test[v], function.environment[v]) for v in PREFIX_VARIABLES
                    if v in test and v in function.environment), key=lambda pair: -len(pair[0]))
    for old, new in swaps:
        if value.startswith(old):
            return new + value.removeprefix(old)
    return value


def in_layout(call: iam_recorder.Call, function: Function, layout: arns.Layout
              ) -> tuple[list[str], dict[str, str], Optional[str]]:
    """(the ARNs the call would target in the layout, any one of which will do; its request context; why the
    call does not apply to this layout, or None)."""
    test = dict(call.environment)
    for variable, default in MODES.items():
        if test.get(variable, default) != function.environment.get(variable, default):
            return [], {}, f"made with {variable}={test.get(variable, default)}"
    context = dict(call.context)
    if call.resource == "*":
        return ["*"], context, None
    _, _, service, region, account, rest = call.resource.split(":", 5)
    stack_region, stack_account = layout.envs[function.stack]
    region, account = (stack_region if region else ""), (stack_account if account else "")
    if service == "s3":
        bucket, sep, key = _s3_parts(call.resource)
        if any((key if sep else context.get("s3:prefix", "")).startswith(p) for p in TEST_OPTION_PREFIXES):
            return [], {}, "a drop_prefix or object_trigger_prefix of the tests"
        for variable in LIST_VARIABLES:
            listed = test.get(variable)
            if listed and f"s3://{bucket}/{key}" == listed:
                if variable not in function.environment:
                    return [], {}, f"a list ({variable}) the layout does not configure"
                bucket, _, key = function.environment[variable].removeprefix("s3://").partition("/")
                return [f"arn:aws:s3:::{bucket}/{key}"], context, None
        key = _swap_prefix(key, test, function)
        if "s3:prefix" in context:
            context["s3:prefix"] = _swap_prefix(context["s3:prefix"], test, function)
        if function.directory in UNNAMED_BUCKETS:
            buckets = sorted({_s3_parts(r)[0] for s in function.statements for r in s.resources
                              if r.startswith("arn:aws:s3:::")})
        else:  # the tests use one bucket for all: any of the layout's buckets the test's stood for
            buckets = sorted({function.environment[v] for v in BUCKET_VARIABLES
                              if test.get(v) == bucket and v in function.environment})
        if not buckets:
            raise AssertionError(f"{function.directory} called {call.operation} on bucket {bucket}, which its "
                                 "environment does not name: add it to UNNAMED_BUCKETS (with why) if it may")
        return [f"arn:{arns.PARTITION}:s3:::{b}{sep}{key}" for b in buckets], context, None
    if service == "iam":
        (variable,) = [v for v in ROLE_VARIABLES if test.get(v) == call.resource] or [None]
        if variable is None or variable not in function.environment:
            raise AssertionError(f"{function.directory} passed {call.resource}, no role of its environment")
        return [function.environment[variable]], context, None
    if service == "states":  # an execution of a workflow that invokes the function (the test's has another name)
        kind, _, execution = rest.split(":", 2)
        workflows = (named_workflows(layout, function, DESCRIBED_WORKFLOWS[function.directory])
                     if function.directory in DESCRIBED_WORKFLOWS else invoking_workflows(layout, function))
        return [f"arn:{arns.PARTITION}:states:{region}:{account}:{kind}:{name}:{execution}"
                for name in workflows], context, None
    if service in NAMED_BY:
        variable = NAMED_BY[service]
        kind, _, name = rest.partition("/")
        name, sep, below = name.partition("/")
        if name == test.get(variable) and variable not in function.environment \
                and function.directory in OPTIONAL_DESTINATIONS:
            return [], {}, f"made with {variable}, a destination the layout does not give it"
        if name != test.get(variable) or variable not in function.environment:
            raise AssertionError(f"{function.directory} called {call.operation} on {call.resource}, not on the "
                                 f"{variable} of its environment")
        rest = f"{kind}/{function.environment[variable]}{sep}{below}"
    return [f"arn:{arns.PARTITION}:{service}:{region}:{account}:{rest}"], context, None


def named_workflows(layout: arns.Layout, function: Function, part: str) -> list[str]:
    """The names of the state machines of the function's stack whose logical ID starts with a name ending in
    ``part`` (the layouts put the constructs in one stack)."""
    template = layout.templates[function.stack]
    return [layout.renderer.render({"Fn::GetAtt": [logical_id, "Name"]}, function.stack)
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::StepFunctions::StateMachine" and part in logical_id
            and "Watch" not in logical_id]


def invoking_workflows(layout: arns.Layout, function: Function) -> list[str]:
    """The names of the state machines of the function's stack whose definition invokes it."""
    template = layout.templates[function.stack]
    return [layout.renderer.render({"Fn::GetAtt": [logical_id, "Name"]}, function.stack)
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::StepFunctions::StateMachine"
            and json.dumps(resource["Properties"].get("DefinitionString")).count(f'"{function.logical_id}"')]


def denied(layout: arns.Layout, calls: set[iam_recorder.Call]) -> tuple[list[str], int]:
    """(every call the role of its function would be denied in the layout, the number of calls checked)."""
    problems, checked = set(), 0
    for function in layout_functions(layout):
        for call in (c for c in calls if c.function == function.directory and c.resource is not None):
            try:
                candidates, context, skipped = in_layout(call, function, layout)
            except AssertionError as unknown:  # a name the layout cannot be asked about: say which
                problems.add(f"{layout.name} {function.directory}: {unknown}")
                continue
            if skipped:
                continue
            checked += 1
            if not any(arns.allows(function.statements, call.action, arn, context) for arn in candidates):
                shown = f" with {context}" if context else ""
                problems.add(f"{layout.name} {function.directory} (role {function.role}): {call.action} on "
                             f"{' or '.join(candidates)}{shown} (recorded: {call.operation} on {call.resource})")
    return sorted(problems), checked


@pytest.fixture(scope="module")
def example_layout(cdk_app_context) -> arns.Layout:
    return arns.load_layout(EXAMPLE, cdk_app_context)


@pytest.fixture(scope="module", params=ARN_LAYOUTS)
def arn_layout(request, cdk_app_context) -> arns.Layout:
    return arns.load_layout(request.param, cdk_app_context)


@pytest.mark.after_all_tests
def test_every_call_made_names_the_resources_it_is_authorized_on():
    _, calls = iam_recorder.load()
    unmapped = sorted({f"{c.function}: {c.operation} {dict(c.context)}".rstrip(" {}")
                       for c in calls if c.resource is None})
    assert unmapped == [], "add these operations to iam_recorder.OPERATIONS (the ARNs their parameters name)"


@pytest.mark.after_all_tests
def test_each_call_is_allowed_on_its_arn_by_the_role_that_runs_it(arn_layout):
    _, calls = iam_recorder.load()
    functions = {f.directory for f in layout_functions(arn_layout)}
    unrecorded = sorted(functions - {c.function for c in calls})
    assert unrecorded == [], f"no calls recorded for {unrecorded}: run the whole suite"
    problems, checked = denied(arn_layout, calls)
    assert checked > 0
    assert problems == []


def test_the_arn_layouts_configure_no_drop_or_object_trigger_prefix(arn_layout):
    """Calls under TEST_OPTION_PREFIXES are skipped in these layouts; that is right only while none sets one."""
    rules = [lid for template in arn_layout.templates.values() for lid, r in template["Resources"].items()
             if r["Type"] == "AWS::Events::Rule" and ("Dropped" in lid or "OutputFileCreated" in lid)]
    assert rules == []


def key_use_missing(layout: arns.Layout) -> tuple[list[str], int]:
    """(each role allowed an S3 object action on a bucket with a KMS key, and not the key use it needs; the
    number of (role, action, resource, key) checked)."""
    missing, checked = set(), 0
    for stack, template in layout.templates.items():
        for role in (lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"):
            statements = arns.role_statements(layout, stack, role)
            for statement in (s for s in statements if s.effect == "Allow"):
                for action, needs in KEY_USE.items():
                    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in statement.actions):
                        continue
                    for resource in (r for r in statement.resources if r.startswith("arn:aws:s3:::") and "/" in r):
                        for bucket, key in layout.bucket_keys.items():
                            if not arns.covers(_s3_parts(resource)[0], bucket):
                                continue
                            checked += 1
                            missing |= {f"{layout.name} {role}: {action} on {resource} without {need} on {key}"
                                        for need in needs if not arns.allows(statements, need, key)}
    return sorted(missing), checked


def test_roles_using_objects_of_a_bucket_with_a_kms_key_may_use_the_key(arn_layout):
    missing, checked = key_use_missing(arn_layout)
    assert checked > 0 or not arn_layout.bucket_keys
    assert missing == []


def test_the_handed_in_keys_are_seen(cdk_app_context):
    """The KMS check knows each bucket's key, whether the template shows it or the layout hands it in."""
    assert set(arns.load_layout(ARN_LAYOUTS[2], cdk_app_context).bucket_keys.items()) == {
        ("crm-audiences", "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d")}
    (bucket,) = arns.load_layout(ARN_LAYOUTS[1], cdk_app_context).bucket_keys
    assert bucket.startswith("handedin-teamdata")


# ------------------------------------------------------------------ the gates can fail

def tiny_pinpoint_layout(cdk_app_context, job_resource: str, with_key: bool) -> arns.Layout:
    """A function run as pinpoint_import whose role may create import jobs on ``job_resource`` (a suffix of
    the project's ARN), read audiences/*.csv of a bucket (with a KMS key if ``with_key``) and list audiences/."""
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_s3 as s3

    app = cdk.App(context=cdk_app_context)
    stack = cdk.Stack(app, "Tiny", env=cdk.Environment(account="123456789012", region="us-east-1"))
    key = kms.Key(stack, "Key") if with_key else None
    bucket = s3.Bucket(stack, "Audiences", encryption_key=key)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    app_arn = "arn:aws:mobiletargeting:us-east-1:123456789012:apps/0123456789abcdef0123456789abcdef"
    role.add_to_policy(iam.PolicyStatement(actions=["mobiletargeting:CreateImportJob"],
                                           resources=[app_arn + job_resource]))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"],
                                           resources=[bucket.arn_for_objects("audiences/*.csv")]))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
                                           conditions={"StringLike": {"s3:prefix": ["audiences/*"]}}))
    lambda_.Function(stack, "Importer", runtime=lambda_.Runtime.PYTHON_3_12, handler="pinpoint_segment_importer.importer.handler.handler",
                     code=lambda_.Code.from_inline("x"), role=role,
                     environment={"PINPOINT_APPLICATION_ID": "0123456789abcdef0123456789abcdef",
                                  "AUDIENCE_BUCKET": bucket.bucket_name, "AUDIENCE_PREFIX": "audiences/"})
    return arns.from_stacks("tiny", app, [stack])


def test_the_arn_gate_reports_a_call_its_role_allows_only_on_another_arn_or_context(cdk_app_context):
    environment = {"PINPOINT_APPLICATION_ID": "fedcba9876543210fedcba9876543210", "AUDIENCE_BUCKET": "test-bucket",
                   "AUDIENCE_PREFIX": "audiences/"}

    def call(operation: str, **params) -> list[iam_recorder.Call]:
        return iam_recorder.calls_of("pinpoint_segment_importer.importer", operation, params, "us-east-1", environment)

    calls = {*call("mobiletargeting:CreateImportJob", ApplicationId=environment["PINPOINT_APPLICATION_ID"],
                   ImportJobRequest={}),
             *call("s3:GetObject", Bucket="test-bucket", Key="audiences/job/a.csv"),
             *call("s3:ListObjectsV2", Bucket="test-bucket", Prefix="audiences/job/"),
             *call("s3:ListObjectsV2", Bucket="test-bucket", Prefix="exports/")}
    wrong = tiny_pinpoint_layout(cdk_app_context, "/jobs/import", with_key=False)
    (function,) = layout_functions(wrong)
    bucket = function.environment["AUDIENCE_BUCKET"]
    assert denied(wrong, calls) == ([
        f"tiny pinpoint_segment_importer.importer (role {function.role}): mobiletargeting:CreateImportJob on "
        "arn:aws:mobiletargeting:us-east-1:123456789012:apps/0123456789abcdef0123456789abcdef (recorded: "
        "mobiletargeting:CreateImportJob on arn:aws:mobiletargeting:us-east-1:123456789012:apps/"
        "fedcba9876543210fedcba9876543210)",
        f"tiny pinpoint_segment_importer.importer (role {function.role}): s3:ListBucket on arn:aws:s3:::{bucket} with "
        "{'s3:prefix': 'exports/'} (recorded: s3:ListObjectsV2 on arn:aws:s3:::test-bucket)",
    ], 4)
    right = tiny_pinpoint_layout(cdk_app_context, "", with_key=False)
    assert [p for p in denied(right, calls)[0] if "CreateImportJob" in p] == []


def test_the_kms_check_reports_a_role_reading_an_encrypted_bucket_without_its_key(cdk_app_context):
    layout = tiny_pinpoint_layout(cdk_app_context, "", with_key=True)
    (problem,), _ = key_use_missing(layout)
    assert problem.startswith("tiny Role1ABCC5F0: s3:GetObject on arn:aws:s3:::") and " without kms:Decrypt on " \
        "arn:aws:kms:us-east-1:123456789012:key/" in problem


def test_records_of_other_processes_reach_the_gates(tmp_path, monkeypatch):
    call = iam_recorder.Call("batch_segment_postprocessor.plan", "s3:ListObjectsV2", "s3:ListBucket", "arn:aws:s3:::b",
                             (("s3:prefix", "batch/"),), (("AUDIENCE_BUCKET", "b"),))
    iam_recorder.append(tmp_path, [call])
    assert list(iam_recorder.read(tmp_path)) == [call]
    monkeypatch.setenv(iam_recorder.RECORD_DIR_VARIABLE, str(tmp_path))
    actions, calls = iam_recorder.load()
    assert call in calls and "s3:ListBucket" in actions["batch_segment_postprocessor.plan"]


def test_an_operation_missing_from_the_table_is_recorded_without_a_resource():
    (call,) = iam_recorder.calls_of("batch_segment_postprocessor.plan", "s3:GetBucketPolicy", {"Bucket": "b"}, "us-east-1")
    assert (call.action, call.resource) == ("s3:GetBucketPolicy", None)  # which the first by-ARN gate reports

"""IAM coverage gate: what the code calls is granted, and what is granted is called.

- every AWS API action a Lambda handler made during this test session (recorded by
  tests/fakes/iam_recorder.py) is allowed by the synthesized policy of the role that runs it;
- every task of the state machine is allowed by the workflow role;
- the reverse: an action granted that no code path uses is reported, unless listed in IMPLIED with why.

These tests run after all others (marker ``after_all_tests``); run alone they have nothing recorded
and say so.
"""

from __future__ import annotations

import fnmatch
import json

import pytest

from tests.fakes import iam_recorder

pytestmark = pytest.mark.after_all_tests

# Granted actions no recorded API call shows, each with why it is needed anyway.
IMPLIED = {
    "logs:CreateLogStream": "the Lambda runtime writes the function's logs",
    "logs:PutLogEvents": "the Lambda runtime writes the function's logs",
    "iam:PassRole": "Create* calls hand the Personalize role to Personalize (roleArn)",
    "personalize:TagResource": "Create* calls with tags from the config need it (tag-on-create)",
}
# The same, for one function only.
IMPLIED_FOR = {
    ("connect_import", a): "Customer Profiles encrypts what the importer writes into a domain with the domain's "
                           "customer managed key, using the caller's permissions (the Connect services' pattern)"
    for a in ("kms:Decrypt", "kms:GenerateDataKey")
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
            roles[handler.split(".")[0]] = resource["Properties"]["Role"]["Fn::GetAtt"][0]
    return roles


def test_each_function_is_granted_every_action_its_code_calls(example_template):
    template = example_template.to_json()
    roles = function_roles(template)
    assert set(iam_recorder.recorded) == set(roles), (
        f"recorded calls for {sorted(iam_recorder.recorded)}; functions are {sorted(roles)} "
        "(run the whole suite: this gate reads what the handler and workflow tests recorded)")
    missing = {f"{function} (role {roles[function]}): {action}"
               for function, actions in iam_recorder.recorded.items()
               for action in actions if not allowed(action, role_actions(template, roles[function]))}
    assert sorted(missing) == []


def test_no_function_is_granted_an_action_no_code_path_uses(example_template):
    template = example_template.to_json()
    unused = {f"{function} (role {role}): {action}"
              for function, role in function_roles(template).items()
              for action in role_actions(template, role)
              if action not in iam_recorder.recorded[function] and action not in IMPLIED
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
        "AudiencesWorkflow": {"lambda:InvokeFunction", "events:PutEvents", "s3:GetObject", "states:StartExecution",
                              "states:DescribeExecution", "states:StopExecution"},
        "PinpointWorkflow": {"lambda:InvokeFunction", "events:PutEvents", "sns:Publish"},
        "ConnectWorkflow": {"lambda:InvokeFunction", "events:PutEvents", "sns:Publish"},
    }
    found = machines(template)
    assert sorted(p for p in expected if not any(lid.startswith(p) for lid in found)) == []
    for logical_id, machine in found.items():
        role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
        granted, needs = role_actions(template, role_id), workflow_needs(machine)
        assert needs == next(v for p, v in expected.items() if logical_id.startswith(p))
        assert sorted(a for a in needs if not allowed(a, granted)) == [], logical_id
        assert sorted(a for a in granted if a not in needs and a not in WORKFLOW_IMPLIED) == [], logical_id

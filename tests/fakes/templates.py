"""Reading synthesized templates: resources, workflow definitions, policies, and whether a rule matches an event."""

from __future__ import annotations

import json

from aws_cdk.assertions import Template
from moto import mock_aws


def resources(template: Template, type_: str) -> dict:
    return template.find_resources(type_)


def definition(template: Template, logical_id_prefix: str = "TrainingWorkflow") -> dict:
    """The state machine's ASL with CloudFormation references replaced by placeholders."""
    (machine,) = [m for lid, m in resources(template, "AWS::StepFunctions::StateMachine").items()
                  if lid.startswith(logical_id_prefix)]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "REF" for p in parts))


def all_states(asl: dict) -> dict:
    found = {}
    for name, state in asl["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(all_states(branch))
        if "ItemProcessor" in state:
            found.update(all_states(state["ItemProcessor"]))
    return found


def policy_statements(template: Template, role_logical_id_prefix: str) -> list[dict]:
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        roles = [r["Ref"] for r in policy["Properties"]["Roles"]]
        if any(r.startswith(role_logical_id_prefix) for r in roles):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def matches(pattern: dict, event: dict) -> bool:
    """Whether EventBridge (moto's rule matcher) delivers ``event`` to a rule with ``pattern``.

    moto 5.2's TestEventPattern answers nothing, so the event goes through a real rule to SQS.
    """
    from tests.fakes.environment import moto_config, shared_client

    with mock_aws(config=moto_config()):
        client, sqs = shared_client("events"), shared_client("sqs")
        queue = sqs.create_queue(QueueName="matched")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        client.put_rule(Name="under-test", EventPattern=json.dumps(pattern))
        client.put_targets(Rule="under-test", Targets=[{"Id": "q", "Arn": arn}])
        client.put_events(Entries=[{"Source": event["source"], "DetailType": event["detail-type"],
                                    "Resources": event.get("resources", []), "Detail": json.dumps(event["detail"])}])
        return bool(sqs.receive_message(QueueUrl=queue).get("Messages"))


def delivered(template: dict, rule_id_part: str, event: dict) -> dict:
    """What the rule whose logical ID contains ``rule_id_part`` hands its target for ``event``: the event itself, or
    its input transformer's template with each path's value as JSON (as EventBridge renders it)."""
    (rule,) = [r for lid, r in template["Resources"].items()
               if r["Type"] == "AWS::Events::Rule" and rule_id_part in lid]
    (target,) = rule["Properties"]["Targets"]
    if "InputTransformer" not in target:
        return event
    transformer, text = target["InputTransformer"], target["InputTransformer"]["InputTemplate"]
    for name, path in transformer["InputPathsMap"].items():
        value = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        text = text.replace(f"<{name}>", json.dumps(value))
    return json.loads(text)

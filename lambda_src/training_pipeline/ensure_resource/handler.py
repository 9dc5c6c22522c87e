"""Get-or-create one Personalize resource and report its status.

Called by the training workflow in a Wait/describe loop, once per poll.
Input: ``kind``, ``spec`` (this resource's part of the validated plan),
``parents`` (ARNs and names it hangs from), ``current`` (what the previous poll
returned, empty at first) and ``deadline`` (the run's time budget).
Output: ``arn``, ``name``, ``status``, ``done`` and ``updatedAt``.

Names are deterministic (a short hash of everything that defines the resource),
so uploading the same config twice reuses what exists and starts no new work.
"""

from __future__ import annotations

import json
import os

from shared.aws import call, client, logger
from shared.contract import Env, ResourceConflict, ResourceFailed
from training_pipeline.ensure_resource.personalize import (
    UNUSABLE,
    MAX_ATTEMPTS_PER_NAME,
    Kind,
    Observed,
    arn_for,
    conclude,
    create,
    describe,
    find_or_create_named,
    parse_time,
    short_hash,
)

KINDS = {
    "datasetGroup": Kind("Dataset Group", "dataset-group/{name}", "dataset_group", "datasetGroupArn", "datasetGroup"),
    "schema": Kind("Schema", "schema/{name}", "schema", "schemaArn", "schema", has_status=False),
    "dataset": Kind("Dataset", "dataset/{group}/{type}", "dataset", "datasetArn", "dataset"),
    "datasetImportJob": Kind("Dataset Import Job", "dataset-import-job/{name}", "dataset_import_job",
                             "datasetImportJobArn", "datasetImportJob"),
    "solution": Kind("Solution", "solution/{name}", "solution", "solutionArn", "solution"),
    "solutionVersion": Kind("Solution Version", "solution/{name}", "solution_version", "solutionVersionArn",
                            "solutionVersion"),
    "batchSegmentJob": Kind("Batch Segment Job", "batch-segment-job/{name}", "batch_segment_job",
                            "batchSegmentJobArn", "batchSegmentJob"),
}

log = logger(__name__)


def s3():
    return client("s3")


def _upload_identity(bucket: str, key: str) -> list[str]:
    """What tells one upload of a file from another: restoring earlier bytes is a new upload too."""
    head = s3().head_object(Bucket=bucket, Key=key)
    return [head["ETag"].strip('"'), head["LastModified"].isoformat(), head.get("VersionId") or ""]


def _attempt_names(base: str, *identity) -> list[str]:
    """Deterministic names for the first try and for each retry after a FAILED one."""
    return [f"{base}-{short_hash(*identity, attempt)}" for attempt in range(MAX_ATTEMPTS_PER_NAME)]


def _conflict_unless(same: bool, message: str) -> None:
    if not same:
        raise ResourceConflict(message)


# Each function finds or creates its kind and returns what it observed.

def _dataset_group(kind, spec, parents, arn_of):
    found = find_or_create_named(kind, lambda n: arn_of(name=n), [spec["name"]], lambda n: spec, retry_failed=False)
    _conflict_unless(found.raw.get("domain") == spec.get("domain"),
                     f"dataset group {spec['name']} exists with domain {found.raw.get('domain')}, "
                     f"not {spec.get('domain')}; use another name")
    return found


def _schema(kind, spec, parents, arn_of):
    found = find_or_create_named(kind, lambda n: arn_of(name=n), [spec["name"]], lambda n: spec, retry_failed=False)
    _conflict_unless(json.loads(found.raw.get("schema", "{}")) == json.loads(spec["schema"]),
                     f"schema {spec['name']} exists with another definition; schemas cannot change, "
                     "so give the new one another name")
    return found


def _dataset(kind, spec, parents, arn_of):
    group = parents["datasetGroupArn"].rsplit("/", 1)[-1]
    request = {**spec["dataset"], "datasetGroupArn": parents["datasetGroupArn"],
               "datasetType": spec["datasetType"], "schemaArn": parents["schemaArn"]}
    found = find_or_create_named(kind, lambda n: arn_of(group=group, type=spec["datasetType"]),
                                 [spec["dataset"]["name"]], lambda n: request, retry_failed=False)
    _conflict_unless(found.raw.get("schemaArn") == parents["schemaArn"],
                     f"the {spec['datasetType']} dataset of {group} uses schema {found.raw.get('schemaArn')}, "
                     f"not {parents['schemaArn']}")
    return found


def _dataset_import_job(kind, spec, parents, arn_of):
    data = spec["import"]
    bucket = data["dataLocation"][len("s3://"):].split("/", 1)[0]
    options = {k: v for k, v in data.items() if k not in ("dataLocation", "key")}
    names = _attempt_names(spec["dataset"]["name"], parents["datasetArn"], _upload_identity(bucket, data["key"]),
                           options)

    def request(name):
        return {"jobName": name, "datasetArn": parents["datasetArn"], "roleArn": os.environ[Env.PERSONALIZE_ROLE_ARN],
                "dataSource": {"dataLocation": data["dataLocation"]}, **options}

    return find_or_create_named(kind, lambda n: arn_of(name=n), names, request, retry_failed=True)


def _solution(kind, spec, parents, arn_of):
    request = {"performAutoTraining": False, **spec, "datasetGroupArn": parents["datasetGroupArn"]}
    found = find_or_create_named(kind, lambda n: arn_of(name=n), [spec["name"]], lambda n: request, retry_failed=False)
    _conflict_unless(found.raw.get("recipeArn") == spec.get("recipeArn"),
                     f"solution {spec['name']} exists with recipe {found.raw.get('recipeArn')}; use another name")
    return found


def _solution_version(kind, spec, parents, arn_of):
    """Reuse the latest version if it can become ACTIVE (not failed, not stopped) and was started after the data it
    must learn from (and after ``trainedAfter``, a scheduled retraining's time). ``latestActive``: the latest ACTIVE
    version, never a new one (a segment schedule's run)."""
    spec = dict(spec)
    if spec.pop("latestActive", False):
        return _latest_active_version(kind, parents["solutionArn"])
    after = [spec.pop("trainedAfter")] if "trainedAfter" in spec else []
    solution = describe(KINDS["solution"], parents["solutionArn"]).raw
    latest = solution.get("latestSolutionVersion") or {}
    data_ready = max((parse_time(t) for t in [*parents.get("importsUpdatedAt", []), *after] if t), default=None)
    if latest and latest.get("status") not in UNUSABLE and (data_ready is None or latest["creationDateTime"] >= data_ready):
        return describe(kind, latest["solutionVersionArn"])
    arn = create(kind, {"solutionArn": parents["solutionArn"], **spec})
    return describe(kind, arn)


def _latest_active_version(kind, solution_arn: str):
    versions = [v for page in _pages("list_solution_versions", "solutionVersions", solutionArn=solution_arn)
                for v in page if v["status"] == "ACTIVE"]
    if not versions:
        raise ResourceFailed(f"solution {solution_arn.rsplit('/', 1)[-1]} has no ACTIVE version yet: a segment "
                             "schedule runs jobs on the latest trained version; upload the config to train one")
    return describe(kind, max(versions, key=lambda v: v["creationDateTime"])["solutionVersionArn"])


def _pages(operation: str, key: str, **params):
    token = None
    while True:
        page = call("personalize", operation, **params, **({"nextToken": token} if token else {}))
        yield page.get(key, [])
        token = page.get("nextToken")
        if not token:
            return


def _batch_segment_job(kind, spec, parents, arn_of):
    bucket, group, solution = parents["bucket"], parents["datasetGroupName"], parents["solutionName"]
    if spec["inputSource"] == "inline":
        body = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in spec["queries"])
        input_identity = body
    else:
        body, input_identity = None, _upload_identity(bucket, spec["inputKey"])
    # a scheduled job's time is part of its identity: each firing runs once, a duplicate trigger runs nothing twice
    names = _attempt_names(spec["baseName"], parents["solutionVersionArn"], input_identity, spec["params"],
                           *([spec["runAt"]] if "runAt" in spec else []))

    def request(name):
        prefix = f"batch/{group}/{solution}/{name}/"
        input_key = spec["inputKey"]
        if body is not None:
            input_key = f"{prefix}input/job_config.json"
            s3().put_object(Bucket=bucket, Key=input_key, Body=body.encode(), ContentType="application/x-ndjson")
        return {"jobName": name, "solutionVersionArn": parents["solutionVersionArn"],
                "roleArn": os.environ[Env.PERSONALIZE_ROLE_ARN],
                "jobInput": {"s3DataSource": {"path": f"s3://{bucket}/{input_key}"}},
                "jobOutput": {"s3DataDestination": {"path": f"s3://{bucket}/{prefix}output/"}},
                **spec["params"]}

    return find_or_create_named(kind, lambda n: arn_of(name=n), names, request, retry_failed=True)


ENSURE = {
    "datasetGroup": _dataset_group,
    "schema": _schema,
    "dataset": _dataset,
    "datasetImportJob": _dataset_import_job,
    "solution": _solution,
    "solutionVersion": _solution_version,
    "batchSegmentJob": _batch_segment_job,
}


def handler(event, context):
    kind = KINDS[event["kind"]]
    current = event.get("current") or {}
    if current.get("arn"):
        observed: Observed = describe(kind, current["arn"])
        if observed is None:
            raise ResourceConflict(f"{kind.label} {current['arn']} disappeared while the run waited on it")
    else:
        _, partition, _, region, account, _ = context.invoked_function_arn.split(":", 5)

        def arn_of(**names):
            return arn_for(kind, partition, region, account, **names)

        observed = ENSURE[event["kind"]](kind, event["spec"], event.get("parents", {}), arn_of)
    # Resource names and statuses only: no user data passes through this function.
    log.info("observed", extra={"kind": event["kind"], "arn": observed.arn, "status": observed.status})
    result = conclude(kind, observed, current.get("status"), event.get("deadline"))
    if event["kind"] == "batchSegmentJob":
        result["outputPath"] = observed.raw["jobOutput"]["s3DataDestination"]["path"]
    return result

"""Records the AWS API calls each Lambda handler makes during the tests: the IAM action, the ARN it is
authorized on and the request-context values conditions look at.

A call is credited to the function (``<construct>.<function>``) whose ``lambda_src/<construct>/<function>/handler.py``
is on the call stack, so
shared code counts for every function that uses it; a call a fake makes while answering another (FakePinpoint
writing an export) is not the function's, and a call from a worker thread (MultipartWriter's UploadPart) has no
handler on its stack (the CreateMultipartUpload and CompleteMultipartUpload of the same key are recorded).
Installed for the whole session by conftest; read by the IAM coverage gates (tests/deploy/test_iam_coverage.py).

Each operation a handler calls needs an entry in ``OPERATIONS`` (how its parameters name the resources it
is authorized on). An operation without one is recorded with no resource, which the gates report: a new
call fails them loudly instead of passing unchecked.

With ``IAM_RECORD_DIR`` set (pytest-xdist: one process per worker), every record is also appended as a JSON
line to ``$IAM_RECORD_DIR/iam-calls-<pid>.jsonl``; ``load()`` reads what this process recorded and every
file there.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import os
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional, TextIO

import botocore.client

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"
RECORD_DIR_VARIABLE = "IAM_RECORD_DIR"
# The account of the ARNs built here: the fakes' (moto's) account. The gates put a layout's own Region and
# account in place of the recorded ones.
TEST_ACCOUNT = "123456789012"
# What the functions are configured with; recorded with each call, so a gate can put a layout's values in
# place of the test's (bucket, bus, domain and project names, role ARNs, prefixes) and skip calls of a
# configuration the layout does not use.
CONFIGURATION = ("AUDIENCE_BUCKET", "AUDIENCE_PREFIX", "SOURCE_BUCKET", "BATCH_OUTPUT_PREFIX", "EVENT_BUS_NAME",
                 "DOMAIN_NAME", "PINPOINT_APPLICATION_ID", "SEGMENT_KIND", "SUPPRESSION_LIST_URI",
                 "PERSONALIZE_ROLE_ARN", "IMPORT_ROLE_ARN", "EXPORT_ROLE_ARN", "SCHEDULE_GROUP", "SCHEDULER_ROLE_ARN",
                 "ERASED_USERS_URI", "ERASURE_PREFIX", "TRAINING_PREFIX")


def function_of(handler: str) -> str:
    """The function a template's ``Handler`` runs: ``<construct>.<function>``."""
    return handler.removesuffix(".handler.handler")


def is_ours(handler: str) -> bool:
    """Whether a template's ``Handler`` is one of the library's functions (not a CDK custom resource's)."""
    construct, _, function = function_of(handler).partition(".")
    return bool(function) and (LAMBDA_SRC / construct / function / "handler.py").is_file()


class Call(NamedTuple):
    """One (action, resource) a handler's API call is authorized on."""

    function: str
    operation: str  # "s3:ListObjectsV2": the IAM prefix and the API operation
    action: str  # "s3:ListBucket"
    resource: Optional[str]  # the ARN; "*" for an action without resource types; None: no OPERATIONS entry
    context: tuple[tuple[str, str], ...] = ()  # request-context keys conditions look at, e.g. s3:prefix
    environment: tuple[tuple[str, str], ...] = ()  # the function's CONFIGURATION when it made the call

    def to_json(self) -> str:
        return json.dumps({**self._asdict(), "context": dict(self.context), "environment": dict(self.environment)},
                          sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> "Call":
        data = json.loads(line)
        return cls(**{**data, "context": tuple(sorted(data["context"].items())),
                      "environment": tuple(sorted(data["environment"].items()))})


# ------------------------------------------------------------------ what each operation is authorized on

Grant = tuple[str, str, dict]  # (action, resource ARN, request context)
Params = dict


def _s3_object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def _s3_object_grants(*actions: str) -> Callable[[Params, "_Where"], list[Grant]]:
    def grants(p: Params, where: "_Where") -> list[Grant]:
        extra = (["s3:GetObjectVersion"] if p.get("VersionId") else []) + \
                (["s3:PutObjectTagging"] if p.get("Tagging") else []) + (["s3:PutObjectAcl"] if p.get("ACL") else [])
        return [(a, _s3_object(p["Bucket"], p["Key"]), {}) for a in (*actions, *extra)]
    return grants


def _delete_object(p: Params, where: "_Where") -> list[Grant]:
    """Deleting a version of an object is an action of its own."""
    action = "s3:DeleteObjectVersion" if p.get("VersionId") else "s3:DeleteObject"
    return [(action, _s3_object(p["Bucket"], p["Key"]), {})]


def _object_tagging(p: Params, where: "_Where") -> list[Grant]:
    action = "s3:GetObjectVersionTagging" if p.get("VersionId") else "s3:GetObjectTagging"
    return [(action, _s3_object(p["Bucket"], p["Key"]), {})]


def _list_object_versions(p: Params, where: "_Where") -> list[Grant]:
    return [("s3:ListBucketVersions", f"arn:aws:s3:::{p['Bucket']}", {"s3:prefix": p.get("Prefix", "")})]


def _copy_object(p: Params, where: "_Where") -> list[Grant]:
    source = p["CopySource"]
    if isinstance(source, str):
        bucket, _, key = source.lstrip("/").partition("/")
    else:
        bucket, key = source["Bucket"], source["Key"]
    return [("s3:GetObject", _s3_object(bucket, key), {}), *_s3_object_grants("s3:PutObject")(p, where)]


def _list_objects(p: Params, where: "_Where") -> list[Grant]:
    context = {"s3:prefix": p.get("Prefix", "")}
    context.update({k: str(p[n]) for k, n in (("s3:delimiter", "Delimiter"), ("s3:max-keys", "MaxKeys")) if n in p})
    return [("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}", context)]


def _delete_objects(p: Params, where: "_Where") -> list[Grant]:
    return [("s3:DeleteObject", _s3_object(p["Bucket"], o["Key"]), {}) for o in p["Delete"]["Objects"]]


def _put_events(p: Params, where: "_Where") -> list[Grant]:
    grants = []
    for entry in p["Entries"]:
        bus = entry.get("EventBusName", "default")
        arn = bus if bus.startswith("arn:") else where.arn("events", f"event-bus/{bus}")
        grants.append(("events:PutEvents", arn, {"events:source": entry["Source"],
                                                  "events:detail-type": entry["DetailType"]}))
    return grants


class _Where:
    """Region and account of the ARNs an operation builds from names."""

    def __init__(self, region: str, params: Params) -> None:
        self.region = region
        # an ARN among the parameters names the account (Personalize parents); else the fakes' account
        found = [v.split(":")[4] for v in params.values() if isinstance(v, str) and v.startswith("arn:")
                 and len(v.split(":")) > 5 and v.split(":")[4]]
        self.account = found[0] if found else TEST_ACCOUNT

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


def _personalize_describe(arn_param: str) -> Callable[[Params, _Where], list[Grant]]:
    return lambda p, where: [(None, p[arn_param], {})]


def _personalize_create(path: Callable[[Params], str]) -> Callable[[Params, _Where], list[Grant]]:
    """The ARN of what is created; handing it a role (``roleArn``) and tagging it on create are checked too."""
    def grants(p: Params, where: _Where) -> list[Grant]:
        result: list[Grant] = [(None, where.arn("personalize", path(p)), {})]
        if p.get("roleArn"):
            result.append(("iam:PassRole", p["roleArn"], {"iam:PassedToService": "personalize.amazonaws.com"}))
        if p.get("tags"):  # no resource type in the Service Authorization Reference: matched on "*" only
            result.append(("personalize:TagResource", "*", {}))
        return result
    return grants


def _pinpoint(path: Callable[[Params], str], role_in: Optional[str] = None):
    def grants(p: Params, where: _Where) -> list[Grant]:
        result: list[Grant] = [(None, where.arn("mobiletargeting", f"apps/{p['ApplicationId']}{path(p)}"), {})]
        if role_in and p[role_in].get("RoleArn"):
            result.append(("iam:PassRole", p[role_in]["RoleArn"], {"iam:PassedToService": "pinpoint.amazonaws.com"}))
        return result
    return grants


def _schedule(p: Params, where: _Where) -> list[Grant]:
    """A schedule of a group; creating or updating one hands it the role it starts its target with."""
    result: list[Grant] = [(None, where.arn("scheduler", f"schedule/{p.get('GroupName', 'default')}/{p['Name']}"), {})]
    if p.get("Target", {}).get("RoleArn"):
        result.append(("iam:PassRole", p["Target"]["RoleArn"], {"iam:PassedToService": "scheduler.amazonaws.com"}))
    return result


def _profile_domain(p: Params, where: _Where) -> list[Grant]:
    return [(None, where.arn("profile", f"domains/{p['DomainName']}"), {})]


def _profile_segment_definition(p: Params, where: _Where) -> list[Grant]:
    # both resource types are required by the Service Authorization Reference
    domain = f"domains/{p['DomainName']}"
    return [(None, where.arn("profile", domain), {}),
            (None, where.arn("profile", f"{domain}/segment-definitions/{p['SegmentDefinitionName']}"), {})]


# "<IAM prefix>:<operation>" -> the grants it needs; an action of None is the operation's own name.
OPERATIONS: dict[str, Callable[[Params, _Where], list[Grant]]] = {
    "s3:GetObject": _s3_object_grants("s3:GetObject"),
    "s3:HeadObject": _s3_object_grants("s3:GetObject"),
    "s3:PutObject": _s3_object_grants("s3:PutObject"),
    "s3:DeleteObject": _delete_object,
    "s3:GetObjectTagging": _object_tagging,
    "s3:ListObjectVersions": _list_object_versions,
    "s3:PutObjectTagging": _s3_object_grants("s3:PutObjectTagging"),
    "s3:CopyObject": _copy_object,
    "s3:CreateMultipartUpload": _s3_object_grants("s3:PutObject"),
    "s3:UploadPart": _s3_object_grants("s3:PutObject"),
    "s3:CompleteMultipartUpload": _s3_object_grants("s3:PutObject"),
    "s3:AbortMultipartUpload": _s3_object_grants("s3:AbortMultipartUpload"),
    "s3:ListObjectsV2": _list_objects,
    "s3:DeleteObjects": _delete_objects,
    "events:PutEvents": _put_events,
    **{f"personalize:Describe{kind}": _personalize_describe(f"{kind[0].lower()}{kind[1:]}Arn") for kind in (
        "DatasetGroup", "Schema", "Dataset", "DatasetImportJob", "Solution", "SolutionVersion",
        "BatchSegmentJob")},
    "personalize:CreateDatasetGroup": _personalize_create(lambda p: f"dataset-group/{p['name']}"),
    "personalize:CreateSchema": _personalize_create(lambda p: f"schema/{p['name']}"),
    "personalize:CreateDataset": _personalize_create(  # dataset/<dataset group name>/<dataset type>
        lambda p: f"dataset/{p['datasetGroupArn'].rsplit('/', 1)[-1]}/{p['datasetType'].upper()}"),
    "personalize:CreateDatasetImportJob": _personalize_create(lambda p: f"dataset-import-job/{p['jobName']}"),
    "personalize:CreateSolution": _personalize_create(lambda p: f"solution/{p['name']}"),
    # the Service Authorization Reference authorizes it on the solution
    "personalize:CreateSolutionVersion": _personalize_create(lambda p: p["solutionArn"].split(":", 5)[5]),
    "personalize:CreateBatchSegmentJob": _personalize_create(lambda p: f"batch-segment-job/{p['jobName']}"),
    "personalize:CreateDataDeletionJob": _personalize_create(lambda p: f"data-deletion-job/{p['jobName']}"),
    "personalize:DescribeDataDeletionJob": _personalize_describe("dataDeletionJobArn"),
    # Create<kind>Job on the project, Get<kind>Job on the job
    "mobiletargeting:CreateImportJob": _pinpoint(lambda p: "", "ImportJobRequest"),
    "mobiletargeting:GetImportJob": _pinpoint(lambda p: f"/jobs/import/{p['JobId']}"),
    "mobiletargeting:CreateExportJob": _pinpoint(lambda p: "", "ExportJobRequest"),
    "mobiletargeting:GetExportJob": _pinpoint(lambda p: f"/jobs/export/{p['JobId']}"),
    **{f"profile:{op}": _profile_domain for op in (
        "CreateUploadJob", "GetUploadJobPath", "StartUploadJob", "GetUploadJob", "StopUploadJob", "SearchProfiles",
        "UpdateProfile", "DeleteProfile")},
    "mobiletargeting:GetApp": _pinpoint(lambda p: ""),
    "mobiletargeting:DeleteUserEndpoints": _pinpoint(lambda p: f"/users/{p['UserId']}"),
    # authorized on the execution (a run holding a config's claim)
    "states:DescribeExecution": lambda p, where: [(None, p["executionArn"], {})],
    **{f"scheduler:{op}": _schedule for op in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule", "GetSchedule")},
    # no resource type in the Service Authorization Reference: matched on "*" only
    "scheduler:ListSchedules": lambda p, where: [(None, "*", {})],
    "personalize:ListSolutionVersions": lambda p, where: [(None, "*", {})],
    **{f"profile:{op}": _profile_segment_definition for op in (
        "GetSegmentDefinition", "CreateSegmentDefinition", "DeleteSegmentDefinition")},
}


def calls_of(function: str, operation: str, params: Params, region: str,
             environment: Optional[dict] = None) -> list[Call]:
    """The records of one API call: an action and ARN per grant it needs, or one unmapped record."""
    env = tuple(sorted((k, v) for k, v in (environment or {}).items() if k in CONFIGURATION))
    table = OPERATIONS.get(operation)
    if table is None:
        return [Call(function, operation, operation, None, (), env)]
    return [Call(function, operation, action or operation, resource, tuple(sorted(context.items())), env)
            for action, resource, context in table(params, _Where(region, params))]


# ------------------------------------------------------------------ recording

recorded: dict[str, set[str]] = defaultdict(set)  # function -> actions (this process)
calls: set[Call] = set()  # this process
_original = botocore.client.BaseClient._make_api_call


_thread_function = threading.local()  # the function a worker thread works for (see _submit)


def _calling_function(depth: int = 2) -> str | None:
    """The function whose handler made this call; None for a call a fake makes while answering another one
    (FakePinpoint writing an export to S3 is Pinpoint's doing, under its role, not the function's). A call
    from a worker thread a handler started (the multipart upload's parts) is credited to that handler."""
    frame = sys._getframe(depth)
    while frame is not None:
        if frame.f_code is _recording_call.__code__:
            return None
        function = _handler_function(frame.f_code.co_filename)
        if function:
            return function
        frame = frame.f_back
    return getattr(_thread_function, "name", None)


@functools.lru_cache(maxsize=None)
def _handler_function(filename: str) -> str | None:
    """``<construct module>.<function>`` if ``filename`` is a function's handler.py, else None (asked for every frame
    of every recorded call: kept per file)."""
    path = Path(filename)
    if path.name == "handler.py" and path.parent.parent.parent == LAMBDA_SRC:
        return f"{path.parent.parent.name}.{path.parent.name}"
    return None


_original_submit = concurrent.futures.ThreadPoolExecutor.submit


def _submit(self, fn, /, *args, **kwargs):
    """Work a handler hands to a thread pool runs under that handler's name."""
    function = _calling_function(depth=2)
    if function is None:
        return _original_submit(self, fn, *args, **kwargs)

    def attributed(*a, **k):
        _thread_function.name = function
        try:
            return fn(*a, **k)
        finally:
            _thread_function.name = None

    return _original_submit(self, attributed, *args, **kwargs)


def record(new: list[Call]) -> None:
    fresh = [c for c in new if c not in calls]
    for call in fresh:
        calls.add(call)
        recorded[call.function].add(call.action)
    directory = os.environ.get(RECORD_DIR_VARIABLE)
    if fresh and directory:
        append(Path(directory), fresh)


_files: dict[Path, TextIO] = {}  # directory -> this process's records there, open while it runs
_files_lock = threading.Lock()


def append(directory: Path, new: list[Call]) -> None:
    """Writes ``new`` to this process's file in ``directory``, kept open: opening it for every call cost more than
    the call (each system call of a thread waits for the interpreter lock again). ``flush`` makes them readable."""
    with _files_lock:
        if directory not in _files:
            directory.mkdir(parents=True, exist_ok=True)
            _files[directory] = open(directory / f"iam-calls-{os.getpid()}.jsonl", "a", encoding="utf-8")
        _files[directory].write("".join(c.to_json() + "\n" for c in new))


def flush() -> None:
    """What this process recorded, written out (after each test: tests/conftest.py)."""
    with _files_lock:
        for out in _files.values():
            out.flush()


def read(directory: Path) -> Iterator[Call]:
    flush()
    for path in sorted(directory.glob("iam-calls-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield Call.from_json(line)


def load() -> tuple[dict[str, set[str]], set[Call]]:
    """(function -> actions, calls) recorded by this process and by every process that wrote to
    ``$IAM_RECORD_DIR``."""
    every = set(calls)
    directory = os.environ.get(RECORD_DIR_VARIABLE)
    if directory and Path(directory).is_dir():
        every.update(read(Path(directory)))
    actions: dict[str, set[str]] = defaultdict(set)
    for call in every:
        actions[call.function].add(call.action)
    return actions, every


def _recording_call(self, operation_name, api_params):
    function = _calling_function()
    if function:
        operation = f"{self.meta.service_model.signing_name}:{operation_name}"  # IAM prefix (mobiletargeting)
        try:
            new = calls_of(function, operation, api_params, self.meta.region_name, dict(os.environ))
        except (KeyError, TypeError, AttributeError, IndexError) as exc:  # parameters the table did not expect
            new = [Call(function, operation, operation, None, (("error", f"{type(exc).__name__}: {exc}"),))]
        record(new)
    return _original(self, operation_name, api_params)


def install() -> None:
    botocore.client.BaseClient._make_api_call = _recording_call
    concurrent.futures.ThreadPoolExecutor.submit = _submit

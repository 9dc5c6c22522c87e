"""An in-process Amazon Personalize, good enough to drive the training workflow.

moto fakes only Personalize schemas, so this answers a real boto3 client's calls
from its ``before-call`` event: botocore has already validated every request
against the service model by then, and each response is validated against the
model's output shape here, so a request or response the real service would
reject fails the test.

Resources move CREATE PENDING -> CREATE IN_PROGRESS -> ACTIVE, one step per
describe after ``steps_to_active`` describes. ``fail[name_prefix] = reason`` makes
the resources whose names start so end in CREATE FAILED; ``throttle[operation] = n`` throttles the next n calls,
``unavailable[operation] = n`` answers them with a 5xx (``server_error``: as botocore parses it off the wire), and
``faults``, a function of the operation, decides per call (fault injection: None, ``THROTTLE`` or a 5xx status).
``on_active`` callbacks see each resource that becomes ACTIVE (a batch segment job's output is written then).
Answers come before botocore's own retry loop, so every throttle and 5xx reaches the caller, as one that outlasted
botocore's retries would.

Data deletion jobs (``CreateDataDeletionJob``) move PENDING -> IN_PROGRESS -> COMPLETED the same way (``fail``: FAILED).
Once COMPLETED, the job has read its ``dataLocation`` CSV (header ``USER_ID``) from moto S3: ``numDeleted`` is its
rows, and ``deleted_users[dataset group ARN]`` every user deleted from that group so far.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import uuid
from collections import defaultdict
from typing import Callable, Optional, Union

import boto3
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser
from botocore.validate import ParamValidator

ACCOUNT = "123456789012"
REGION = "us-east-1"
PROGRESSION = ["CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE"]
THROTTLE = "throttle"  # what a ``faults`` function answers to throttle one call
# AWS's common errors, which every API may answer (the "Common Errors" of each API reference), by HTTP status; a 502 or
# 504 comes from a load balancer in front of the service, with no AWS error body at all.
COMMON_SERVER_ERRORS = {500: "InternalFailure", 503: "ServiceUnavailable"}
GATEWAY_STATUSES = (502, 504)


def server_error(model, status: int, message: str = "We encountered an internal error. Please try again."):
    """The 5xx answer to the operation ``model`` as botocore parses it from the wire (the fakes' before-call answers
    skip parsing): the operation's own modelled error of that status if it has one (Customer Profiles'
    InternalServerException), else AWS's common error of that status, else a gateway's bare page. The body is built in
    the service's protocol and parsed by botocore's parser for it, so the code and status are what a caller sees."""
    if not 500 <= status <= 599:
        raise AssertionError(f"{status} is no server error")
    modelled = [shape.name for shape in model.error_shapes
                if shape.metadata.get("error", {}).get("httpStatusCode") == status]
    code = modelled[0] if modelled else COMMON_SERVER_ERRORS.get(status)
    if code is None and status not in GATEWAY_STATUSES:
        raise AssertionError(f"{model.name}: no modelled or common error answers HTTP {status}")
    protocol = model.metadata["protocol"]
    headers = {"x-amzn-requestid": str(uuid.uuid4())}
    if code is None:
        headers["content-type"] = "text/html"
        body = f"<html><body><h1>{status}</h1></body></html>".encode()
    elif protocol == "json":
        headers["content-type"] = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.1')}"
        body = json.dumps({"__type": code, "message": message}).encode()
    elif protocol == "rest-json":
        headers.update({"content-type": "application/json", "x-amzn-errortype": f"{code}:"})
        body = json.dumps({"Message": message}).encode()
    else:
        raise NotImplementedError(f"no 5xx body for the {protocol} protocol")
    parsed = create_parser(protocol).parse({"status_code": status, "headers": headers, "body": body},
                                           model.output_shape)
    if parsed["Error"]["Code"] != (code or str(status)) or parsed["ResponseMetadata"]["HTTPStatusCode"] != status:
        raise AssertionError(f"botocore parses the fake's {status} as {parsed}")
    return AWSResponse(None, status, headers, None), parsed

DELETION_PROGRESSION = ["PENDING", "IN_PROGRESS", "COMPLETED"]  # a data deletion job's statuses, FAILED aside

# operation kind -> (ARN resource prefix, describe response key, ARN member, name member)
KINDS = {
    "DatasetGroup": ("dataset-group", "datasetGroup", "datasetGroupArn", "name"),
    "Schema": ("schema", "schema", "schemaArn", "name"),
    "Dataset": ("dataset", "dataset", "datasetArn", "name"),
    "DatasetImportJob": ("dataset-import-job", "datasetImportJob", "datasetImportJobArn", "jobName"),
    "Solution": ("solution", "solution", "solutionArn", "name"),
    "SolutionVersion": ("solution", "solutionVersion", "solutionVersionArn", "name"),
    "BatchSegmentJob": ("batch-segment-job", "batchSegmentJob", "batchSegmentJobArn", "jobName"),
}


class FakePersonalize:
    def __init__(self, client=None, *, steps_to_active: int = 2) -> None:
        self.steps_to_active = steps_to_active
        self.resources: dict[str, dict] = {}  # ARN -> stored description
        self.describes: dict[str, int] = defaultdict(int)
        self.calls: list[tuple[str, dict]] = []
        self.fail: dict[str, str] = {}
        self.throttle: dict[str, int] = defaultdict(int)
        self.limit: dict[str, int] = defaultdict(int)
        self.unavailable: dict[str, int] = defaultdict(int)  # operation -> how many calls answer a 5xx
        self.unavailable_status = 503
        self.faults: Optional[Callable[[str], Union[None, str, int]]] = None
        self.on_active: list[Callable[[str, dict], None]] = []  # (kind, stored description) of a resource now ACTIVE
        self.deleted_users: dict[str, set[str]] = defaultdict(set)  # dataset group ARN -> users deleted from it
        self._ids = itertools.count(1)
        self._clock = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
        self.client = client or boto3.client("personalize", region_name=REGION)
        self._model = self.client.meta.service_model
        self.client.meta.events.register("before-call.personalize.*", self._answer)

    # ------------------------------------------------------------------ plumbing

    def now(self) -> dt.datetime:
        self._clock += dt.timedelta(seconds=30)
        return self._clock

    def advance_to(self, when: dt.datetime) -> None:
        """Move the service's clock (the times it stamps resources with) on to ``when``, as days pass; a clock
        already past it stays (it never goes back)."""
        self._clock = max(self._clock, when)

    def _answer(self, model, params, **_):
        # ``params`` is the serialized request: botocore validated the call against the model to build it.
        operation = model.name
        body = params["body"]
        params = json.loads(body) if body else {}
        self.calls.append((operation, params))
        fault = self.faults(operation) if self.faults else None
        if fault == THROTTLE:
            return self._error("ThrottlingException", "Rate exceeded")
        if fault is not None:
            return server_error(model, fault)
        if self.unavailable[operation] > 0:
            self.unavailable[operation] -= 1
            return server_error(model, self.unavailable_status)
        if self.throttle[operation] > 0:
            self.throttle[operation] -= 1
            return self._error("ThrottlingException", "Rate exceeded")
        if self.limit[operation] > 0:
            self.limit[operation] -= 1
            return self._error("LimitExceededException", "Too many in-progress jobs")
        kind = operation[6:] if operation.startswith("Create") else operation[8:]
        try:
            if operation in DATA_DELETION:
                body = getattr(self, DATA_DELETION[operation])(params)
            elif operation.startswith("Create"):
                body = self._create(kind, params)
            elif operation.startswith("Describe"):
                body = self._describe(kind, params)
            elif operation == "ListSolutionVersions":
                body = self._list_solution_versions(params)
            else:
                raise NotImplementedError(f"FakePersonalize has no {operation}")
        except _ServiceError as exc:
            return self._error(exc.code, exc.message)
        report = ParamValidator().validate(body, model.output_shape)
        if report.has_errors():
            raise AssertionError(f"fake response to {operation} breaks the model: {report.generate_report()}")
        return AWSResponse(None, 200, {}, None), {**body, "ResponseMetadata": {"HTTPStatusCode": 200}}

    @staticmethod
    def _error(code: str, message: str):
        return AWSResponse(None, 400, {}, None), {"Error": {"Code": code, "Message": message},
                                      "ResponseMetadata": {"HTTPStatusCode": 400}}

    # ------------------------------------------------------------------ behaviour

    def _arn(self, kind: str, params: dict) -> str:
        prefix, _, _, name_member = KINDS[kind]
        if kind == "Dataset":
            group = params["datasetGroupArn"].rsplit("/", 1)[-1]
            return f"arn:aws:personalize:{REGION}:{ACCOUNT}:dataset/{group}/{params['datasetType']}"
        if kind == "SolutionVersion":
            return f"{params['solutionArn']}/{next(self._ids):08x}"
        return f"arn:aws:personalize:{REGION}:{ACCOUNT}:{prefix}/{params[name_member]}"

    def _create(self, kind: str, params: dict) -> dict:
        _, _, arn_member, name_member = KINDS[kind]
        arn = self._arn(kind, params)
        if arn in self.resources:
            raise _ServiceError("ResourceAlreadyExistsException", f"{arn} already exists")
        now = self.now()
        stored = {k: v for k, v in params.items() if k != "tags"}
        stored.update({arn_member: arn, "creationDateTime": now, "lastUpdatedDateTime": now})
        if kind != "Schema":
            stored["status"] = PROGRESSION[0]
        if kind == "SolutionVersion":
            solution = self.resources[params["solutionArn"]]
            stored["name"] = params.get("name", arn.rsplit("/", 1)[-1])
            solution["latestSolutionVersion"] = arn
        self.resources[arn] = stored
        response = {arn_member: arn}
        if kind == "DatasetGroup" and "domain" in params:
            response["domain"] = params["domain"]
        return response

    def _describe(self, kind: str, params: dict) -> dict:
        _, response_key, arn_member, name_member = KINDS[kind]
        arn = params[arn_member]
        stored = self.resources.get(arn)
        if stored is None:
            raise _ServiceError("ResourceNotFoundException", f"{arn} does not exist")
        self.describes[arn] += 1
        status = stored.get("status")
        if status in PROGRESSION[:-1] and self.describes[arn] > self.steps_to_active:
            name = stored.get(name_member) or stored.get("name")
            reason = next((r for key, r in self.fail.items() if name.startswith(key) or arn == key), None)
            if reason:
                stored.update(status="CREATE FAILED", failureReason=reason)
            else:
                stored["status"] = PROGRESSION[PROGRESSION.index(status) + 1]
            stored["lastUpdatedDateTime"] = self.now()
            if stored["status"] == "ACTIVE":
                for callback in self.on_active:
                    callback(kind, stored)
        body = {k: v for k, v in stored.items() if k != "latestSolutionVersion"}
        if kind == "Solution" and stored.get("latestSolutionVersion"):
            version = self.resources[stored["latestSolutionVersion"]]
            body["latestSolutionVersion"] = {
                k: version[k] for k in ("solutionVersionArn", "status", "creationDateTime", "lastUpdatedDateTime")}
        return {response_key: body}

    def _list_solution_versions(self, params: dict) -> dict:
        """One page of ``maxResults`` (default 100), newest first, with its ``nextToken``."""
        solution = params.get("solutionArn")
        versions = sorted((v for arn, v in self.resources.items() if v.get("solutionVersionArn") == arn
                           and (solution is None or v["solutionArn"] == solution)),
                          key=lambda v: v["creationDateTime"], reverse=True)
        start, size = int(params.get("nextToken") or 0), params.get("maxResults", 100)
        page = versions[start:start + size]
        body = {"solutionVersions": [{k: v[k] for k in ("solutionVersionArn", "status", "creationDateTime",
                                                         "lastUpdatedDateTime")} for v in page]}
        if start + size < len(versions):
            body["nextToken"] = str(start + size)
        return body

    def _create_data_deletion_job(self, params: dict) -> dict:
        arn = f"arn:aws:personalize:{REGION}:{ACCOUNT}:data-deletion-job/{params['jobName']}"
        if arn in self.resources:
            raise _ServiceError("ResourceAlreadyExistsException", f"{arn} already exists")
        if params["datasetGroupArn"] not in self.resources:
            raise _ServiceError("ResourceNotFoundException", f"{params['datasetGroupArn']} does not exist")
        now = self.now()
        self.resources[arn] = {**{k: v for k, v in params.items() if k != "tags"}, "dataDeletionJobArn": arn,
                               "status": DELETION_PROGRESSION[0], "creationDateTime": now, "lastUpdatedDateTime": now}
        return {"dataDeletionJobArn": arn}

    def _describe_data_deletion_job(self, params: dict) -> dict:
        arn = params["dataDeletionJobArn"]
        job = self.resources.get(arn)
        if job is None:
            raise _ServiceError("ResourceNotFoundException", f"{arn} does not exist")
        self.describes[arn] += 1
        if job["status"] in DELETION_PROGRESSION[:-1] and self.describes[arn] > self.steps_to_active:
            reason = next((r for key, r in self.fail.items() if job["jobName"].startswith(key) or arn == key), None)
            if reason:
                job.update(status="FAILED", failureReason=reason)
            else:
                job["status"] = DELETION_PROGRESSION[DELETION_PROGRESSION.index(job["status"]) + 1]
            if job["status"] == "COMPLETED":
                self._delete_users(job)
            job["lastUpdatedDateTime"] = self.now()
        return {"dataDeletionJob": dict(job)}

    def _delete_users(self, job: dict) -> None:
        """The job reads its CSV (as Personalize does, with its role: no call of the handler's) and deletes its users
        from the group; a CSV it cannot read fails the job."""
        from tests.fakes.environment import shared_client
        from tests.fakes.workflow import service_side

        bucket, _, key = job["dataSource"]["dataLocation"].removeprefix("s3://").partition("/")
        try:
            with service_side():
                body = shared_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except shared_client("s3").exceptions.NoSuchKey:
            job.update(status="FAILED", failureReason=f"Input data not found at {job['dataSource']['dataLocation']}")
            return
        rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
        if not rows or [name.strip() for name in rows[0]] != ["USER_ID"]:
            job.update(status="FAILED", failureReason="The input CSV must have the single column USER_ID")
            return
        users = [row[0] for row in rows[1:] if row and row[0]]
        job["numDeleted"] = len(users)
        self.deleted_users[job["datasetGroupArn"]].update(users)

    # ------------------------------------------------------------------ test helpers

    def created(self, operation: Optional[str] = None) -> list[tuple[str, dict]]:
        return [(op, p) for op, p in self.calls if op.startswith("Create") and (operation is None or op == operation)]

    def set_status(self, arn: str, status: str, reason: Optional[str] = None) -> None:
        self.resources[arn].update(status=status, lastUpdatedDateTime=self.now())
        if reason:
            self.resources[arn]["failureReason"] = reason


DATA_DELETION = {"CreateDataDeletionJob": "_create_data_deletion_job",
                 "DescribeDataDeletionJob": "_describe_data_deletion_job"}


class _ServiceError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

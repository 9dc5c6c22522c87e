"""An in-process Amazon Pinpoint for import jobs (moto has apps only).

Answers a real boto3 client's ``before-call``: botocore has validated and serialized the request by
then (rest-json: IDs in the URL path, ``ImportJobRequest`` as the body), and each response is checked
against the model's output shape. Jobs go CREATED → PROCESSING → COMPLETED over ``polls_to_complete``
GetImportJob calls; ``fail[segment_name] = reason`` makes one FAILED; ``busy = n`` answers the next n
CreateImportJob calls with TooManyRequestsException, as Pinpoint does with 2 imports running. An import naming a
``SegmentId`` adds a version of that segment (NotFoundException when ``segments`` has no such segment).

Export jobs (``s3`` given): ``endpoints`` are the project's endpoints. When an export completes (after
``polls_to_complete`` GetExportJob calls) they are written under the job's ``S3UrlPrefix`` as gzipped
JSON lines, ``per_file`` endpoints a file, as Pinpoint writes them; ``fail_exports = reason`` fails them.
An import's size is the number of data rows of its file.

Users' endpoints: ``DeleteUserEndpoints`` removes from ``endpoints`` those whose ``User.UserId`` is the user and
answers them (NotFoundException when the user has none, as Pinpoint does); ``GetApp`` answers any project but those
in ``missing_apps`` (NotFoundException), which every call on them also answers.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
from urllib.parse import unquote

from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator


class FakePinpoint:
    def __init__(self, client, *, polls_to_complete: int = 1, s3=None) -> None:
        self.client, self.polls_to_complete, self.s3 = client, polls_to_complete, s3
        self.endpoints: list[dict] = []
        self.per_file = 2
        self.fail_exports = ""
        self.exports: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.polls: dict[str, int] = {}
        self.requests: list[tuple[str, dict]] = []
        self.fail: dict[str, str] = {}
        self.busy = 0
        self.segments: set[str] = set()  # the project's segments, as imports defined them
        self.missing_apps: set[str] = set()  # projects that do not exist (deleted, or never created)
        self._ids = itertools.count(1)
        client.meta.events.register("before-call.pinpoint.*", self._answer)

    def _answer(self, model, params, **_):
        parts = params["url_path"].strip("/").split("/")  # v1/apps/{app}/jobs/import[/{job}]
        body = json.loads(params["body"]) if params.get("body") else {}
        self.requests.append((model.name, body))
        if len(parts) > 2 and unquote(parts[2]) in self.missing_apps:
            return self._not_found("Resource not found")
        if model.name == "GetApp":
            result = {"ApplicationResponse": {"Id": parts[2], "Name": "audiences",
                                              "Arn": f"arn:aws:mobiletargeting:us-east-1:123456789012:apps/{parts[2]}"}}
        elif model.name == "DeleteUserEndpoints":
            user = unquote(parts[4])
            deleted = [e for e in self.endpoints if isinstance(e, dict) and e.get("User", {}).get("UserId") == user]
            if not deleted:
                return self._not_found("Resource not found")
            self.endpoints = [e for e in self.endpoints if not any(e is d for d in deleted)]
            result = {"EndpointsResponse": {"Item": deleted}}
        elif model.name in ("CreateExportJob", "GetExportJob"):
            result = self._export(model.name, parts, body)
        elif model.name == "CreateImportJob":
            if self.busy:
                self.busy -= 1
                return AWSResponse(None, 429, {}, None), {
                    "Error": {"Code": "TooManyRequestsException", "Message": "2 import jobs are running"},
                    "ResponseMetadata": {"HTTPStatusCode": 429}}
            if body.get("SegmentId") and body["SegmentId"] not in self.segments:
                return self._not_found("Segment not found")
            job_id = f"{next(self._ids):032x}"
            self.jobs[job_id] = {"Id": job_id, "ApplicationId": parts[2], "JobStatus": "CREATED", "Type": "IMPORT",
                                 "CreationDate": dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc).isoformat(),
                                 "Definition": dict(body)}
            self.polls[job_id] = 0
            result = {"ImportJobResponse": self.jobs[job_id]}
        elif model.name == "GetImportJob":
            job = self.jobs[parts[5]]
            self.polls[job["Id"]] += 1
            if self.polls[job["Id"]] >= self.polls_to_complete and job["JobStatus"] not in ("COMPLETED", "FAILED"):
                reason = self.fail.get(job["Definition"].get("SegmentName"))
                if reason:
                    job.update(JobStatus="FAILED", Failures=[reason])
                else:
                    # into the segment named, a new version of it; else a new segment
                    segment = job["Definition"].get("SegmentId") or f"seg-{job['Id'][-6:]}"
                    self.segments.add(segment)
                    job.update(JobStatus="COMPLETED", TotalProcessed=self._rows(job["Definition"]["S3Url"]),
                               CompletedPieces=1, TotalPieces=1, Definition={**job["Definition"], "SegmentId": segment})
            else:
                job["JobStatus"] = job["JobStatus"] if job["JobStatus"] in ("COMPLETED", "FAILED") else "PROCESSING"
            result = {"ImportJobResponse": job}
        else:
            raise NotImplementedError(f"FakePinpoint has no {model.name}")
        report = ParamValidator().validate(result, model.output_shape)
        if report.has_errors():
            raise AssertionError(f"fake response to {model.name} breaks the model: {report.generate_report()}")
        return AWSResponse(None, 200, {}, None), {**result, "ResponseMetadata": {"HTTPStatusCode": 200}}

    @staticmethod
    def _not_found(message: str):
        return AWSResponse(None, 404, {}, None), {"Error": {"Code": "NotFoundException", "Message": message},
                                                   "ResponseMetadata": {"HTTPStatusCode": 404}}

    def _rows(self, url: str) -> int:
        """Data rows of the imported file (3 when no S3 is attached)."""
        if self.s3 is None:
            return 3
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return len(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()) - 1

    def _export(self, operation: str, parts: list[str], body: dict) -> dict:
        if operation == "CreateExportJob":
            assert body["S3UrlPrefix"].startswith("s3://") and body["S3UrlPrefix"].endswith("/"), body
            job_id = f"{next(self._ids):032x}"
            self.exports[job_id] = {"Id": job_id, "ApplicationId": parts[2], "JobStatus": "CREATED", "Type": "EXPORT",
                                    "CreationDate": "2026-11-23T00:00:00Z", "Definition": dict(body)}
            self.polls[job_id] = 0
            return {"ExportJobResponse": self.exports[job_id]}
        job = self.exports[parts[5]]
        self.polls[job["Id"]] += 1
        if job["JobStatus"] in ("COMPLETED", "FAILED") or self.polls[job["Id"]] < self.polls_to_complete:
            job["JobStatus"] = "PROCESSING" if job["JobStatus"] == "CREATED" else job["JobStatus"]
        elif self.fail_exports:
            job.update(JobStatus="FAILED", Failures=[self.fail_exports])
        else:
            bucket, _, prefix = job["Definition"]["S3UrlPrefix"].removeprefix("s3://").partition("/")
            pieces = [self.endpoints[i:i + self.per_file] for i in range(0, len(self.endpoints), self.per_file)]
            for number, piece in enumerate(pieces):
                lines = "".join(json.dumps(e) + "\n" for e in piece).encode()
                self.s3.put_object(Bucket=bucket, Key=f"{prefix}{job['Id']}/{number}.gz", Body=gzip.compress(lines))
            job.update(JobStatus="COMPLETED", TotalProcessed=len(self.endpoints), TotalPieces=len(pieces),
                       CompletedPieces=len(pieces))
        return {"ExportJobResponse": job}

    def created(self) -> list[dict]:
        return [body for name, body in self.requests if name == "CreateImportJob"]

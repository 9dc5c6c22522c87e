"""An in-process Amazon Connect Customer Profiles for upload jobs and segment definitions.

moto has no Customer Profiles. This fake answers a real boto3 client's ``before-call`` (botocore has
validated the parameters against the service model and serialized them by then), checks each response
against the model's output shape, and keeps enough state to test behaviour, not calls:

- ``GetUploadJobPath`` hands out a pre-signed-style URL of a local HTTP server (``UploadServer``) that
  stores the PUT body after checking Content-Length and the SSE-C headers against the job's client token,
  answering S3-style XML errors otherwise;
- ``StartUploadJob`` on a job with no uploaded file fails it, as the service cannot ingest nothing;
- after ``polls_to_complete`` GetUploadJob calls the uploaded CSV is applied to ``profiles`` through the
  job's field mapping (UniqueKey column → profile key; ``_profile.Attributes.X`` targets set attributes, other
  ``_profile.X`` targets, such as ``_profile.AccountNumber``, set that standard field),
  giving Created/Updated/FailedRecords (rows keyed in ``refuse_keys`` fail); ``fail[display_name] = "VALIDATION_FAILURE"`` fails one instead;
- profiles (``profiles``: key value -> ``{"Attributes": {...}, <standard field>: value, ...}``) get a ``ProfileId``
  when first answered or created; ``SearchProfiles`` finds them by one key (``_account``: AccountNumber,
  ``_profileId``, any other name: the custom attribute of that name, as a domain whose object type makes that
  attribute a search key would), several values at once, paginated; ``UpdateProfile`` sets fields and attributes and
  removes those given as an empty string (as the API reference says); ``DeleteProfile`` deletes one;
- segment definitions are stored; ``members(name)`` evaluates one the way the service would for
  INCLUSIVE custom-attribute dimensions, so tests see who is in a segment;
- ``throttle[operation] = n`` throttles the next n calls, ``unavailable[operation] = n`` answers them with a 5xx
  (the modelled InternalServerException for 500, AWS's common errors or a gateway's page otherwise: see
  ``personalize.server_error``), and ``faults``, a function of the operation, decides per call (fault injection:
  None, ``THROTTLE`` or a 5xx status).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator

from tests.fakes.personalize import THROTTLE, server_error

ACCOUNT, REGION = "123456789012", "us-east-1"
NOW = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc)


class UploadServer:
    """A local stand-in for the S3 location behind the pre-signed URLs (SSE-C PUTs only)."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}      # job ID -> client token
        self.files: dict[str, bytes] = {}   # job ID -> uploaded body
        self.refuse_next: Optional[tuple[int, str]] = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_PUT(self):
                job_id = self.path.split("?")[0].rsplit("/", 1)[-1]
                length = int(self.headers.get("Content-Length", "-1"))
                body = self.rfile.read(length) if length >= 0 else b""
                problem = server._problem(job_id, self.headers, length, body)
                if problem:
                    status, code = problem
                    payload = f"<Error><Code>{code}</Code><Message>refused by the fake</Message></Error>".encode()
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                server.files[job_id] = body
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _problem(self, job_id, headers, length, body) -> Optional[tuple[int, str]]:
        if self.refuse_next:
            refused, self.refuse_next = self.refuse_next, None
            return refused
        if job_id not in self.keys:
            return 403, "AccessDenied"
        if length < 0 or headers.get("Transfer-Encoding"):
            return 411, "MissingContentLength"
        token = self.keys[job_id]
        md5 = base64.b64encode(hashlib.md5(base64.b64decode(token)).digest()).decode()
        if (headers.get("x-amz-server-side-encryption-customer-algorithm") != "AES256"
                or headers.get("x-amz-server-side-encryption-customer-key") != token
                or headers.get("x-amz-server-side-encryption-customer-key-MD5") != md5):
            return 400, "InvalidArgument"
        return None

    def url(self, job_id: str) -> str:
        host, port = self._server.server_address
        return f"http://{host}:{port}/upload/{job_id}?X-Amz-Signature=fake"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeCustomerProfiles:
    def __init__(self, client, *, polls_to_complete: int = 1) -> None:
        self.client, self.polls_to_complete = client, polls_to_complete
        self.uploads = UploadServer()
        self.jobs: dict[str, dict] = {}
        self.polls: dict[str, int] = {}
        self.definitions: dict[str, dict] = {}
        self.profiles: dict[str, dict] = {}  # profile key value -> {"Attributes": {...}}
        self.requests: list[tuple[str, dict]] = []
        self.fail: dict[str, str] = {}
        self.throttle: dict[str, int] = {}  # operation -> how many calls to throttle
        self.refuse_keys: set[str] = set()  # rows with these keys fail to ingest
        self.unavailable: dict[str, int] = {}  # operation -> how many calls answer a 5xx
        self.unavailable_status = 500
        self.faults = None  # operation -> None, THROTTLE or a 5xx status, asked for every call
        self._ids = itertools.count(1)
        client.meta.events.register("before-call.customer-profiles.*", self._answer)

    # ------------------------------------------------------------------ protocol

    def _answer(self, model, params, **_):
        parts = params["url_path"].split("?")[0].strip("/").split("/")  # domains/{d}/...
        body = json.loads(params["body"]) if params.get("body") else {}
        body.update(params.get("query_string") or {})  # MaxResults, NextToken: as max-results, next-token
        self.requests.append((model.name, body))
        fault = self.faults(model.name) if self.faults else None
        if fault == THROTTLE:
            return self._error(model, 429, "ThrottlingException", "Rate exceeded")
        if fault is not None:
            return server_error(model, fault)
        if self.unavailable.get(model.name):
            self.unavailable[model.name] -= 1
            return server_error(model, self.unavailable_status)
        if self.throttle.get(model.name):
            self.throttle[model.name] -= 1
            return self._error(model, 429, "ThrottlingException", "Rate exceeded")
        try:
            result = getattr(self, f"_{model.name}")(parts, body)
        except LookupError as exc:
            return self._error(model, 404, "ResourceNotFoundException", str(exc))
        except ValueError as exc:
            return self._error(model, 400, "BadRequestException", str(exc))
        report = ParamValidator().validate(result, model.output_shape)
        if report.has_errors():
            raise AssertionError(f"fake response to {model.name} breaks the model: {report.generate_report()}")
        return AWSResponse(None, 200, {}, None), {**result, "ResponseMetadata": {"HTTPStatusCode": 200}}

    @staticmethod
    def _error(model, status, code, message):
        return AWSResponse(None, status, {}, None), {"Error": {"Code": code, "Message": message},
                                                     "ResponseMetadata": {"HTTPStatusCode": status}}

    def _job(self, parts) -> dict:
        job_id = parts[3]
        if job_id not in self.jobs:
            raise LookupError(f"upload job {job_id} not found")
        return self.jobs[job_id]

    def _CreateUploadJob(self, parts, body):
        job_id = f"{next(self._ids):032x}"
        self.jobs[job_id] = {"JobId": job_id, "Status": "CREATED", "CreatedAt": NOW, "DisplayName": body["DisplayName"],
                             "Fields": body["Fields"], "UniqueKey": body["UniqueKey"],
                             "DataExpiry": body.get("DataExpiry", 14)}
        self.polls[job_id] = 0
        return {"JobId": job_id}

    def _GetUploadJobPath(self, parts, body):
        job = self._job(parts)
        token = base64.b64encode(hashlib.sha256(job["JobId"].encode()).digest()).decode()
        self.uploads.keys[job["JobId"]] = token
        return {"Url": self.uploads.url(job["JobId"]), "ClientToken": token, "ValidUntil": NOW + dt.timedelta(hours=1)}

    def _StartUploadJob(self, parts, body):
        job = self._job(parts)
        if job["Status"] != "CREATED":
            raise ValueError(f"upload job {job['JobId']} is {job['Status']}")
        job["Status"] = "IN_PROGRESS" if job["JobId"] in self.uploads.files else "FAILED"
        job.setdefault("StatusReason", "VALIDATION_FAILURE") if job["Status"] == "FAILED" else None
        return {}

    def _StopUploadJob(self, parts, body):
        job = self._job(parts)
        if job["Status"] in ("CREATED", "IN_PROGRESS"):
            job["Status"] = "STOPPED"
        return {}

    def _GetUploadJob(self, parts, body):
        job = self._job(parts)
        self.polls[job["JobId"]] += 1
        if job["Status"] == "IN_PROGRESS" and self.polls[job["JobId"]] >= self.polls_to_complete:
            reason = self.fail.get(job["DisplayName"])
            if reason:
                job.update(Status="FAILED", StatusReason=reason, CompletedAt=NOW)
            else:
                job.update(self._ingest(job), CompletedAt=NOW)
        return dict(job)

    def _ingest(self, job) -> dict:
        """Apply the uploaded CSV to the profiles through the job's field mapping."""
        rows = list(csv.DictReader(io.StringIO(self.uploads.files[job["JobId"]].decode("utf-8"))))
        mapping = job["Fields"]
        for name, field in mapping.items():
            column = field["Source"].removeprefix("_source.")
            if "." in column or (rows and column not in rows[0]):
                return {"Status": "FAILED", "StatusReason": "VALIDATION_FAILURE"}
        key_column = mapping[job["UniqueKey"]]["Source"].removeprefix("_source.")
        created = updated = failed = 0
        for row in rows:
            key = row[key_column]
            if not key or key in self.refuse_keys:
                failed += 1
                continue
            profile = self.profiles.get(key)
            if profile is None:
                profile, created = self.profiles.setdefault(key, {"Attributes": {}}), created + 1
                self._profile_id(key)
            else:
                updated += 1
            for field in mapping.values():
                target, value = field["Target"], row[field["Source"].removeprefix("_source.")]
                if target.startswith("_profile.Attributes."):
                    profile["Attributes"][target.removeprefix("_profile.Attributes.")] = value
                elif target.startswith("_profile."):
                    profile[target.removeprefix("_profile.")] = value
        status = "SUCCEEDED" if not failed else "PARTIALLY_SUCCEEDED"
        return {"Status": status, "ResultsSummary": {"CreatedRecords": created, "UpdatedRecords": updated,
                                                     "FailedRecords": failed}}

    def _definition_arn(self, parts, name) -> str:
        return f"arn:aws:profile:{REGION}:{ACCOUNT}:domains/{parts[1]}/segment-definitions/{name}"

    def _CreateSegmentDefinition(self, parts, body):
        name = parts[3]
        if name in self.definitions:
            raise ValueError(f"segment definition {name} already exists")
        self.definitions[name] = {**body, "SegmentDefinitionName": name, "CreatedAt": NOW,
                                  "SegmentDefinitionArn": self._definition_arn(parts, name)}
        return {k: v for k, v in self.definitions[name].items() if k != "SegmentGroups"}

    def _GetSegmentDefinition(self, parts, body):
        if parts[3] not in self.definitions:
            raise LookupError(f"segment definition {parts[3]} not found")
        return dict(self.definitions[parts[3]])

    def _DeleteSegmentDefinition(self, parts, body):
        if self.definitions.pop(parts[3], None) is None:
            raise LookupError(f"segment definition {parts[3]} not found")
        return {"Message": "deleted"}

    # ------------------------------------------------------------------ profiles

    def _profile_id(self, key: str) -> str:
        """The profile's ID, given when it is first needed (profiles seeded by tests have none yet)."""
        return self.profiles[key].setdefault("ProfileId", hashlib.md5(f"profile\0{key}".encode()).hexdigest())

    def _key_of(self, profile_id: str) -> str:
        for key in self.profiles:
            if self._profile_id(key) == profile_id:
                return key
        raise LookupError(f"profile {profile_id} not found")

    @staticmethod
    def _search_value(profile: dict, key_name: str) -> Optional[str]:
        """What ``key_name`` finds a profile by: the predefined keys this fake knows, else a custom attribute."""
        standard = {"_account": "AccountNumber", "_profileId": "ProfileId"}
        if key_name in standard:
            return profile.get(standard[key_name])
        if key_name.startswith("_"):
            raise NotImplementedError(f"FakeCustomerProfiles has no search key {key_name}")
        return profile["Attributes"].get(key_name)

    def _SearchProfiles(self, parts, body):
        assert "AdditionalSearchKeys" not in body, "FakeCustomerProfiles searches by one key"
        key_name, values = body["KeyName"], set(body["Values"])
        found = []
        for key in list(self.profiles):
            self._profile_id(key)
            value = self._search_value(self.profiles[key], key_name)
            if value in values:
                found.append(self._answered(self.profiles[key], key_name, value))
        start, size = int(body.get("next-token", "0")), int(body.get("max-results", 20))
        page = {"Items": found[start:start + size]}
        if start + size < len(found):
            page["NextToken"] = str(start + size)
        return page

    @staticmethod
    def _answered(profile: dict, key_name: str, value: str) -> dict:
        """A profile as SearchProfiles answers it: its fields, its attributes if any, what it was found by."""
        item = {name: field for name, field in profile.items() if name != "Attributes" and field}
        if profile["Attributes"]:
            item["Attributes"] = dict(profile["Attributes"])
        return {**item, "FoundByItems": [{"KeyName": key_name, "Values": [value]}]}

    def _UpdateProfile(self, parts, body):
        profile = self.profiles[self._key_of(body["ProfileId"])]
        for name, value in body.items():
            if name == "ProfileId":
                continue
            if name == "Attributes":
                for attribute, text in value.items():
                    profile["Attributes"][attribute] = text
                    if not text:
                        del profile["Attributes"][attribute]
            elif value == "":
                profile.pop(name, None)
            else:
                profile[name] = value
        return {"ProfileId": body["ProfileId"]}

    def _DeleteProfile(self, parts, body):
        del self.profiles[self._key_of(body["ProfileId"])]
        return {"Message": "deleted"}

    # ------------------------------------------------------------------ for tests

    def created(self) -> list[dict]:
        return [body for name, body in self.requests if name == "CreateUploadJob"]

    def finish_started(self) -> list[str]:
        """Run every started job nobody polls to its end, as the service does (this fake ingests on GetUploadJob):
        a job whose importer stopped following it still writes its profiles. Returns their job IDs."""
        finished = []
        for job in self.jobs.values():
            if job["Status"] == "IN_PROGRESS":
                reason = self.fail.get(job["DisplayName"])
                job.update({"Status": "FAILED", "StatusReason": reason} if reason else self._ingest(job),
                           CompletedAt=NOW)
                finished.append(job["JobId"])
        return finished

    def members(self, definition_name: str) -> set[str]:
        """Profile keys the segment selects (INCLUSIVE custom-attribute dimensions, all groups ALL)."""
        groups = self.definitions[definition_name]["SegmentGroups"]["Groups"]
        selected = set(self.profiles)
        for group in groups:
            for dimension in group["Dimensions"]:
                for attribute, rule in dimension["ProfileAttributes"]["Attributes"].items():
                    assert rule["DimensionType"] == "INCLUSIVE"
                    selected &= {key for key, p in self.profiles.items() if p["Attributes"].get(attribute) in rule["Values"]}
        return selected

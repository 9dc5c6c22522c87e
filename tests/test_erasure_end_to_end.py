"""Erasure end to end: users erased from the sample are in nothing the library wrote, and a new run does not bring
them back.

The example stack (Connect destination) runs whole in moto (``tests/fakes/example_app.py``), with a versioned data
bucket as the stack's own is: the sample is trained, exported and imported into Customer Profiles; three users
that are in the audiences (and so in the training CSVs, the raw batch segment output and the Connect segments) are
then erased by a request file dropped under ``erasure/requests/``, carried to the erasure workflow by its rule. The
solution is retrained and the audiences refreshed afterwards (a scheduled FULL training), as they would be in the
weeks after the request.

Then every version of every object in the data bucket is read, and the erased users are in none of them but the
library's list of erased users (which must keep them out of later audiences); nor in Personalize (the fake's
datasets after its data deletion job), nor in any Customer Profiles profile or segment, nor in any event,
notification or log record of the whole test.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging

import pytest

from shared.contract import ERASURE_STATE_CHANGE, OBJECT_CREATED, S3_SOURCE, SEGMENT_READY
from tests.fakes.environment import BUCKET, DATA
from tests.fakes.example_app import running

CONFIG_KEY = "train/bingewatch/config.json"
RETRAIN = "cron(0 3 ? * MON *)"
ERASED_LIST = "erasure/_erased/users.csv"


@pytest.fixture(scope="module")
def template(connect_example_text) -> dict:
    return json.loads(connect_example_text)


@pytest.fixture
def app(template, monkeypatch, caplog):
    caplog.set_level(logging.INFO)  # what Lambda keeps of the functions (their loggers log at INFO)
    with running(template, monkeypatch) as example:
        example.aws.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield example


def config() -> dict:
    cfg = json.loads((DATA / "train/bingewatch/config.json").read_text())
    cfg["solutions"][0]["workflowConfig"] = {"schedules": {"full": RETRAIN}}
    return cfg


def audience_users(app, key: str) -> set[str]:
    rows = list(csv.reader(io.StringIO(app.aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode())))
    return {row[0] for row in rows[1:]}


def every_version(app) -> dict[tuple[str, str], bytes]:
    """Every version of every object in the data bucket (the example stack's one bucket), by (key, version)."""
    s3, found = app.aws.s3, {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        for version in page.get("Versions", []):
            body = s3.get_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            found[(version["Key"], version["VersionId"])] = body
    return found


def holding(blobs: dict, users: set[str]) -> list[str]:
    """The keys (and versions) of the blobs that hold any of ``users`` as a whole token."""
    pattern = [u.encode() for u in users]
    found = []
    for (key, version), body in blobs.items():
        tokens = set(body.replace(b",", b" ").replace(b'"', b" ").replace(b"\n", b" ").replace(b"[", b" ")
                     .replace(b"]", b" ").replace(b"\r", b" ").split())
        if any(user in tokens for user in pattern):
            found.append(f"{key} ({version})")
    return found


def test_erased_users_are_in_nothing_the_library_wrote_and_a_new_run_does_not_bring_them_back(app, caplog):
    aws = app.aws
    aws.upload_sample()
    aws.personalize.advance_to(dt.datetime(2026, 11, 2, 9, tzinfo=dt.timezone.utc))
    first = app.upload_config(CONFIG_KEY, config())
    ready = [e["detail"]["segment"] for e in first if e["detail-type"] == SEGMENT_READY]
    assert len(ready) == 5
    in_audiences = sorted(set.union(*(audience_users(app, s["audienceKey"]) for s in ready)))
    erased = set(in_audiences[:3])
    assert all(app.profiles.profiles.get(user) for user in erased)  # imported into Customer Profiles
    scrubbed = {found.split(" ")[0] for found in holding(every_version(app), erased)  # one version each so far
                if found.startswith(("train/", "batch/", "audiences/"))}
    assert len(scrubbed) >= 4  # the interactions, the users, the raw output, an audience at least

    # The request: a file of their IDs dropped where the rule listens, as a data-protection team would.
    request_key = "erasure/requests/dsr-2026-12-03.csv"
    aws.s3.put_object(Bucket=BUCKET, Key=request_key, Body=("USER_ID\n" + "\n".join(sorted(erased)) + "\n").encode())
    dropped = {"source": S3_SOURCE, "detail-type": OBJECT_CREATED, "resources": [],
               "detail": {"bucket": {"name": BUCKET}, "object": {"key": request_key}}}
    (request,) = app.delivered_by("RequestUploaded", [dropped])
    app.deliver("erasure", [request], None, "request file")
    (run,) = [e for e in app.executions if e["kind"] == "erasure"]
    assert run["status"] == "SUCCEEDED", (run["error"], run["cause"], run["end"], run["caught"])
    outcome = [e["detail"] for e in app.drain() if e["detail-type"] == ERASURE_STATE_CHANGE]
    assert [e["Status"] for e in outcome] == ["ACCEPTED", "COMPLETED"]
    steps = outcome[-1]["Steps"]
    assert steps["suppression"]["added"] == 3
    (group,) = steps["personalize"]["datasetGroups"]
    assert group["numDeleted"] == 3
    assert steps["files"]["rewritten"] == len(scrubbed)  # every file that held one of them, no other
    assert steps["connect"]["profilesDeleted"] == 3

    # Retrained and refreshed after the request, as the weeks after it would. The rewritten CSVs are new uploads:
    # imported again, and an import of a CSV still holding an erased user would bring that user back.
    app.created()
    app.fire(RETRAIN, dt.datetime(2026, 12, 7, 3, tzinfo=dt.timezone.utc))
    assert app.created() == {"DatasetImportJob": 2, "SolutionVersion": 1, "BatchSegmentJob": 1}

    # Nothing the library wrote holds them, in any version, but the list that keeps them out of every audience.
    blobs = every_version(app)
    assert holding(blobs, erased) == [f"{ERASED_LIST} ({v})" for (k, v) in blobs if k == ERASED_LIST]
    assert holding({k: b for k, b in blobs.items() if k[0] == request_key}, erased) == []
    assert not any(k == request_key for k, _ in blobs)  # the request file is gone, every version of it
    assert erased <= aws.personalize.deleted_users[group["datasetGroupArn"]]
    assert not erased & set(app.profiles.profiles)
    assert all(not erased & app.profiles.members(name) for name in app.profiles.definitions)
    (audit_key,) = {k for k, _ in blobs if k.startswith("erasure/_audit/") and "/sources/" not in k}
    audit = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=audit_key)["Body"].read())
    assert audit["status"] == "COMPLETED" and audit["users"] == 3
    leaked = [r for r in caplog.records if any(u in f"{r.getMessage()} {vars(r)}" for u in erased)]
    assert leaked == []
    said = json.dumps([app.events, aws.notifications()])
    assert not any(u in said for u in erased)

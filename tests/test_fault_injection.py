"""A whole run (training → audience export → Connect import) through random transient faults ends as a clean one.

The example stack (Connect destination) is synthesized once; its three workflows run in moto's interpreter with
their handlers in-process (``tests/fakes/workflow.py``), Personalize and Customer Profiles answered by the fakes. The
test carries the events itself, as the rules would: the sample upload's S3 events through ``ConfigUploaded``, the
``Personalize Batch Segment Job State Change`` events from the bus through ``SegmentJobActive`` to the export
workflow, the ``Audience Segment Ready`` events through ``AudienceReady`` (its input transformer applied) to the
import workflow. FakePersonalize writes a job's output when the job becomes ACTIVE (``write_output_when_active``).

A clean run is recorded first: the audience files (keys and bytes, manifest included), the Connect segments (their
members), the events. Each faulty run (``random.Random(seed)``) then injects, at calls drawn from the clean run's:

- throttling (ThrottlingException) and 5xx answers (500 InternalFailure / InternalServerException, 502 from a
  gateway, 503 ServiceUnavailable, as botocore parses them) from FakePersonalize and FakeCustomerProfiles;
- one Lambda timeout (``Lambda.Unknown``) of a random invocation: before its handler starts, at one of its AWS
  calls (nothing after it runs), or after it did its work (its answer lost);
- duplicate deliveries: every export and import event delivered twice, the second after the first ended or while
  it runs.

A fault is injected only where the workflows' retries can absorb it: one workflow step (a function and its input, as
a retry repeats both) gets at most ``TRANSIENT_PER_STEP`` 5xx answers and timeouts (its transient Retry allows 3) and
``THROTTLES_PER_STEP`` throttles; a fault due at a call that may take no more waits for the next call. Each faulty
run must end with the same audience files and segments, the same events (a Personalize resource's passing statuses
aside: ``compared``), each audience ingested by one upload job, every claim marker recorded as IMPORTED, no execution
failed, and a late delivery of every event ending at NothingNew / AlreadyImported without an event (nothing left
claimed or half-exported).

Time: the interpreter's Waits are instant (tests/conftest.py's ``moto_without_needless_work``); Retry backoffs are
compressed 1000-fold (``TIME_SCALE``) rather than dropped, so a delivery that finds an import being started waits
for it as it would.
What a timed-out invocation claimed (its S3 conditional writes) is aged by ``claims.STALE`` as it times out: the
retries that would wait that long for the claim to count as abandoned are not waited for; nothing else is aged, so
no claim of a running invocation is ever taken over.

The whole-run test reports every difference from the clean run and fails on any. What earlier runs of it showed
the workflows doing differently (a publish run that lost its claim unmarking the manifest, a publish or a Connect
start timed out after its claim, two polls racing to define one segment) is fixed, and each is kept by a test at
the end that reproduces it deterministically. moto's S3 is made atomic where S3 is (``s3_races_as_in_s3``):
concurrent deliveries race in threads here.

The figures (faults per kind and site, executions, outcomes, failed attempts retried, upload jobs, duplicate events)
are printed per run: ``pytest -s`` or ``-rP`` shows them. ``FAULT_INJECTION_SEEDS=5-40`` runs other seeds.
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import threading
import time
from types import SimpleNamespace
from typing import Optional

import pytest
from botocore.awsrequest import AWSResponse

from batch_segment_postprocessor.export import handler as export_handler
from batch_segment_postprocessor.plan import handler as plan_handler
from batch_segment_postprocessor.publish import handler as publish_handler
from connect_segment_importer.importer import handler as connect_handler
from shared import aws as lambda_clients
from shared import claims
from shared.contract import (AUDIENCE_SOURCE, BATCH_SEGMENT_JOB_STATE_CHANGE, IMPORT_STATE_CHANGE, OBJECT_CREATED,
                             S3_SOURCE, SEGMENT_READY, TRAINING_RUN_STATE_CHANGE, ServiceThrottled, ServiceUnavailable)
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.example_app import ExampleApp
from tests.fakes.personalize import THROTTLE, server_error
from tests.fakes.segment_jobs import ACTION, COMEDY, job_event, manifest, segment_job
from tests.fakes.workflow import (ACCOUNT, MOTO_CONFIG, TIMED_OUT, FunctionTimedOut, LambdaRouter, lambda_arn,
                                  logical_id, run_execution)


def _seeds() -> tuple[int, ...]:
    first, _, last = os.environ.get("FAULT_INJECTION_SEEDS", "1-4").partition("-")
    return tuple(range(int(first), int(last or first) + 1))


SEEDS = _seeds()
FAULTS_PER_SERVICE = 6  # per faulty run and fake: a random mix of throttles and 5xx answers
SERVER_ERRORS = (500, 502, 503)
TRANSIENT_PER_STEP = 2  # 5xx answers and timeouts one step may take: retry_transient retries 3 times
THROTTLES_PER_STEP = 3  # the throttling Retry allows 8 (training) and 12 (importers) attempts
TIMEOUT_AT = 10  # the timeout comes before one of an invocation's first 11 AWS calls, or after it returned
TIME_SCALE = 1 / 1000  # Retry backoffs: 30 s become 30 ms
MAX_BACKOFF = 0.5  # seconds, at most, for one compressed backoff
RUNTIME_BUDGET = 150.0  # seconds for the whole-run test with 4 seeds (40 to 50 s on this 2-core machine)

# ---------------------------------------------------------------- the app and the harness


@pytest.fixture(scope="module")
def template(connect_example_text) -> dict:
    return json.loads(connect_example_text)


@pytest.fixture
def compressed_time(monkeypatch):
    """Retry backoffs scaled down (``TIME_SCALE``), not skipped; Waits stay instant (``moto_without_needless_work``)."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(
        sleep=lambda seconds: time.sleep(min(seconds * TIME_SCALE, MAX_BACKOFF))))


def age(keys: list[str]) -> None:
    """Make the objects at ``keys`` as old as a claim must be to count as abandoned (``claims.STALE``)."""
    from moto.s3.models import s3_backends

    objects = s3_backends[ACCOUNT]["aws"].get_bucket(BUCKET).keys
    for key in keys:
        if key in objects:
            objects[key].last_modified -= claims.STALE


def timing_out(at: int):
    """What ``LambdaRouter.time_out`` answers to time an invocation out at its AWS call ``at`` + 1, or after it
    returned if it makes no more calls, aging what it claimed before (``age``)."""
    calls, claimed = iter(range(1, 1_000_000)), []

    def due(operation: Optional[str], params: Optional[dict]) -> bool:
        claim = operation == "PutObject" and ("IfNoneMatch" in params or "IfMatch" in params)
        fire = operation is None or next(calls) > at
        if fire:
            age(claimed)
        elif claim:
            claimed.append(params["Key"])
        return fire

    return due


@pytest.fixture(autouse=True)
def s3_races_as_in_s3(monkeypatch):
    """moto is not S3 when handlers race in threads, as concurrent deliveries do here; made to answer as S3 does:

    - a conditional PUT (If-None-Match, If-Match) checks, then writes: two claims racing both succeed, and two
      deliveries both start an import. S3 decides a conditional write atomically: PUTs and DELETEs are serialized;
    - an object's buffer is closed when the object is overwritten or deleted, so a GET racing that PUT or DELETE fails
      with ``ValueError: I/O operation on closed file``; S3 answers with the object as it was. The buffers are left
      to the garbage collector instead."""
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    writes = threading.Lock()
    for name in ("put_object", "delete_object"):
        def serialized(self, _write=getattr(S3Response, name)):
            with writes:
                return _write(self)
        monkeypatch.setattr(S3Response, name, serialized)
    monkeypatch.setattr(FakeKey, "dispose", lambda self, garbage=False: setattr(self, "disposed", True))


class App(ExampleApp):
    """The example app run once whole (``run``), and what it leaves (``record``)."""

    def run(self, rng: Optional[random.Random] = None) -> None:
        key = self.aws.upload_sample()
        uploads = [{"source": S3_SOURCE, "detail-type": OBJECT_CREATED, "resources": [],
                    "detail": {"bucket": {"name": BUCKET}, "object": {"key": k}}}
                   for k in sorted(o["Key"] for o in self.aws.s3.list_objects_v2(Bucket=BUCKET)["Contents"])]
        trainings = self.delivered_by("ConfigUploaded", uploads)
        assert trainings == [{"bucket": BUCKET, "key": key}]
        self.deliver("training", trainings, None, "upload")
        jobs = [e for e in self.drain() if e["detail-type"] == BATCH_SEGMENT_JOB_STATE_CHANGE]
        self.deliver("export", self.delivered_by("SegmentJobActive", jobs), rng, "job event")
        ready = [e for e in self.drain() if e["detail-type"] == SEGMENT_READY]
        self.deliver("import", self.delivered_by("ConnectAudienceReady", ready), rng, "ready event")
        self.drain()
        self.result = self.record()
        # A late delivery of every event finds everything done: nothing left claimed or half-exported.
        self.deliver("export", self.delivered_by("SegmentJobActive", jobs), None, "late delivery")
        self.deliver("import", self.delivered_by("ConnectAudienceReady", ready), None, "late delivery")
        self.late_events = self.drain()

    # -------------------------------------------------------- what a run leaves

    def record(self) -> dict:
        everything = self.objects("audiences/")
        self.unfollowed = self.profiles.finish_started()  # a job nobody polls still ingests its file
        jobs = list(self.profiles.jobs.values())
        return {
            "files": {k: without_times(k, v) for k, v in everything.items()
                      if "/_work/" not in k and "/_imports/" not in k},
            "segments": {name: sorted(self.profiles.members(name)) for name in self.profiles.definitions},
            "markers": {k: json.loads(v) for k, v in everything.items() if "/_imports/" in k},
            "ingested": dict(collections.Counter(j["DisplayName"] for j in jobs
                                                 if j["Status"] in ("SUCCEEDED", "PARTIALLY_SUCCEEDED"))),
            "jobs": dict(collections.Counter(j["Status"] for j in jobs)),
            "events": [normalized(e) for e in self.events],
        }


def without_times(key: str, body: bytes) -> bytes:
    """A file as two correct runs both write it: an audience's version record without when it was published."""
    if "/_audiences/" not in key:
        return body
    record = json.loads(body)
    record.pop("publishedAt", None)
    return json.dumps(record, sort_keys=True).encode()


def normalized(event: dict) -> str:
    """An event without what differs between two correct runs: durations, the fakes' job IDs, execution ARNs, the
    training run's resource lists, and the hashes in the names of dataset import jobs (of the upload's LastModified)."""
    detail, kind = dict(event["detail"]), event["detail-type"]
    if kind == TRAINING_RUN_STATE_CHANGE:
        detail = {"Status": detail["Status"]}
    elif kind.startswith("Personalize "):
        detail.pop("Duration", None)
        detail["Arn"] = re.sub(r"(dataset-import-job/.*)-[0-9a-f]{8}$", r"\1-<hash>", detail["Arn"])
    elif kind == IMPORT_STATE_CHANGE:
        for volatile in ("ImportJobId", "ExecutionArn"):
            detail.pop(volatile, None)
    return json.dumps({"detail-type": kind, "detail": detail}, sort_keys=True)


# ---------------------------------------------------------------- faults


class Chaos:
    """Decides, call by call, which faults the fakes answer and which invocation times out.

    ``schedule[service]``: call index → fault (THROTTLE or a 5xx status), drawn from the clean run's calls to that
    service. A fault falls due at its call and is injected at the first call from then on whose step can still absorb
    it. The timeout falls due at an invocation drawn from the clean run's, and comes at its call ``timeout_at``."""

    def __init__(self, seed: int, router: LambdaRouter, clean_calls: dict[str, int], clean_invocations: int) -> None:
        self.rng, self.router = random.Random(seed), router
        self.schedule: dict[str, dict[int, object]] = {}
        for service, count in sorted(clean_calls.items()):
            indices = self.rng.sample(range(count), min(FAULTS_PER_SERVICE, count))
            self.schedule[service] = {i: THROTTLE if self.rng.random() < 0.5 else self.rng.choice(SERVER_ERRORS)
                                      for i in indices}
        self.timeout_due = self.rng.randrange(clean_invocations)
        self.timeout_at = self.rng.randrange(TIMEOUT_AT + 1)
        self.seen: collections.Counter = collections.Counter()
        self.pending: dict[str, list] = collections.defaultdict(list)
        self.transient: collections.Counter = collections.Counter()  # step -> 5xx answers and timeouts
        self.throttled: collections.Counter = collections.Counter()  # step -> throttles
        self.injected: list[dict] = []  # throttles and 5xx answers (the timeout: ``router.timeouts``)
        self.armed, self.invocations = None, 0  # the event of the invocation armed to time out
        self.lock = threading.Lock()

    @staticmethod
    def step(function_arn: str, event: dict) -> str:
        return f"{function_arn}:{json.dumps(event, sort_keys=True)}"

    def fault(self, service: str, operation: str):
        with self.lock:
            running = self.router.running.get(threading.get_ident())
            index = self.seen[service]
            self.seen[service] += 1
            if index in self.schedule[service]:
                self.pending[service].append(self.schedule[service][index])
            if running is None or not self.pending[service] or running[1] is self.armed:
                return None  # outside any invocation, nothing due, or it is to time out (not fail before)
            function = running[0].rsplit(":", 1)[-1]
            step, fault = self.step(*running), self.pending[service][0]
            counter, limit = (self.throttled, THROTTLES_PER_STEP) if fault == THROTTLE \
                else (self.transient, TRANSIENT_PER_STEP)
            if counter[step] >= limit:
                return None
            counter[step] += 1
            self.pending[service].pop(0)
            self.injected.append({"kind": "throttle" if fault == THROTTLE else "5xx", "status": fault,
                                  "service": service, "operation": operation, "function": function})
            return fault

    def time_out(self, function_arn: str, event: dict):
        """One invocation armed at a time, from the one due on, until one has timed out (an armed invocation may end
        first with an error of its own, ImportStarting for one)."""
        with self.lock:
            index = self.invocations
            self.invocations += 1
            step = self.step(function_arn, event)
            if self.router.timeouts or index < self.timeout_due or self.transient[step] >= TRANSIENT_PER_STEP:
                return None
            if self.armed is not None and not any(e is self.armed for _, e in self.router.ended):
                return None
            self.armed = event
            self.transient[step] += 1
            return timing_out(self.timeout_at)

    def install(self, aws, profiles) -> None:
        aws.personalize.faults = lambda operation: self.fault("personalize", operation)
        profiles.faults = lambda operation: self.fault("customer-profiles", operation)
        self.router.time_out = self.time_out


# ---------------------------------------------------------------- one whole run, and how two compare


def whole_run(template, monkeypatch, seed: Optional[int] = None, clean: Optional[SimpleNamespace] = None):
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="segmentation-events") as aws:
        app = App(template, monkeypatch, aws)
        chaos = None
        if seed is not None:
            chaos = Chaos(seed, app.router, clean.calls, clean.invocations)
            chaos.install(aws, app.profiles)
        started = time.monotonic()
        try:
            app.run(random.Random(f"deliveries {seed}") if seed is not None else None)
        finally:
            app.profiles.uploads.close()
        return SimpleNamespace(
            seed=seed, result=app.result, executions=app.executions, deliveries=app.deliveries,
            calls={"personalize": len(aws.personalize.calls), "customer-profiles": len(app.profiles.requests)},
            invocations=len(app.router.invocations), timeouts=app.router.timeouts, late_events=app.late_events,
            injected=chaos.injected if chaos else [], seconds=time.monotonic() - started, outputs=list(app.outputs),
            undelivered=sum(len(p) for p in chaos.pending.values()) if chaos else 0)


def differences(clean: SimpleNamespace, faulty: SimpleNamespace) -> list[str]:
    """What the faulty run left that the clean one did not, each said precisely."""
    found, c, f = [], clean.result, faulty.result
    for key in sorted(set(c["files"]) | set(f["files"])):
        if key not in f["files"]:
            found.append(f"audience file {key} missing")
        elif key not in c["files"]:
            found.append(f"audience file {key} extra")
        elif c["files"][key] != f["files"][key]:
            found.append(f"audience file {key} differs")
    for name in sorted(set(c["segments"]) | set(f["segments"])):
        if c["segments"].get(name) != f["segments"].get(name):
            found.append(f"segment {name}: {len(c['segments'].get(name, []))} members clean, "
                         f"{len(f['segments'][name]) if name in f['segments'] else 'no segment'} faulty")
    for name, count in sorted(f["ingested"].items()):
        if count != 1:
            found.append(f"audience {name} ingested by {count} upload jobs")
    for marker, state in sorted(f["markers"].items()):
        if state.get("state") != "IMPORTED":
            found.append(f"claim marker {marker} left {state}")
    clean_events, faulty_events = set(filter(compared, c["events"])), set(filter(compared, f["events"]))
    for event in sorted(faulty_events - clean_events):
        found.append(f"event extra: {event[:600]}")
    for event in sorted(clean_events - faulty_events):
        found.append(f"event missing: {event[:600]}")
    for event in faulty.late_events:
        found.append(f"a late delivery put an event: {normalized(event)[:600]}")
    for e in faulty.executions:
        if e["status"] != "SUCCEEDED":
            found.append(f"{e['kind']} execution ({e['delivery']}) {e['status']} at {e['end']}: {e['error']} after "
                         f"{e['caught'].get('error')}: {(e['caught'].get('cause') or '')[:600]}")
        elif e["delivery"] in ("duplicate (after)", "late delivery") and e["end"] not in ("NothingNew",
                                                                                          "AlreadyImported"):
            found.append(f"{e['kind']} execution ({e['delivery']}) ended at {e['end']}, not at NothingNew or "
                         "AlreadyImported")
    return found


def compared(event: str) -> bool:
    """Whether two correct runs put ``event`` (normalized) alike. A Personalize resource's passing statuses (CREATE
    PENDING, CREATE IN_PROGRESS) are reported as a poll sees them: a poll that timed out after its describe never
    reports what it saw, and the retry may see the next status (FakePersonalize moves one status per describe; the
    service moves on its own, between polls, just as well). The statuses a resource ends in are always reported."""
    event = json.loads(event)
    return not (event["detail-type"].startswith("Personalize ") and event["detail-type"] != TRAINING_RUN_STATE_CHANGE
                and event["detail"]["Status"] in ("CREATE PENDING", "CREATE IN_PROGRESS"))


def figures(run: SimpleNamespace) -> dict:
    def short(function: str) -> str:
        return function.split("Function")[0]

    return {
        "seed": run.seed, "seconds": round(run.seconds, 1),
        "faults": dict(collections.Counter([i["kind"] for i in run.injected] + ["timeout"] * len(run.timeouts))),
        "5xx statuses": dict(collections.Counter(i["status"] for i in run.injected if i["kind"] == "5xx")),
        "fault sites": dict(collections.Counter(f"{short(i['function'])}:{i['operation']}" for i in run.injected)),
        "timeouts (function, action, AWS calls made)": [(short(f.rsplit(":", 1)[-1]), e.get("action") or e.get("kind"),
                                                         made) for f, e, made in run.timeouts],
        "executions": dict(collections.Counter(f"{e['kind']}:{e['status']}" for e in run.executions)),
        "outcomes": dict(collections.Counter(f"{e['kind']}/{e['delivery']}:{e['end']}" for e in run.executions)),
        "failed attempts retried": dict(collections.Counter(err for e in run.executions
                                                            for err in e["failed attempts"])),
        "upload jobs": run.result["jobs"],
        "duplicate events": dict(collections.Counter(
            f"{json.loads(e)['detail-type']} {json.loads(e)['detail'].get('Status')}"
            for e, n in collections.Counter(run.result["events"]).items() for _ in range(n - 1))),
        "faults due but never injectable (no later call could take one)": run.undelivered,
        "calls": run.calls, "invocations": run.invocations,
    }


# ---------------------------------------------------------------- the whole run


def test_a_whole_run_through_transient_faults_ends_as_a_clean_run(template, monkeypatch, compressed_time):
    began = time.monotonic()
    clean = whole_run(template, monkeypatch)
    c = clean.result
    assert [e for e in clean.executions if e["status"] != "SUCCEEDED"] == [] and clean.late_events == []
    assert len(clean.outputs) == 1 and len(c["segments"]) == 5 and list(c["ingested"].values()) == [1] * 5
    assert sum(1 for k in c["files"] if k.endswith(".csv")) == 5 and all(len(m) >= 20 for m in c["segments"].values())
    print(f"\nclean run: {json.dumps(figures(clean))}")

    unexpected, totals = {}, collections.Counter()
    for seed in SEEDS:
        faulty = whole_run(template, monkeypatch, seed, clean)
        numbers = figures(faulty)
        print(f"seed {seed}: {json.dumps(numbers)}")
        unexpected[seed] = differences(clean, faulty)
        for what in unexpected[seed]:
            print(f"seed {seed}: unexpected: {what}")
        duplicates = sum(n for (_, delivery), n in faulty.deliveries.items() if delivery.startswith("duplicate"))
        totals.update({**numbers["faults"], "runs": 1, "executions": len(faulty.executions),
                       "duplicate deliveries": duplicates,
                       "executions failed": sum(1 for e in faulty.executions if e["status"] != "SUCCEEDED")})
        # every fault drawn was injected (but one due among the last calls, none of which could take it), and each
        # reached a Retry as one
        # failed attempt (but those StopUploadJob answered: it is called after another error, and a failed stop ignored)
        injected = numbers["faults"].get("throttle", 0) + numbers["faults"].get("5xx", 0)
        assert injected + faulty.undelivered == 2 * FAULTS_PER_SERVICE and faulty.undelivered <= 1, numbers
        assert numbers["faults"].get("timeout") == 1 and len(faulty.timeouts) == 1, numbers
        retried, swallowed = numbers["failed attempts retried"], collections.Counter(
            i["kind"] for i in faulty.injected if i["operation"] == "StopUploadJob")
        in_map = "AudiencesExport" in faulty.timeouts[0][0]  # an item's retry: in the map run's history, not read
        assert (retried.get(ServiceThrottled.__name__, 0), retried.get(ServiceUnavailable.__name__, 0),
                retried.get(TIMED_OUT, 0)) == (
            numbers["faults"].get("throttle", 0) - swallowed["throttle"],
            numbers["faults"].get("5xx", 0) - swallowed["5xx"], 0 if in_map else 1), numbers
        assert duplicates >= 6, numbers  # one job event and five ready events, each delivered twice
    seconds = time.monotonic() - began
    print(f"totals: {dict(totals)}; {seconds:.1f} s")
    assert {seed: found for seed, found in unexpected.items() if found} == {}
    assert totals["throttle"] >= len(SEEDS) and totals["5xx"] >= len(SEEDS) and totals["timeout"] == len(SEEDS)
    assert seconds < RUNTIME_BUDGET * len(SEEDS) / 4


# ---------------------------------------------------------------- what the faults found, reproduced


def require(condition: bool, what) -> None:
    """A precondition of a test: failing it says the test no longer sets up what it means to (not the behaviour)."""
    if not condition:
        pytest.fail(f"precondition: {what}")


@pytest.fixture
def app(template, monkeypatch, compressed_time):
    with fake_aws(monkeypatch, config=MOTO_CONFIG, bus_name="segmentation-events") as aws:
        app = App(template, monkeypatch, aws)
        yield app
        app.profiles.uploads.close()


def export_with_one_fault(app, fault: str) -> dict:
    arn = segment_job(app.aws, {"job_config.json.out": [ACTION, COMEDY]})
    getattr(app.aws.personalize, fault)["DescribeBatchSegmentJob"] = 1  # one answer, as botocore's retries end
    return run_execution(app.machines["export"], job_event(arn))


def test_an_unavailable_describe_in_plan_is_retried(app):
    execution = export_with_one_fault(app, "unavailable")
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause", "")[:300])
    assert [op for op, _ in app.aws.personalize.calls].count("DescribeBatchSegmentJob") == 2


def test_a_throttled_describe_in_plan_is_retried(app):
    execution = export_with_one_fault(app, "throttle")
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause", "")[:300])


def events_answer_once(fault) -> list[str]:
    """The functions' EventBridge client (moto) answers its next PutEvents with ``fault`` (THROTTLE or a 5xx status),
    as a fake would; returns the operations it answered so."""
    client, answered = lambda_clients.client("events"), []

    def answer(model, params, **_):
        if answered:
            return None
        answered.append(model.name)
        if fault == THROTTLE:
            return AWSResponse(None, 400, {}, None), {
                "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400}}
        return server_error(model, fault)

    client.meta.events.register("before-call.events.PutEvents", answer)
    return answered


def test_an_unavailable_put_events_in_publish_is_retried_and_announces_once(app):
    arn = segment_job(app.aws, {"job_config.json.out": [ACTION, COMEDY]})
    answered = events_answer_once(503)
    execution = run_execution(app.machines["export"], job_event(arn))
    assert execution["status"] == "SUCCEEDED" and answered == ["PutEvents"]
    assert len([e for e in app.aws.events() if e["detail-type"] == SEGMENT_READY]) == 2


def test_a_throttled_put_events_in_publish_is_retried(app):
    arn = segment_job(app.aws, {"job_config.json.out": [ACTION, COMEDY]})
    answered = events_answer_once(THROTTLE)
    execution = run_execution(app.machines["export"], job_event(arn))
    require(answered == ["PutEvents"], answered)
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause", "")[:300])
    assert len([e for e in app.aws.events() if e["detail-type"] == SEGMENT_READY]) == 2


def test_a_delivery_that_loses_the_publish_claim_leaves_the_manifest_marked(app):
    """Two deliveries of one job output both publish: the one that lost the claim writes no manifest, so it never
    unmarks the one the winner marked (a later delivery would export the job again)."""
    arn = segment_job(app.aws, {"job_config.json.out": [ACTION, COMEDY]})
    plans = [plan_handler.handler(job_event(arn), None) for _ in range(2)]  # both before either publishes
    items = json.loads(app.aws.s3.get_object(Bucket=BUCKET, Key=plans[0]["itemsKey"])["Body"].read())
    for item in items:
        export_handler.handler(item, None)
    announced = [publish_handler.handler(plan, None)["announced"] for plan in plans]
    require(announced == [2, 0], announced)
    assert manifest(app.aws)["eventsPublished"] is True
    assert plan_handler.handler(job_event(arn), None)["skip"] is True


def test_a_publish_that_timed_out_after_its_claim_still_announces(app, monkeypatch):
    """An invocation that times out after the claim and before PutEvents runs no clean-up: the claim stays. Its
    execution's retry, at once (the claim records the execution), takes it over and announces."""
    arn = segment_job(app.aws, {"job_config.json.out": [ACTION, COMEDY]})
    announce, timed_out = publish_handler._announce, []

    def times_out_once(*args):
        if not timed_out:
            timed_out.append(True)
            raise FunctionTimedOut("PutEvents")  # Lambda stops it here: nothing after runs
        return announce(*args)

    monkeypatch.setattr(publish_handler, "_announce", times_out_once)
    execution = run_execution(app.machines["export"], job_event(arn))
    require(execution["status"] == "SUCCEEDED" and [t[0] for t in app.router.timeouts] == [
        lambda_arn(logical_id(app.template, "AWS::Lambda::Function", "AudiencesPublish"))], execution)
    ready = [e for e in app.aws.events() if e["detail-type"] == SEGMENT_READY]
    assert len(ready) == 2


def ready_delivery(app, key: str, name: str, job: str = "genre-job") -> dict:
    app.aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b"User.UserId\nu1\nu2\nu3\n")
    event = {"source": AUDIENCE_SOURCE, "detail-type": SEGMENT_READY, "resources": [],
             "detail": {"jobName": job, "jobArn": None, "bucket": BUCKET, "manifestUri": f"s3://{BUCKET}/x",
                        "segment": {"name": name, "audienceKey": key}}}
    (payload,) = app.delivered_by("ConnectAudienceReady", [event])
    return payload


def test_a_delivery_whose_rival_releases_the_claim_joins_the_retry(app, monkeypatch):
    """shared/importer.py start: ``lease`` answers None while a rival holds the claim, then the claim is read; a
    rival whose start failed releases it in between (its workflow retries), and the GetObject answers NoSuchKey,
    which no Retry matches. It counts as the import being started (ImportStarting, retried)."""
    payload = ready_delivery(app, "audiences/genre-job/genre-job-action.csv", "genre-job-action")
    lease, rivals = claims.lease, []

    def rival_claims_then_releases(key, body, takeover):
        if not rivals:
            rivals.append(key)
            app.aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"claimId": "rival"}).encode())
            held = lease(key, body, takeover)  # None: the rival holds it
            app.aws.s3.delete_object(Bucket=BUCKET, Key=key)  # the rival's start failed: it released the claim
            return held
        return lease(key, body, takeover)

    monkeypatch.setattr(claims, "lease", rival_claims_then_releases)
    execution = run_execution(app.machines["import"], payload)
    assert execution["status"] == "SUCCEEDED", (execution.get("error"), execution.get("cause", "")[:300])
    assert app.profiles.members("genre-job-action") == {"u1", "u2", "u3"}


@pytest.mark.parametrize("made", [3, 7])
def test_a_start_that_timed_out_after_creating_its_upload_job_ingests_once(app, made):
    """The start step's AWS calls: the claim (PutObject), CreateUploadJob, its record in the claim (PutObject),
    GetUploadJobPath, two GetObject of the file (its length, then its body), StartUploadJob, then the import's
    record (PutObject). Timed out after the job's record (3 calls: the job CREATED, nothing uploaded) or after
    StartUploadJob (7: the job ingesting, the import unrecorded), the retry waits (ImportStarting) until the claim
    is stale, takes it over and resumes, or follows, the recorded job: no second upload job of the same file."""
    payload = ready_delivery(app, "audiences/genre-job/genre-job-comedy.csv", "genre-job-comedy")
    app.router.time_out = lambda function, event: timing_out(made) if event.get("action") == "start" \
        and not app.router.timeouts else None
    execution = run_execution(app.machines["import"], payload)
    require([calls for _, _, calls in app.router.timeouts] == [made], app.router.timeouts)
    require(execution["status"] == "SUCCEEDED" and app.profiles.members("genre-job-comedy") == {"u1", "u2", "u3"},
            execution)
    assert app.profiles.finish_started() == []  # no job left running unfollowed
    assert [j["Status"] for j in app.profiles.jobs.values()] == ["SUCCEEDED"]  # one job, ingested once


def test_two_deliveries_following_one_import_both_end_done_and_it_is_reported_once(app, monkeypatch):
    """connect_segment_importer define_segment gets the definition, then creates it: two polls of one import (a
    delivery and one that joined it) both get ResourceNotFound, and the later create answers BadRequestException
    (it exists). It gets the definition again and accepts it, as it selects this import's batch; the joined poll
    recorded the import first, so this one answers ALREADY_IMPORTED: the import is reported once."""
    payload = ready_delivery(app, "audiences/genre-job/genre-job-horror.csv", "genre-job-horror")
    audience = connect_handler.handler({"action": "check", "audience": payload["audience"]}, None)
    first = connect_handler.handler({"action": "start", "audience": audience}, None)
    joined = connect_handler.handler({"action": "start", "audience": audience}, None)
    require(joined["importJobId"] == first["importJobId"], joined)
    profiles, interleaved = connect_handler.profiles, []

    def the_other_poll_defines_it_meanwhile(operation, **params):
        if operation == "get_segment_definition" and not interleaved:
            interleaved.append(True)
            try:
                return profiles(operation, **params)
            finally:  # between this poll's get (not found) and its create, the joined delivery polls to the end
                require(connect_handler.handler({"action": "poll", "audience": audience, "import": joined},
                                                None)["state"] == "IMPORTED", "the joined poll")
        return profiles(operation, **params)

    monkeypatch.setattr(connect_handler, "profiles", the_other_poll_defines_it_meanwhile)
    try:
        done = connect_handler.handler({"action": "poll", "audience": audience, "import": first}, None)
    except Exception as exc:  # what the workflow's Catch gets: the delivery fails
        done = f"{type(exc).__name__}: {exc}"
    assert isinstance(done, dict) and done["done"] is True and done["state"] == "ALREADY_IMPORTED", done
    assert app.profiles.members("genre-job-horror") == {"u1", "u2", "u3"}

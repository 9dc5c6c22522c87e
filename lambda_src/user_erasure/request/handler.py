"""An erasure request's life in the data bucket: accepted, its users suppressed, its steps recorded, completed or
failed. The workflow (``UserErasure``) calls one action at a time (``event["action"]``):

- ``accept`` ``{"request": {"bucket", "key"} | {"userIds"}, "executionArn", "startTime", "deadlineDays"}`` (the
  request's fields may also be given at the top level): ``{"bucket", "key"}`` is a request file under ERASURE_PREFIX,
  ``{"userIds"}`` an ``Erasure Requested`` event's detail; ``startTime`` is the execution's. Checks the IDs, claims
  the request's audit record and writes its work file, then deletes the request file, every version. Answers
  ``{"state": "accepted" | "duplicate" | "running", "requestId", "users", "attempt", "erased": {"bucket", "key"},
  "deadline", "atRisk", "holder"?}``: ``duplicate`` when the same set of users was erased before (a new file of
  them is deleted too), ``running`` (with the ``holder`` execution) while another execution erases it (its file is
  deleted once that execution's work file holds the IDs; before that, it is left alone). ``attempt`` counts the executions that took the request on. A bad request raises
  ``ErasureRejected``.
- ``suppress`` ``{"requestId", "erased"}``: the IDs join the suppression list: ``{"added", "alreadySuppressed"}``.
- ``record`` ``{"requestId", "step", "counts"}``: a step's counts into the audit record: ``{"steps"}``.
- ``risk`` ``{"requestId"}``: ``{"notify": true}`` once, the first time it is called past the request's at-risk
  time (recorded as ``atRiskAt``); else ``{"notify": false}``.
- ``complete`` ``{"requestId", "erased"}``: the record COMPLETED, the work file deleted, every version:
  ``{"requestId", "status", "completedAt", "steps"}``.
- ``fail`` ``{"requestId", "error", "cause"}``: the record FAILED; the work file is kept for a retry:
  ``{"requestId", "status", "error"}``.

No ID is ever logged, answered or recorded: the request's hash and counts only.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Iterator, Optional
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from shared.aws import call, logger, object_or_none
from shared.contract import Env, ErasureRejected, ServiceThrottled
from shared.run_claims import running, time_of
from shared import versions
from user_erasure.request import audit, suppression, users

log = logger(__name__)
ACCEPTED, DUPLICATE, RUNNING_ELSEWHERE = "accepted", "duplicate", "running"
AT_RISK_SHARE = 0.8  # a request is at risk once this share of its time to the deadline has passed
MAX_CAUSE = 1000
MAX_ERROR = 256
MAX_COUNT_NAME = 64


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _work_file(request_id: str) -> dict:
    return {"bucket": audit.bucket(), "key": audit.work_key(request_id)}


# ------------------------------------------------------------------ accept


def _request_file(bucket: str, key: str) -> Optional[dict]:
    """The request file's GetObject answer, its key as given or URL-decoded (as an event may deliver it); None when
    neither exists (deleted by an earlier delivery, or never there)."""
    for candidate in dict.fromkeys([key, unquote_plus(key)]):
        try:
            return {**call("s3", "get_object", Bucket=bucket, Key=candidate), "Key": candidate}
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in audit.GONE:
                raise
    return None


def _new_record(request_id: str, count: int, source: str, event: dict) -> dict:
    """The audit record of a request received now: counts and times, never an ID."""
    received = time_of(event["startTime"])
    days = event["deadlineDays"]
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError("deadlineDays must be a whole number of days, at least 1")
    return {"requestId": request_id, "users": count, "source": source, "receivedAt": received.isoformat(),
            "deadline": (received + dt.timedelta(days=days)).isoformat(), "executionArn": event["executionArn"],
            "status": audit.RUNNING, "steps": {}, "attempts": 1}


def _settle(new: dict) -> tuple[str, dict]:
    """(state, audit record): the request claimed (``new`` created, or this execution's record found: a retry, or
    the record of an ended execution that never completed it taken over), or left to the execution that completed
    it or is still running it."""
    key = audit.audit_key(new["requestId"])
    for _ in range(audit.ATTEMPTS):
        if audit.write(key, new, IfNoneMatch="*"):
            return ACCEPTED, new
        found = audit.read(key)
        if found is None:
            continue
        held, etag = found
        if held["status"] == audit.COMPLETED:
            return DUPLICATE, held
        if held["executionArn"] == new["executionArn"]:
            return ACCEPTED, held
        if held["status"] == audit.RUNNING and running(held["executionArn"]):
            return RUNNING_ELSEWHERE, held
        taken = {**new, "receivedAt": held["receivedAt"], "deadline": held["deadline"],
                 "attempts": held.get("attempts", 1) + 1}
        if audit.write(key, taken, IfMatch=etag):
            log.warning("took over an erasure request of an ended execution",
                        extra={"requestId": new["requestId"], "previous": held["executionArn"]})
            return ACCEPTED, taken
    raise ServiceThrottled(f"the audit record of request {new['requestId']} changed under {audit.ATTEMPTS} attempts")


def _at_risk(record: dict) -> dt.datetime:
    """When the request becomes at risk of missing its deadline (which counts from its first receipt)."""
    received, deadline = time_of(record["receivedAt"]), time_of(record["deadline"])
    return received + (deadline - received) * AT_RISK_SHARE


def _answer(state: str, record: dict) -> dict:
    """What ``accept`` answers, from the audit record."""
    answer = {"state": state, "requestId": record["requestId"], "users": record["users"],
              "attempt": record.get("attempts", 1), "erased": _work_file(record["requestId"]),
              "deadline": time_of(record["deadline"]).isoformat(), "atRisk": _at_risk(record).isoformat()}
    if state == RUNNING_ELSEWHERE:
        answer["holder"] = record["executionArn"]
    log.info("erasure request", extra={"state": state, "requestId": record["requestId"], "users": record["users"]})
    return answer


def _accept_ids(ids: list[str], source: str, event: dict) -> tuple[str, dict]:
    """Claim the request of ``ids`` and, once claimed, write its work file (if absent)."""
    request_id = users.request_id(ids)
    state, record = _settle(_new_record(request_id, len(ids), source, event))
    if state == ACCEPTED:
        _write_work_file(request_id, ids)
    return state, record


def _write_work_file(request_id: str, ids: list[str]) -> None:
    """The work file of the request, unless an earlier attempt wrote it (the same IDs: its name is their hash)."""
    try:
        call("s3", "put_object", Bucket=audit.bucket(), Key=audit.work_key(request_id), Body=users.work_file(ids),
             ContentType="text/csv; charset=utf-8", IfNoneMatch="*")
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in audit.LOST:  # there already: written by an earlier attempt
            raise


def _accept_deleted(bucket: str, key: str, event: dict) -> tuple[str, dict]:
    """A request file already deleted: by this execution's earlier attempt (its answer lost) or by the execution of
    an earlier delivery of the same file; what that request's audit record says."""
    pointers = (audit.read(audit.source_key(f"s3://{bucket}/{k}")) for k in dict.fromkeys([key, unquote_plus(key)]))
    pointer = next((found for found in pointers if found), None)
    record = pointer and audit.read(audit.audit_key(pointer[0]["requestId"]))
    if not record:
        raise ErasureRejected(f"s3://{bucket}/{key} does not exist: nothing to erase")
    held = record[0]
    return _settle({**{name: held[name] for name in ("requestId", "users", "source", "receivedAt", "deadline")},
                    "executionArn": event["executionArn"], "status": audit.RUNNING, "steps": {}, "attempts": 1})


def accept(event: dict) -> dict:
    """The request claimed (or found done, or running elsewhere); its file deleted once claimed or found done."""
    request = event.get("request", event)
    if "userIds" in request:
        return _answer(*_accept_ids(users.from_event(request["userIds"]), "event", event))
    bucket, key = request["bucket"], request["key"]
    if audit.is_own(key):
        raise ErasureRejected(f"s3://{bucket}/{key} is one of the erasure's own files, no request")
    found = _request_file(bucket, key)
    if found is None:
        return _answer(*_accept_deleted(bucket, key, event))
    source = f"s3://{bucket}/{found['Key']}"
    ids = users.from_lines(found["Body"].iter_lines(chunk_size=suppression.READ_SIZE, keepends=True), source)
    state, record = _accept_ids(ids, source, event)
    # The file's IDs are the work file's (or were erased): it goes, but while the execution running the request has
    # not written its work file yet (this file may then be all that is left of them).
    if state in (ACCEPTED, DUPLICATE) or (state == RUNNING_ELSEWHERE and object_or_none(
            audit.bucket(), audit.work_key(record["requestId"])) is not None):
        audit.write(audit.source_key(source), {"requestId": record["requestId"]})
        deleted = versions.delete_all(bucket, found["Key"])
        log.info("deleted the request file", extra={"requestId": record["requestId"], "versions": deleted})
    return _answer(state, record)


# ------------------------------------------------------------------ the other steps


def _ids(erased: dict) -> Iterator[str]:
    """The IDs of the work file, streamed."""
    return users.read_work_file(call("s3", "get_object", Bucket=erased["bucket"], Key=erased["key"])["Body"])


def suppress(event: dict) -> dict:
    """The request's IDs added to the suppression list (created if absent)."""
    bucket, _, key = os.environ[Env.ERASED_USERS_URI].removeprefix("s3://").partition("/")
    counts = suppression.add(bucket, key, list(_ids(event["erased"])))
    log.info("suppressed", extra={"requestId": event["requestId"], **counts})
    return counts


def _counted(counts) -> bool:
    """Names mapped to numbers, or to lists of such per resource (a resource named by its ARN): never free text,
    so never an ID."""
    def value(v) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, float))

    def entry(e) -> bool:
        return isinstance(e, dict) and all(isinstance(n, str) and (value(v) or (isinstance(v, str)
                                           and v.startswith("arn:"))) for n, v in e.items())

    return isinstance(counts, dict) and all(
        isinstance(name, str) and len(name) <= MAX_COUNT_NAME
        and (value(v) or (isinstance(v, list) and all(entry(e) for e in v))) for name, v in counts.items())


def record(event: dict) -> dict:
    """A step's counts merged into the record's ``steps`` (``_counted``: numbers, per resource at most)."""
    counts, step = event["counts"], event["step"]
    if not isinstance(step, str) or not 0 < len(step) <= MAX_COUNT_NAME:
        raise ValueError(f"step must be a name of 1 to {MAX_COUNT_NAME} characters")
    if not _counted(counts):
        raise ValueError("counts must map names to numbers, or to lists of numbers per resource ARN (counts only: "
                         "never an ID)")
    updated = audit.update(event["requestId"], lambda held: {**held, "steps": {**held["steps"], step: counts}})
    log.info("recorded a step", extra={"requestId": event["requestId"], "step": step, **counts})
    return {"steps": updated["steps"]}


def risk(event: dict) -> dict:
    """Whether to tell that the request is at risk: the first call past its at-risk time says so, once."""
    now, marks = _now(), []

    def mark(held: dict) -> dict:  # called once a write attempt: the last call is the attempt that was written
        marks.append(not held.get("atRiskAt") and now >= _at_risk(held))
        return {**held, "atRiskAt": now.isoformat()} if marks[-1] else held

    marked = audit.update(event["requestId"], mark)
    notify = marks[-1]
    if notify:
        log.warning("erasure request at risk", extra={"requestId": event["requestId"], "deadline": marked["deadline"]})
    return {"notify": notify}


def complete(event: dict) -> dict:
    """The record COMPLETED; the work file, the last copy of the IDs, deleted with every version."""
    finished = audit.update(event["requestId"], lambda held: {**held, "status": audit.COMPLETED,
                                                               "completedAt": _now().isoformat()})
    deleted = versions.delete_all(event["erased"]["bucket"], event["erased"]["key"])
    log.info("erasure request completed", extra={"requestId": event["requestId"], "workFileVersions": deleted})
    return {"requestId": event["requestId"], "status": finished["status"], "completedAt": finished["completedAt"],
            "steps": finished["steps"]}


def _safe(text: str, request_id: str) -> bool:
    """Whether ``text`` holds none of the request's IDs; False when the work file cannot tell."""
    try:
        return not any(user in text for user in _ids(_work_file(request_id)))
    except ClientError:
        return False


WITHHELD = "withheld: it may hold a user ID (see the execution's history)"


def fail(event: dict) -> dict:
    """The record FAILED with the error's name and Step Functions' cause, cut short; either is withheld if it holds
    one of the request's IDs (or the work file cannot tell)."""
    request_id = event["requestId"]
    error, cause = str(event.get("error") or "Unknown"), str(event.get("cause") or "")
    # checked whole, then cut: a cut through an ID would hide it from the check and keep part of it
    fields = {"error": error[:MAX_ERROR] if _safe(error, request_id) else "withheld"}
    if cause and _safe(cause, request_id):
        fields["cause"] = cause[:MAX_CAUSE]
    failed = audit.update(request_id, lambda held: {**held, **fields, "status": audit.FAILED,
                                                    "failedAt": _now().isoformat()})
    log.warning("erasure request failed", extra={"requestId": request_id, "error": fields["error"]})
    # what the failure event and notification may say: the same, withheld alike
    return {"requestId": request_id, "status": failed["status"], "error": fields["error"],
            "cause": fields.get("cause", WITHHELD)}


ACTIONS = {"accept": accept, "suppress": suppress, "record": record, "risk": risk, "complete": complete,
           "fail": fail}


def handler(event, context):
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    return ACTIONS[action](event)

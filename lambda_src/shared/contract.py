"""The contract between the constructs and their Lambda functions, written once.

Both halves read this file: the functions import it as ``shared.contract`` (it ships in every asset), the
constructs as ``segmentation_constructs.contract`` (the same file, loaded by ``segmentation_constructs/_contract.py``).
It holds, and nothing else may spell out again (``tests/test_contract.py`` checks):

- the sources and detail-types of the events the library puts on a bus and listens for;
- the names of the environment variables the constructs set and the functions read (``Env``);
- the shapes of the events' details and of the importers' workflow payloads (``TypedDict``);
- the exceptions Step Functions routes on: Retry and Catch match a Lambda error by its class name, so the
  constructs build their lists from these classes (``names``).

Standard library only: the constructs load it at synth time, the functions at run time.
"""

from __future__ import annotations

from typing import Literal, Optional, TypedDict

# ---------------------------------------------------------------- events

PERSONALIZE_SOURCE = "solutions.aws.personalize"  # MPEwML's source: training state changes, batch segment jobs
AUDIENCE_SOURCE = "segmentation.audiences"  # what the post-processor and the importers put
S3_SOURCE = "aws.s3"  # S3's own events through EventBridge
OBJECT_CREATED = "Object Created"

SEGMENT_READY = "Audience Segment Ready"
IMPORT_STATE_CHANGE = "Audience Import State Change"
EXPORT_FAILED = "Audience Export Failed"
# A refresh that changed an audience by more than the post-processor's hold_threshold (or came back empty) is held:
# announced as held, and published only once someone puts a release request for the audience.
REFRESH_HELD = "Audience Refresh Held"
RELEASE_REQUESTED = "Audience Release Requested"
TRAINING_RUN_STATE_CHANGE = "Personalize Training Run State Change"
# Erasure (UserErasure): a request as an event (``userIds``), and each request's outcome, counts only
ERASURE_SOURCE = "segmentation.erasure"
ERASURE_REQUESTED = "Erasure Requested"
ERASURE_STATE_CHANGE = "Erasure Request State Change"
# ``Erasure Request State Change``'s Status
ERASURE_ACCEPTED, ERASURE_DUPLICATE, ERASURE_AT_RISK, ERASURE_COMPLETED, ERASURE_FAILED = (
    "ACCEPTED", "DUPLICATE", "AT_RISK", "COMPLETED", "FAILED")


def personalize_state_change(resource: str) -> str:
    """MPEwML's detail-type for a Personalize resource: ``Personalize Batch Segment Job State Change``."""
    return f"Personalize {resource} State Change"


BATCH_SEGMENT_JOB_STATE_CHANGE = personalize_state_change("Batch Segment Job")

# ``Personalize Training Run State Change``'s Status
RUN_STARTED, RUN_SUCCEEDED, RUN_FAILED, RUN_REJECTED = "STARTED", "SUCCEEDED", "FAILED", "REJECTED"
# One run per config at a time: a new upload of a config being trained waits (QUEUED, once) until that run ends; a
# duplicate delivery of the very upload being trained ends at once (JOINED).
RUN_QUEUED, RUN_JOINED = "QUEUED", "JOINED"


# ---------------------------------------------------------------- environment variables


class Env:
    """The environment variables of the functions; each construct sets those its functions read."""

    # every function that reads or writes audience files (post-processor, importers)
    AUDIENCE_BUCKET = "AUDIENCE_BUCKET"
    AUDIENCE_PREFIX = "AUDIENCE_PREFIX"
    EVENT_BUS_NAME = "EVENT_BUS_NAME"
    # training pipeline
    POLLING_BUDGET_SECONDS = "POLLING_BUDGET_SECONDS"
    PERSONALIZE_ROLE_ARN = "PERSONALIZE_ROLE_ARN"
    SCHEDULE_GROUP = "SCHEDULE_GROUP"  # the EventBridge Scheduler group of the config's schedules
    SCHEDULER_ROLE_ARN = "SCHEDULER_ROLE_ARN"  # the role the schedules start the workflow with
    DEAD_LETTER_QUEUE_ARN = "DEAD_LETTER_QUEUE_ARN"  # where a schedule's trigger goes when it cannot start the workflow
    # batch segment post-processor
    SOURCE_BUCKET = "SOURCE_BUCKET"
    BATCH_OUTPUT_PREFIX = "BATCH_OUTPUT_PREFIX"
    HOLDOUT_PERCENT = "HOLDOUT_PERCENT"
    SUPPRESSION_LIST_URI = "SUPPRESSION_LIST_URI"
    ERASED_USERS_URI = "ERASED_USERS_URI"  # the users UserErasure erased: kept out of every audience too
    HOLD_THRESHOLD = "HOLD_THRESHOLD"  # the share of users joined + left past which a refresh is held, or "off"
    # every importer
    IMPORT_BUDGET_SECONDS = "IMPORT_BUDGET_SECONDS"
    # Pinpoint
    PINPOINT_APPLICATION_ID = "PINPOINT_APPLICATION_ID"
    IMPORT_ROLE_ARN = "IMPORT_ROLE_ARN"
    EXPORT_ROLE_ARN = "EXPORT_ROLE_ARN"
    SEGMENT_KIND = "SEGMENT_KIND"
    ENDPOINT_CHANNELS = "ENDPOINT_CHANNELS"
    # Connect Customer Profiles
    DOMAIN_NAME = "DOMAIN_NAME"
    DATA_EXPIRY_DAYS = "DATA_EXPIRY_DAYS"
    USER_ID_TARGET = "USER_ID_TARGET"
    # user erasure (also SOURCE_BUCKET: the data bucket; PERSONALIZE_ROLE_ARN; ERASED_USERS_URI)
    DELETION_BUDGET_SECONDS = "DELETION_BUDGET_SECONDS"  # a data deletion job's time, its training lock's lease
    ERASURE_PREFIX = "ERASURE_PREFIX"  # requests land under it; <prefix>_work/ and <prefix>_audit/ are the library's
    TRAINING_PREFIX = "TRAINING_PREFIX"  # the training pipeline's configs and CSVs
    DELETE_PROFILES = "DELETE_PROFILES"  # "true": erasure deletes profiles holding others' data too (and DOMAIN_NAME,
    # USER_ID_TARGET, PINPOINT_APPLICATION_ID: the destinations the users are erased from)


# The values of Env.SEGMENT_KIND (PinpointSegmentImporter's segment_kind)
USER_ID_SEGMENTS, ENDPOINT_ID_SEGMENTS = "user-id", "endpoint-id"
SEGMENT_KINDS = (USER_ID_SEGMENTS, ENDPOINT_ID_SEGMENTS)

ENVIRONMENT_VARIABLES = frozenset(v for k, v in vars(Env).items() if not k.startswith("_"))

AUDIENCE_HEADER = "User.UserId"  # the one column of every audience file


# ---------------------------------------------------------------- payloads


class AudienceSegment(TypedDict):
    """One query of a batch segment job, as the manifest and the ``Audience Segment Ready`` event give it."""

    line: int
    ordinal: int
    source: str
    queryKind: Optional[str]
    query: Optional[str]
    name: Optional[str]
    audienceKey: Optional[str]
    controlKey: Optional[str]
    userCount: int
    controlCount: int
    suppressedCount: int
    duplicateCount: int
    invalidCount: int  # items of the line's user list that are no user ID (null, true/false, objects, ""): skipped
    error: Optional[str]
    # since the audience's previous published version (None for its first): who joined and who left, two files
    joinedCount: Optional[int]
    leftCount: Optional[int]
    joinedKey: Optional[str]
    leftKey: Optional[str]
    deltaFrom: Optional[dict]  # version, jobName, audienceKey, userCount of that previous version
    # added when published: version (1, 2, ...) and previousVersion; or held (reason) by the refresh guard


class SegmentReadyDetail(TypedDict):
    """``Audience Segment Ready``: one audience file to import."""

    jobName: str
    jobArn: Optional[str]
    manifestUri: str
    bucket: str
    segment: AudienceSegment


ImportStatus = Literal["IMPORTED", "FAILED", "REJECTED"]
IMPORT_REJECTED, IMPORT_FAILED = "REJECTED", "FAILED"  # and IMPORTED (below): ``ImportStateChangeDetail.Status``


class ImportStateChangeDetail(TypedDict, total=False):
    """``Audience Import State Change``: Destination, Status and AudienceKey always; IMPORTED and REJECTED add
    SegmentName; IMPORTED adds SegmentId, Size, ImportJobId and the destination's own fields, REJECTED Reason, FAILED
    Error and Cause. AudienceKey is the file's key once the check step resolved it, as delivered before."""

    Destination: str
    Status: ImportStatus
    SegmentName: str
    AudienceKey: str
    SegmentId: str
    Size: int
    ImportJobId: str
    Reason: str
    Error: str
    Cause: str


class DeliveredAudience(TypedDict, total=False):
    """What an importer's rules hand its workflow (``$.audience``): the audience file's bucket and key as the event
    gave them (a CSV dropped by hand may arrive with its key URL-encoded) and, from an ``Audience Segment Ready``
    event, the segment's name and the batch segment job it came from."""

    bucket: str
    audienceKey: str
    segmentName: str
    jobName: str


class Audience(TypedDict):
    """The audience file as the importer's check step resolved it (``$.audience`` from then on): the key that
    exists, the segment's name (a dropped file's, from its file name), the file version (``etag``) and what is wrong
    with it (``problem``, None for a file that can be imported)."""

    bucket: str
    audienceKey: str
    segmentName: str
    jobName: str
    etag: str
    problem: Optional[str]


# ``ImportState.state``: the workflow routes on it.
STARTED, ALREADY_IMPORTED, IMPORTED = "STARTED", "ALREADY_IMPORTED", "IMPORTED"


class ImportState(TypedDict, total=False):
    """What ``start`` and ``poll`` answer (``$.import``), also kept in the claim marker next to the file. A
    destination adds its own fields (its job IDs, counts) next to these."""

    state: str  # STARTED, ALREADY_IMPORTED (start: imported before; poll: another delivery reported it) or IMPORTED
    done: bool
    status: str  # while not done: the destination's word for the import's progress (IN_PROGRESS, PROCESSING, ...)
    marker: str  # the claim: <audience prefix><job>/_imports/<destination>/<segment>/<etag>.json
    claimId: str  # which claim of that marker this import is: a later delivery's claim of the same file is left alone
    deadline: str  # ISO time the import budget ends
    delivery: str  # this delivery's own ID: of the deliveries polling one import, the first to record it done reports it
    reportedBy: str  # recorded in the marker: the delivery that reported the import IMPORTED
    importJobId: str
    segmentId: str
    size: int


# How an importer's workflow calls its function: ``check`` the delivered audience (``audience``: a DeliveredAudience),
# ``start`` its import (``audience``), then ``poll`` it (``audience`` and ``import``: what the last call answered).
ImportRequest = TypedDict("ImportRequest", {
    "action": Literal["check", "start", "poll"], "audience": Audience, "import": ImportState}, total=False)


# ---------------------------------------------------------------- errors Step Functions routes on


class ServiceThrottled(Exception):
    """The service throttled the call; the workflow retries with backoff and full jitter."""


class ServiceLimitExceeded(Exception):
    """A soft quota is full (5 in-progress Personalize import jobs, 2 Pinpoint imports); retried with backoff."""


class ResourceFailed(Exception):
    """A Personalize resource reached CREATE FAILED; the message is the service's reason."""


class PollingBudgetExceeded(Exception):
    """The run's time budget ran out while a resource or an import was still in progress."""


class ResourceConflict(Exception):
    """An existing Personalize resource with the configured name differs from the config."""


class ImportStarting(Exception):
    """Another delivery of this audience file claimed its import and is starting it: retried, then joined."""


class ImportFailed(Exception):
    """The destination reported that the import failed; the message carries its reason."""


class ErasureRejected(Exception):
    """An erasure request breaks a rule (no ID, too many, an ID empty, too long, with a control character or a
    comma); the message says what and where (row or item), never an ID."""


# The errors of the workflows' own Fail states: each was reported (event and notification) before the execution
# failed with it, so the watch over unreported ends leaves these out.
CONFIG_REJECTED, TRAINING_RUN_FAILED = "ConfigRejected", "TrainingRunFailed"
BATCH_SEGMENT_JOB_FAILED = "BatchSegmentJobFailed"  # the Error of a run whose jobs failed while the others finished
AUDIENCE_EXPORT_FAILED, AUDIENCE_IMPORT_FAILED, AUDIENCE_FILE_REJECTED = \
    "AudienceExportFailed", "AudienceImportFailed", "AudienceFileRejected"
ERASURE_REJECTED, ERASURE_FAILED_ERROR = "ErasureRejected", "ErasureFailed"
REPORTED_FAILURES = (CONFIG_REJECTED, TRAINING_RUN_FAILED, AUDIENCE_EXPORT_FAILED, AUDIENCE_IMPORT_FAILED,
                     AUDIENCE_FILE_REJECTED, ERASURE_REJECTED, ERASURE_FAILED_ERROR)


class ObjectChanged(Exception):
    """An object erasure rewrites changed or went between the read and the write: nothing was written. Retried: the
    next attempt reads the new version."""


class ServiceUnavailable(Exception):
    """The service answered 5xx after botocore's own retries; the workflow retries with backoff."""


RETRIED = (ServiceThrottled, ServiceLimitExceeded)  # every workflow retries these with backoff
IMPORT_RETRIED = (*RETRIED, ImportStarting)
# Faults that pass on their own, retried by every task a few times with backoff and jitter: a 5xx (ServiceUnavailable),
# a network timeout or dropped connection that outlasted botocore's retries (botocore's exception names, as Lambda
# reports them), Lambda throttling the invocation, and a function that timed out or ran out of memory
# (``Lambda.Unknown``; every handler is idempotent, so running it again is safe).
TRANSIENT_ERRORS = ("ServiceUnavailable", "ReadTimeoutError", "ConnectTimeoutError", "EndpointConnectionError",
                    "ConnectionClosedError", "Lambda.TooManyRequestsException", "Lambda.Unknown")


def names(*errors: type[Exception]) -> list[str]:
    """The error names a Retry or Catch matches for these exceptions, as Lambda reports them."""
    return [error.__name__ for error in errors]

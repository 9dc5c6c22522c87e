"""Import one audience file into Amazon Pinpoint as a user-ID or an endpoint-ID segment.

Called by the import workflow with ``action``:
- ``start`` (input: the ``Audience Segment Ready`` event): checks the file and claims the import once per
  file version (``shared/imports.py``). User-ID segments: ``CreateImportJob`` (DefineSegment, the
  segment's readable name, no endpoint registration) on the file as it is. Endpoint-ID segments:
  ``CreateExportJob`` of the project's endpoints instead (``endpoint_segments.py``). Output ``state``:
  ``REJECTED`` (with ``reason``), ``ALREADY_IMPORTED`` or ``STARTED``.
- ``poll`` (input: ``import``, what ``start`` or the last poll returned): while an endpoint export runs,
  ``endpoint_segments.poll`` follows it, joins it with the audience into an ``Id`` file and starts the
  import of that file. Then ``GetImportJob``: ``done`` when COMPLETED, ``ImportFailed`` with Pinpoint's
  reasons when FAILED, ``PollingBudgetExceeded`` past the deadline.

A user-ID segment (header ``User.UserId``) needs no lookup: Pinpoint finds the users' endpoints itself.
An endpoint-ID segment costs one export per import, never one ``GetUserEndpoints`` call per user, and
can keep only some channels. Logs carry names, job IDs and counts, never a user or endpoint ID.
"""

from __future__ import annotations

import os

from pinpoint_segment_importer.importer import endpoint_segments, jobs
from shared import imports
from shared.contract import PollingBudgetExceeded

ENDPOINT_ID = "endpoint-id"


def start(event: dict) -> dict:
    ticket = imports.begin(event["detail"], "pinpoint")
    if ticket.answer:
        return ticket.answer
    base = ticket.base
    with imports.starting(ticket):
        if os.environ.get("SEGMENT_KIND") == ENDPOINT_ID:
            return endpoint_segments.start(ticket)
        return ticket.started({"importJobId": jobs.create_import(base["bucket"], base["audienceKey"],
                                                                 base["segmentName"])})


def poll(event: dict) -> dict:
    if not event.get("importJobId"):
        return endpoint_segments.poll(event)
    job = jobs.call("get_import_job", JobId=event["importJobId"])["ImportJobResponse"]
    status, what = job["JobStatus"], f"Pinpoint import {job['Id']} of {event['segmentName']}"
    if status in (jobs.FAILED, jobs.DONE) and event.get("exportJobId"):
        endpoint_segments.finished(event)
    if status == jobs.FAILED:
        raise imports.failed(event, f"{what} failed: {jobs.failures(job)}")
    if status == jobs.DONE:
        exported = {k: event[k] for k in ("exportJobId", "resolved") if k in event}  # endpoint-ID segments
        return imports.imported(event, {"segmentId": job["Definition"].get("SegmentId"),
                                        "size": job.get("TotalProcessed", 0), **exported})
    if imports.past_deadline(event):
        raise PollingBudgetExceeded(f"{what} was still {status}")
    return {**event, "done": False, "status": status}


def handler(event, context):
    if event["action"] == "poll":
        return poll(event["import"])
    return start(event)

"""Import one audience file into Amazon Pinpoint as a user-ID or an endpoint-ID segment (the loop, the file check
and the claims: ``shared/importer.py``).

- ``start``: user-ID segments, ``CreateImportJob`` (DefineSegment, the segment's readable name, no endpoint
  registration) on the file as it is, into the audience's existing segment once there is one (``jobs.py``). Endpoint-ID segments: ``CreateExportJob`` of the project's endpoints instead
  (``endpoint_segments.py``).
- ``status``: while an endpoint export runs, ``endpoint_segments.status`` follows it, joins it with the audience into
  an ``Id`` file and starts the import of that file. Then ``GetImportJob``: done when COMPLETED, failed with
  Pinpoint's reasons when FAILED.
- ``cleanup``: what an endpoint-ID import leaves (its export, its joined file); a user-ID import leaves nothing.

A user-ID segment (header ``User.UserId``) needs no lookup: Pinpoint finds the users' endpoints itself. An
endpoint-ID segment costs one export per import, never one ``GetUserEndpoints`` call per user, and can keep only some
channels. Logs carry names, job IDs and counts, never a user or endpoint ID.
"""

from __future__ import annotations

import os
from typing import Callable

from pinpoint_segment_importer.importer import endpoint_segments, jobs
from shared import importer
from shared.contract import ENDPOINT_ID_SEGMENTS, Audience, Env, ImportState


class Pinpoint:
    name = "pinpoint"

    def start(self, audience: Audience, marker: str, begun: dict, record: Callable[[dict], None]) -> dict:
        """Its one create call is the start: recorded by the loop as soon as it returns (nothing is ever ``begun``)."""
        if os.environ[Env.SEGMENT_KIND] == ENDPOINT_ID_SEGMENTS:
            return endpoint_segments.start(audience, marker)
        return {"importJobId": jobs.create_import(audience["bucket"], audience["audienceKey"], audience["segmentName"])}

    def status(self, audience: Audience, state: ImportState) -> importer.Progress:
        if not state.get("importJobId"):
            return endpoint_segments.status(audience, state)
        job = jobs.pinpoint("get_import_job", JobId=state["importJobId"])["ImportJobResponse"]
        what = f"Pinpoint import {job['Id']} of {audience['segmentName']}"
        if job["JobStatus"] == jobs.FAILED:
            return importer.Failed(f"{what} failed: {jobs.failures(job)}")
        if job["JobStatus"] == jobs.DONE:
            segment_id = job["Definition"].get("SegmentId")
            if segment_id:  # the audience's segment, updated in place by the next refresh
                jobs.remember_segment(audience["segmentName"], segment_id)
            return importer.Done({"segmentId": segment_id, "size": job.get("TotalProcessed", 0)})
        return importer.Running(what, job["JobStatus"])

    def cleanup(self, audience: Audience, state: ImportState) -> None:
        if state.get("exportPrefix"):
            endpoint_segments.cleanup(state)


DESTINATION = Pinpoint()


def handler(event, context):
    return importer.handle(event, DESTINATION)

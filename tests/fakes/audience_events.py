"""Audiences as the importers receive them, and their functions driven the way their workflow drives them.

An ``Audience Segment Ready`` event (``ready_event``) reaches an importer's workflow as a ``DeliveredAudience``
(``$.audience``: ``ready_audience``; ``tests/fakes/templates.delivered`` applies a rule's own input transformer); the
workflow then calls the function to ``check`` it, ``start`` its import and ``poll`` it (``Steps``).
"""

from __future__ import annotations

from typing import Callable, Optional

from shared.contract import AUDIENCE_SOURCE, SEGMENT_READY
from tests.fakes.environment import BUCKET

KEY = "audiences/genre-job/genre-job-genres-action-8006038a.csv"
NAME = "genre-job-genres-action-8006038a"
JOB = "genre-job"


def ready_event(key=KEY, name=NAME) -> dict:
    return {"source": AUDIENCE_SOURCE, "detail-type": SEGMENT_READY,
            "detail": {"jobName": JOB, "bucket": BUCKET, "manifestUri": f"s3://{BUCKET}/audiences/{JOB}/manifest.json",
                       "segment": {"name": name, "audienceKey": key, "userCount": 3}}}


def ready_audience(key=KEY, name=NAME) -> dict:
    """The ``DeliveredAudience`` the AudienceReady rule makes of ``ready_event(key, name)``."""
    return {"bucket": BUCKET, "audienceKey": key, "segmentName": name, "jobName": JOB}


class Steps:
    """An import function's ``handler`` called as its workflow calls it: ``check`` → ``start`` → ``poll``."""

    def __init__(self, handler: Callable) -> None:
        self.handler = handler

    def check(self, audience: Optional[dict] = None) -> dict:
        """The ``Audience`` the check step answers for a delivered audience (by default ``ready_audience()``)."""
        return self.handler({"action": "check", "audience": audience or ready_audience()}, None)

    def start(self, audience: dict) -> dict:
        return self.handler({"action": "start", "audience": audience}, None)

    def deliver(self, audience: Optional[dict] = None) -> tuple[dict, dict]:
        """The file delivered (again): (the checked audience, what ``start`` answered)."""
        checked = self.check(audience)
        return checked, self.start(checked)

    def poll(self, audience: dict, state: dict) -> dict:
        return self.handler({"action": "poll", "audience": audience, "import": state}, None)

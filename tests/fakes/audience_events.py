"""Audience events as the importers receive them: an ``Audience Segment Ready`` event, or a CSV dropped by hand."""

from __future__ import annotations

from tests.fakes.environment import BUCKET

KEY = "audiences/genre-job/genre-job-genres-action-8006038a.csv"
NAME = "genre-job-genres-action-8006038a"


def ready_event(key=KEY, name=NAME) -> dict:
    return {"source": "segmentation.audiences", "detail-type": "Audience Segment Ready",
            "detail": {"jobName": "genre-job", "bucket": BUCKET, "manifestUri": f"s3://{BUCKET}/audiences/genre-job/manifest.json",
                       "segment": {"name": name, "audienceKey": key, "userCount": 3}}}


def dropped_event(key: str) -> dict:
    """What the AudienceDropped rule's input transformer makes of an S3 Object Created event."""
    return {"detail": {"jobName": "dropped", "dropped": True, "bucket": BUCKET,
                       "segment": {"name": key, "audienceKey": key}}}


CONNECT_ENVIRONMENT = {"AUDIENCE_BUCKET": BUCKET, "AUDIENCE_PREFIX": "audiences/", "DOMAIN_NAME": "audiences-domain",
                       "DATA_EXPIRY_DAYS": "90", "USER_ID_TARGET": "_profile.AccountNumber",
                       "IMPORT_BUDGET_SECONDS": "3600"}

"""Amazon Pinpoint (where still running): the erased users' endpoints deleted from the library's own project.

``DeleteUserEndpoints`` deletes every endpoint of a user, so the user leaves every segment of the project, the
imported user-ID and endpoint-ID segments included. A user without endpoints answers NotFoundException: already
gone, counted. So that a project that does not exist is not taken for users without endpoints, ``GetApp`` checks
the project first; its NotFoundException raises. Throttling and 5xx raise the workflow's retried errors.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter

from botocore.exceptions import ClientError

from shared.aws import call
from shared.contract import Env

BATCH_SIZE = 25  # users between two looks at the time budget
COUNTS = ("endpointsDeleted", "usersNotFound")


@dataclasses.dataclass(frozen=True)
class PinpointErasure:
    """One project's erasure."""

    application_id: str
    batch_size = BATCH_SIZE
    counts = COUNTS

    @classmethod
    def of(cls) -> "PinpointErasure":
        """The construct's project (``PINPOINT_APPLICATION_ID``), checked to exist (it raises otherwise)."""
        application = os.environ.get(Env.PINPOINT_APPLICATION_ID)
        if not application:
            raise ValueError("no Pinpoint project is configured (PINPOINT_APPLICATION_ID): UserErasure was given no "
                             "pinpoint importer")
        call("pinpoint", "get_app", ApplicationId=application)
        return cls(application)

    def erase(self, users: list[str]) -> Counter:
        """Delete the endpoints of a batch of users; the counts of endpoints deleted and users without any."""
        counts = Counter()
        for user in dict.fromkeys(users):
            try:
                deleted = call("pinpoint", "delete_user_endpoints", ApplicationId=self.application_id, UserId=user)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "NotFoundException":
                    raise
                counts["usersNotFound"] += 1
                continue
            counts["endpointsDeleted"] += len(deleted["EndpointsResponse"]["Item"])
        return counts

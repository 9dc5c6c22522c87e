"""State-change events in the MPEwML contract.

source ``solutions.aws.personalize``, detail-type ``Personalize <Resource> State Change``,
resources ``[arn]`` and detail ``{"Arn", "Status", "Duration"}``; failures add ``FailureReason``.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from shared.aws import call
from shared.contract import PERSONALIZE_SOURCE, Env, personalize_state_change



def publish_state_change(resource_label: str, arn: str, status: str, duration: float,
                         failure_reason: Optional[str] = None) -> None:
    detail = {"Arn": arn, "Status": status, "Duration": round(duration, 3)}
    if failure_reason:
        detail["FailureReason"] = failure_reason
    response = call("events", "put_events", Entries=[{
        "Source": PERSONALIZE_SOURCE,
        "DetailType": personalize_state_change(resource_label),
        "Resources": [arn],
        "Detail": json.dumps(detail),
        "EventBusName": os.environ[Env.EVENT_BUS_NAME],
    }])
    if response.get("FailedEntryCount"):
        entry = response["Entries"][0]
        raise RuntimeError(f"EventBridge rejected the {status} event for {arn}: "
                           f"{entry.get('ErrorCode')} {entry.get('ErrorMessage')}")

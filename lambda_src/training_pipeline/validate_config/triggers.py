"""What a run does, by what started it: an upload of the config does everything; a schedule does its part.

- ``import`` (``datasetGroup.workflowConfig.schedules.import``): the dataset group and datasets, and an import of
  each CSV uploaded since its last import (imports are named after the CSV's upload, so nothing is imported twice);
  no training, no jobs.
- ``full`` (``solutions[i].workflowConfig.schedules.full``): the datasets as above, then a new FULL version of that
  solution unless one was started after the scheduled time (a duplicate trigger trains nothing twice), then its
  batch segment jobs on it.
- ``segments`` (``solutions[i].batchSegmentJobs[j].workflowConfig.schedule``): that job alone, on the solution's
  latest ACTIVE version, named after the scheduled time too (a duplicate trigger runs nothing twice).
"""

from __future__ import annotations

import copy
from typing import Optional

UPLOAD = {"kind": "upload"}


def restrict(plan: dict, trigger: dict) -> tuple[Optional[dict], Optional[str]]:
    """(the plan of this run, None) or (None, why the trigger cannot run)."""
    if trigger.get("kind", "upload") == "upload":
        return plan, None
    schedule = next((s for s in plan["schedules"] if s["id"] == trigger.get("id")), None)
    if schedule is None:
        return None, (f"$: this run was started by the schedule {trigger.get('id')!r}, which the config no longer "
                      "has; upload the config again to bring its schedules in line with it")
    plan = {**copy.deepcopy(plan), "schedules": []}
    at = trigger["scheduledTime"]
    if schedule["kind"] == "import":
        plan["solutions"] = []
        return plan, None
    (index,) = [i for i, s in enumerate(plan["solutions"]) if s["params"]["name"] == schedule["solution"]]
    solution = plan["solutions"][index]
    if schedule["kind"] == "full":
        solution["solutionVersion"]["trainedAfter"] = at
    else:  # segments
        plan["datasets"] = []
        solution["solutionVersion"] = {"latestActive": True}
        solution["batchSegmentJobs"] = [{**solution["batchSegmentJobs"][schedule["job"]], "runAt": at}]
    plan["solutions"] = [solution]
    return plan, None

"""An invocation's time, for a handler that works in steps and hands the rest back to its workflow's loop."""

from __future__ import annotations

import dataclasses
import time

RESERVE_SECONDS = 30  # left before the timeout after the last step: a slow call's retries, the answer
FALLBACK_SECONDS = 60  # the budget when there is no Lambda context


@dataclasses.dataclass
class Budget:
    """The invocation's time: when it ends, and how long one batch has taken at most."""

    end: float
    longest: float = 0.0

    @classmethod
    def of(cls, context) -> "Budget":
        seconds = context.get_remaining_time_in_millis() / 1000 if context is not None else FALLBACK_SECONDS
        return cls(time.monotonic() + seconds - RESERVE_SECONDS)

    def timed(self, work, *args):
        """``work(*args)``, its duration kept."""
        started = time.monotonic()
        try:
            return work(*args)
        finally:
            self.longest = max(self.longest, time.monotonic() - started)

    def allows_another(self) -> bool:
        return time.monotonic() + self.longest <= self.end

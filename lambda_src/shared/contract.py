"""Errors the workflow routes on.

Step Functions matches a Lambda error by the exception's class name, so these
names are part of the state machine contract (see Retry/Catch in
``segmentation_constructs/training_pipeline.py``).
"""


class ServiceThrottled(Exception):
    """The service throttled us; the state machine retries with backoff and jitter."""


class ServiceLimitExceeded(Exception):
    """A soft quota (e.g. 5 in-progress import jobs) is full; retried with backoff."""


class ResourceFailed(Exception):
    """A Personalize resource reached CREATE FAILED; the message is the service's reason."""


class PollingBudgetExceeded(Exception):
    """The run's total time budget ran out while a resource was still in progress."""


class ResourceConflict(Exception):
    """An existing resource with the configured name differs from the config."""

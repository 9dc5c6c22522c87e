"""The example stack every test process synthesizes once: both destinations and Pinpoint's endpoint-ID segments, so
the snapshot, the IAM gates and the handlers' environments cover every construct, function and grant (the default,
user-ID segments, grants a subset of these)."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=None)
def context() -> dict:
    from segmentation_constructs.example_stack import cdk_context

    # No bundling in tests: the ijson layer is copied, never pip-installed, and no stack needs it bundled again.
    return {**cdk_context(), "aws:cdk:bundling-stacks": []}


@functools.lru_cache(maxsize=None)
def stack():
    import aws_cdk as cdk

    from segmentation_constructs.example_stack import SegmentationExampleStack

    app = cdk.App(context=context())
    return SegmentationExampleStack(app, "PersonalizeSegmentation", destinations=("pinpoint", "connect"),
                                    pinpoint_segment_kind="endpoint-id")


@functools.lru_cache(maxsize=None)
def template():
    from aws_cdk.assertions import Template

    return Template.from_stack(stack())


@functools.lru_cache(maxsize=None)
def template_json() -> dict:
    return template().to_json()

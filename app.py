#!/usr/bin/env python3
"""CDK app: the example stack. ``cdk deploy -c notificationEmail=you@example.com [-c destinations=none]``."""

import aws_cdk as cdk

from segmentation_constructs.example_stack import SegmentationExampleStack, cdk_context

app = cdk.App(context=cdk_context())
destinations = app.node.try_get_context("destinations") or "pinpoint"  # -c destinations=none
SegmentationExampleStack(app, "PersonalizeSegmentation",
                         notification_email=app.node.try_get_context("notificationEmail"),
                         destinations=[d.strip() for d in destinations.split(",")])
app.synth()

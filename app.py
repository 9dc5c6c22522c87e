#!/usr/bin/env python3
"""CDK app: the example stack. ``cdk deploy -c notificationEmail=you@example.com``."""

import aws_cdk as cdk

from segmentation_constructs.example_stack import SegmentationExampleStack, cdk_context

app = cdk.App(context=cdk_context())
SegmentationExampleStack(app, "PersonalizeSegmentation",
                         notification_email=app.node.try_get_context("notificationEmail"))
app.synth()

#!/usr/bin/env python3
"""CDK app: the example stack.

``cdk deploy -c notificationEmail=you@example.com [-c destinations=connect|pinpoint|pinpoint,connect|none]
[-c profileExpiryDays=90] [-c connectDomainName=<existing Customer Profiles domain>]``
"""

import aws_cdk as cdk

from segmentation_constructs.example_stack import SegmentationExampleStack, cdk_context, context_options

app = cdk.App(context=cdk_context())
SegmentationExampleStack(app, "PersonalizeSegmentation", **context_options(app.node))
app.synth()

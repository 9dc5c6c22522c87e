#!/usr/bin/env python3
"""CDK app: the example stack.

``cdk deploy -c notificationEmail=you@example.com [-c destinations=connect|pinpoint|pinpoint,connect|none]
[-c profileExpiryDays=90] [-c connectDomainName=<existing Customer Profiles domain>]``
"""

import aws_cdk as cdk

from segmentation_constructs.example_stack import SegmentationExampleStack, cdk_context, context_options

# CDK's built-in CloudFormation template validation off: on by default, it costs about a third of a synth and most of
# its memory, and checks what the tests' cfn-lint gate (tests/deploy) checks on every template of every layout.
app = cdk.App(context=cdk_context(), builtin_cloud_formation_validation=False)
SegmentationExampleStack(app, "PersonalizeSegmentation", **context_options(app.node))
app.synth()

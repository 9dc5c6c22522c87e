"""Another team's CDK app, run by the package gate in a fresh venv holding only the installed wheel, its declared
dependencies and cdk-nag: every layout of ``layouts.py`` (copied beside this file), cdk-nag's AwsSolutions pack
registered as its docs show (a synth-time plugin), CDK's defaults otherwise. Synth fails on any unacknowledged
finding."""

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from layouts import LAYOUTS

# The one feature flag its own buckets need (access logs by bucket policy, as `cdk init` sets it); the library's
# constructs depend on none of them.
# CDK's built-in CloudFormation validation is off, as the README advises: the package gate runs cfn-lint over
# every template this app writes.
app = cdk.App(context={"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
                       "@aws-cdk/core:validateAgainstDefaultRules": False},
              builtin_cloud_formation_validation=False)
for build in LAYOUTS.values():
    build(app)
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()

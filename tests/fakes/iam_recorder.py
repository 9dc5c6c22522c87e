"""Records the AWS API actions each Lambda handler makes during the tests.

A call is credited to the function whose ``lambda_src/<function>/handler.py``
is on the call stack, so shared code counts for every function that uses it.
Installed for the whole session by conftest; read by the IAM coverage gate.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import botocore.client

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"
# API operations authorized by actions of other names.
ACTIONS_OF_OPERATION = {
    "s3:HeadObject": ["s3:GetObject"],
    "s3:CopyObject": ["s3:GetObject", "s3:PutObject"],
    "s3:CreateMultipartUpload": ["s3:PutObject"],
    "s3:UploadPart": ["s3:PutObject"],
    "s3:CompleteMultipartUpload": ["s3:PutObject"],
    "s3:ListObjectsV2": ["s3:ListBucket"],
    "s3:DeleteObjects": ["s3:DeleteObject"],
}

recorded: dict[str, set[str]] = defaultdict(set)
_original = botocore.client.BaseClient._make_api_call


def _calling_function() -> str | None:
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.name == "handler.py" and path.parent.parent == LAMBDA_SRC:
            return path.parent.name
        frame = frame.f_back
    return None


def _recording_call(self, operation_name, api_params):
    function = _calling_function()
    if function:
        action = f"{self.meta.service_model.signing_name}:{operation_name}"  # the IAM prefix (mobiletargeting for pinpoint)
        recorded[function].update(ACTIONS_OF_OPERATION.get(action, [action]))
    return _original(self, operation_name, api_params)


def install() -> None:
    botocore.client.BaseClient._make_api_call = _recording_call

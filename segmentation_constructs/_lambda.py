"""One way to build the library's Lambda functions: code, role and log group together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

import jsii
from aws_cdk import BundlingOptions, DockerImage, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

LAMBDA_SRC = Path(__file__).resolve().parent.parent / "lambda_src"
SHARED_PACKAGE = "shared"
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64


def function_code(function_dir: str) -> lambda_.Code:
    """The asset holds ``lambda_src/<function_dir>/`` and the shared package, nothing else."""
    if not (LAMBDA_SRC / function_dir / "handler.py").is_file():
        raise ValueError(f"no handler.py in {LAMBDA_SRC / function_dir}")
    keep = {function_dir, SHARED_PACKAGE}
    others = sorted(p.name for p in LAMBDA_SRC.iterdir() if p.name not in keep)
    return lambda_.Code.from_asset(
        str(LAMBDA_SRC),
        exclude=[*others, "**/__pycache__", "**/*.pyc", "**/.pytest_cache"],
    )


@jsii.implements(ILocalBundling)
class _PipInstallForLambda:
    """Installs a requirements file for the Lambda platform with pip, on this machine: no Docker.

    Binary wheels are chosen for arm64 and the runtime's Python (``--platform``/``--only-binary``),
    so C extensions such as ijson's yajl2_c backend load in Lambda.
    """

    def __init__(self, requirements: Path) -> None:
        self._requirements = requirements

    def try_bundle(self, output_dir: str, *args, **kwargs) -> bool:
        version = RUNTIME.name.removeprefix("python")
        subprocess.run([
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:",
            "--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", version,
            "--target", str(Path(output_dir) / "python"), "-r", str(self._requirements),
        ], check=True)
        return True


def python_dependencies_layer(scope: Construct, id: str, name: str) -> lambda_.LayerVersion:
    """A layer of the pinned packages in ``lambda_src/layers/<name>/requirements.txt``."""
    folder = LAMBDA_SRC / "layers" / name
    return lambda_.LayerVersion(
        scope, id,
        code=lambda_.Code.from_asset(str(folder), bundling=BundlingOptions(
            image=DockerImage.from_registry("no-docker-local-bundling-only"),
            local=_PipInstallForLambda(folder / "requirements.txt"))),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description=f"Python packages for the Lambda platform: {name}",
    )


class SegmentationFunction(Construct):
    """A Python arm64 function with its own role and a log group it alone writes to.

    The role starts empty except for writing its logs; each construct grants
    exactly the actions its handler calls.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        function_dir: str,
        description: str,
        environment: Optional[Mapping[str, str]] = None,
        timeout: Duration = Duration.minutes(1),
        memory_size: int = 256,
        log_retention: logs.RetentionDays = logs.RetentionDays.THREE_MONTHS,
        layers: Sequence[lambda_.ILayerVersion] = (),
    ) -> None:
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.RETAIN)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs {function_dir}: {description}",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"{function_dir}.handler.handler",
            code=function_code(function_dir),
            description=description,
            environment=dict(environment or {}),
            timeout=timeout,
            memory_size=memory_size,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            layers=list(layers),
        )
        # Only this function's log group, not logs:* on every group.
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )

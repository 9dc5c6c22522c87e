"""One way to build the library's Lambda functions: code, role and log group together."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

_HERE = Path(__file__).resolve().parent
# Installed from a wheel or sdist: inside the package. In a checkout (or an editable install): beside it.
LAMBDA_SRC = next((p for p in (_HERE / "lambda_src", _HERE.parent / "lambda_src") if p.is_dir()), _HERE / "lambda_src")
SHARED_PACKAGE = "shared"
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache"]
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64


def function_code(function: str) -> lambda_.Code:
    """The asset of ``function`` (``<construct module>.<function>``): ``lambda_src/<construct module>/<function>/``
    and the shared package, nothing else."""
    construct, _, name = function.partition(".")
    folder = LAMBDA_SRC / construct / name
    if not name or not (folder / "handler.py").is_file():
        raise ValueError(f"no handler.py in {folder}")
    others = sorted(p.name for p in LAMBDA_SRC.iterdir() if p.name not in (construct, SHARED_PACKAGE))
    siblings = sorted(f"{construct}/{p.name}" for p in folder.parent.iterdir() if p.name != name)
    return lambda_.Code.from_asset(str(LAMBDA_SRC), exclude=[*others, *siblings, *ASSET_EXCLUDES])


def python_dependencies_layer(scope: Construct, id: str, name: str) -> lambda_.LayerVersion:
    """A layer of prebuilt packages for the Lambda platform, shipped in the package: ``lambda_src/layers/<name>/``.

    The folder holds ``python/`` exactly as Lambda mounts it under ``/opt`` (arm64 wheels for the runtime's
    Python, unpacked), so synth copies files and never runs pip or reaches a package index.
    ``scripts/build_layers.py`` rebuilds it from the pins in ``requirements.txt``.
    """
    folder = LAMBDA_SRC / "layers" / name
    if not (folder / "python").is_dir():
        raise ValueError(f"no prebuilt layer in {folder / 'python'}: run scripts/build_layers.py")
    return lambda_.LayerVersion(
        scope, id,
        code=lambda_.Code.from_asset(str(folder), exclude=["requirements.txt", *ASSET_EXCLUDES]),
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
        function: str,
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
            description=f"Runs {function}: {description}",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"{function}.handler.handler",
            code=function_code(function),
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

"""One way to build the library's Lambda functions: code, role and log group together."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping, Optional, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from segmentation_constructs._nag import acknowledge

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
    """A layer of prebuilt packages for the Lambda platform, shipped in the package: ``lambda_src/vendor/<name>/``.

    The folder holds ``python/`` exactly as Lambda mounts it under ``/opt`` (arm64 wheels for the runtime's
    Python, unpacked), so synth copies files and never runs pip or reaches a package index.
    ``scripts/build_layers.py`` rebuilds it from the pins in ``requirements.txt``.
    """
    folder = LAMBDA_SRC / "vendor" / name
    if not (folder / "python").is_dir():
        raise ValueError(f"no prebuilt layer in {folder / 'python'}: run scripts/build_layers.py")
    return lambda_.LayerVersion(
        scope, id,
        code=lambda_.Code.from_asset(str(folder), exclude=["requirements.txt", *ASSET_EXCLUDES]),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description=f"Python packages for the Lambda platform: {name}",
    )


@dataclasses.dataclass(frozen=True)
class FunctionSettings:
    """Settings of one of a construct's Lambda functions; each one left out keeps the construct's default.

    :param memory_size: MB, from 128 to 10,240 (1,769 MB is one full vCPU).
    :param timeout: at most 15 minutes.
    :param log_retention: how long the function's log group keeps its logs.
    :param tracing: AWS X-Ray tracing of the function (``lambda_.Tracing.ACTIVE``); off by default.
    """

    memory_size: Optional[int] = None
    timeout: Optional[Duration] = None
    log_retention: Optional[logs.RetentionDays] = None
    tracing: Optional[lambda_.Tracing] = None


def checked_settings(settings: Optional[FunctionSettings], prop: str) -> FunctionSettings:
    """``settings`` (none given: every default), if each setting is in range; else a ValueError naming ``prop``."""
    if settings is None:
        return FunctionSettings()
    if not isinstance(settings, FunctionSettings):
        raise ValueError(f"{prop} must be a FunctionSettings(...), not {type(settings).__name__}")
    memory = settings.memory_size
    if memory is not None and (isinstance(memory, bool) or not isinstance(memory, int) or not 128 <= memory <= 10_240):
        raise ValueError(f"{prop}.memory_size must be a whole number of MB from 128 to 10240, not {memory!r}")
    if settings.timeout is not None and (not isinstance(settings.timeout, Duration)
                                         or not 1 <= settings.timeout.to_seconds() <= 900):
        raise ValueError(f"{prop}.timeout must be a Duration from 1 second to 15 minutes, not {settings.timeout!r}")
    if settings.log_retention is not None and not isinstance(settings.log_retention, logs.RetentionDays):
        raise ValueError(f"{prop}.log_retention must be a logs.RetentionDays, not {settings.log_retention!r}")
    if settings.tracing is not None and not isinstance(settings.tracing, lambda_.Tracing):
        raise ValueError(f"{prop}.tracing must be a lambda_.Tracing, not {settings.tracing!r}")
    return settings


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
        timeout: Duration = Duration.minutes(2),
        memory_size: int = 256,
        settings: Optional[FunctionSettings] = None,
        layers: Sequence[lambda_.ILayerVersion] = (),
    ) -> None:
        """``timeout`` and ``memory_size``: the construct's defaults for this function; ``settings``: the user's."""
        super().__init__(scope, id)
        settings = settings or FunctionSettings()
        log_retention = settings.log_retention or logs.RetentionDays.THREE_MONTHS
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
            timeout=settings.timeout or timeout,
            memory_size=settings.memory_size or memory_size,
            tracing=settings.tracing,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            layers=list(layers),
        )
        if settings.tracing not in (None, lambda_.Tracing.DISABLED):
            acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]",
                        "Tracing is on: Lambda adds X-Ray trace upload (xray:PutTraceSegments, PutTelemetryRecords), "
                        "which IAM authorizes on * only.")
        # Only this function's log group, not logs:* on every group.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )

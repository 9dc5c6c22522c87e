"""A stand-in for the AWS Lambda Python runtime, to run the synthesized function assets as deployed.

The handler tests import ``lambda_src`` in the dev venv, where every package is installed. A deployed
function has only the standard library, boto3 and its dependencies (what the runtime ships), its own
asset (``/var/task``) and its layers (``/opt/python``). This module:

- ``read_assembly`` reads every Python function of a cloud assembly (the package gate's, synthesized from
  the installed wheel): handler, runtime, architecture, environment (as the template has it,
  tokens included; ``resolve_environment`` names the fakes instead), code asset directory and its layers'
  asset directories (``aws:asset:path`` metadata, else the asset manifest);
- ``boto3_runtime_dir``: a directory of symlinks to boto3 and its dependency closure only, standing in
  for what the runtime ships next to the standard library;
- ``LambdaRuntime.invoke``: a clean interpreter (the same executable with ``-S -I -B``: no site-packages,
  no ``PYTHON*`` variables, no current directory) whose ``sys.path`` is the asset, the layers' ``python``
  directories, the boto3 directory, then the standard library. It imports the handler and invokes it
  once. Every AWS call it makes (``BaseClient._make_api_call``) is pickled over a socket to this process,
  which makes it with its own client for that service, so moto and the in-process fakes answer; the
  response (or the error) goes back, and the child raises ``client.exceptions.from_code(code)`` as
  botocore would. Plain HTTP from the child may reach this machine only (pre-signed URLs of local fakes).

What it cannot see: the runtime's Python version (this interpreter's is used, so syntax or standard
library differences and C extensions built for another Python or CPU are not exercised: see
``native_extension_problems``, which checks the latter by their ELF headers and names), the runtime's
exact boto3 version (the dev venv's is used), the runtime's memory and time limits, and event handlers a
handler registers on its own clients (the call is made by this process's client).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import botocore.exceptions
import botocore.response

from tests.fakes import distributions

REPO = Path(__file__).resolve().parents[2]
# What the Lambda Python runtime provides besides the standard library.
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
# Importable in the dev venv, never in a deployed function: the child checks each is absent.
DEV_ONLY_MODULES = ("moto", "pytest", "aws_cdk", "jsii", "constructs", "cfnlint", "yaml", "requests",
                    "segmentation_constructs", "tests")
ELF_MACHINES = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64

# ---------------------------------------------------------------------------- the cloud assembly


@dataclasses.dataclass(frozen=True)
class LambdaFunction:
    stack: str
    logical_id: str
    handler: str  # module.attribute, e.g. pinpoint_segment_importer.importer.handler.handler
    runtime: str  # e.g. python3.14
    architecture: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    environment: dict = dataclasses.field(compare=False)  # as in the template: values may be tokens
    timeout: int = 3
    memory_size: int = 128
    resources: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)  # the template's

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def name(self) -> str:
        return f"{self.stack}/{self.logical_id} (handler {self.handler}, {self.runtime} {self.architecture})"

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")

    def sys_path(self) -> list[str]:
        """Where the runtime looks first: /var/task, then /opt/python/lib/pythonX.Y/site-packages and /opt/python
        of each layer; the last layer first, as Lambda extracts them in order into one /opt (later files win)."""
        path = [str(self.code_dir)]
        for layer in reversed(self.layer_dirs):
            for candidate in (layer / "python" / "lib" / f"python{self.python_version}" / "site-packages",
                              layer / "python"):
                if candidate.is_dir():
                    path.append(str(candidate))
        return path



def read_assembly(outdir: Path, stacks: Optional[set[str]] = None) -> list[LambdaFunction]:
    """Every function with a Python runtime in the assembly at ``outdir`` (nested assemblies included), or in
    the named stacks only."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    artifacts = manifest.get("artifacts", {})
    asset_files: dict[str, dict] = {}
    for artifact in artifacts.values():
        if artifact["type"] == "cdk:asset-manifest":
            asset_files.update(json.loads((outdir / artifact["properties"]["file"]).read_text()).get("files", {}))
    functions = []
    for stack_name, artifact in artifacts.items():
        if artifact["type"] == "cdk:cloud-assembly":
            functions += read_assembly(outdir / artifact["properties"]["directoryName"], stacks)
        if artifact["type"] != "aws:cloudformation:stack" or (stacks is not None and stack_name not in stacks):
            continue
        template = json.loads((outdir / artifact["properties"]["templateFile"]).read_text())
        resources = template.get("Resources", {})
        for logical_id, resource in resources.items():
            props = resource.get("Properties", {})
            if resource["Type"] != "AWS::Lambda::Function" or not str(props.get("Runtime", "")).startswith("python"):
                continue
            where = f"{stack_name}/{logical_id}"
            layers = []
            for layer in props.get("Layers", []):
                if not (isinstance(layer, dict) and "Ref" in layer and layer["Ref"] in resources):
                    raise AssertionError(f"{where}: layer {layer} is not in the assembly; the stand-in cannot "
                                         "see what it holds")
                layers.append(_asset_dir(outdir, asset_files, resources[layer["Ref"]], "Content",
                                         f"{where} layer {layer['Ref']}"))
            functions.append(LambdaFunction(
                stack=stack_name, logical_id=logical_id, handler=props["Handler"], runtime=props["Runtime"],
                architecture=(props.get("Architectures") or ["x86_64"])[0],
                code_dir=_asset_dir(outdir, asset_files, resource, "Code", where), layer_dirs=tuple(layers),
                environment=dict(props.get("Environment", {}).get("Variables", {})),
                timeout=int(props.get("Timeout", 3)), memory_size=int(props.get("MemorySize", 128)),
                resources=resources))
    return functions


def _asset_dir(outdir: Path, asset_files: dict, resource: dict, code_property: str, where: str) -> Path:
    """The directory the asset of ``resource`` was staged from: ``aws:asset:path`` metadata, else the
    asset manifest entry whose hash the S3 key names. A zip file asset is extracted next to it."""
    metadata = resource.get("Metadata", {})
    if metadata.get("aws:asset:path") and metadata.get("aws:asset:property") == code_property:
        path = Path(metadata["aws:asset:path"])
    else:
        code = resource["Properties"][code_property]
        if "S3Key" not in code:
            raise AssertionError(f"{where}: no asset ({code_property} is {json.dumps(code)[:200]})")
        found = re.search(r"[0-9a-f]{64}", json.dumps(code["S3Key"]))
        if not found or found.group() not in asset_files:
            raise AssertionError(f"{where}: S3Key {code['S3Key']} names no file asset of the assembly")
        path = Path(asset_files[found.group()]["source"]["path"])
    path = path if path.is_absolute() else outdir / path
    if path.is_file() and path.suffix == ".zip":
        import zipfile

        target = path.with_suffix(".extracted")
        if not target.is_dir():
            zipfile.ZipFile(path).extractall(target)
        path = target
    if not path.is_dir():
        raise AssertionError(f"{where}: asset {path} is not a directory")
    return path


# ---------------------------------------------------------------------------- environment tokens

PSEUDO = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
          "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "PersonalizeSegmentation"}


def resolve_environment(function: LambdaFunction, names: dict, *, region: str = "us-east-1",
                        account: str = "123456789012") -> dict[str, str]:
    """The function's environment with each token replaced: ``Ref`` of a resource by the fake's name for
    its type (``names``: CloudFormation type -> name, or (type, attribute) -> value for ``Fn::GetAtt``),
    ``Fn::GetAtt [role, Arn]`` by a role ARN named after the role's logical ID, pseudo
    parameters, ``Fn::Join`` and ``Fn::Sub``. Two resources of one type, or a type without a fake, fail."""
    chosen: dict[str, str] = {}  # type -> the logical ID that got the fake's name
    pseudo = {**PSEUDO, "AWS::Region": region, "AWS::AccountId": account}

    def ref(logical: str, variable: str) -> str:
        if logical in pseudo:
            return pseudo[logical]
        kind = function.resources.get(logical, {}).get("Type")
        if kind not in names:
            raise AssertionError(f"{function.name}: ${variable} refers to {logical} ({kind}); the gate has no "
                                 "fake name for that type: add one")
        if chosen.setdefault(kind, logical) != logical:
            raise AssertionError(f"{function.name}: ${variable} refers to {logical} and to {chosen[kind]}, two "
                                 f"{kind} resources; give the gate a fake for each")
        return names[kind]

    def get_att(logical: str, attribute: str, variable: str) -> str:
        kind = function.resources.get(logical, {}).get("Type")
        if kind == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{account}:role/{logical}"
        if (kind, attribute) in names:
            return names[(kind, attribute)]
        raise AssertionError(f"{function.name}: ${variable} is {logical}.{attribute} ({kind}); the gate has "
                             "no fake value for it: add one")

    def value(token, variable: str) -> str:
        if isinstance(token, (str, int, float)):
            return str(token)
        if isinstance(token, dict) and len(token) == 1:
            (op, arg), = token.items()
            if op == "Ref":
                return ref(arg, variable)
            if op == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return get_att(logical, attribute, variable)
            if op == "Fn::Join":
                return arg[0].join(value(part, variable) for part in arg[1])
            if op == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

                def sub(match):
                    name = match.group(1)
                    if name in extra:
                        return value(extra[name], variable)
                    if "." in name:
                        return get_att(*name.split(".", 1), variable)
                    return ref(name, variable)

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
        raise AssertionError(f"{function.name}: ${variable} = {json.dumps(token)} cannot be resolved by the gate")

    return {variable: value(token, variable) for variable, token in function.environment.items()}


# ---------------------------------------------------------------------------- the runtime's packages


def runtime_distribution_closure(root: str = "boto3") -> set[str]:
    """The installed distributions ``root`` needs (extras left out), by their metadata."""
    return set(distributions.closure([root]))


def boto3_runtime_dir(target: Path, names: Iterable[str] = RUNTIME_DISTRIBUTIONS) -> Path:
    """``target`` holding symlinks to the top-level packages and modules (and the metadata) of the
    distributions ``names`` as installed here: nothing else of site-packages."""
    return distributions.link((importlib.metadata.distribution(n) for n in names), target)


# ---------------------------------------------------------------------------- native extensions


def native_extension_problems(function: LambdaFunction) -> list[str]:
    """Shared objects in the asset and layers that cannot load on the function's CPU, or (extension
    modules) were built for another Python than its runtime's. The stand-in cannot load them: this checks
    their ELF header and file name instead."""
    machine = ELF_MACHINES.get(function.architecture)
    python_tag = function.python_version.replace(".", "")
    problems = []
    for root in (function.code_dir, *function.layer_dirs):
        for path in root.rglob("*.so*"):
            if not path.is_file():
                continue
            header = path.read_bytes()[:20]
            if header[:4] != b"\x7fELF":
                continue
            found = int.from_bytes(header[18:20], "little")
            if machine is not None and found != machine:
                cpu = {v: k for k, v in ELF_MACHINES.items()}.get(found, f"ELF machine {found}")
                problems.append(f"{path.relative_to(root)} is built for {cpu}, the function runs on "
                                f"{function.architecture}")
            tag = re.search(r"\.cpython-(\d+)", path.name)
            if tag and tag.group(1) != python_tag:
                problems.append(f"{path.relative_to(root)} is built for CPython {tag.group(1)}, the function "
                                f"runs {function.runtime}")
    return problems


# ---------------------------------------------------------------------------- the child interpreter

CHILD = r'''
"""One Lambda invocation in a clean interpreter; written out and started by tests/fakes/lambda_runtime.py."""
import sys


def describe(exc):
    """The exception, its traceback without this bootstrap's and importlib's frames."""
    import traceback
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__
              and not f.filename.startswith("<frozen ") and not f.filename.endswith("importlib/__init__.py")]
    text = "".join(["Traceback (most recent call last):\n", *traceback.format_list(frames),
                    *traceback.format_exception_only(type(exc), exc)])
    return {"type": f"{type(exc).__module__}.{type(exc).__qualname__}", "message": str(exc),
            "module": getattr(exc, "name", None) if isinstance(exc, ImportError) else None, "traceback": text}


def patch_aws(conn, lock):
    """Every AWS call goes to the parent test process; plain HTTP may reach this machine only."""
    import io
    import botocore.client
    import botocore.exceptions
    import botocore.response
    import urllib3.connectionpool

    def plain(value):
        if hasattr(value, "read"):
            return value.read()
        return bytes(value) if isinstance(value, (bytearray, memoryview)) else value

    def rebuild(value):
        if isinstance(value, dict):
            if set(value) == {"__streaming_body__"}:
                data = value["__streaming_body__"]
                return botocore.response.StreamingBody(io.BytesIO(data), len(data))
            return {k: rebuild(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rebuild(v) for v in value]
        return value

    def make_api_call(self, operation_name, api_params):
        service = self.meta.service_model.service_name
        request = (service, self.meta.region_name, operation_name, {k: plain(v) for k, v in api_params.items()})
        with lock:
            conn.send(("call", request))
            kind, payload = conn.recv()
        if kind == "ok":
            return rebuild(payload)
        if kind == "client_error":
            raise self.exceptions.from_code(payload.get("Error", {}).get("Code", ""))(payload, operation_name)
        if kind == "botocore_error":
            name, kwargs = payload
            raise getattr(botocore.exceptions, name)(**kwargs)
        raise RuntimeError(f"the fake AWS failed on {service} {operation_name}: {payload}")

    botocore.client.BaseClient._make_api_call = make_api_call
    urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def local_only(self, method, url, *args, **kwargs):
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise RuntimeError(f"the Lambda stand-in may reach only this machine, not {self.scheme}://{self.host}")
        return urlopen(self, method, url, *args, **kwargs)

    urllib3.connectionpool.HTTPConnectionPool.urlopen = local_only


class LambdaContext:
    def __init__(self, fields, timeout_seconds):
        import time
        self.__dict__.update(fields)
        self._deadline = time.monotonic() + timeout_seconds
        self._clock = time.monotonic
        self.identity = self.client_context = None

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - self._clock()) * 1000))


def main(fd):
    import threading
    from multiprocessing.connection import Connection

    conn, lock = Connection(fd), threading.Lock()
    spec = conn.recv()
    sys.path[:] = spec["path"] + sys.path  # the standard library stays last, as in the runtime
    conn.send(("started", {"sys_path": list(sys.path), "no_site": sys.flags.no_site, "isolated": sys.flags.isolated,
                           "site_imported": "site" in sys.modules, "version": sys.version.split()[0]}))
    leaked = {}
    for name in spec["absent"]:
        try:
            module = __import__(name)
        except ImportError:
            continue
        leaked[name] = getattr(module, "__file__", None) or str(list(getattr(module, "__path__", [])))
    if leaked:
        conn.send(("leaked", leaked))
        return
    patch_aws(conn, lock)
    import importlib
    module_name, _, attribute = spec["handler"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except BaseException as exc:
        conn.send(("import_failed", describe(exc)))
        return
    ijson = sys.modules.get("ijson")
    conn.send(("imported", {"ijson_backend": getattr(ijson, "backend", None) if ijson else None,
                            "ijson_file": getattr(ijson, "__file__", None) if ijson else None}))
    if spec["event"] is None:
        return
    import json
    context = LambdaContext(spec["context"], spec["timeout"])
    try:
        result = handler(json.loads(spec["event"]), context)
    except BaseException as exc:
        outcome = ("raised", describe(exc))
    else:
        try:
            outcome = ("returned", json.dumps(result))  # the runtime returns the result as JSON
        except Exception as exc:
            outcome = ("raised", {**describe(exc), "message": f"the result is not JSON serializable: {exc}"})
    with lock:
        conn.send(outcome)


if __name__ == "__main__":
    import os
    try:
        main(int(sys.argv[1]))
    finally:  # like a frozen Lambda container: no interpreter shutdown (its thread joins and finalizers) to wait for
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
'''


@dataclasses.dataclass
class Invocation:
    function: LambdaFunction
    outcome: str = "died"  # the child's last word: started, leaked, import_failed, imported, raised, returned; or
    # died (before it said anything), timed out
    result: Any = None
    error: Optional[dict] = None
    leaked: dict = dataclasses.field(default_factory=dict)
    sys_path: list = dataclasses.field(default_factory=list)
    interpreter: dict = dataclasses.field(default_factory=dict)
    ijson_backend: Optional[str] = None
    ijson_file: Optional[str] = None
    calls: list = dataclasses.field(default_factory=list)  # "service Operation", in order
    fake_errors: list = dataclasses.field(default_factory=list)  # tracebacks of the fakes (a broken test)
    output: str = ""  # the child's stdout and stderr (its logs)
    seconds: float = 0.0
    phases: dict = dataclasses.field(default_factory=dict)  # seconds from the start: started, imported, ended
    answering: float = 0.0  # seconds this process spent answering AWS calls
    exit_code: Optional[int] = None

    def summary(self) -> str:
        phases = ", ".join(f"{k} {v:.2f}" for k, v in self.phases.items())
        ijson = f", ijson backend {self.ijson_backend}" if self.ijson_backend else ""
        return (f"{self.function.handler}: {self.outcome} in {self.seconds:.2f}s ({phases}), {len(self.calls)} AWS "
                f"calls answered in {self.answering:.2f}s{ijson}")

    def check(self) -> Any:
        """The result; or an AssertionError saying what failed, where, and that Lambda would fail the same way."""
        where = self.function.name
        tail = f"\n--- the function's output ---\n{self.output[-3000:]}" if self.output.strip() else ""
        if self.fake_errors:
            raise AssertionError(f"{where}: the fake AWS failed (a test problem, not the function's):\n"
                                 + "\n".join(self.fake_errors) + tail)
        if self.outcome == "leaked":
            raise AssertionError(f"{where}: the Lambda runtime stand-in is not clean: {self.leaked} imported, "
                                 f"though Lambda has none of them (sys.path {self.sys_path})")
        if self.outcome == "import_failed":
            error = self.error
            what = f"module {error['module']!r} could not be imported" if error.get("module") else "import failed"
            raise AssertionError(
                f"{where}: importing {self.function.module} failed: {what}: {error['type']}: {error['message']}\n"
                f"The Lambda runtime would fail the same way on every invocation (Runtime.ImportModuleError): it "
                f"has only the asset {self.function.code_dir.name}, the layers "
                f"{[p.name for p in self.function.layer_dirs] or 'none'}, boto3 and the standard library.\n"
                f"{error['traceback']}{tail}")
        if self.outcome == "raised":
            error = self.error
            raise AssertionError(f"{where}: the handler raised {error['type']}: {error['message']} in the Lambda "
                                 f"runtime stand-in; the deployed function would fail the same way.\n"
                                 f"AWS calls made: {self.calls}\n{error['traceback']}{tail}")
        if self.outcome != "returned":
            raise AssertionError(f"{where}: the Lambda runtime stand-in ended {self.outcome} (exit code "
                                 f"{self.exit_code}); the deployed function would fail too.{tail}")
        return self.result


class LambdaRuntime:
    """Runs handlers in a clean interpreter holding only the Lambda runtime's packages."""

    def __init__(self, workdir: Path, *, python: str = sys.executable, region: str = "us-east-1",
                 account: str = "123456789012") -> None:
        self.python, self.region, self.account = python, region, account
        self.boto3_dir = boto3_runtime_dir(workdir / "var-runtime")
        self.bootstrap = workdir / "bootstrap" / "lambda_bootstrap.py"
        self.bootstrap.parent.mkdir(parents=True, exist_ok=True)
        self.bootstrap.write_text(CHILD)

    def environment(self, function: LambdaFunction, variables: dict[str, str]) -> dict[str, str]:
        """What the runtime sets (fake credentials), then the function's own variables."""
        name = function.logical_id
        return {
            "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}", "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "LAMBDA_TASK_ROOT": str(function.code_dir), "LAMBDA_RUNTIME_DIR": str(self.boto3_dir),
            "_HANDLER": function.handler, "TZ": ":UTC", "LANG": "en_US.UTF-8", "PATH": "/usr/local/bin:/usr/bin:/bin",
            # never a real profile or instance role
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            **variables,
        }

    def invoke(self, function: LambdaFunction, event: Any, *, environment: dict[str, str],
               clients: Optional[Callable[[str], Any]] = None, absent: Iterable[str] = (),
               timeout: float = 60) -> Invocation:
        """Import ``function``'s handler and, unless ``event`` is None, invoke it once with ``event``.
        ``clients(service)`` is the client (moto and the fakes behind it) that answers its AWS calls."""
        invocation = Invocation(function)
        absent = list(dict.fromkeys([*DEV_ONLY_MODULES, *absent]))
        spec = {"path": function.sys_path() + [str(self.boto3_dir)], "handler": function.handler, "absent": absent,
                "event": None if event is None else json.dumps(event), "timeout": function.timeout,
                "context": {"function_name": function.logical_id, "function_version": "$LATEST",
                            "invoked_function_arn": f"arn:aws:lambda:{self.region}:{self.account}:function:"
                                                    f"{function.logical_id}",
                            "memory_limit_in_mb": str(function.memory_size),
                            "aws_request_id": "c0ffee00-0000-4000-8000-000000000001",
                            "log_group_name": f"/aws/lambda/{function.logical_id}", "log_stream_name": "stand-in"}}
        started = time.monotonic()
        ours, theirs = socket.socketpair()
        with tempfile.TemporaryFile() as output:
            process = subprocess.Popen(
                [self.python, "-S", "-I", "-B", str(self.bootstrap), str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                env=self.environment(function, environment), cwd=function.code_dir)
            theirs.close()
            conn = Connection(ours.detach())
            try:
                conn.send(spec)
                self._serve(conn, invocation, clients, started, started + timeout)
            finally:
                conn.close()
                if invocation.outcome == "timed out":
                    process.kill()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            output.seek(0)
            invocation.output = output.read().decode("utf-8", "replace")
        invocation.exit_code = process.returncode
        invocation.seconds = time.monotonic() - started
        return invocation

    def _serve(self, conn: Connection, invocation: Invocation, clients, started: float, deadline: float) -> None:
        while True:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                invocation.outcome = "timed out"
                return
            try:
                kind, payload = conn.recv()
            except EOFError:
                return
            if kind == "call":
                answering = time.monotonic()
                conn.send(self._answer(invocation, clients, *payload))
                invocation.answering += time.monotonic() - answering
                continue
            invocation.phases[kind] = time.monotonic() - started
            if kind == "started":
                invocation.outcome, invocation.sys_path, invocation.interpreter = kind, payload.pop("sys_path"), payload
            elif kind == "imported":
                invocation.outcome = kind
                invocation.ijson_backend, invocation.ijson_file = payload["ijson_backend"], payload["ijson_file"]
            elif kind == "leaked":
                invocation.outcome, invocation.leaked = kind, payload
            elif kind in ("import_failed", "raised"):
                invocation.outcome, invocation.error = kind, payload
            elif kind == "returned":
                invocation.outcome, invocation.result = kind, json.loads(payload)

    def _answer(self, invocation: Invocation, clients, service: str, region: str, operation: str, params: dict):
        invocation.calls.append(f"{service} {operation}")
        try:
            if clients is None:
                raise AssertionError(f"{service} {operation}: this invocation has no fake AWS")
            if region != self.region:
                raise AssertionError(f"{service} {operation} in {region}: the fakes answer {self.region} only")
            response = clients(service)._make_api_call(operation, params)
        except botocore.exceptions.ClientError as exc:
            return "client_error", _detach(exc.response)
        except botocore.exceptions.BotoCoreError as exc:
            return "botocore_error", (type(exc).__name__, exc.kwargs)
        except Exception as exc:  # the fake itself failed: the test is wrong, say so
            invocation.fake_errors.append(f"{service} {operation}: {traceback.format_exc()}")
            return "error", f"{type(exc).__name__}: {exc}"
        return "ok", _detach(response)


def _detach(value):
    """A response as plain data: each StreamingBody read into bytes (rewrapped in the child)."""
    if isinstance(value, botocore.response.StreamingBody):
        return {"__streaming_body__": value.read()}
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_detach(v) for v in value]
    return value

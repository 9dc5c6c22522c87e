"""Shared fixtures: fake credentials, guards against real AWS (botocore and plain urllib3), one synth per session."""

from __future__ import annotations

import os
import re

# Fake credentials before anything imports boto3; never a real profile.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
})
# CDK's built-in CloudFormation template validation off in every app the tests synthesize (jsii's node process, started
# later, inherits this), the package gate's consumer app included: it would cost a third of each synth and most of
# its memory, and its findings are warnings only; the cfn-lint gate (tests/deploy) checks every template of every
# layout instead.
os.environ["CDK_VALIDATION"] = "false"

import botocore.httpsession  # noqa: E402
import moto  # noqa: E402,F401  (its botocore stubber joins every session made after this; fake_aws keeps the session)
import pytest  # noqa: E402
import urllib3.connectionpool  # noqa: E402

LOCAL = re.compile(r"^https?://(127\.\d+\.\d+\.\d+|localhost)(:\d+)?/")


class RealAwsRequest(AssertionError):
    pass


_real_send = botocore.httpsession.URLLib3Session.send


def _guarded_send(self, request):
    """moto and Stubber answer before this point; anything reaching it would go to AWS."""
    if not LOCAL.match(request.url):
        raise RealAwsRequest(f"a test tried to call real AWS: {request.method} {request.url}")
    return _real_send(self, request)


botocore.httpsession.URLLib3Session.send = _guarded_send

_real_urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen


def _guarded_urlopen(self, method, url, *args, **kwargs):
    """Handlers that speak HTTP themselves (the Customer Profiles upload) may reach only this machine."""
    if self.host not in ("127.0.0.1", "localhost"):
        raise RealAwsRequest(f"a test tried to reach {self.scheme}://{self.host}: {method} {url}")
    return _real_urlopen(self, method, url, *args, **kwargs)


urllib3.connectionpool.HTTPConnectionPool.urlopen = _guarded_urlopen

from tests.fakes import iam_recorder  # noqa: E402

iam_recorder.install()


def pytest_runtest_teardown(item):
    """Each test's AWS calls written out for the IAM coverage gates, which read every worker's records."""
    iam_recorder.flush()


# The longest modules (and xdist groups) start first, so that with pytest-xdist the short ones fill in around them at
# the end (`make test` hands them out in this order: --no-loadscope-reorder).
SLOW_FIRST = ("tests/test_fault_injection.py", "tests/test_simulated_month.py", "tests/test_erasure_end_to_end.py",
              "deploy/test_package.py", "deploy/test_lambda_assets.py", "deploy/test_workflow_state_size.py",
              "training_pipeline/test_workflow.py", "user_erasure/test_workflow.py", "deploy/test_deploy_gates.py")


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own
def pytest_collection_modifyitems(session, config, items):
    """Gates marked ``after_all_tests`` read what the other tests recorded, so they run last; the slowest
    modules first. With ``--dist loadgroup``, each test of an ``xdist_group`` gets its group's node ID suffix."""
    def order(item):
        name = f"{item.path.parent.name}/{item.path.name}"
        return (item.get_closest_marker("after_all_tests") is not None,
                SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST))
    items.sort(key=order)
    if getattr(config.option, "loadgroup", False):
        _suffix_groups(items)


def _suffix_groups(items) -> None:
    """``--dist loadgroup`` sends the tests of one ``xdist_group`` to one worker by the ``@<group>`` suffix a worker
    adds to their node IDs. pytest-xdist 3.8 writes it where pytest 9.2 no longer reads it (pytest-xdist#1386): every
    group was split across the workers, and each worker built the package gate's wheel and synthesized every layout.
    This writes it where pytest reads it; a no-op once xdist does it again."""
    from _pytest.nodeid import NodeId

    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")})
        suffix = "@" + "_".join(groups)
        if groups and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)
            assert item.nodeid.endswith(suffix), "pytest no longer takes a node's ID from Item._id"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with each module a group of its own unless its tests name one: a worker runs a module's
    tests together, so its module-scoped fixtures (most synthesize a stack) run once, not on both workers."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleOrGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            group = super()._split_scope(nodeid)
            return group if group != nodeid else nodeid.split("::", 1)[0]

    return ModuleOrGroupScheduling(config, log)


@pytest.fixture(scope="session")
def cdk_app_context():
    from tests.fakes import example

    return example.context()


@pytest.fixture(scope="session")
def connect_example_text(cdk_app_context) -> str:
    """The example stack with its Connect destination, synthesized once per worker, as JSON text: each module that
    runs it whole (``connect_example``) parses its own copy."""
    import json

    from tests.fakes.example_app import connect_example

    return json.dumps(connect_example(cdk_app_context))


@pytest.fixture(scope="session")
def example_stack():
    from tests.fakes import example

    return example.stack()


@pytest.fixture(scope="session")
def example_template():
    from tests.fakes import example

    return example.template()


@pytest.fixture(scope="session", autouse=True)
def moto_without_needless_work():
    """The workflow tests need the order of the states, not the time between them (``workflow.instant_waits``); and
    moto does no work twice that gives the same answer each time (``quick_moto``). Patched once for the session: no
    test depends on moto doing either (a test that needs other timing patches over it, as fault injection does)."""
    from tests.fakes import quick_moto
    from tests.fakes.workflow import instant_waits

    with pytest.MonkeyPatch.context() as monkeypatch:
        instant_waits(monkeypatch)
        quick_moto.apply(monkeypatch)
        yield


@pytest.fixture(scope="session")
def installed_package(tmp_path_factory):
    """The wheel built from this checkout, installed in a new venv, and a consumer app synthesized there."""
    from tests.fakes.package import build_and_install

    return build_and_install(tmp_path_factory.mktemp("package"))

"""The checks of the constructs' props, written once: every prop is checked at synth.

Each check takes the prop as the user wrote it (``poll_interval``, ``-c profileExpiryDays``) and its value, and
returns the value when it is accepted; otherwise it raises a ``ValueError`` that names the prop, says what it accepts
and shows what it got: ``poll_interval must be a Duration of whole seconds (Duration.seconds(n)), at least 1 second;
got 1 second 500 millis``. A value of the wrong type (an ``int`` for a ``Duration``, a bucket name for a bucket, a
string for a list) gets the same kind of message, never an ``AttributeError`` from deep inside CDK.

String props that name something that exists elsewhere (a project ID, a domain name) also accept an unresolved token
(``CfnApp.ref``, a ``CfnParameter``'s value): it is only known at deploy time.
"""

from __future__ import annotations

import enum
import math
import re
from typing import Any, Iterable, NoReturn, Optional, Sequence, TypeVar

from aws_cdk import Duration, RemovalPolicy, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

T = TypeVar("T")

# What to hand in for each kind of construct prop, as the message says it.
KINDS = {
    s3.IBucket: "an s3.IBucket (an s3.Bucket, or s3.Bucket.from_bucket_name(scope, id, name))",
    events.IEventBus: "an events.IEventBus (an events.EventBus, or "
                      "events.EventBus.from_event_bus_name(scope, id, name))",
    sns.ITopic: "an sns.ITopic (an sns.Topic, or sns.Topic.from_topic_arn(scope, id, arn))",
    kms.IKey: "a kms.IKey (a kms.Key, or kms.Key.from_key_arn(scope, id, arn))",
}
# The removal policies every resource of the constructs supports: none of them (buckets, log groups, keys, the
# Customer Profiles domain) can be snapshotted, and CloudFormation deletes what it cannot snapshot.
REMOVAL_POLICIES = (RemovalPolicy.RETAIN, RemovalPolicy.DESTROY, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)
URI_OR_ARN = re.compile(r"^(s3://|arn:|https?://)", re.IGNORECASE)
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"
UNITS = {"seconds": 1000, "minutes": 60_000, "hours": 3_600_000, "days": 86_400_000}


def fail(prop: str, accepted: str, value: Any, hint: str = "") -> NoReturn:
    """The one message of every check: the prop, what it accepts, what it got (and, with ``hint``, how to fix it)."""
    raise ValueError(f"{prop} must be {accepted}; got {shown(value)}" + (f" ({hint})" if hint else ""))


def shown(value: Any) -> str:
    """``value`` as the user would recognize it in a message."""
    if isinstance(value, Duration):
        return value.to_human_string()
    if isinstance(value, Construct):
        return f"{type(value).__name__} {value.node.path!r}"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, bool):
        return f"{value} (a bool)"
    if value is None or isinstance(value, (str, int, float, list, tuple, dict, set)):
        text = repr(value)
        return text if len(text) <= 120 else text[:117] + "..."
    return f"a {type(value).__name__}"


def check(ok: bool, prop: str, accepted: str, value: Any) -> None:
    """A rule of its own (two props that go together, a ratio of two durations), with the same message."""
    if not ok:
        fail(prop, accepted, value)


def together(**values: Any) -> None:
    """Props that only mean something together (a bucket and the key of an object in it): all given, or none."""
    given = [name for name, value in values.items() if value is not None]
    if given and len(given) < len(values):
        left_out = "both" if len(values) == 2 else "all"
        raise ValueError(f"{' and '.join(values)} must be given together, or {left_out} left out; got only "
                         f"{', '.join(given)}")


# ------------------------------------------------------------------ constructs and enums


def implements(value: Any, kind: type) -> bool:
    """Whether ``value`` is a ``kind`` (a jsii interface such as ``s3.IBucket``, or a plain class). jsii interfaces
    are protocols ``isinstance`` cannot check: a class declares them (``@jsii.implements``), an object CDK returns as
    an interface is its proxy class, and one returned as several interfaces a dynamic proxy of such objects."""
    proxy = kind.__jsii_proxy_class__() if hasattr(kind, "__jsii_proxy_class__") else None
    delegates = vars(value).get("_delegates") if type(value).__name__ == "InterfaceDynamicProxy" else None
    for obj in delegates or [value]:
        for klass in type(obj).__mro__:
            if klass is kind or klass is proxy:
                return True
            if any(kind in getattr(iface, "__mro__", ()) for iface in getattr(klass, "__jsii_ifaces__", ())):
                return True
    return False


def construct_of(prop: str, value: Optional[T], kind: type, *, optional: bool = False) -> Optional[T]:
    """A bucket, bus, topic or key handed in (``kind``: ``s3.IBucket``, ``events.IEventBus``, ``sns.ITopic``,
    ``kms.IKey``); with ``optional``, ``None`` too."""
    if value is None and optional:
        return None
    if not implements(value, kind):
        fail(prop, KINDS.get(kind, f"a {kind.__module__.rpartition('.')[2]}.{kind.__name__}")
             + (", or left out" if optional else ""), value)
    return value


def removal_policy(prop: str, value: Any) -> RemovalPolicy:
    if not isinstance(value, RemovalPolicy) or value not in REMOVAL_POLICIES:
        fail(prop, "RemovalPolicy.RETAIN, RemovalPolicy.DESTROY or RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE (its "
                   "resources cannot be snapshotted)", value)
    return value


def one_of(prop: str, value: Any, choices: Iterable[str], *, optional: bool = False) -> Any:
    choices = tuple(choices)
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in choices:
        fail(prop, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def list_of(prop: str, value: Any, choices: Iterable[str], *, example: Optional[str] = None,
            optional: bool = False) -> Optional[list[str]]:
    """A non-empty list (or tuple) of some of ``choices``; a lone string is not a list of one."""
    choices = tuple(choices)
    example = example or choices[0]
    if value is None and optional:
        return None
    if (isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value
            or not all(isinstance(v, str) and v in choices for v in value)):
        fail(prop, f"a non-empty list of some of {', '.join(choices)} (e.g. [{example!r}])", value)
    return list(value)


# ------------------------------------------------------------------ numbers and durations


def number(prop: str, value: Any, lo: float, hi: float, *, whole: bool = False, step: Optional[float] = None,
           why: str = "") -> Any:
    """A number from ``lo`` to ``hi``: with ``whole``, a whole number (returned as an ``int``); with ``step``, a
    multiple of it (``0.01``). ``why``: what the step or range comes from, for the message."""
    kind = "a whole number" if whole else "a number"
    accepted = (f"{kind} from {lo:g} to {hi:g}" + (f" in steps of {step:g}" if step else "")
                + (f" ({why})" if why else ""))
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not (is_number and lo <= value <= hi and (not whole or value == int(value))
            and (not step or abs(value / step - round(value / step)) < 1e-6)):
        fail(prop, accepted, value)
    return int(value) if whole else value


def duration(prop: str, value: Any, *, at_least: Optional[Duration] = None, at_most: Optional[Duration] = None,
             whole: str = "seconds") -> Duration:
    """A ``Duration`` of whole ``whole`` (seconds, minutes, hours or days) from ``at_least`` to ``at_most``."""

    def accepted() -> str:  # only for a message: each to_human_string is a call to CDK's node process
        bounds = [f"at least {at_least.to_human_string()}" if at_least is not None else "",
                  f"at most {at_most.to_human_string()}" if at_most is not None else ""]
        if at_least is not None and at_most is not None:
            bounds = [f"from {at_least.to_human_string()} to {at_most.to_human_string()}"]
        return ", ".join([f"a Duration of whole {whole} (Duration.{whole}(n))", *filter(None, bounds)])

    if not isinstance(value, Duration):
        number_given = isinstance(value, (int, float)) and not isinstance(value, bool)
        fail(prop, accepted(), value, f"a number: write Duration.{whole}({value})" if number_given else "")
    millis = value.to_milliseconds(integral=False)
    if millis % UNITS[whole] or (at_least is not None and millis < at_least.to_milliseconds()) or (
            at_most is not None and millis > at_most.to_milliseconds()):
        fail(prop, accepted(), value)
    return value


# ------------------------------------------------------------------ strings


def prefix(prop: str, value: Any, *, like: str, optional: bool = False) -> Optional[str]:
    """An S3 key prefix as the constructs take them: a folder of the bucket, like ``audiences/``."""
    if value is None and optional:
        return None
    if (not isinstance(value, str) or not value.endswith("/") or value.startswith("/") or URI_OR_ARN.match(value)
            or "*" in value or "?" in value):
        fail(prop, f"a key prefix of the bucket that ends with '/' and does not start with it, like {like!r} (not an "
                   "s3:// URI or ARN, no * or ?)", value)
    return value


def object_key(prop: str, value: Any, *, like: str, optional: bool = False) -> Optional[str]:
    """The key of one object of a bucket handed in beside it, like ``optouts/current.csv``."""
    if value is None and optional:
        return None
    if (not isinstance(value, str) or not value or value.startswith("/") or value.endswith("/")
            or URI_OR_ARN.match(value) or "*" in value or "?" in value):
        fail(prop, f"the key of one object of the bucket, like {like!r} (not a folder, an s3:// URI or ARN; no "
                   "leading '/', no * or ?)", value)
    return value


def identifier(prop: str, value: Any, pattern: str, example: str, *, what: str,
               optional: bool = False) -> Optional[str]:
    """A name or ID of something that exists elsewhere (``pattern``, matched whole), or an unresolved token. An ARN
    or URI where the name or ID is expected is refused with the rest."""
    if value is None and optional:
        return None
    if isinstance(value, str) and Token.is_unresolved(value):
        return value
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        given_arn = isinstance(value, str) and URI_OR_ARN.match(value)
        fail(prop, f"{what}, like {example!r}" + (" (the name or ID itself, not an ARN or URI)" if given_arn else "")
             + (", or left out" if optional else ""), value)
    return value


def email(prop: str, value: Any, *, optional: bool = False) -> Optional[str]:
    return identifier(prop, value, EMAIL, "segments@example.com", what="an email address", optional=optional)

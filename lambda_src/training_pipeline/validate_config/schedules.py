"""The schedules of a training config: checked as EventBridge Scheduler takes them, and planned.

Where they go (MPEwML's shapes), each in a ``workflowConfig`` block:

- ``datasetGroup.workflowConfig.schedules.import``: import the dataset CSVs (kind ``import``);
- ``solutions[i].workflowConfig.schedules.full``: retrain the solution FULL (kind ``full``); MPEwML's ``update`` is
  refused, as USER_SEGMENTATION recipes train FULL only;
- ``solutions[i].batchSegmentJobs[j].workflowConfig.schedule``: run that batch segment job (kind ``segments``);
- ``workflowConfig.timezone`` (an extension): the IANA time zone of that block's schedules, ``UTC`` by default;
- MPEwML's ``maxAge`` and ``timeStarted`` are accepted with a warning that this library ignores them.

Expressions, as https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html documents them (at most
256 characters, botocore's ``CreateSchedule.ScheduleExpression``):

- ``cron(minutes hours day-of-month month day-of-week year)``: minutes 0-59, hours 0-23, day-of-month 1-31
  (``, - * ? / L W``), month 1-12 or JAN-DEC (``, - * /``), day-of-week 1-7 or SUN-SAT, SUN being 1
  (``, - * ? L #``), year 1970-2199 (``, - * /``); exactly one of day-of-month and day-of-week is ``?``. ``L``, ``W``
  and ``#`` stand alone in their field (``L``, ``LW``, ``nW``; ``L``, ``nL``, ``n#k``), as Quartz, whose syntax this
  is, implements only that. Stricter than the service where it is silent: names in capitals, fields separated by
  single spaces, ranges from low to high (write ``22-23,0-2``, not ``22-2``).
- ``rate(value unit)``: a positive whole value; ``minute``, ``hour`` or ``day`` when the value is 1, ``minutes``,
  ``hours`` or ``days`` otherwise.
- ``at(yyyy-mm-ddThh:mm:ss)``: a date and time that exist.

Everything here is pure (no AWS) and never raises, whatever JSON value it is given.
"""

from __future__ import annotations

import calendar
import collections
import dataclasses
import functools
import hashlib
import json
import re
from typing import Any, Optional

MAX_EXPRESSION_CHARS = 256  # CreateSchedule's ScheduleExpression
MAX_TIMEZONE_CHARS = 50  # CreateSchedule's ScheduleExpressionTimezone
DEFAULT_TIMEZONE = "UTC"
MAX_ID_CHARS = 40
ID_HASH_CHARS = 6
QUOTE_CHARS = 40  # the most of a user's value a message quotes when it is not a short plain one

FORMS = "cron(minutes hours day-of-month month day-of-week year), rate(value unit) or at(yyyy-mm-ddThh:mm:ss)"
FREQUENCY = ("runs of a config take far longer than an hour and queue behind each other; schedule it at most "
             "hourly")

# MPEwML keys this library accepts and ignores
IGNORED = {
    "maxAge": "is ignored by this library: MPEwML recreates a resource older than maxAge, while this library reuses "
              "a resource by its name and data and trains again when a CSV is uploaded again or a schedule fires",
    "timeStarted": "is ignored by this library: MPEwML's workflow sets it when a run starts; this library does not "
                   "read it",
}


@dataclasses.dataclass(frozen=True)
class Level:
    """Where a workflowConfig block is, and what it takes."""

    what: str  # "a dataset group" ...
    keys: frozenset  # the block's keys
    misplaced: dict  # keys of the block that belong elsewhere: why
    schedule: str  # the key of its schedule: in ``schedules`` or the block itself (``schedule``)
    kind: str  # the plan's kind of that schedule
    elsewhere: dict  # keys of ``schedules`` that are refused here: why


_EXAMPLE = {"import": '{"import": "cron(0 */6 * * ? *)"}', "full": '{"full": "cron(0 0 ? * 1 *)"}'}

LEVELS = {
    "datasetGroup": Level(
        what="a dataset group", keys=frozenset({"schedules", "timezone", "maxAge", "timeStarted"}),
        misplaced={"schedule": "is not a key of a dataset group's workflowConfig, which takes maxAge, schedules, "
                               f"timeStarted and timezone: give schedules, an object such as {_EXAMPLE['import']}"},
        schedule="import", kind="import",
        elsewhere={key: "is a solution's schedule: put it in solutions[].workflowConfig.schedules; a dataset group's "
                        "schedules take import only" for key in ("full", "update")}),
    "solution": Level(
        what="a solution", keys=frozenset({"schedules", "timezone", "maxAge", "timeStarted"}),
        misplaced={"schedule": "is not a key of a solution's workflowConfig, which takes maxAge, schedules, "
                               f"timeStarted and timezone: give schedules, an object such as {_EXAMPLE['full']} "
                               "(schedule, one expression, is a batch segment job's)"},
        schedule="full", kind="full",
        elsewhere={"update": "is not supported: USER_SEGMENTATION recipes train FULL only (UPDATE training is not "
                             "available to them); schedule full instead",
                   "import": "is the dataset group's schedule: put it in datasetGroup.workflowConfig.schedules; a "
                             "solution's schedules take full only"}),
    "job": Level(
        what="a batch segment job", keys=frozenset({"schedule", "timezone", "maxAge", "timeStarted"}),
        misplaced={"schedules": "is not a key of a batch segment job's workflowConfig, which takes maxAge, schedule, "
                                "timeStarted and timezone: give schedule, one expression such as "
                                '"cron(0 3 * * ? *)"'},
        schedule="schedule", kind="segments", elsewhere={}),
}


# ---------------------------------------------------------------- quoting


def quote(value: str) -> str:
    """A short plain string as it is; any other as ``excerpt``."""
    if value and len(value) <= 2 * QUOTE_CHARS and value.isascii() and value.isprintable() \
            and value.strip() == value:
        return value
    return excerpt(value)


def excerpt(value: str, limit: int = QUOTE_CHARS) -> str:
    """A JSON string of printable ASCII, cut after about ``limit`` characters: how every message of the validator
    quotes a user's value."""
    out, size = [], 0
    for ch in value:
        escaped = "\\u007f" if ch == "\x7f" else json.dumps(ch)[1:-1]
        if size + len(escaped) > limit:
            return '"' + "".join(out) + '..."'
        out.append(escaped)
        size += len(escaped)
    return '"' + "".join(out) + '"'


def kind(value: Any) -> str:
    """What a JSON value is, as messages say it."""
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a number"  # a number JSON cannot carry (training_config._BadNumber)


def _json_value(value: Any) -> bool:
    """False for the placeholders of numbers JSON cannot carry, reported where the config was parsed."""
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if _SIMPLE_KEY.fullmatch(key) else f"{path}[{excerpt(key)}]"


# ---------------------------------------------------------------- expressions


@dataclasses.dataclass(frozen=True)
class _Field:
    label: str
    low: int
    high: int
    names: tuple  # names of low, low + 1, ...
    wildcards: str  # besides values
    values: str  # as messages describe them
    max_increment: int  # of a/n (Quartz's bounds; the year's span)

    @property
    def takes(self) -> str:
        return f"it takes {self.values} and {' '.join(self.wildcards)}"


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELDS = (
    _Field("minutes", 0, 59, (), ",-*/", "0-59", 59),
    _Field("hours", 0, 23, (), ",-*/", "0-23", 23),
    _Field("day-of-month", 1, 31, (), ",-*?/LW", "1-31", 31),
    _Field("month", 1, 12, MONTHS, ",-*/", "1-12 or JAN-DEC", 12),
    _Field("day-of-week", 1, 7, DAYS, ",-*?L#", "1-7 or SUN-SAT (SUN is 1)", 7),
    _Field("year", 1970, 2199, (), ",-*/", "1970-2199", 229),
)
DAY_OF_MONTH, DAY_OF_WEEK = FIELDS[2], FIELDS[4]
_NUMBER = re.compile(r"[0-9]+")
ALONE = {
    "day-of-month": "L and W stand alone in the day-of-month field, as L (the last day of the month), LW (its last "
                    "weekday) or nW (the weekday nearest day n, 1-31)",
    "day-of-week": "L and # stand alone in the day-of-week field, as L (Saturday), nL (the last day n of the month) "
                   "or n#k (the k-th day n of the month, k 1-5), n being 1-7 (SUN is 1)",
}


def _value(field: _Field, text: str) -> tuple[Optional[int], Optional[str]]:
    if _NUMBER.fullmatch(text):
        number = int(text)
        if field.low <= number <= field.high:
            return number, None
        return None, f"in the {field.label} field, {quote(text)} is out of range {field.values}"
    if text in field.names:
        return field.low + field.names.index(text), None
    capitals = f" (names in capitals)" if text.upper() in field.names else ""
    return None, f"in the {field.label} field, {quote(text)} is not a value; {field.takes}{capitals}"


def _alone(field: _Field, text: str) -> Optional[bool]:
    """True when ``text`` is a valid standalone L/W/# form of the field, False when it is an invalid one, None when it
    uses none of them."""
    if field is DAY_OF_MONTH:
        if text in ("L", "LW"):
            return True
        match = re.fullmatch(r"([0-9]{1,2})W", text)
        if match:
            return 1 <= int(match.group(1)) <= 31
        return False if ("L" in text or "W" in text) else None
    if field is DAY_OF_WEEK:
        if text == "L":
            return True
        match = re.fullmatch(r"([0-9])L", text)
        if match:
            return 1 <= int(match.group(1)) <= 7
        match = re.fullmatch(r"([0-9])#([0-9])", text)
        if match:
            return 1 <= int(match.group(1)) <= 7 and 1 <= int(match.group(2)) <= 5
        return False if ("L" in text or "#" in text) else None
    return None


def _field(field: _Field, text: str) -> tuple[Optional[str], set]:
    """(what is wrong with a cron field, or None; the values it takes, for minutes)."""
    # the wildcards L and W are letters alone (L, W, LW, 5L, 15W); words (JUL, APRIL) are values, checked below
    bare = re.sub(r"[A-Za-z]+", lambda m: m.group() if m.group() in ("L", "W", "LW") else "", text)
    for char in "?LW#/":
        if char in bare and char not in field.wildcards:
            return f"the {field.label} field does not take {char}; {field.takes}", set()
    if text == "?":
        return None, set()
    if "?" in text:
        return f"in the {field.label} field, ? stands alone (any day)", set()
    alone = _alone(field, text)
    if alone is not None:
        problem = None if alone else f"in the {field.label} field, {quote(text)} is not valid: {ALONE[field.label]}"
        return problem, set()
    taken: set = set()
    for item in text.split(","):
        if not item:
            return f"in the {field.label} field, {quote(text)} has an empty item in its list", set()
        base, slash, step = item.partition("/")
        increment = 1
        if slash:
            if not _NUMBER.fullmatch(step) or not 1 <= int(step) <= field.max_increment:
                return (f"in the {field.label} field, the increment of {quote(item)} must be a whole number from 1 "
                        f"to {field.max_increment}"), set()
            increment = int(step)
        if base == "*":
            first, last = field.low, field.high
        elif "-" in base:
            start, _, end = base.partition("-")
            if not start or not end or "-" in end:
                return f"in the {field.label} field, {quote(item)} is not a range a-b; {field.takes}", set()
            (first, problem), (last, other) = _value(field, start), _value(field, end)
            if problem or other:
                return problem or other, set()
            if first > last:
                high = field.names[-1] if start in field.names else field.high
                low = field.names[0] if end in field.names else field.low
                return (f"in the {field.label} field, {quote(base)} runs from a higher value to a lower one; write "
                        f"it as two ranges: {start}-{high},{low}-{end}"), set()
        else:
            first, problem = _value(field, base)
            if problem:
                return problem, set()
            last = field.high if slash else first  # a/n: from a to the end, every n
        taken.update(range(first, last + 1, increment))
    return None, taken


def _cron(inner: str) -> tuple[Optional[str], int]:
    """(what is wrong with the fields of cron(...), or None; how many times it fires in an hour it runs)."""
    fields = inner.split(" ")
    count = len([f for f in fields if f])
    if count != len(FIELDS):
        hint = {5: " (add the year: * for every year)", 7: " (it has no seconds field)"}.get(count, "")
        return (f"has {count} field{'s' * (count != 1)}; EventBridge Scheduler takes 6: minutes hours day-of-month "
                f"month day-of-week year{hint}"), 0
    if "" in fields:
        return "separate the six fields with single spaces", 0
    problems, minutes = [], set()
    for field, text in zip(FIELDS, fields):
        problem, taken = _field(field, text)
        if problem:
            problems.append(problem)
        elif field is FIELDS[0]:
            minutes = taken
    if problems:
        return "; ".join(problems), 0
    day_of_month, day_of_week = fields[2], fields[4]
    if day_of_month != "?" and day_of_week != "?":
        return "day-of-month and day-of-week are both set; one of them must be ?", 0
    if day_of_month == "?" and day_of_week == "?":
        return "day-of-month and day-of-week are both ?; one of them must be set (* for every day)", 0
    return None, len(minutes)


_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def _rate(inner: str) -> tuple[Optional[str], int]:
    """(what is wrong with rate(...), or None; its period in seconds)."""
    parts = inner.split(" ")
    if len(parts) != 2 or not all(parts):
        return "must be rate(value unit), e.g. rate(12 hours), with one space between value and unit", 0
    value, unit = parts
    if not _NUMBER.fullmatch(value) or int(value) == 0:
        return f"the value must be a positive whole number, not {quote(value)}", 0
    number = int(value)
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in _RATE_UNITS:
        lower = f" (in lowercase)" if singular.lower() in _RATE_UNITS else ""
        return (f"{quote(unit)} is not a unit; the units are minute, minutes, hour, hours, day and days{lower}"), 0
    if number == 1 and unit != singular:
        return f"with the value 1 the unit is singular: {singular}, not {unit}", 0
    if number != 1 and unit == singular:
        return f"with a value other than 1 the unit is plural: {singular}s, not {unit}", 0
    return None, number * _RATE_UNITS[singular]


_AT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})")


def _at(inner: str) -> Optional[str]:
    match = _AT.fullmatch(inner)
    if not match:
        return "must be at(yyyy-mm-ddThh:mm:ss), e.g. at(2030-01-31T03:00:00)"
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    if year == 0:
        return "year 0000 does not exist"
    if not 1 <= month <= 12:
        return f"month {match.group(2)} is out of range 01-12"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f"day {match.group(3)} is out of range: {calendar.month_name[month]} {year} has {days} days"
    for name, number, text, high in (("hour", hour, match.group(4), 23), ("minute", minute, match.group(5), 59),
                                     ("second", second, match.group(6), 59)):
        if number > high:
            return f"{name} {text} is out of range 00-{high}"
    return None


_EXPRESSION = re.compile(r"(cron|rate|at)\((.*)\)", re.S)


def _parsed(text: str) -> tuple[Optional[str], Optional[str], int]:
    """(the problem, or None; cron, rate or at; whether it fires more often than hourly)."""
    if len(text) > MAX_EXPRESSION_CHARS:
        return (f"is {len(text):,} characters; EventBridge Scheduler takes expressions of at most "
                f"{MAX_EXPRESSION_CHARS}"), None, False
    quoted = quote(text)
    if text.strip() != text:
        return f"{quoted}: starts or ends with whitespace; write the expression alone", None, False
    match = _EXPRESSION.fullmatch(text)
    if not match:
        lower = _EXPRESSION.fullmatch(text[:5].lower() + text[5:])
        hint = f"; write {lower.group(1)} in lowercase" if lower and not text.startswith(lower.group(1)) else ""
        return f"{quoted}: is not a schedule expression; EventBridge Scheduler takes {FORMS}{hint}", None, False
    kind, inner = match.groups()
    if kind == "cron":
        problem, per_hour = _cron(inner)
        often = per_hour > 1  # two minutes of one hour
    elif kind == "rate":
        problem, period = _rate(inner)
        often = period < 3600
    else:
        problem, often = _at(inner), False
    return (f"{quoted}: {problem}" if problem else None), kind, bool(often and not problem)


def expression_problem(text: Any) -> Optional[str]:
    """What is wrong with a schedule expression, starting with the expression (a short excerpt of it when long or
    odd), or None when EventBridge Scheduler takes it."""
    if not isinstance(text, str):
        return f"must be a string: a schedule expression, {FORMS}, not {kind(text)}"
    return _parsed(text)[0]


def expression_warning(text: str) -> Optional[str]:
    """A warning for a valid expression that fires more often than hourly, else None."""
    if not isinstance(text, str):
        return None
    problem, kind, often = _parsed(text)
    if not often:
        return None
    if kind == "cron":
        per_hour = _cron(_EXPRESSION.fullmatch(text).group(2))[1]
        return f"{text} fires {per_hour} times in each hour it runs: {FREQUENCY}"
    return f"{text} fires more often than hourly: {FREQUENCY}"


# ---------------------------------------------------------------- time zones


@functools.lru_cache(maxsize=1)
def _zones() -> frozenset:
    try:
        import zoneinfo

        return frozenset(zoneinfo.available_timezones() - {"localtime"})
    except Exception:  # noqa: BLE001 - no tz database: the syntax check below
        return frozenset()


_ZONE_SYNTAX = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")


def timezone_problem(name: Any) -> Optional[str]:
    """What is wrong with a time zone name, or None when it is an IANA name (checked against the tz database when the
    runtime has one, by its syntax when not)."""
    if not isinstance(name, str):
        return f"must be a string: an IANA time zone name such as Europe/Paris, not {kind(name)}"
    if len(name) > MAX_TIMEZONE_CHARS:
        return (f"is {len(name):,} characters; EventBridge Scheduler takes time zone names of at most "
                f"{MAX_TIMEZONE_CHARS}")
    zones = _zones()
    if zones:
        if name in zones:
            return None
        near = sorted(z for z in zones if z.lower() == name.lower())
        hint = f"; did you mean {near[0]}?" if near else " (such as UTC, Europe/Paris or America/New_York)"
        return f"{quote(name)} is not an IANA time zone name{hint}"
    if _ZONE_SYNTAX.fullmatch(name):
        return None
    return (f"{quote(name)} is not an IANA time zone name: Area/Location such as "
            "Europe/Paris, of letters, digits, _ + and -")


# ---------------------------------------------------------------- a workflowConfig block


def check_workflow_config(report: Any, path: str, block: dict, level: str) -> list[dict]:
    """Check the schedules, time zone and MPEwML keys of a workflowConfig object at ``path`` whose keys were checked
    against ``LEVELS[level].keys`` (with ``misplaced`` as hints); report on ``report`` (``error(path, message)``,
    ``warn(path, message)``) and return its valid schedules: ``kind``, ``expression``, ``timezone``, ``path``."""
    spec = LEVELS[level]
    for key, why in IGNORED.items():
        if key in block:
            report.warn(f"{path}.{key}", why)
    timezone, timezone_valid = DEFAULT_TIMEZONE, True
    if "timezone" in block and _json_value(block["timezone"]):
        problem = timezone_problem(block["timezone"])
        if problem:
            report.error(f"{path}.timezone", problem)
            timezone_valid = False
        else:
            timezone = block["timezone"]
    found = []
    if spec.schedule == "schedule":
        if "schedule" in block:
            found.append((block["schedule"], f"{path}.schedule"))
    elif "schedules" in block and _json_value(block["schedules"]):
        schedules = block["schedules"]
        if not isinstance(schedules, dict):
            report.error(f"{path}.schedules", f"must be an object of schedule expressions, e.g. "
                                              f"{_EXAMPLE[spec.schedule]}, not {kind(schedules)}")
            schedules = {}
        for key, expression in schedules.items():
            kpath = _key(f"{path}.schedules", key)
            if key == spec.schedule:
                found.append((expression, kpath))
            elif key in spec.elsewhere:
                report.error(kpath, spec.elsewhere[key])
            else:
                report.error(kpath, f"unknown schedule; {spec.what}'s schedules take {spec.schedule} only")
    entries = []
    for expression, epath in found:
        if not _json_value(expression):
            continue
        problem = expression_problem(expression)
        if problem:
            report.error(epath, problem)
            continue
        warning = expression_warning(expression)
        if warning:
            report.warn(epath, warning)
        entries.append({"kind": spec.kind, "expression": expression, "timezone": timezone, "path": epath})
    if "timezone" in block and timezone_valid and not found and _json_value(block["timezone"]):
        report.warn(f"{path}.timezone", "applies to no schedule: this workflowConfig has none")
    return entries


# ---------------------------------------------------------------- what the schedules together refresh

STALE_SEGMENTS = ("this job runs on the solution's latest trained version, and Personalize builds user segments from "
                  "the data present at that version's training: without a full schedule on this solution its "
                  "audiences change only when the config is uploaded again. Add "
                  "solutions[].workflowConfig.schedules.full to retrain on new data")
UNTRAINED_IMPORTS = ("imported data reaches user segments only when a solution is next trained (Personalize builds "
                     "segments from the data of the last training): no solution of this config has a full schedule, "
                     "so imports refresh no audience until the config is uploaded again")


def refresh_warnings(entries: list[dict]) -> list[tuple[str, str]]:
    """(path, warning) for schedules that refresh nothing by themselves: a batch segment job schedule on a solution
    with no ``full`` schedule, and an import schedule in a config with none."""
    retrained = {e["solution"] for e in entries if e["kind"] == "full"}
    warnings = [(e["path"], STALE_SEGMENTS) for e in entries
                if e["kind"] == "segments" and e["solution"] not in retrained]
    if not retrained:
        warnings += [(e["path"], UNTRAINED_IMPORTS) for e in entries if e["kind"] == "import"]
    return warnings


# ---------------------------------------------------------------- ids


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"


def _id(entry: dict, tag: str = "") -> str:
    if entry["kind"] == "import":
        return "import" + (f"-{tag}" if tag else "")  # a config has one; tagged only if given several
    prefix = entry["kind"] + "-"
    suffix = (f"-{tag}" if tag else "") + (f"-{entry['job']}" if entry["kind"] == "segments" else "")
    slug = _slug(str(entry.get("solution", "")))[:MAX_ID_CHARS - len(prefix) - len(suffix)].rstrip("-") or "x"
    return prefix + slug + suffix


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:ID_HASH_CHARS]


def with_ids(entries: list[dict]) -> list[dict]:
    """The entries, in order, each with an ``id`` first: ``import``, ``full-<solution slug>`` or
    ``segments-<solution slug>-<job index>``, of ``[a-z0-9-]``, at most ``MAX_ID_CHARS``, unique among them. The slug
    is the solution's name in lowercase, each run of other characters a '-', cut to fit; when ids are equal (names
    cut alike, or differing only in case or punctuation) each of those gets a hash of its solution's name before the
    job index, then, should some still be equal, of its path."""
    ids = [_id(e) for e in entries]
    for tag_of in (lambda e: _hash(str(e.get("solution", ""))), lambda e: _hash(e["path"])):
        repeated = {i for i, n in collections.Counter(ids).items() if n > 1}
        if not repeated:
            break
        ids = [_id(e, tag_of(e)) if i in repeated else i for e, i in zip(entries, ids)]
    seen: set = set()
    for n, i in enumerate(ids):  # never two equal ids, however unlikely this is after the hashes
        while ids[n] in seen:
            ids[n] = _id(entries[n], _hash(f"{ids[n]}/{n}"))
        seen.add(ids[n])
    return [{"id": i, **e} for i, e in zip(ids, entries)]

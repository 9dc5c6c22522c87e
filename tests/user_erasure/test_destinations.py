"""Erasure step 5 (``lambda_src/user_erasure/destinations``) against moto S3 and the in-process Customer Profiles and
Pinpoint: audiences imported by the library's own importer, then their users erased."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError

from connect_segment_importer.importer import handler as connect_handler
from shared import aws as lambda_clients
from shared.contract import ServiceThrottled, ServiceUnavailable
from tests.fakes import function_environment
from tests.fakes.audience_events import KEY, NAME, Steps
from tests.fakes.customer_profiles import FakeCustomerProfiles
from tests.fakes.environment import BUCKET, fake_aws
from tests.fakes.pinpoint import FakePinpoint
from user_erasure.destinations import handler as destinations
from user_erasure.destinations import profiles

DOMAIN, APP = "audiences-domain", "0123456789abcdef0123456789abcdef"
ERASED = {"bucket": BUCKET, "key": "erasure/_work/r1/users.csv"}  # the work file of an accepted request
MARK = f"{profiles.ATTRIBUTE_PREFIX}{NAME}"
steps = Steps(connect_handler.handler)


class Context:
    """A Lambda context with a fixed time left."""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


@pytest.fixture
def aws(monkeypatch):
    RUNNING["monkeypatch"] = monkeypatch
    with fake_aws(monkeypatch) as fake:
        fake.profiles = FakeCustomerProfiles(lambda_clients.client("customer-profiles"))
        fake.pinpoint = FakePinpoint(lambda_clients.client("pinpoint"))
        yield fake
        fake.profiles.uploads.close()


def imported(aws, monkeypatch, users: list[str], target: str = "_profile.AccountNumber") -> None:
    """The users imported into the audience's segment by the Customer Profiles importer, as in production."""
    function_environment.use(monkeypatch, "connect_segment_importer.importer", AUDIENCE_BUCKET=BUCKET,
                             DOMAIN_NAME=DOMAIN, USER_ID_TARGET=target)
    aws.s3.put_object(Bucket=BUCKET, Key=KEY, Body="".join(f"{u}\n" for u in ["User.UserId", *users]).encode())
    done = steps.poll(*steps.deliver())
    assert done["done"] is True and aws.profiles.members(NAME) == set(users)


def erasure_file(aws, users: list[str], header: str = "USER_ID") -> None:
    aws.s3.put_object(Bucket=ERASED["bucket"], Key=ERASED["key"], Body="\n".join([header, *users, ""]).encode())


RUNNING: dict = {}  # the running test's monkeypatch (the ``aws`` fixture's), for ``configure``


def configure(delete_profiles: str = "false", target: str = "_profile.AccountNumber") -> None:
    """The function's environment as UserErasure sets it (this test's domain and project), set again after an import
    (which sets the importer's environment)."""
    function_environment.use(RUNNING["monkeypatch"], "user_erasure.destinations", DOMAIN_NAME=DOMAIN,
                             PINPOINT_APPLICATION_ID=APP, USER_ID_TARGET=target, DELETE_PROFILES=delete_profiles)


def connect(delete_profiles: bool = False, target: str = "_profile.AccountNumber", cursor=None) -> dict:
    configure("true" if delete_profiles else "false", target)
    event = {"destination": "connect", "erased": ERASED}
    return {**event, "cursor": cursor} if cursor else event


def loop(event: dict, context=None) -> list[dict]:
    """The workflow's loop: invocations, each with the cursor the last one answered, until done."""
    answers = [destinations.handler(event, context)]
    while not answers[-1]["done"]:
        assert len(answers) < 50, "the loop does not advance"
        answers.append(destinations.handler({**event, "cursor": answers[-1]["cursor"]}, context))
    return answers


def others_profile(aws, user: str) -> None:
    """A profile the team's own systems created before the import (the import adds the user ID and the mark)."""
    aws.profiles.profiles[user] = {"Attributes": {"Email": f"{user}@example.com"}, "FirstName": "Ada"}


# ------------------------------------------------------------------ Customer Profiles


def test_library_created_profiles_are_deleted_and_others_keep_their_data_but_lose_the_marks(aws, monkeypatch):
    others_profile(aws, "u3")
    imported(aws, monkeypatch, ["u1", "u2", "u3", "u4"])
    erasure_file(aws, ["u1", "u3", "u-without-profile"])
    (answer,) = loop(connect())
    assert answer == {"destination": "connect", "done": True, "cursor": answer["cursor"], "profilesFound": 2,
                      "marksRemoved": 1, "profilesDeleted": 1, "profilesKept": 1, "profilesGone": 0,
                      "usersWithoutProfiles": 1}
    assert "u1" not in aws.profiles.profiles
    kept = aws.profiles.profiles["u3"]
    assert kept["Attributes"] == {"Email": "u3@example.com"} and kept["FirstName"] == "Ada"
    assert kept["AccountNumber"] == "u3"  # the owner's key stays
    assert aws.profiles.members(NAME) == {"u2", "u4"}
    assert aws.profiles.profiles["u2"]["Attributes"] == {MARK: aws.profiles.profiles["u4"]["Attributes"][MARK]}


def test_the_search_is_on_the_key_the_importer_maps_the_user_id_to(aws, monkeypatch):
    imported(aws, monkeypatch, ["u1", "u2"])
    erasure_file(aws, ["u1", "u2"])
    loop(connect())
    (search,) = [body for name, body in aws.profiles.requests if name == "SearchProfiles"]
    assert search["KeyName"] == "_account" and search["Values"] == ["u1", "u2"]
    deletes = [name for name, _ in aws.profiles.requests if name == "DeleteProfile"]
    assert len(deletes) == 2 and aws.profiles.profiles == {}


def test_a_user_id_in_an_attribute_is_found_by_the_custom_key_and_its_library_profile_deleted(aws, monkeypatch):
    target = "_profile.Attributes.appUserId"
    aws.profiles.profiles["u2"] = {"Attributes": {"appUserId": "u2", "Tier": "gold"}}
    imported(aws, monkeypatch, ["u1", "u2"], target)
    erasure_file(aws, ["u1", "u2"])
    (answer,) = loop(connect(target=target))
    assert (answer["profilesDeleted"], answer["profilesKept"], answer["marksRemoved"]) == (1, 1, 1)
    assert aws.profiles.profiles == {"u2": {"Attributes": {"appUserId": "u2", "Tier": "gold"},
                                            "ProfileId": aws.profiles.profiles["u2"]["ProfileId"]}}
    assert aws.profiles.members(NAME) == set()


def test_delete_profiles_deletes_every_profile_found_the_owners_too(aws, monkeypatch):
    others_profile(aws, "u3")
    imported(aws, monkeypatch, ["u1", "u2", "u3"])
    erasure_file(aws, ["u1", "u3"])
    (answer,) = loop(connect(delete_profiles=True))
    assert (answer["profilesFound"], answer["profilesDeleted"], answer["profilesKept"]) == (2, 2, 0)
    assert set(aws.profiles.profiles) == {"u2"} and aws.profiles.members(NAME) == {"u2"}


def test_a_profile_holding_anything_else_is_not_library_created():
    erasure = profiles.ConnectErasure(DOMAIN, profiles.UserIdTarget.of("_profile.AccountNumber"), False)
    library = {"ProfileId": "a" * 32, "AccountNumber": "u1", "Attributes": {MARK: "b1", f"{MARK}-2": "b2"},
               "FoundByItems": [{"KeyName": "_account", "Values": ["u1"]}]}
    assert erasure.created_by_library(library)
    assert not erasure.created_by_library({**library, "EmailAddress": "u1@example.com"})
    assert not erasure.created_by_library({**library, "Attributes": {MARK: "b1", "Tier": "gold"}})
    assert not erasure.created_by_library({**library, "Address": {"City": "Oslo"}})


def test_the_work_is_split_into_invocations_that_carry_the_counts(aws, monkeypatch):
    users = [f"user-{n:03d}" for n in range(60)]
    imported(aws, monkeypatch, users)
    erasure_file(aws, users + ["u-without-profile"])
    answers = loop(connect(), Context(millis=1))  # no time left: one batch an invocation
    assert [a["done"] for a in answers] == [False, False, True]
    assert [a["cursor"]["position"] for a in answers] == [25, 50, 61]
    assert [a["profilesDeleted"] for a in answers] == [25, 50, 60]
    assert answers[-1]["usersWithoutProfiles"] == 1 and aws.profiles.profiles == {}


def test_an_invocation_with_time_does_everything_and_an_exact_last_batch_ends_the_loop(aws, monkeypatch):
    users = [f"user-{n:03d}" for n in range(50)]
    imported(aws, monkeypatch, users)
    erasure_file(aws, users)
    assert [a["done"] for a in loop(connect(), Context(millis=1))] == [False, True]
    erasure_file(aws, users)
    (answer,) = loop(connect(), Context(millis=900_000))
    assert answer["done"] is True and answer["usersWithoutProfiles"] == 50


@pytest.mark.parametrize("fault, operation, error", [
    ("throttle", "SearchProfiles", ServiceThrottled),
    ("unavailable", "DeleteProfile", ServiceUnavailable),
    ("unavailable", "UpdateProfile", ServiceUnavailable),
])
def test_throttling_and_5xx_raise_the_retried_errors_and_the_retry_completes(aws, monkeypatch, fault, operation,
                                                                             error):
    others_profile(aws, "u2")
    imported(aws, monkeypatch, ["u1", "u2"])
    erasure_file(aws, ["u1", "u2"])
    getattr(aws.profiles, fault)[operation] = 1
    with pytest.raises(error):
        destinations.handler(connect(), None)
    (answer,) = loop(connect())  # the workflow retries the same event
    # u2's marks may be gone with the failed attempt: the retry counts what it found left
    assert (answer["profilesFound"], answer["profilesDeleted"], answer["profilesKept"]) == (2, 1, 1)
    assert set(aws.profiles.profiles) == {"u2"} and aws.profiles.profiles["u2"]["Attributes"] == {
        "Email": "u2@example.com"}
    assert aws.profiles.members(NAME) == set()


def test_a_domain_that_cannot_be_searched_raises_instead_of_counting_users_without_profiles(aws, monkeypatch):
    imported(aws, monkeypatch, ["u1"])
    erasure_file(aws, ["u1"])

    def no_such_domain(parts, body):
        raise LookupError(f"domain {parts[1]} not found")

    monkeypatch.setattr(aws.profiles, "_SearchProfiles", no_such_domain)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        destinations.handler(connect(), None)
    assert set(aws.profiles.profiles) == {"u1"}


def test_no_log_record_holds_a_user_id(aws, monkeypatch, caplog):
    users = [f"secret-user-{n}" for n in range(30)]
    others_profile(aws, users[0])
    imported(aws, monkeypatch, users)
    erasure_file(aws, users + ["secret-user-without-profile"])
    caplog.clear()
    caplog.set_level(logging.INFO)
    answers = loop(connect(), Context(millis=1))
    records = [r for r in caplog.records if r.name.startswith("user_erasure")]
    assert len(records) == len(answers) == 2 and records[-1].profilesDeleted == 29
    assert not [r for r in caplog.records if "secret-user" in f"{r.getMessage()} {vars(r)}"]
    assert "secret-user" not in str(answers)


def test_a_file_that_is_no_erasure_request_is_refused_without_echoing_it(aws):
    erasure_file(aws, ["u1"], header="secret-user-1")
    with pytest.raises(ValueError, match="must have the single column USER_ID") as raised:
        destinations.handler(connect(), None)
    assert "secret-user" not in str(raised.value)


@pytest.mark.parametrize("settings, event, message", [
    ({}, {"destination": "ses"}, "destination must be one of connect, pinpoint"),
    ({"target": "_profile.EmailAddress"}, {"destination": "connect"}, "USER_ID_TARGET must be"),
    ({"delete_profiles": "yes"}, {"destination": "connect"}, "DELETE_PROFILES must be true or false"),
    ({}, {"destination": "connect", "cursor": {"position": -1}}, "cursor.position"),
])
def test_a_malformed_request_or_setting_is_refused(aws, settings, event, message):
    erasure_file(aws, ["u1"])
    configure(**settings)
    with pytest.raises(ValueError, match=message):
        destinations.handler({**event, "erased": ERASED}, None)


def test_a_destination_the_construct_was_not_given_is_refused(aws, monkeypatch):
    erasure_file(aws, ["u1"])
    function_environment.use(monkeypatch, "user_erasure.destinations", DOMAIN_NAME=None, USER_ID_TARGET=None,
                             DELETE_PROFILES=None, PINPOINT_APPLICATION_ID=None)
    with pytest.raises(ValueError, match="no Customer Profiles domain is configured"):
        destinations.handler({"destination": "connect", "erased": ERASED}, None)
    with pytest.raises(ValueError, match="no Pinpoint project is configured"):
        destinations.handler({"destination": "pinpoint", "erased": ERASED}, None)


def test_the_attribute_prefix_is_the_importers():
    assert profiles.ATTRIBUTE_PREFIX == connect_handler.ATTRIBUTE_PREFIX


# ------------------------------------------------------------------ Pinpoint


def endpoint(id_: str, user: str) -> dict:
    return {"Id": id_, "ChannelType": "EMAIL", "Address": f"{id_}@example.com", "User": {"UserId": user}}


def pinpoint(cursor=None) -> dict:
    configure()
    event = {"destination": "pinpoint", "erased": ERASED}
    return {**event, "cursor": cursor} if cursor else event


def test_pinpoint_deletes_the_users_endpoints_and_counts_the_users_without_any(aws):
    aws.pinpoint.endpoints = [endpoint("e1", "u1"), endpoint("e1-sms", "u1"), endpoint("e2", "u/2"),
                              endpoint("e9", "u9")]
    erasure_file(aws, ["u1", "u/2", "u-without-endpoints"])
    (answer,) = loop(pinpoint())
    assert answer == {"destination": "pinpoint", "done": True, "cursor": answer["cursor"], "endpointsDeleted": 3,
                      "usersNotFound": 1}
    assert aws.pinpoint.endpoints == [endpoint("e9", "u9")]


def test_pinpoint_batches_across_invocations(aws):
    users = [f"user-{n:03d}" for n in range(30)]
    aws.pinpoint.endpoints = [endpoint(f"e-{u}", u) for u in users]
    erasure_file(aws, users)
    answers = loop(pinpoint(), Context(millis=1))
    assert [(a["done"], a["endpointsDeleted"]) for a in answers] == [(False, 25), (True, 30)]
    assert aws.pinpoint.endpoints == []


def test_a_pinpoint_project_that_does_not_exist_raises_instead_of_counting_users_not_found(aws):
    aws.pinpoint.missing_apps = {APP}
    erasure_file(aws, ["u1"])
    with pytest.raises(ClientError, match="NotFoundException"):
        destinations.handler(pinpoint(), None)
    assert [name for name, _ in aws.pinpoint.requests] == ["GetApp"]

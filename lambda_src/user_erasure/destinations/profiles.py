"""Amazon Connect Customer Profiles: the erased users' profiles lose what the library wrote into them, and those the
library created are deleted.

What the library writes (``connect_segment_importer``): an upload job maps each user ID to the profile key the
team chose (``_profile.AccountNumber`` or ``_profile.Attributes.<name>``: it updates the profile holding that ID, or
creates one holding only it) and writes a batch marker into one attribute per segment,
``Attributes.PersonalizeSegment_<segment definition>``; segment definitions select profiles by that attribute.

For each batch of erased users:

- ``SearchProfiles`` on the key the user ID is mapped to (``_account`` for AccountNumber; for an attribute, the
  custom search key of the same name, or the request's ``searchKey``), up to ``SEARCH_VALUES`` IDs a call, every
  page; a profile counts as the user's only if its key field holds exactly the ID.
- **Library-created profile** (deleted with ``DeleteProfile``): apart from what the service adds to every answer
  (``ProfileId``, ``FoundByItems``), it holds the user ID in the key field and nothing else but
  ``PersonalizeSegment_*`` attributes: no other standard field, address or attribute with a value. That is exactly
  what an upload job of the importer creates. With ``deleteProfiles`` every profile found is deleted.
- **Any other profile** is kept: its ``PersonalizeSegment_*`` attributes are removed with ``UpdateProfile``, each
  given as an empty string (the API removes a value given as ""; ``DeleteProfileKey`` removes search keys, not
  attributes). Its key field and the rest of its data are its owner's and stay.

A profile that is gone before its call (it expired, or someone deleted it meanwhile) is counted as gone. Throttling
and 5xx raise the workflow's retried errors (``shared.aws.call``); any other error raises too: a destination that
cannot be reached keeps the request open.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import Counter, defaultdict
from typing import Optional

from botocore.exceptions import ClientError

from shared.aws import call
from shared.contract import Env

# The importer's attribute prefix (connect_segment_importer/importer/handler.py ATTRIBUTE_PREFIX), written again:
# this function's asset holds only its own folder and the shared package. tests/user_erasure checks they agree.
ATTRIBUTE_PREFIX = "PersonalizeSegment_"
SEARCH_VALUES = 25  # user IDs looked up in one SearchProfiles call
PAGE_SIZE = 100  # SearchProfiles' largest page
SERVICE_FIELDS = frozenset({"ProfileId", "FoundByItems"})  # in every answer: nobody's data
TARGET = re.compile(r"_profile\.(?:(AccountNumber)|Attributes\.([A-Za-z0-9_-]{1,200}))")
SEARCH_KEY = re.compile(r"[a-zA-Z0-9_-]{1,64}")
COUNTS = ("profilesFound", "marksRemoved", "profilesDeleted", "profilesKept", "profilesGone", "usersWithoutProfiles")


@dataclasses.dataclass(frozen=True)
class UserIdTarget:
    """Where the importer writes the user ID (``userIdTarget``, as its USER_ID_TARGET) and the key that finds it."""

    field: Optional[str]  # a standard field (AccountNumber), or None for an attribute
    attribute: Optional[str]
    search_key: str

    @classmethod
    def of(cls, target: Optional[str]) -> "UserIdTarget":
        match = TARGET.fullmatch(target or "")
        if not match:
            raise ValueError("USER_ID_TARGET must be _profile.AccountNumber or _profile.Attributes.<name>")
        field, attribute = match.groups()
        key = "_account" if field else attribute
        if not SEARCH_KEY.fullmatch(key):
            raise ValueError(f"the attribute of USER_ID_TARGET must be a search key of the domain: 1 to 64 letters, "
                             f"digits, _ or -, not {len(key)} characters")
        return cls(field, attribute, key)

    def value(self, profile: dict) -> Optional[str]:
        """The user ID a profile holds where the importer writes it."""
        return profile.get(self.field) if self.field else profile.get("Attributes", {}).get(self.attribute)


def marks(profile: dict) -> list[str]:
    """The library's attributes on a profile."""
    return sorted(name for name in profile.get("Attributes", {}) if name.startswith(ATTRIBUTE_PREFIX))


@dataclasses.dataclass(frozen=True)
class ConnectErasure:
    """One domain's erasure: where the user ID is, and whether every profile found is deleted."""

    domain: str
    target: UserIdTarget
    delete_all: bool
    batch_size = SEARCH_VALUES
    counts = COUNTS

    @classmethod
    def of(cls) -> "ConnectErasure":
        """The construct's domain (``DOMAIN_NAME``), the importer's ``USER_ID_TARGET`` and ``DELETE_PROFILES``."""
        domain, delete = os.environ.get(Env.DOMAIN_NAME), os.environ.get(Env.DELETE_PROFILES)
        if not domain:
            raise ValueError("no Customer Profiles domain is configured (DOMAIN_NAME): UserErasure was given no "
                             "connect importer")
        if delete not in ("true", "false"):
            raise ValueError("DELETE_PROFILES must be true or false")
        return cls(domain, UserIdTarget.of(os.environ.get(Env.USER_ID_TARGET)), delete == "true")

    def erase(self, users: list[str]) -> Counter:
        """Erase a batch of users; the counts of what was found and done."""
        found = self.search(set(users))
        counts = Counter(usersWithoutProfiles=len(set(users) - set(found)))
        for profiles in found.values():
            for profile in profiles:
                counts.update(self.erase_profile(profile))
        return counts

    def search(self, users: set[str]) -> dict[str, list[dict]]:
        """The users' profiles (user ID -> profiles), every page of one search."""
        found: dict[str, list[dict]] = defaultdict(list)
        token: dict = {}
        while True:
            page = call("customer-profiles", "search_profiles", DomainName=self.domain, KeyName=self.target.search_key,
                        Values=sorted(users), MaxResults=PAGE_SIZE, **token)
            for profile in page.get("Items", []):
                user = self.target.value(profile)
                if user in users:
                    found[user].append(profile)
            if not page.get("NextToken"):
                return found
            token = {"NextToken": page["NextToken"]}

    def erase_profile(self, profile: dict) -> Counter:
        """Delete the profile if the library created it (or the request deletes all), else remove the library's
        attributes from it."""
        if self.delete_all or self.created_by_library(profile):
            done = self.write("delete_profile", ProfileId=profile["ProfileId"])
            return Counter(profilesFound=1, **({"profilesDeleted": 1} if done else {"profilesGone": 1}))
        removed = marks(profile)
        if removed and not self.write("update_profile", ProfileId=profile["ProfileId"],
                                      Attributes=dict.fromkeys(removed, "")):
            return Counter(profilesFound=1, profilesGone=1)
        return Counter(profilesFound=1, profilesKept=1, marksRemoved=len(removed))

    def created_by_library(self, profile: dict) -> bool:
        """Whether the profile holds nothing but the user ID where the importer writes it and the library's
        attributes (the rule in the module's docstring)."""
        own = {name for name, value in profile.items() if value} - SERVICE_FIELDS - {"Attributes", self.target.field}
        attributes = set(profile.get("Attributes", {})) - set(marks(profile)) - {self.target.attribute}
        return not own and not attributes

    def write(self, operation: str, **params) -> bool:
        """``operation`` on a profile; False if the profile is gone (ResourceNotFoundException)."""
        try:
            call("customer-profiles", operation, DomainName=self.domain, **params)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            return False
        return True

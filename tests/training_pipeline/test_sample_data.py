"""Behaviour tests for the synthetic "bingewatch" sample dataset.

The committed CSV files under data/train/bingewatch must be exactly what
scripts/generate_sample_data.py produces, and they must be usable for an
Amazon Personalize user-segmentation demo.
"""

from __future__ import annotations

from collections import Counter, defaultdict
import csv
import importlib.util
from pathlib import Path
import random
import sys

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "generate_sample_data.py"
DATA_DIR = REPO_ROOT / "data" / "train" / "bingewatch"
FILES = ("interactions.csv", "items.csv", "users.csv")

INTERACTION_HEADER = ["USER_ID", "ITEM_ID", "EVENT_VALUE", "EVENT_TYPE", "TIMESTAMP"]
ITEM_HEADER = ["ITEM_ID", "TITLE", "RELEASE_YEAR", "CREATION_TIMESTAMP", "GENRES"]
USER_HEADER = ["USER_ID", "GENDER", "E_MAIL", "AGE"]


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_sample_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    previous, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:  # scripts/ is not a package: keep it free of __pycache__
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = previous
    return module


def _read(name: str) -> tuple[list[str], list[dict[str, str]]]:
    with (DATA_DIR / name).open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [dict(zip(header, row)) for row in reader]
    return header, rows


@pytest.fixture(scope="module")
def data():
    return {name: _read(name) for name in FILES}


@pytest.fixture(scope="module")
def interactions(data):
    return data["interactions.csv"][1]


@pytest.fixture(scope="module")
def items(data):
    return data["items.csv"][1]


@pytest.fixture(scope="module")
def users(data):
    return data["users.csv"][1]


def test_committed_data_is_reproducible(tmp_path):
    generator = _load_generator()
    counts = generator.generate(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name
    for name, key in (("interactions.csv", "interactions"), ("items.csv", "items"), ("users.csv", "users")):
        lines = (tmp_path / name).read_bytes().count(b"\n")
        assert counts[key] == lines - 1  # minus header


def test_files_use_lf_line_endings_and_stay_small():
    total = 0
    for name in FILES:
        raw = (DATA_DIR / name).read_bytes()
        assert b"\r" not in raw
        assert raw.endswith(b"\n")
        total += len(raw)
    assert total < 4 * 1024 * 1024


def test_headers_are_exact(data):
    assert data["interactions.csv"][0] == INTERACTION_HEADER
    assert data["items.csv"][0] == ITEM_HEADER
    assert data["users.csv"][0] == USER_HEADER


def test_personalize_minimums_hold_with_room(interactions, users, items):
    assert len(interactions) >= 1000
    per_user = Counter(row["USER_ID"] for row in interactions)
    assert sum(1 for n in per_user.values() if n >= 2) >= 1000
    # Every user has at least 5 interactions.
    assert set(per_user) == {u["USER_ID"] for u in users}
    assert min(per_user.values()) >= 5
    # Sizes as advertised.
    assert 60_000 <= len(interactions) <= 90_000
    assert len(users) == 2000
    assert len(items) == 600


def test_ids_are_unique_and_interactions_reference_known_ids(interactions, users, items):
    user_ids = [u["USER_ID"] for u in users]
    item_ids = [i["ITEM_ID"] for i in items]
    assert len(set(user_ids)) == len(user_ids)
    assert len(set(item_ids)) == len(item_ids)
    assert user_ids[0] == "u00001" and item_ids[0] == "m0001"
    known_users, known_items = set(user_ids), set(item_ids)
    assert all(row["USER_ID"] in known_users for row in interactions)
    assert all(row["ITEM_ID"] in known_items for row in interactions)
    # Every movie is watched at least once.
    assert {row["ITEM_ID"] for row in interactions} == known_items


def test_interaction_values_are_well_formed(interactions, items):
    created = {i["ITEM_ID"]: int(i["CREATION_TIMESTAMP"]) for i in items}
    for row in interactions:
        assert row["EVENT_TYPE"] in {"watch", "click"}
        value = row["EVENT_VALUE"]
        assert len(value.split(".")[1]) == 2
        assert 0.0 < float(value) <= 1.0
        ts = int(row["TIMESTAMP"])
        assert str(ts) == row["TIMESTAMP"]
        # Watched only after the movie was added to the catalog.
        assert ts > created[row["ITEM_ID"]]


def test_items_are_well_formed(items):
    genres_seen = set()
    for item in items:
        genres = item["GENRES"].split("|")
        assert 1 <= len(genres) <= 3
        assert len(set(genres)) == len(genres)
        genres_seen.update(genres)
        assert item["RELEASE_YEAR"].isdigit()
        assert 1970 <= int(item["RELEASE_YEAR"]) <= 2025
        assert item["CREATION_TIMESTAMP"].isdigit()
        assert item["TITLE"] and "," not in item["TITLE"]
    assert 8 <= len(genres_seen) <= 12


def test_users_are_well_formed(users):
    for user in users:
        assert user["E_MAIL"].endswith("@example.com")
        assert user["GENDER"] in {"F", "M", "X"}
        assert 18 <= int(user["AGE"]) <= 80


def _mean_top_genre_share(pairs, item_genres) -> float:
    """Mean over users of the share of interactions carrying their top genre."""
    per_user: dict[str, Counter] = defaultdict(Counter)
    totals: Counter = Counter()
    for user_id, item_id in pairs:
        totals[user_id] += 1
        per_user[user_id].update(item_genres[item_id])
    shares = [max(per_user[u].values()) / totals[u] for u in totals]
    return sum(shares) / len(shares)


def test_genre_preferences_are_real(interactions, items):
    item_genres = {i["ITEM_ID"]: i["GENRES"].split("|") for i in items}
    pairs = [(row["USER_ID"], row["ITEM_ID"]) for row in interactions]
    actual = _mean_top_genre_share(pairs, item_genres)

    # Baseline: same users and same item popularity, but items shuffled across
    # interactions, i.e. no link between a user and the genres they watch.
    shuffled_items = [item_id for _, item_id in pairs]
    random.Random(0).shuffle(shuffled_items)
    baseline = _mean_top_genre_share(
        [(u, i) for (u, _), i in zip(pairs, shuffled_items)], item_genres
    )

    assert actual >= 0.5
    assert actual >= baseline + 0.2, (actual, baseline)

#!/usr/bin/env python3
"""Generate the deterministic synthetic "bingewatch" movie-streaming sample dataset.

Writes three CSV files suitable for Amazon Personalize user segmentation:

* ``interactions.csv`` -- USER_ID,ITEM_ID,EVENT_VALUE,EVENT_TYPE,TIMESTAMP
* ``items.csv``        -- ITEM_ID,TITLE,RELEASE_YEAR,CREATION_TIMESTAMP,GENRES
* ``users.csv``        -- USER_ID,GENDER,E_MAIL,AGE

Usage::

    python scripts/generate_sample_data.py [--out DIR] [--seed N]

The output is byte-identical across runs and machines: only ``random.Random``
with a fixed seed is used, no transcendental math (whose last bit may differ
between C libraries), no dependence on dict/set iteration order or the clock,
and every file is written as UTF-8 with ``\\n`` line endings.

Data model (all synthetic; e-mail addresses use the reserved example.com domain):

* 600 movies with 1-3 genres out of a fixed list of 10, a popularity weight
  (a few blockbusters, a long tail), a release year and a catalog creation time
  that lies before the first interaction.
* 2,000 users, each with 1-2 preferred genres. About 80 % of a user's
  interactions are with movies carrying one of their preferred genres, the rest
  are drawn from the whole catalog, so genre segments are meaningful.
* Every user has at least 5 interactions; every movie is watched at least once.
"""

from __future__ import annotations

import argparse
import bisect
import csv
from pathlib import Path
import random

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT_DIR = REPO_ROOT / "data" / "train" / "bingewatch"
DEFAULT_SEED = 20261123

N_USERS = 2000
N_ITEMS = 600

GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Comedy",
    "Documentary",
    "Drama",
    "Horror",
    "Romance",
    "Sci-Fi",
    "Thriller",
)

# Interactions happen during 2024 (UTC); the catalog is built before that.
BASE_EPOCH = 1704067200  # 2024-01-01T00:00:00Z
INTERACTION_WINDOW = 365 * 86400
CATALOG_START = 1546300800  # 2019-01-01T00:00:00Z
MIN_RELEASE_YEAR = 1970
MAX_RELEASE_YEAR = 2023  # keeps every movie released before it enters the catalog

MIN_INTERACTIONS_PER_USER = 5
MAX_EXTRA_INTERACTIONS = 95  # per-user count = 5 + int(95 * u**2), mean ~37
PREFERRED_SHARE = 0.8

INTERACTION_HEADER = ("USER_ID", "ITEM_ID", "EVENT_VALUE", "EVENT_TYPE", "TIMESTAMP")
ITEM_HEADER = ("ITEM_ID", "TITLE", "RELEASE_YEAR", "CREATION_TIMESTAMP", "GENRES")
USER_HEADER = ("USER_ID", "GENDER", "E_MAIL", "AGE")

EVENT_TYPE = "watch"

_ADJECTIVES = (
    "Silent", "Broken", "Hidden", "Last", "Midnight", "Golden", "Crimson", "Frozen",
    "Electric", "Forgotten", "Endless", "Wild", "Distant", "Burning", "Secret",
    "Lonely", "Shattered", "Velvet", "Iron", "Hollow", "Restless", "Scarlet",
    "Savage", "Quiet", "Brave", "Lucky", "Wandering", "Falling", "Neon", "Ancient",
)
_NOUNS = (
    "Harbor", "Horizon", "Empire", "Garden", "River", "Signal", "Kingdom", "Storm",
    "Highway", "Orchard", "Lighthouse", "Frontier", "Mirror", "Circus", "Galaxy",
    "Island", "Station", "Canyon", "Promise", "Shadow", "Summer", "Winter", "Voyage",
    "Machine", "Heart", "Forest", "Desert", "City", "Letter", "Planet",
)
_SEQUELS = ("II", "III", "Returns", "Reborn")


def _epoch_of_year(year: int) -> int:
    """Unix seconds of January 1st of ``year`` (UTC), without time libraries."""
    days = 0
    for y in range(1970, year):
        days += 366 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 365
    return days * 86400


def _make_title(rng: random.Random, used: set[str]) -> str:
    while True:
        pattern = rng.randrange(4)
        adj = rng.choice(_ADJECTIVES)
        noun = rng.choice(_NOUNS)
        if pattern == 0:
            title = f"The {adj} {noun}"
        elif pattern == 1:
            title = f"{noun} of the {rng.choice(_NOUNS)}"
        elif pattern == 2:
            title = f"{adj} {noun}"
        else:
            title = f"A {adj} {noun}"
        if rng.random() < 0.08:
            title = f"{title} {rng.choice(_SEQUELS)}"
        if title not in used:
            used.add(title)
            return title


def _make_items(rng: random.Random) -> list[dict]:
    used_titles: set[str] = set()
    # Popularity: a random rank per movie, integer weights with a long tail.
    ranks = list(range(N_ITEMS))
    rng.shuffle(ranks)
    items = []
    for i in range(N_ITEMS):
        n_genres = rng.choices((1, 2, 3), weights=(45, 40, 15))[0]
        genre_idx = sorted(rng.sample(range(len(GENRES)), n_genres))
        # Skew release years toward recent decades.
        year = max(
            rng.randint(MIN_RELEASE_YEAR, MAX_RELEASE_YEAR),
            rng.randint(MIN_RELEASE_YEAR, MAX_RELEASE_YEAR),
        )
        earliest = max(CATALOG_START, _epoch_of_year(year))
        created = rng.randrange(earliest, BASE_EPOCH - 86400)
        items.append(
            {
                "id": f"m{i + 1:04d}",
                "title": _make_title(rng, used_titles),
                "year": year,
                "created": created,
                "genres": tuple(GENRES[g] for g in genre_idx),
                "weight": 100_000 // (ranks[i] + 15),
            }
        )
    return items


def _make_users(rng: random.Random) -> list[dict]:
    users = []
    for u in range(N_USERS):
        n_pref = rng.choices((1, 2), weights=(55, 45))[0]
        preferred = tuple(sorted(rng.sample(GENRES, n_pref)))
        users.append(
            {
                "id": f"u{u + 1:05d}",
                "gender": rng.choices(("F", "M", "X"), weights=(48, 48, 4))[0],
                "email": f"user{u + 1:05d}@example.com",
                "age": (rng.randint(18, 80) + rng.randint(18, 80)) // 2,
                "preferred": preferred,
            }
        )
    return users


class _Pool:
    """Items with cumulative popularity weights for weighted sampling."""

    def __init__(self, items: list[dict]):
        self.items = items
        self.cum: list[int] = []
        total = 0
        for item in items:
            total += item["weight"]
            self.cum.append(total)
        self.total = total

    def pick(self, rng: random.Random) -> dict:
        # Same algorithm as random.choices(cum_weights=...), spelled out so the
        # result does not depend on the Python version's choices() internals.
        return self.items[bisect.bisect(self.cum, rng.random() * self.total)]


def _make_interactions(
    rng: random.Random, users: list[dict], items: list[dict]
) -> list[tuple[str, str, str, str, int]]:
    everything = _Pool(items)
    pools: dict[tuple[str, ...], _Pool] = {}
    rows: list[tuple[str, str, str, str, int]] = []
    last_second = BASE_EPOCH + INTERACTION_WINDOW - 1
    for user in users:
        pref = user["preferred"]
        if pref not in pools:
            pools[pref] = _Pool([it for it in items if set(it["genres"]) & set(pref)])
        pool = pools[pref]
        n = MIN_INTERACTIONS_PER_USER + int(MAX_EXTRA_INTERACTIONS * rng.random() ** 2)
        joined = BASE_EPOCH + rng.randrange(INTERACTION_WINDOW * 3 // 4)
        seen: set[str] = set()
        times = sorted(rng.randint(joined, last_second) for _ in range(n))
        for ts in times:
            source = pool if rng.random() < PREFERRED_SHARE else everything
            item = source.pick(rng)
            for _ in range(10):  # prefer new movies; rewatches are rare
                if item["id"] not in seen:
                    break
                item = source.pick(rng)
            seen.add(item["id"])
            if set(item["genres"]) & set(pref):
                pct = rng.randint(40, 100)
            else:
                pct = rng.randint(5, 100)
            rows.append((user["id"], item["id"], f"{pct / 100:.2f}", EVENT_TYPE, ts))

    # Make sure every movie is watched at least once.
    watched = {row[1] for row in rows}
    for item in items:
        if item["id"] not in watched:
            user = users[rng.randrange(len(users))]
            ts = rng.randint(BASE_EPOCH, last_second)
            pct = rng.randint(5, 100)
            rows.append((user["id"], item["id"], f"{pct / 100:.2f}", EVENT_TYPE, ts))

    rows.sort(key=lambda r: (r[4], r[0], r[1]))
    return rows


def _write_csv(path: Path, header: tuple[str, ...], rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate(out_dir: Path, *, seed: int = DEFAULT_SEED) -> dict:
    """Write interactions.csv, items.csv and users.csv into ``out_dir``.

    Returns ``{"users": ..., "items": ..., "interactions": ...}`` row counts.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    items = _make_items(rng)
    users = _make_users(rng)
    interactions = _make_interactions(rng, users, items)

    _write_csv(
        out_dir / "items.csv",
        ITEM_HEADER,
        (
            (it["id"], it["title"], str(it["year"]), it["created"], "|".join(it["genres"]))
            for it in items
        ),
    )
    _write_csv(
        out_dir / "users.csv",
        USER_HEADER,
        ((u["id"], u["gender"], u["email"], u["age"]) for u in users),
    )
    _write_csv(out_dir / "interactions.csv", INTERACTION_HEADER, interactions)
    return {"users": len(users), "items": len(items), "interactions": len(interactions)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"output directory (default: {DEFAULT_OUT_DIR.relative_to(REPO_ROOT)})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    counts = generate(args.out, seed=args.seed)
    print(
        f"wrote {counts['users']} users, {counts['items']} items, "
        f"{counts['interactions']} interactions to {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

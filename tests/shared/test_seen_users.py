"""``SeenUsers`` (shared/audiences.py), the duplicate check of the export, the audience deltas and the endpoint join,
against a plain reference: a Python set of the user IDs, batch after batch. Hashes are per process, so IDs that share
a home slot are searched for here, not written down."""

from __future__ import annotations

import random
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import audiences
from shared.audiences import SeenUsers


def reference(batches):
    """What ``keep_new`` keeps of each batch: the IDs not seen before, each once, in order."""
    seen, kept = set(), []
    for batch in batches:
        kept.append([u for u in batch if not (u in seen or seen.add(u))])
    return kept


def check(users: SeenUsers, batches) -> None:
    expected = reference(batches)
    assert [users.keep_new(batch) for batch in batches] == expected
    every = {u for batch in expected for u in batch}
    assert len(users) == len(every)
    assert all(u in users for u in every)
    assert not any(f"absent-{n}" in users for n in range(50))


def sharing_home_slots(slots: int, count: int, per_slot: int) -> list[list[str]]:
    """``count`` groups of ``per_slot`` IDs, the IDs of a group sharing their home slot in a table of ``slots`` (at
    most a few thousand); the first group holds the last slot, whose probes wrap to the first."""
    mask, groups = slots - 1, {}
    for n in range(100 * slots):
        user = f"id-{n}"
        groups.setdefault(hash(user) & mask, []).append(user)
    others = [g[:per_slot] for slot, g in groups.items() if slot != mask and len(g) >= per_slot][:count - 1]
    found = [groups[mask][:per_slot]] + others
    assert len(found) == count and all(len(g) == per_slot for g in found)
    return found


IDS = st.text(alphabet="abc,\"\n\u00e9", min_size=1, max_size=3)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(batches=st.lists(st.lists(IDS, max_size=40), max_size=12), capacity=st.integers(0, 64),
       prefetch=st.sampled_from([1, 2, 3, 7, 1024]))
def test_keep_new_keeps_what_a_set_keeps_whatever_the_batches_table_size_and_read_ahead(batches, capacity, prefetch):
    original = audiences.PREFETCH
    audiences.PREFETCH = prefetch
    try:
        check(SeenUsers(capacity), batches)
    finally:
        audiences.PREFETCH = original


@pytest.mark.parametrize("prefetch", [1, 2, 5, 1024])
def test_ids_sharing_home_slots_within_and_across_batches(monkeypatch, prefetch):
    monkeypatch.setattr(audiences, "PREFETCH", prefetch)
    users = SeenUsers(1)  # the least table: 1,024 slots
    groups = sharing_home_slots(users.slots, count=20, per_slot=4)
    flat = [u for g in groups for u in g]
    rng = random.Random(7)
    batches = [flat[:30], [u for g in groups for u in g[::-1]], rng.sample(flat, len(flat)) + flat[::3], []]
    batches += [[u, u, "other"] for u in flat[:10]]
    check(users, batches)


def test_growth_keeps_every_user_seen_and_probes_wrapping_the_table_end():
    users = SeenUsers(1)
    groups = sharing_home_slots(users.slots, count=3, per_slot=6)
    first = [u for g in groups for u in g]
    rng = random.Random(11)
    more = [f"user-{n}" for n in range(20_000)]
    batches = [first, more[:600], more[:9000] + first, rng.sample(more, 5000) + [f"x{n}" for n in range(3000)]]
    batches += [more[n:n + 1500] + first for n in range(0, 20_000, 1500)]
    check(users, batches)
    assert users.slots >= 32_768  # grown several times


def test_many_random_batches_with_repeats_near_and_far():
    rng = random.Random(3)
    pool = [f"u{n:06d}" for n in range(40_000)]
    batches = [[rng.choice(pool[:n + 2000]) for _ in range(rng.randrange(0, 5000))] for n in range(0, 40_000, 2000)]
    check(SeenUsers(10_000), batches)


@pytest.mark.parametrize("prefetch", [1, 3, 1024])
def test_place_and_flag_agree_with_a_set(monkeypatch, prefetch):
    monkeypatch.setattr(audiences, "PREFETCH", prefetch)
    rng = random.Random(5)
    known = SeenUsers(1)
    groups = sharing_home_slots(known.slots, count=10, per_slot=3)
    previous = [u for g in groups for u in g] + [f"p{n}" for n in range(300)]
    previous += rng.sample(previous, 40)  # IDs listed twice
    places = array("I")
    assert known.place(previous[:200], places, known.slots) + known.place(previous[200:], places, known.slots) == \
        len(set(previous))
    first = {}
    for n, u in enumerate(previous):
        first.setdefault(u, n)
    assert [p == known.slots for p in places] == [first[u] != n for n, u in enumerate(previous)]  # repeats marked
    assert len({places[n] for n in first.values()}) == len(first)  # the others, a slot each
    current = rng.sample(previous, 150) + [f"c{n}" for n in range(100)] + [f"p{n}" for n in range(5)]
    flags = bytearray(known.slots + 1)
    assert known.flag(current, flags) == [u for u in current if u not in first]
    assert {n for n, f in enumerate(flags) if f} == {places[first[u]] for u in current if u in first}


def test_place_refuses_more_than_its_room_and_adds_nothing():
    known = SeenUsers(1)
    with pytest.raises(OverflowError):
        known.place([f"u{n}" for n in range(known.room() + 1)], array("I"), known.slots)
    assert len(known) == 0 and "u0" not in known

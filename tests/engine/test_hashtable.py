"""KeyTable against a dict model: slots are dense, stable while live, reused when freed."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.hashtable import KeyTable


def test_find_or_insert_dense_slots_and_find() -> None:
    table = KeyTable(2)
    codes = np.array([[1, 2], [3, 4], [1, 2], [-5, 0], [3, 4]], dtype=np.int64)
    slots, new = table.find_or_insert_new(codes)
    assert slots.tolist() == [0, 1, 0, 2, 1]
    assert new.tolist() == [0, 1, 2]
    assert len(table) == 3
    assert table.find(np.array([[3, 4], [9, 9]], dtype=np.int64)).tolist() == [1, -1]
    assert table.keys_of(np.array([2, 0])).tolist() == [[-5, 0], [1, 2]]


def test_released_slots_are_reused_first() -> None:
    table = KeyTable(1)
    table.find_or_insert(np.arange(10, dtype=np.int64).reshape(-1, 1))
    table.release(np.array([3, 7]))
    assert len(table) == 8
    assert table.find(np.array([[3], [7], [4]], dtype=np.int64)).tolist() == [-1, -1, 4]
    slots = table.find_or_insert(np.array([[100], [101], [102]], dtype=np.int64))
    assert sorted(slots.tolist()[:2]) == [3, 7]
    assert slots[2] == 10
    table.release(np.array([3, 3, 3]))  # a dead slot is ignored
    assert len(table) == 10


def test_growth_keeps_every_key() -> None:
    rng = np.random.default_rng(7)
    codes = rng.integers(-(2**63), 2**63 - 1, size=(50_000, 3), dtype=np.int64)
    table = KeyTable(3)
    slots = table.find_or_insert(codes)
    assert sorted(set(slots.tolist())) == list(range(len(table)))
    assert (table.keys_of(slots) == codes).all()
    assert (table.find(codes) == slots).all()
    assert table.capacity >= len(table)
    assert table.nbytes() > 50_000 * 3 * 8


def test_many_insert_release_cycles_do_not_degrade() -> None:
    """Windows opening and closing forever: the table stays the size of the live set."""
    table = KeyTable(2)
    for window in range(2_000):
        codes = np.stack([np.full(50, window), np.arange(50)], axis=1).astype(np.int64)
        slots = table.find_or_insert(codes)
        if window >= 2:
            old = np.stack([np.full(50, window - 2), np.arange(50)], axis=1).astype(np.int64)
            gone = table.find(old)
            assert (gone >= 0).all()
            table.release(gone)
        assert (table.find(codes) == slots).all()
    assert len(table) == 100
    assert table.capacity <= 256
    assert table.high_water <= 256


def test_width_zero_is_one_key() -> None:
    table = KeyTable(0)
    slots = table.find_or_insert(np.empty((4, 0), dtype=np.int64))
    assert slots.tolist() == [0, 0, 0, 0]
    assert len(table) == 1


operations = st.lists(
    st.tuples(st.booleans(), st.lists(st.integers(-20, 20), min_size=1, max_size=30)),
    min_size=1, max_size=30,
)


@given(operations)
def test_against_a_dict(ops: list[tuple[bool, list[int]]]) -> None:
    table = KeyTable(2, capacity=8)
    model: dict[tuple[int, int], int] = {}
    for insert, values in ops:
        codes = np.array([[v, v * v] for v in values], dtype=np.int64)
        if insert:
            slots = table.find_or_insert(codes)
            for (a, b), slot in zip(codes.tolist(), slots.tolist(), strict=True):
                assert model.setdefault((a, b), slot) == slot
        else:
            slots = table.find(codes)
            for (a, b), slot in zip(codes.tolist(), slots.tolist(), strict=True):
                assert model.get((a, b), -1) == slot
            table.release(slots[slots >= 0])
            for key in {(a, b) for a, b in codes.tolist()}:
                model.pop(key, None)
        assert len(table) == len(model)
        assert sorted(table.live_slots().tolist()) == sorted(model.values())
        live = sorted(model.values())
        assert len(set(live)) == len(live)
    if model:
        keys = np.array(list(model.keys()), dtype=np.int64)
        assert table.find(keys).tolist() == list(model.values())

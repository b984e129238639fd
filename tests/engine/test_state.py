"""StateTable: each epoch's delta is exactly the difference between two full dumps."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.keys import KeyEncoder
from laminar_pg.engine.state import StateColumn, StateSnapshot, StateTable

Row = tuple[int, ...]


def as_dict(snapshot: StateSnapshot) -> dict[Row, tuple[object, ...]]:
    out: dict[Row, tuple[object, ...]] = {}
    for i, key in enumerate(snapshot.keys.tolist()):
        out[tuple(key)] = tuple(
            tuple(v[i].tolist()) if v.ndim == 2 else v[i].item()
            for _, v in sorted(snapshot.values.items())
        )
    return out


def new_table() -> StateTable:
    return StateTable(2, [StateColumn("count", np.int64),
                          StateColumn("total", np.float64, fill=-1.0),
                          StateColumn("words", np.int64, width=2)], capacity=8)


operation: st.SearchStrategy[tuple[str, list[int], int]] = st.one_of(
    st.tuples(st.just("update"), st.lists(st.integers(0, 12), max_size=15),
              st.integers(-3, 3)),
    st.tuples(st.just("release"), st.lists(st.integers(0, 12), max_size=6), st.just(0)),
    st.tuples(st.just("commit"), st.just([]), st.just(0)),
)


@given(st.lists(operation, max_size=40))
def test_delta_is_the_difference_of_dumps(ops: list[tuple[str, list[int], int]]) -> None:
    table = new_table()
    before = as_dict(table.dump())
    for kind, keys, amount in [*ops, ("commit", [], 0)]:
        codes = np.array([[k, -k] for k in keys], dtype=np.int64).reshape(-1, 2)
        if kind == "update":
            slots = table.lookup(codes)
            np.add.at(table.column("count"), slots, amount)
            table.column("total")[slots] = amount * 0.5
            table.column("words")[slots, 1] += 1
        elif kind == "release":
            slots = table.find(codes)
            table.release(slots[slots >= 0])
        else:
            delta = table.commit_epoch()
            after = as_dict(table.dump())
            deleted = {tuple(k) for k in delta.delete_keys.tolist()}
            upserted = {tuple(k): i for i, k in enumerate(delta.upsert_keys.tolist())}
            assert deleted == set(before) - set(after)
            assert set(upserted) <= set(after)
            changed = {k for k, v in after.items() if before.get(k) != v}
            assert changed <= set(upserted)
            # applying the delta to the old dump gives the new dump
            rebuilt = {k: v for k, v in before.items() if k not in deleted}
            for key, i in upserted.items():
                rebuilt[key] = tuple(
                    tuple(v[i].tolist()) if v.ndim == 2 else v[i].item()
                    for _, v in sorted(delta.upsert_values.items())
                )
            assert rebuilt == after
            assert table.touched_slots().shape[0] == 0
            before = after
        assert len(table) == len(as_dict(table.dump()))


def test_released_slot_starts_clean_and_touch_tracking() -> None:
    table = new_table()
    slots = table.lookup(np.array([[1, 1], [2, 2]], dtype=np.int64))
    table.column("count")[slots] = 5
    assert sorted(table.touched_slots().tolist()) == [0, 1]
    table.commit_epoch()
    table.release(slots[:1])
    again = table.lookup(np.array([[3, 3]], dtype=np.int64))
    assert again.tolist() == [0]
    assert table.column("count")[0] == 0
    assert table.column("total")[0] == -1.0
    delta = table.commit_epoch()
    assert delta.delete_keys.tolist() == [[1, 1]]
    assert delta.upsert_keys.tolist() == [[3, 3]]
    # a key inserted and released within one epoch leaves no trace
    s = table.lookup(np.array([[9, 9]], dtype=np.int64))
    table.release(s)
    assert table.commit_epoch().empty


def test_growth_keeps_values_and_delta_batches_decode_keys() -> None:
    encoder = KeyEncoder([pa.string()])
    table = StateTable(encoder.width, [StateColumn("n", np.int64)], encoder=encoder)
    names = pa.array([f"user{i}" for i in range(1000)])
    slots = table.lookup(encoder.encode([names]))
    table.column("n")[slots] = np.arange(1000)
    assert table.capacity >= 1000
    delta = table.commit_epoch()
    table.release(table.find(encoder.encode([pa.array(["user3"])])))
    upserts, _ = table.delta_batches(delta)
    assert upserts.num_rows == 1000
    assert dict(zip(upserts.column("key_0").to_pylist(), upserts.column("n").to_pylist(),
                    strict=True))["user7"] == 7
    _, deletes = table.delta_batches(table.commit_epoch())
    assert deletes.column("key_0").to_pylist() == ["user3"]
    assert table.nbytes() > 1000 * 8

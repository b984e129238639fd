"""KeyEncoder: equal SQL values get equal codes, codes decode to the original values,
and the words of ordered types sort as the values do."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.keys import KeyEncoder, bytes_less, codec_for

TYPES: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "int32": (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
    "int8": (pa.int8(), st.integers(-128, 127)),
    "uint64": (pa.uint64(), st.integers(0, 2**64 - 1)),
    "bool": (pa.bool_(), st.booleans()),
    "float64": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "float32": (pa.float32(), st.floats(width=32)),
    "timestamp": (pa.timestamp("us"), st.integers(-(2**55), 2**55)),  # datetime range
    "date32": (pa.date32(), st.integers(-100_000, 100_000)),
    "string": (pa.string(), st.text(max_size=6)),
    "large_binary": (pa.large_binary(), st.binary(max_size=6)),
    "decimal_small": (pa.decimal128(12, 2), st.decimals(-(10**9), 10**9, places=2,
                                                       allow_nan=False)),
    "decimal_big": (pa.decimal128(38, 3), st.decimals(-(10**34), 10**34, places=3,
                                                     allow_nan=False)),
}


def sql_key(value: Any) -> Any:
    """The GROUP BY identity of a Python value: -0.0 = 0.0, NaN = NaN."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return value + 0.0
    return value


def make_array(kind: str, values: list[Any]) -> pa.Array:
    t = TYPES[kind][0]
    if kind == "timestamp":
        return pa.array(values, type=pa.int64()).cast(t)
    if kind == "date32":
        return pa.array(values, type=pa.int32()).cast(t)
    return pa.array(values, type=t)


columns_strategy = st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=3).flatmap(
    lambda kinds: st.tuples(
        st.just(kinds),
        st.lists(
            st.tuples(*[st.one_of(st.none(), TYPES[k][1]) for k in kinds]),
            min_size=0, max_size=25,
        ),
        st.integers(1, 4),
    )
)


@given(columns_strategy)
def test_equal_values_equal_codes_and_round_trip(
    case: tuple[list[str], list[tuple[Any, ...]], int],
) -> None:
    kinds, rows, batches = case
    encoder = KeyEncoder([TYPES[k][0] for k in kinds])
    seen: dict[tuple[Any, ...], tuple[int, ...]] = {}
    size = max(1, len(rows) // batches + 1)
    for start in range(0, max(len(rows), 1), size):
        part = rows[start: start + size]
        arrays = [make_array(k, [r[i] for r in part]) for i, k in enumerate(kinds)]
        codes = encoder.encode(arrays)
        assert codes.shape == (len(part), encoder.width)
        assert codes.dtype == np.int64
        for row, code in zip(part, codes.tolist(), strict=True):
            key = tuple(sql_key(v) for v in row)
            assert seen.setdefault(key, tuple(code)) == tuple(code)
        decoded = encoder.decode(codes)
        for i, (arr, back) in enumerate(zip(arrays, decoded, strict=True)):
            assert back.type == arr.type, kinds[i]
            expected = [sql_key(v) for v in arr.to_pylist()]
            assert [sql_key(v) for v in back.to_pylist()] == expected
    # distinct SQL values get distinct codes
    assert len(set(seen.values())) == len(seen)


@given(st.sampled_from([k for k in sorted(TYPES) if k not in ("string", "large_binary")])
       .flatmap(lambda k: st.tuples(st.just(k), st.lists(TYPES[k][1], min_size=2,
                                                          max_size=20))))
def test_words_sort_like_values(case: tuple[str, list[Any]]) -> None:
    kind, values = case
    codec = codec_for(TYPES[kind][0])
    assert codec.ordered
    words, valid = codec.encode(make_array(kind, values))
    assert valid is None

    def order_key(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return (1, 0.0)  # NaN above everything, as in PostgreSQL
        if isinstance(v, float):
            return (0, v + 0.0)
        return v

    pairs = sorted(zip(values, [tuple(w) for w in words.tolist()], strict=True),
                   key=lambda p: order_key(p[0]))
    for (a, wa), (b, wb) in itertools.pairwise(pairs):
        if order_key(a) == order_key(b):
            assert wa == wb
        else:
            assert wa < wb


@given(st.lists(st.binary(max_size=5), min_size=2, max_size=20))
def test_string_ids_compare_as_bytes(values: list[bytes]) -> None:
    codec = codec_for(pa.binary())
    words, _ = codec.encode(pa.array(values, type=pa.binary()))
    assert isinstance(codec, type(codec_for(pa.string())))
    arena, starts = codec.arena, codec.starts  # type: ignore[attr-defined]
    for a, ia in zip(values, words[:, 0].tolist(), strict=True):
        for b, ib in zip(values, words[:, 0].tolist(), strict=True):
            assert bytes_less(ia, ib, arena, starts) == (a < b)


def test_dictionary_survives_growth_and_batches() -> None:
    encoder = KeyEncoder([pa.string()])
    first = encoder.encode([pa.array([f"k{i}" for i in range(5000)])])
    again = encoder.encode([pa.array([f"k{i}" for i in range(4999, -1, -1)])])
    assert (first[::-1] == again).all()
    assert sorted(first[:, 0].tolist()) == list(range(5000))
    assert encoder.decode(first[:3])[0].to_pylist() == ["k0", "k1", "k2"]
    assert encoder.nbytes() > 0


def test_dictionary_arrays_sliced_arrays_and_large_types() -> None:
    encoder = KeyEncoder([pa.string()])
    plain = encoder.encode([pa.array(["x", None, "y", "x"])])
    dict_arr = pa.array(["y", "x", None, "x"]).dictionary_encode()
    coded = encoder.encode([dict_arr])
    assert coded[:, 0].tolist() == [plain[2, 0], plain[0, 0], plain[1, 0], plain[0, 0]]
    sliced = pa.array(["a", "x", None, "y"]).slice(1)
    assert encoder.encode([sliced])[:, 0].tolist() == plain[[0, 1, 2], 0].tolist()
    ints = pa.array([5, None, 7, 8], type=pa.int64()).slice(2)
    assert KeyEncoder([pa.int64()]).encode([ints])[:, 0].tolist() == [7, 8]
    large = KeyEncoder([pa.large_string()])
    codes = large.encode([pa.array(["é", None], type=pa.large_string())])
    assert large.decode(codes)[0].to_pylist() == ["é", None]
    dec = pa.array([Decimal("1.50"), None], type=pa.decimal128(30, 2)).slice(0)
    enc = KeyEncoder([pa.decimal128(30, 2)])
    assert enc.decode(enc.encode([dec]))[0].to_pylist() == [Decimal("1.50"), None]


def test_null_mask_word_only_for_full_range_nullable_columns() -> None:
    assert KeyEncoder([pa.int64()]).width == 2
    assert KeyEncoder([pa.int64()], nullable=[False]).width == 1
    assert KeyEncoder([pa.int32(), pa.string(), pa.float64()]).width == 3
    assert KeyEncoder([pa.int64(), pa.timestamp("ms"), pa.int64()]).width == 4
    enc = KeyEncoder([pa.int64()], nullable=[False])
    with pytest.raises(ValueError):
        enc.encode([pa.array([1, None])])
    # NULL and 0 differ
    nullable = KeyEncoder([pa.int64()])
    codes = nullable.encode([pa.array([0, None, 0])])
    assert codes[0].tolist() == codes[2].tolist() != codes[1].tolist()


def test_null_type_and_no_key_columns() -> None:
    enc = KeyEncoder([pa.null(), pa.int8()])
    codes = enc.encode([pa.nulls(3), pa.array([1, 1, None], type=pa.int8())])
    assert codes.shape == (3, 2)
    out = enc.decode(codes)
    assert out[0].type == pa.null() and out[0].null_count == 3
    assert out[1].to_pylist() == [1, 1, None]
    with pytest.raises(NotImplementedError):
        KeyEncoder([pa.list_(pa.int64())])

"""The datagen generator: sequences, random ranges, strings, booleans and timestamps,
row limits, determinism over read sizes and split counts, and its refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.sources import Generator, make_generator
from laminar_pg.errors import SqlError

COLUMNS = [
    ("id", pa.int64()),
    ("small", pa.int16()),
    ("n", pa.int32()),
    ("x", pa.float64()),
    ("r", pa.float32()),
    ("name", pa.string()),
    ("flag", pa.bool_()),
    ("ts", pa.timestamp("us")),
    ("tz", pa.timestamp("us", tz="UTC")),
]
OPTIONS = {
    "fields.id.kind": "sequence",
    "fields.id.start": "1",
    "fields.small.min": "-3",
    "fields.small.max": "3",
    "fields.n.kind": "random",
    "fields.n.min": "100",
    "fields.n.max": "199",
    "fields.n.seed": "5",
    "fields.x.min": "-1.5",
    "fields.x.max": "2.5",
    "fields.name.length": "12",
    "fields.ts.basetime": "2024-01-01 00:00:00",
    "fields.ts.max_past": "1h",
    "fields.tz.basetime": "2024-01-01T00:00:00Z",
    "datagen.rows": "3000",
}
BASE = datetime(2024, 1, 1)


def datagen(
    options: dict[str, str] | None = None,
    columns: list[tuple[str, pa.DataType]] | None = None,
    splits: int = 1,
) -> Generator:
    return make_generator(
        "datagen", columns or COLUMNS, OPTIONS if options is None else options, splits
    )


def read_all(gen: Generator, split: int = 0, chunk: int = 1000) -> pa.Table:
    batches, position = [], 0
    while not gen.exhausted(split, position):
        batch, position = gen.read(split, position, chunk)
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=gen.schema)


ROWS = read_all(datagen())


def test_schema_is_the_declared_columns() -> None:
    gen = datagen()
    assert gen.schema == pa.schema(COLUMNS)
    assert gen.event_time_column is None and gen.events_per_second is None


def test_sequence_counts_up_from_start() -> None:
    assert ROWS.num_rows == 3000
    assert ROWS.column("id").to_pylist() == list(range(1, 3001))


def test_sequence_end_bounds_the_source() -> None:
    options = {"fields.id.kind": "sequence", "fields.id.start": "10", "fields.id.end": "99"}
    gen = datagen(options, [("id", pa.int32()), ("v", pa.float64())])
    rows = read_all(gen, chunk=7)
    assert rows.column("id").to_pylist() == list(range(10, 100))
    assert rows.column("id").type == pa.int32()
    options["datagen.rows"] = "20"
    assert read_all(datagen(options, [("id", pa.int32())])).num_rows == 20


def test_smallint_sequence_ends_at_its_type_maximum() -> None:
    options = {"fields.s.kind": "sequence", "fields.s.start": "32760"}
    rows = read_all(datagen(options, [("s", pa.int16())]))
    assert rows.column("s").to_pylist() == list(range(32760, 32768))


def test_float_sequence() -> None:
    options = {"fields.f.kind": "sequence", "fields.f.start": "1.5", "fields.f.end": "4.5"}
    assert read_all(datagen(options, [("f", pa.float64())])).column("f").to_pylist() == [
        1.5,
        2.5,
        3.5,
        4.5,
    ]


def test_without_limits_the_source_is_unbounded() -> None:
    gen = datagen({}, [("v", pa.int64())])
    assert gen.events_in(0) is None and not gen.exhausted(0, 10**12)
    batch, position = gen.read(0, 10**12, 5)
    assert (batch.num_rows, position) == (5, 10**12 + 5)


def test_random_integers_cover_their_inclusive_range() -> None:
    small = ROWS.column("small").to_pylist()
    assert set(small) == {-3, -2, -1, 0, 1, 2, 3}
    n = np.asarray(ROWS.column("n").to_numpy())
    assert n.min() == 100 and n.max() == 199
    assert ROWS.column("small").type == pa.int16() and ROWS.column("n").type == pa.int32()


def test_random_defaults_are_0_to_32767() -> None:
    rows = read_all(datagen({"datagen.rows": "5000"}, [("v", pa.int64()), ("f", pa.float64())]))
    v = np.asarray(rows.column("v").to_numpy())
    f = np.asarray(rows.column("f").to_numpy())
    assert v.min() >= 0 and v.max() <= 32767 and v.mean() > 15000
    assert f.min() >= 0 and f.max() < 32767


def test_full_bigint_range() -> None:
    options = {
        "fields.v.min": str(-(2**63)),
        "fields.v.max": str(2**63 - 1),
        "datagen.rows": "1000",
    }
    v = np.asarray(read_all(datagen(options, [("v", pa.int64())])).column("v").to_numpy())
    assert v.min() < -(2**61) and v.max() > 2**61


def test_random_floats_stay_in_range() -> None:
    x = np.asarray(ROWS.column("x").to_numpy())
    assert x.min() >= -1.5 and x.max() < 2.5 and abs(x.mean() - 0.5) < 0.1
    r = np.asarray(ROWS.column("r").to_numpy())
    assert r.dtype == np.float32 and r.min() >= 0


def test_random_strings_are_alphanumeric_of_their_length() -> None:
    names = ROWS.column("name").to_pylist()
    assert all(len(s) == 12 and s.isalnum() and s.isascii() for s in names)
    assert len(set(names)) == len(names)
    assert set("".join(names)) == set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    )


def test_wide_strings_shorten_the_reads() -> None:
    gen = datagen({"fields.s.length": "65536"}, [("s", pa.string())])
    assert gen.max_events_per_read * 65536 < 2**31
    batch, position = gen.read(0, 0, 3)
    assert position == 3 and [len(s) for s in batch.column(0).to_pylist()] == [65536] * 3


def test_random_booleans() -> None:
    flags = np.asarray(ROWS.column("flag").to_numpy(zero_copy_only=False))
    assert 0.45 < flags.mean() < 0.55


def test_random_timestamps_lie_within_max_past_of_basetime() -> None:
    ts = ROWS.column("ts").to_pylist()
    assert min(ts) >= BASE - timedelta(hours=1) and max(ts) <= BASE
    tz = ROWS.column("tz").to_pylist()
    base = BASE.replace(tzinfo=UTC)
    assert min(tz) >= base - timedelta(days=1) and max(tz) <= base
    assert max(tz) - min(tz) > timedelta(hours=20)


def test_timestamps_without_basetime_are_recent() -> None:
    gen = datagen({"fields.t.max_past": "10s", "datagen.rows": "100"}, [("t", pa.timestamp("us"))])
    ts = read_all(gen).column("t").to_pylist()
    now = datetime.now(UTC).replace(tzinfo=None)
    assert all(now - timedelta(seconds=70) <= t <= now for t in ts)


def test_relative_timestamps_follow_the_clock() -> None:
    options = {
        "fields.t.max_past_mode": "relative",
        "fields.t.max_past": "1s",
        "datagen.rows": "10",
    }
    ts = read_all(datagen(options, [("t", pa.timestamp("us"))])).column("t").to_pylist()
    now = datetime.now(UTC).replace(tzinfo=None)
    assert all(now - timedelta(seconds=60) <= t <= now for t in ts)


def test_seeds_pick_the_stream_and_columns_differ() -> None:
    columns = [("a", pa.int64()), ("b", pa.int64())]
    one = read_all(
        datagen({"datagen.rows": "100", "fields.a.seed": "1", "fields.b.seed": "1"}, columns)
    )
    two = read_all(
        datagen({"datagen.rows": "100", "fields.a.seed": "2", "fields.b.seed": "1"}, columns)
    )
    assert one.column("a") != one.column("b")
    assert one.column("a") != two.column("a")
    assert one.column("b") == two.column("b")


def test_pacing_option() -> None:
    gen = datagen({"datagen.rows.per.second": "250"}, [("v", pa.int64())])
    assert gen.events_per_second == 250.0


# --- determinism -----------------------------------------------------------------------


@given(st.lists(st.integers(0, 400), min_size=1, max_size=20))
def test_rows_do_not_depend_on_read_sizes(sizes: list[int]) -> None:
    gen = datagen()
    batches, position = [], 0
    for size in sizes:
        batch, position = gen.read(0, position, size)
        batches.append(batch)
    got = pa.Table.from_batches(batches, schema=gen.schema)
    assert got.equals(ROWS.slice(0, got.num_rows))
    assert got.num_rows == min(position, 3000)


@pytest.mark.parametrize("splits", [2, 3, 8])
def test_splits_partition_the_rows(splits: int) -> None:
    gen = datagen(OPTIONS | {"datagen.split.num": str(splits)})
    assert gen.splits == splits
    assert sum(gen.events_in(s) or 0 for s in range(splits)) == 3000
    parts = [read_all(gen, s, chunk=123) for s in range(splits)]
    assert pa.concat_tables(parts).sort_by("id").equals(ROWS)
    assert parts[1].column("id")[0].as_py() == 2  # split s holds rows s, s + n, ...


def test_default_split_count_is_the_callers() -> None:
    assert datagen(splits=6).splits == 6


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "options", "sqlstate", "words"),
    [
        ([], {}, "42P16", "columns"),
        ([("v", pa.int64())], {"fields.w.min": "1"}, "42703", "fields.w.min"),
        ([("v", pa.int64())], {"fields.v.mn": "1"}, "22023", "fields.v.mn"),
        ([("v", pa.int64())], {"fields.v.kind": "walk"}, "22023", "fields.v.kind"),
        ([("v", pa.int64())], {"fields.v.start": "1"}, "22023", "fields.v.start"),
        (
            [("v", pa.int64())],
            {"fields.v.kind": "sequence", "fields.v.min": "1"},
            "22023",
            "fields.v.min",
        ),
        ([("v", pa.int64())], {"fields.v.min": "5", "fields.v.max": "4"}, "22023", "fields.v.max"),
        (
            [("v", pa.int64())],
            {"fields.v.kind": "sequence", "fields.v.start": "5", "fields.v.end": "4"},
            "22023",
            "fields.v.end",
        ),
        ([("v", pa.int16())], {"fields.v.max": "40000"}, "22023", "fields.v.max"),
        ([("v", pa.int64())], {"fields.v.max": "ten"}, "22023", "fields.v.max"),
        ([("v", pa.float64())], {"fields.v.max": "nan"}, "22023", "fields.v.max"),
        ([("s", pa.string())], {"fields.s.kind": "sequence"}, "22023", "fields.s.kind"),
        ([("s", pa.string())], {"fields.s.length": "-1"}, "22023", "fields.s.length"),
        ([("s", pa.string())], {"fields.s.min": "1"}, "22023", "fields.s.min"),
        ([("t", pa.timestamp("us"))], {"fields.t.max_past": "forever"}, "22023", "max_past"),
        (
            [("t", pa.timestamp("us"))],
            {"fields.t.max_past_mode": "sideways"},
            "22023",
            "max_past_mode",
        ),
        ([("t", pa.timestamp("us"))], {"fields.t.basetime": "noon"}, "22023", "basetime"),
        ([("v", pa.int64())], {"fields.v.seed": "x"}, "22023", "fields.v.seed"),
        ([("v", pa.int64())], {"datagen.rows": "-5"}, "22023", "datagen.rows"),
        (
            [("v", pa.int64())],
            {"datagen.rows.per.second": "fast"},
            "22023",
            "datagen.rows.per.second",
        ),
        ([("v", pa.int64())], {"datagen.split.num": "0"}, "22023", "datagen.split.num"),
        ([("v", pa.int64())], {"datagen.rowz": "5"}, "22023", "datagen.rowz"),
        ([("v", pa.decimal128(10, 2))], {}, "0A000", "numeric"),
        ([("v", pa.int64()), ("v", pa.int32())], {}, "42701", '"v"'),
    ],
)
def test_refusals(
    columns: list[tuple[str, pa.DataType]], options: dict[str, str], sqlstate: str, words: str
) -> None:
    with pytest.raises(SqlError) as caught:
        make_generator("datagen", columns, options, 1)
    assert caught.value.sqlstate == sqlstate
    assert words in caught.value.message

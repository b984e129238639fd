"""The Nexmark generator: the 1:3:46 event mix, ids and hot ids, prices, channels,
event times start + i * gap, determinism over read sizes and split counts, bounded
sources, declared-column subsets, and the SQLSTATE of every refusal."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.sources import Generator, make_generator
from laminar_pg.engine.sources.nexmark import (
    HOT_CHANNELS,
    TABLE_FIELDS,
    US_CITIES,
    US_STATES,
    NexmarkGenerator,
)
from laminar_pg.errors import SqlError

EPOCH_2015 = int(datetime(2015, 7, 15, tzinfo=UTC).timestamp()) * 1_000_000
OFFSETS = {"person": (0, 1), "auction": (1, 4), "bid": (4, 50)}


def nexmark(
    table: str, columns: list[tuple[str, pa.DataType]] | None = None, **options: str
) -> Generator:
    opts = {"nexmark.table": table, **{f"nexmark.{k}": v for k, v in options.items()}}
    return make_generator("nexmark", columns or [], opts, 1)


def read_all(gen: Generator, split: int = 0, chunk: int = 10_000, limit: int = 10**9) -> pa.Table:
    """Every row of `split` up to position `limit`, read `chunk` events at a time."""
    batches = []
    position = 0
    while position < limit and not gen.exhausted(split, position):
        batch, position = gen.read(split, position, min(chunk, limit - position))
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=gen.schema)


def indices(table: str, events: int) -> npt.NDArray[np.int64]:
    """Global indices of `table`'s events among the first `events` (one split)."""
    lo, hi = OFFSETS[table]
    i = np.arange(events, dtype=np.int64)
    return i[(i % 50 >= lo) & (i % 50 < hi)]


def column(table: pa.Table, name: str) -> npt.NDArray[np.int64]:
    values = table.column(name)
    if pa.types.is_timestamp(values.type):
        values = values.cast(pa.int64())
    return np.asarray(values.to_numpy())


def micros(table: pa.Table, name: str) -> npt.NDArray[np.int64]:
    return column(table, name)


BIDS = read_all(nexmark("bid"), limit=50_000)
AUCTIONS = read_all(nexmark("auction"), limit=50_000)
PEOPLE = read_all(nexmark("person"), limit=50_000)


# --- the event mix and the ids ---------------------------------------------------------


def test_proportions_1_3_46() -> None:
    assert (PEOPLE.num_rows, AUCTIONS.num_rows, BIDS.num_rows) == (1_000, 3_000, 46_000)


def test_all_fields_in_order_when_no_column_is_declared() -> None:
    for table, fields in TABLE_FIELDS.items():
        gen = nexmark(table)
        assert gen.schema.names == list(fields)
        assert gen.schema.types == list(fields.values())
        assert gen.event_time_column == "date_time"


def test_person_and_auction_ids_follow_the_event_index() -> None:
    assert list(column(PEOPLE, "id")) == list(range(1000, 2000))
    assert list(column(AUCTIONS, "id")) == list(range(1000, 4000))


def test_event_time_is_start_plus_index_times_gap() -> None:
    for table, rows in (("bid", BIDS), ("auction", AUCTIONS), ("person", PEOPLE)):
        expected = EPOCH_2015 + indices(table, 50_000) * 100
        assert np.array_equal(micros(rows, "date_time"), expected), table


def test_start_time_and_event_gap_options() -> None:
    gen = nexmark("bid", start_time="2020-01-01 12:00:00+02:00", event_gap="1ms")
    rows = read_all(gen, limit=500)
    start = int(datetime(2020, 1, 1, 10, tzinfo=UTC).timestamp()) * 1_000_000
    assert np.array_equal(micros(rows, "date_time"), start + indices("bid", 500) * 1000)


def test_event_time_does_not_depend_on_seed_or_pacing() -> None:
    other = read_all(nexmark("bid", seed="99", events_per_second="10"), limit=50_000)
    assert np.array_equal(micros(other, "date_time"), micros(BIDS, "date_time"))
    assert not np.array_equal(column(other, "price"), column(BIDS, "price"))


def test_bid_auctions_are_in_flight_or_hot() -> None:
    i = indices("bid", 50_000)
    newest = (i // 50) * 3 + 2
    auction = column(BIDS, "auction") - 1000
    assert (auction >= np.maximum(newest - 100, 0)).all()
    assert (auction <= newest + 10).all()
    hot = auction == (newest // 100) * 100
    assert 0.48 < hot.mean() < 0.53  # 1/2 hot, plus the random ones that hit it


def test_bidders_are_active_people_or_hot() -> None:
    i = indices("bid", 50_000)
    people = i // 50 + 1
    bidder = column(BIDS, "bidder") - 1000
    assert (bidder >= people - np.minimum(people, 1000)).all()
    assert (bidder <= people + 9).all()
    hot = bidder == ((people - 1) // 100) * 100 + 1
    assert 0.73 < hot.mean() < 0.78  # 3/4 hot


def test_sellers_are_active_people_or_hot() -> None:
    i = indices("auction", 50_000)
    people = i // 50 + 1
    seller = column(AUCTIONS, "seller") - 1000
    assert (seller >= people - np.minimum(people, 1000)).all()
    assert (seller <= people + 9).all()
    hot = seller == ((people - 1) // 100) * 100
    assert 0.71 < hot.mean() < 0.80


def test_hot_auctions_dominate_the_counts() -> None:
    counts = pc.value_counts(BIDS.column("auction")).to_pylist()
    top = max(counts, key=lambda c: c["counts"])
    assert top["values"] % 100 == 0  # 1000 + a multiple of 100: a hot auction
    assert top["counts"] > 20 * np.median([c["counts"] for c in counts])


def test_prices_are_log_uniform_cents() -> None:
    for prices in (column(BIDS, "price"), column(AUCTIONS, "initial_bid")):
        assert prices.min() >= 100 and prices.max() <= 100_000_000
        decades = np.log10(prices / 100)
        assert abs(decades.mean() - 3.0) < 0.1
        assert np.histogram(decades, bins=6, range=(0, 6))[0].min() > len(prices) / 6 * 0.85
    assert (column(AUCTIONS, "reserve") > column(AUCTIONS, "initial_bid")).all()


def test_channels_and_their_urls() -> None:
    channels = BIDS.column("channel").to_pylist()
    urls = BIDS.column("url").to_pylist()
    hot = np.isin(channels, HOT_CHANNELS)
    assert 0.48 < hot.mean() < 0.52
    for name in HOT_CHANNELS:
        assert 0.11 < channels.count(name) / len(channels) < 0.14
    others = [c for c in channels if c not in HOT_CHANNELS]
    assert all(re.fullmatch(r"channel-\d{1,4}", c) for c in others)
    assert len(set(others)) > 8_000
    by_channel: dict[str, set[str]] = {}
    for channel, url in zip(channels, urls, strict=True):
        by_channel.setdefault(channel, set()).add(url)
    assert all(len(u) == 1 for u in by_channel.values())
    pattern = r"https://www\.nexmark\.com/[a-z_]{3,4}/[a-z_]{3,4}/[a-z_]{3,4}/item\.htm\?query=1"
    assert all(re.fullmatch(pattern + r"(&channel_id=\d+)?", u) for u in urls)
    with_id = [u for c, u in zip(channels, urls, strict=True) if c not in HOT_CHANNELS]
    assert 0.85 < np.mean(["&channel_id=" in u for u in with_id]) < 0.95


def test_people_look_like_people() -> None:
    rows = PEOPLE.to_pylist()
    for row in rows:
        first, last = row["name"].split(" ")
        assert first[0].isupper() and last[0].isupper()
        assert re.fullmatch(r"[a-z]([a-z ]*[a-z])?@[a-z]([a-z ]*[a-z])?\.com", row["email_address"])
        assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", row["credit_card"])
        assert row["city"] in US_CITIES and row["state"] in US_STATES
        assert re.fullmatch(r"[a-z]*", row["extra"])
    assert {r["state"] for r in rows} == set(US_STATES)
    sizes = [
        8
        + sum(len(r[k]) for k in ("name", "email_address", "credit_card", "city", "state", "extra"))
        for r in rows
    ]
    assert 190 < np.mean(sizes) < 210  # padded to 200 bytes on average


def test_auctions_look_like_auctions() -> None:
    rows = AUCTIONS.to_pylist()
    assert {r["category"] for r in rows} == {10, 11, 12, 13, 14}
    for row in rows:
        assert len(row["item_name"]) <= 19 and len(row["description"]) <= 99
        assert row["item_name"] == row["item_name"].strip()
        assert re.fullmatch(r"[a-z ]+", row["item_name"] + row["description"])
        gap = (row["expires"] - row["date_time"]).total_seconds()
        assert 0 < gap <= 2 * 1666 * 100e-6
    sizes = [48 + len(r["item_name"]) + len(r["description"]) + len(r["extra"]) for r in rows]
    assert 490 < np.mean(sizes) < 510


def test_bid_extra_pads_to_100_bytes() -> None:
    lengths = np.asarray(pc.utf8_length(BIDS.column("extra")).to_numpy())
    assert lengths.min() >= 54 and lengths.max() <= 81
    assert abs(32 + lengths.mean() - 100) < 1


# --- determinism -----------------------------------------------------------------------


@given(st.lists(st.integers(0, 700), min_size=1, max_size=30))
def test_rows_do_not_depend_on_read_sizes(sizes: list[int]) -> None:
    gen = nexmark("bid")
    batches, position = [], 0
    for size in sizes:
        batch, position = gen.read(0, position, size)
        batches.append(batch)
    got = pa.Table.from_batches(batches, schema=gen.schema)
    assert got.equals(BIDS.slice(0, got.num_rows))
    assert got.num_rows == len(indices("bid", position))


@pytest.mark.parametrize("table", ["person", "auction", "bid"])
@pytest.mark.parametrize("splits", [1, 2, 3, 7])
def test_splits_partition_the_events(table: str, splits: int) -> None:
    events = 12_345
    gen = nexmark(table, events=str(events), splits=str(splits))
    assert gen.splits == splits
    totals = [gen.events_in(s) for s in range(splits)]
    assert sum(t or 0 for t in totals) == events
    parts = [read_all(gen, s, chunk=777) for s in range(splits)]
    union = pa.concat_tables(parts).sort_by("date_time")
    single = read_all(nexmark(table, events=str(events)))
    assert union.equals(single)


def test_positions_map_to_blocks_of_50() -> None:
    gen = NexmarkGenerator("bid", splits=3)
    assert [gen.global_index(1, p) for p in (0, 49, 50, 100)] == [50, 99, 200, 350]
    batch, position = gen.read(1, 0, 50)
    assert position == 50
    assert np.array_equal(
        micros(pa.table(batch), "date_time"), EPOCH_2015 + np.arange(54, 100) * 100
    )
    assert gen.event_time_us(1, 50) == EPOCH_2015 + 200 * 100


@given(st.integers(1, 6), st.integers(1, 2_000))
def test_any_range_of_any_split_stands_alone(splits: int, start: int) -> None:
    gen = NexmarkGenerator("bid", splits=splits)
    split = start % splits
    alone, _ = gen.read(split, start, 120)
    whole, _ = gen.read(split, 0, start + 120)
    assert pa.table(alone).equals(pa.table(whole).slice(whole.num_rows - alone.num_rows))


# --- bounded sources, subsets ------------------------------------------------------------


def test_bounded_source_is_exhausted_at_its_last_event() -> None:
    gen = nexmark("bid", events="1010")
    batch, position = gen.read(0, 0, 5_000)
    assert (batch.num_rows, position) == (46 * 20 + 6, 1010)
    assert gen.exhausted(0, position) and not gen.exhausted(0, position - 1)
    empty, again = gen.read(0, position, 100)
    assert (empty.num_rows, again) == (0, position)
    assert empty.schema == gen.schema


def test_unbounded_source_is_never_exhausted() -> None:
    gen = nexmark("person")
    assert gen.events_in(0) is None and not gen.exhausted(0, 10**15)
    batch, position = gen.read(0, 10**12, 100)
    assert position == 10**12 + 100 and batch.num_rows == 2


def test_max_chunk_size_caps_a_read() -> None:
    gen = nexmark("bid", max_chunk_size="64")
    _, position = gen.read(0, 0, 1000)
    assert position == 64


def test_declared_subset_has_the_same_values() -> None:
    columns = [
        ("price", pa.int64()),
        ("url", pa.string()),
        ("date_time", pa.timestamp("us", tz="UTC")),
    ]
    gen = nexmark("bid", columns)
    assert gen.schema.names == ["price", "url", "date_time"]
    rows = read_all(gen, limit=50_000)
    assert rows.column("price").equals(BIDS.column("price"))
    assert rows.column("url").equals(BIDS.column("url"))
    assert rows.column("date_time").type.tz == "UTC"
    assert np.array_equal(micros(rows, "date_time"), micros(BIDS, "date_time"))
    no_time = nexmark("auction", [("extra", pa.string()), ("seller", pa.int64())])
    assert no_time.event_time_column is None
    rows = read_all(no_time, limit=50_000)
    assert rows.column("extra").equals(AUCTIONS.column("extra"))
    assert rows.column("seller").equals(AUCTIONS.column("seller"))


def test_options_reach_the_generator() -> None:
    gen = nexmark("bid", events_per_second="5000", seed="7")
    assert gen.events_per_second == 5000.0
    assert make_generator("nexmark", [], {"nexmark.table": "bid"}, 4).splits == 4


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connector", "columns", "options", "sqlstate", "words"),
    [
        ("kafka", [], {}, "0A000", "kafka"),
        ("postgres-cdc", [], {}, "0A000", "postgres-cdc"),
        ("file", [], {}, "0A000", "file"),
        ("nosuch", [], {}, "0A000", "nosuch"),
        ("nexmark", [], {}, "22023", "nexmark.table"),
        ("nexmark", [], {"nexmark.table": "bids"}, "22023", "bids"),
        ("nexmark", [], {"nexmark.table": "bid", "nexmark.evnts": "1"}, "22023", "nexmark.evnts"),
        ("nexmark", [], {"nexmark.table": "bid", "format": "json"}, "22023", "format"),
        ("nexmark", [], {"nexmark.table": "bid", "nexmark.seed": "x"}, "22023", "nexmark.seed"),
        (
            "nexmark",
            [],
            {"nexmark.table": "bid", "nexmark.events": "-1"},
            "22023",
            "nexmark.events",
        ),
        ("nexmark", [], {"nexmark.table": "bid", "nexmark.splits": "0"}, "22023", "nexmark.splits"),
        (
            "nexmark",
            [],
            {"nexmark.table": "bid", "nexmark.event_gap": "soon"},
            "22023",
            "event_gap",
        ),
        (
            "nexmark",
            [],
            {"nexmark.table": "bid", "nexmark.start_time": "today"},
            "22023",
            "start_time",
        ),
        (
            "nexmark",
            [],
            {"nexmark.table": "bid", "nexmark.events_per_second": "0"},
            "22023",
            "per_second",
        ),
        ("nexmark", [("nope", pa.int64())], {"nexmark.table": "bid"}, "42703", "nope"),
        ("nexmark", [("id", pa.int64())], {"nexmark.table": "bid"}, "42703", '"id"'),
        ("nexmark", [("price", pa.int32())], {"nexmark.table": "bid"}, "42804", "price"),
        ("nexmark", [("date_time", pa.string())], {"nexmark.table": "bid"}, "42804", "date_time"),
        ("nexmark", [("extra", pa.int64())], {"nexmark.table": "person"}, "42804", "extra"),
        ("nexmark", [("price", pa.int64())] * 2, {"nexmark.table": "bid"}, "42701", "price"),
    ],
)
def test_refusals(
    connector: str,
    columns: list[tuple[str, pa.DataType]],
    options: dict[str, str],
    sqlstate: str,
    words: str,
) -> None:
    with pytest.raises(SqlError) as caught:
        make_generator(connector, columns, options, 1)
    assert caught.value.sqlstate == sqlstate
    assert words in caught.value.message


def test_unknown_option_suggests_the_close_one() -> None:
    with pytest.raises(SqlError) as caught:
        make_generator("nexmark", [], {"nexmark.table": "bid", "nexmark.event": "1"}, 1)
    assert caught.value.hint is not None and '"nexmark.events"' in caught.value.hint


def test_read_refuses_a_split_out_of_range() -> None:
    with pytest.raises(ValueError, match="split"):
        nexmark("bid").read(1, 0, 10)

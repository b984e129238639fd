"""SourceReader: late events, watermarks, the end of a bounded source, and pacing.

The reader runs over real generators (nexmark; datagen with a random, out-of-order
timestamp column) and over a generator of given times (NULLs and exact ties included).
The twin applies DESIGN.md's late rule to the generator's rows directly, split by split
in position order: an event is late when its time is below the highest event time seen
earlier in its split minus the delay (NULL times are kept and move nothing). Whatever
the chunk sizes (varied between reads), the kept rows and `late_dropped` equal the
twin's; watermarks rise strictly, no row read after a watermark lies below it, a bounded
source ends with END_OF_TIME and `done`. Pacing is driven by explicit fake `now` values.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from laminar_pg.engine.messages import END_OF_TIME, Chunk, Watermark
from laminar_pg.engine.sources import Generator, make_generator
from laminar_pg.engine.sources_driver import SourceReader

Row = tuple[Any, ...]
BASETIME_US = 1_704_067_200_000_000  # 2024-01-01 00:00:00 UTC


def nexmark(events: int | None, splits: int, rate: float | None = None) -> Generator:
    options = {"nexmark.table": "bid", "nexmark.splits": str(splits)}
    if events is not None:
        options["nexmark.events"] = str(events)
    if rate is not None:
        options["nexmark.events_per_second"] = str(rate)
    return make_generator("nexmark", [], options, 1)


def datagen(rows: int, splits: int, max_past_us: int = 10_000_000, seed: int = 0,
            rate: float | None = None) -> Generator:
    """id = the row number (so row r is in split r % splits), ts random in the
    `max_past_us` before a fixed base time: out of order."""
    options = {
        "fields.id.kind": "sequence",
        "fields.id.start": "0",
        "fields.ts.basetime": "2024-01-01 00:00:00",
        "fields.ts.max_past": f"{max_past_us}us",
        "fields.ts.seed": str(seed),
        "datagen.rows": str(rows),
        "datagen.split.num": str(splits),
    }
    if rate is not None:
        options["datagen.rows.per.second"] = str(rate)
    return make_generator("datagen", [("id", pa.int64()), ("ts", pa.timestamp("us"))],
                          options, 1)


class GivenTimes(Generator):
    """A bounded generator of given event times per split (None: a NULL time), with the
    event's (split, position) as columns so each row is known."""

    def __init__(self, times: list[list[int | None]]) -> None:
        self.times = times
        self.schema = pa.schema([("split", pa.int64()), ("position", pa.int64()),
                                 ("ts", pa.timestamp("us"))])
        self.event_time_column = None
        self.events_per_second = None
        self.splits = len(times)

    def events_in(self, split: int) -> int | None:
        return len(self.times[split])

    def _columns(self, split: int, start: int, stop: int) -> list[pa.Array]:
        return [pa.array([split] * (stop - start), pa.int64()),
                pa.array(range(start, stop), pa.int64()),
                pa.array(self.times[split][start:stop], pa.int64()).cast(pa.timestamp("us"))]


# ------------------------------------------------------------------ the twin


def late_rule(times: Sequence[int | None], delay: int) -> list[bool]:
    """keep[i]: event i of one split, in position order, is not late."""
    keep = []
    highest: int | None = None
    for t in times:
        if t is None:
            keep.append(True)
            continue
        keep.append(highest is None or t >= highest - delay)
        highest = t if highest is None else max(highest, t)
    return keep


def split_rows(generator: Generator) -> list[list[Row]]:
    """Every split's rows in position order, read straight from the generator."""
    out = []
    for split in range(generator.splits):
        total = generator.events_in(split)
        assert total is not None
        batch, position = generator.read(split, 0, total)
        assert position == total
        out.append([tuple(r.values()) for r in batch.to_pylist()])
    return out


def kept_by_twin(rows_by_split: list[list[Row]], time_index: int,
                 delay: int) -> tuple[Counter[Row], int]:
    kept: Counter[Row] = Counter()
    dropped = 0
    for rows in rows_by_split:
        times = [None if r[time_index] is None else micros(r[time_index]) for r in rows]
        for row, keep in zip(rows, late_rule(times, delay), strict=True):
            if keep:
                kept[row] += 1
            else:
                dropped += 1
    return kept, dropped


def micros(value: Any) -> int:
    """A timestamp from to_pylist as microseconds since the epoch."""
    return int(pa.scalar(value, pa.timestamp("us")).cast(pa.int64()).as_py())


# ------------------------------------------------------------------ reading


class Read:
    """Everything one reader produced, read to its end."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.watermarks: list[int] = []
        self.reads = 0


def read_to_end(reader: SourceReader, chunk_sizes: Sequence[int], time_index: int | None,
                split_of: Callable[[Row], int] | None = None, limit: int = 100_000) -> Read:
    """Read with the chunk size cycling through `chunk_sizes`, checking on the way that
    watermarks rise and that no row read after a watermark lies below it. With
    `split_of` (the split a row came from), also that the watermark is the lowest
    highest time of the splits still being read, minus the delay."""
    out = Read()
    sizes = itertools.cycle(chunk_sizes)
    highest: dict[int, int] = {}
    while not reader.done:
        out.reads += 1
        assert out.reads < limit, "the reader never finishes"
        reader.max_chunk = next(sizes)
        chunk, watermark = reader.read(0.0)
        if chunk is not None:
            assert isinstance(chunk, Chunk) and chunk.append_only and chunk.num_rows > 0
            rows = [tuple(r.values()) for r in chunk.batch.to_pylist()]
            if time_index is not None and out.watermarks:
                for row in rows:
                    t = row[time_index]
                    assert t is None or micros(t) >= out.watermarks[-1], (
                        f"row {row} read after watermark {out.watermarks[-1]}")
            out.rows.extend(rows)
            if split_of is not None and time_index is not None:
                for row in rows:
                    if row[time_index] is not None:
                        t, split = micros(row[time_index]), split_of(row)
                        highest[split] = max(highest.get(split, t), t)
        if split_of is not None and not reader.done:
            reading = [s for s, finished in enumerate(reader.finished) if not finished]
            if not all(s in highest for s in reading):
                assert watermark is None  # a split still being read has shown no time
            else:
                due = min(highest[s] for s in reading) - reader.delay
                if watermark is not None:
                    assert watermark.value == due
                else:
                    assert out.watermarks and due <= out.watermarks[-1]
        if watermark is not None:
            assert isinstance(watermark, Watermark)
            assert not out.watermarks or watermark.value > out.watermarks[-1]
            out.watermarks.append(watermark.value)
            assert reader.watermark == watermark.value or reader.time_column is None
    assert out.watermarks and out.watermarks[-1] == END_OF_TIME
    assert reader.read(0.0) == (None, None)  # a finished reader reads nothing more
    assert reader.status == "finished"
    return out


chunk_sizes = st.lists(st.one_of(st.integers(1, 8), st.integers(9, 400)), min_size=1,
                       max_size=4)
delays = st.one_of(st.just(0), st.integers(1, 3_000_000), st.integers(0, 12_000_000))


@given(st.integers(0, 400), st.integers(1, 3), delays, st.integers(0, 3), chunk_sizes)
def test_datagen_out_of_order_times_drop_the_late_rows_of_the_twin(
        rows: int, splits: int, delay: int, seed: int, sizes: list[int]) -> None:
    generator = datagen(rows, splits, seed=seed)
    reader = SourceReader(generator, 1, delay)
    got = read_to_end(reader, sizes, 1, split_of=lambda row: int(row[0]) % splits)
    # the twin: one split's rows in row order, row r in split r % splits
    everything = split_rows(datagen(rows, 1, seed=seed))[0]
    by_split = [[row for row in everything if row[0] % splits == s] for s in range(splits)]
    kept, dropped = kept_by_twin(by_split, 1, delay)
    assert Counter(got.rows) == kept
    assert len(got.rows) == len(set(got.rows))
    assert reader.late_dropped == dropped
    assert reader.rows_read == reader.events_read == rows


@given(st.integers(0, 1200), st.integers(1, 4), delays, chunk_sizes)
def test_nexmark_reader_keeps_the_rows_of_the_twin(events: int, splits: int, delay: int,
                                                   sizes: list[int]) -> None:
    generator = nexmark(events, splits)
    time_index = generator.schema.names.index("date_time")
    reader = SourceReader(generator, time_index, delay)
    got = read_to_end(reader, sizes, time_index)
    kept, dropped = kept_by_twin(split_rows(nexmark(events, splits)), time_index, delay)
    assert Counter(got.rows) == kept
    assert reader.late_dropped == dropped == 0  # a nexmark split's times only rise
    assert reader.events_read == events


split_times = st.lists(st.one_of(st.none(), st.integers(-50, 50)), max_size=30)


@given(st.lists(split_times, min_size=1, max_size=3), st.integers(0, 20), chunk_sizes)
def test_given_times_with_nulls_and_ties_follow_the_late_rule(
        times: list[list[int | None]], delay: int, sizes: list[int]) -> None:
    reader = SourceReader(GivenTimes(times), 2, delay)
    got = read_to_end(reader, sizes, 2, split_of=lambda row: int(row[0]))
    kept, dropped = kept_by_twin(split_rows(GivenTimes(times)), 2, delay)
    assert Counter(got.rows) == kept
    assert reader.late_dropped == dropped
    # within a split, rows come out in position order
    for split in range(len(times)):
        positions = [row[1] for row in got.rows if row[0] == split]
        assert positions == sorted(positions)


def test_the_late_rule_compares_with_earlier_events_only() -> None:
    # 10 then 4 (late: 4 < 10 - 5) then 5 (not late: 5 == 10 - 5) then NULL, then 3
    # (late); in one chunk or one event per chunk alike.
    for size in (1, 2, 100):
        reader = SourceReader(GivenTimes([[10, 4, 5, None, 3, 12]]), 2, 5)
        got = read_to_end(reader, [size], 2)
        assert [row[1] for row in got.rows] == [0, 2, 3, 5]
        assert reader.late_dropped == 2
        if size == 1:
            assert got.watermarks == [5, END_OF_TIME]


def test_watermark_is_the_lowest_split_maximum_minus_the_delay() -> None:
    reader = SourceReader(GivenTimes([[100, 90, 200], [50, 300, 310]]), 2, 10)
    reader.max_chunk = 2  # one event per split per read (budget // splits)
    assert reader.read(0.0)[1] is None  # split 1 has shown nothing yet
    assert reader.read(0.0)[1] == Watermark(40)  # min(100, 50) - 10
    assert reader.read(0.0)[1] is None  # split 0 still at 100
    assert reader.read(0.0)[1] == Watermark(90)  # min(100, 300) - 10
    # split 0 ends: its maximum no longer holds the watermark back
    assert reader.read(0.0)[1] == Watermark(290)
    assert reader.read(0.0)[1] == Watermark(END_OF_TIME)
    assert reader.done and reader.late_dropped == 0


def test_a_bounded_source_without_a_time_column_ends_with_end_of_time() -> None:
    reader = SourceReader(datagen(50, 2), None, 0)
    got = read_to_end(reader, [7], None)
    assert got.watermarks == [END_OF_TIME]
    assert sorted(row[0] for row in got.rows) == list(range(50))
    assert reader.late_dropped == 0


def test_an_unbounded_source_never_finishes_and_its_watermark_rises() -> None:
    generator = nexmark(None, 2)
    time_index = generator.schema.names.index("date_time")
    reader = SourceReader(generator, time_index, 1000, max_chunk=64)
    marks = []
    for _ in range(200):
        _, watermark = reader.read(0.0)
        if watermark is not None:
            marks.append(watermark.value)
    assert not reader.done and reader.status == "running"
    assert len(marks) > 10 and marks == sorted(set(marks)) and marks[-1] < END_OF_TIME


# ------------------------------------------------------------------ pacing


def read_until_budget_spent(reader: SourceReader, now: float) -> list[Row]:
    rows: list[Row] = []
    for _ in range(100_000):
        if reader.done or reader.budget(now) == 0:
            return rows
        chunk, _ = reader.read(now)
        if chunk is not None:
            rows.extend(tuple(r.values()) for r in chunk.batch.to_pylist())
    raise AssertionError("the budget is never spent")


@given(st.integers(0, 300), st.integers(1, 3), st.sampled_from([10.0, 250.0, 1000.0, 7e4]),
       st.lists(st.integers(0, 120), min_size=1, max_size=6), st.integers(1, 64))
def test_pacing_limits_what_read_returns(rows: int, splits: int, rate: float,
                                         steps: list[int], max_chunk: int) -> None:
    generator = datagen(rows, splits, rate=rate)
    reader = SourceReader(generator, 1, 1_000_000, max_chunk=max_chunk)
    assert reader.read(reader.started - 1.0) == (None, None)  # before the start: nothing
    assert reader.read(reader.started) == (None, None)  # no time has passed
    allowed = 0
    got: list[Row] = []
    for step in steps:
        allowed += step
        now = reader.started + (allowed + 0.5) / rate  # half an event past `allowed`
        got.extend(read_until_budget_spent(reader, now))
        assert reader.events_read == min(allowed, rows)
        assert reader.read(now) == (None, None)
        assert reader.events_read == min(allowed, rows)  # the same `now` allows no more
    got.extend(read_until_budget_spent(reader, reader.started + 1e6))
    assert reader.done and reader.events_read == rows
    # pacing decides only when rows are read, never which
    unpaced = SourceReader(datagen(rows, splits), 1, 1_000_000)
    assert Counter(got) == Counter(read_to_end(unpaced, [max_chunk], 1).rows)
    assert reader.late_dropped == unpaced.late_dropped


def test_nexmark_pacing_counts_events_not_rows() -> None:
    generator = nexmark(1000, 1, rate=100.0)
    time_index = generator.schema.names.index("date_time")
    reader = SourceReader(generator, time_index, 0, max_chunk=1000)
    rows = read_until_budget_spent(reader, reader.started + 5.055)  # 505 events allowed
    assert reader.events_read == 505
    # events 0..504: a bid is offset 4..49 of every 50 (10 cycles and 5 bids)
    assert len(rows) == 10 * 46 + 1
    rows += read_until_budget_spent(reader, reader.started + 1e6)
    assert reader.done and reader.events_read == 1000 and len(rows) == 20 * 46

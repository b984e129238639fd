"""Freshness: how long until a write, or a generated event, shows in a view and in SUBSCRIBE.

    python bench/freshness.py                          # about 2 minutes
    laminar-pg bench freshness --insert-seconds 10 --event-seconds 10 --intervals 50ms

For each barrier interval of `--intervals` (default: the server's default, 200ms, then
50ms), one `laminar-pg serve --workers 1` server is started here, and on it:

- load, running the whole time: a nexmark source `bid` paced at `--rate` events/s
  (100,000; unbounded; `nexmark.event_gap` = 1 / rate, so that event time advances as
  fast as the wall clock, and `nexmark.start_time` = the wall clock just before CREATE)
  read by the view `fresh_events AS SELECT max(date_time) AS newest, count(*) AS bids
  FROM bid`. `laminar_catalog.source_metrics` is sampled every 100 ms (events read).
- inserts (`--insert-seconds`, 25): one client INSERTs into `fresh_t (id, sent_us)` in
  autocommit, one row at a time, id 1, 2, 3, ... and sent_us = the wall clock (us) just
  before sending, waiting for each acknowledgement, then a random pause (uniform, mean
  `--insert-gap`, 20 ms, so that inserts land at every phase of the barrier cycle).
  The view is `fresh_v AS SELECT id, sent_us FROM fresh_t`.
  - poll: another client runs `SELECT max(id) FROM fresh_v` every `--poll-interval`
    (5 ms); an insert is visible at the receive time of the first answer >= its id (one
    writer, ids in order: max(id) >= k means k is in). Figure: that time - sent_us.
  - subscribe: a third client reads `COPY (SUBSCRIBE fresh_v WITH (PROGRESS)) TO STDOUT`
    (psycopg, `copy.rows()`); figure: the time the client receives the row of id k -
    sent_us of k.
  - ack: the INSERT's own round trip (sent to acknowledged), for scale.
- events (`--event-seconds`, 25), the same load:
  - subscribe, newest event of each epoch: `COPY (SUBSCRIBE fresh_events WITH (PROGRESS))
    TO STDOUT`; at every change received, the wall clock at receipt minus the row's
    `newest` (the newest bid's event time). The snapshot rows are left out.
  - subscribe, every event: a change whose newest is n, after one whose newest was p,
    carries every event of (p, n], each waiting (receipt - its time): one figure per
    millisecond of event time (100 events at 100k/s), so epochs weigh by their events.
    The counterpart of the insert figure (the newest event is the luckiest one).
  - poll first sight, newest event / every event: `SELECT newest FROM fresh_events` every
    `--poll-interval`; the same two figures at the first answer showing a new value.
  - view staleness, any read: the same answers, every one: how old the newest event is that
    a reader sees at a random moment (not a delivery time).

  Event time is synthetic: event i happens at start_time + i / rate, while the source reads
  event i at (its reader's start) + i / rate. The reader starts a little after start_time
  (CREATE SOURCE and CREATE MATERIALIZED VIEW take time): offset d. So "wall - event time"
  is the time from the source reading the event to the client receiving it, plus d. d is
  bounded from above with the source's own counter: min over samples of (sample received
  - start_time - events / rate) (at every sample the reader has read no more than
  rate * (time since its start) events). Every event row of the table has that bound
  subtracted (an underestimate by the time between the reader's last read and the sample,
  a few ms); `--json` keeps them raw too. A reader that fell behind its pacing would still
  show: its lag grows, d does not.

Percentiles are nearest-rank. The table (Markdown, stdout) gives count, p50, p99 and max
per measurement and barrier interval; stderr has the machine, the load average and, per
server, the epoch period the subscriber saw (time between PROGRESS rows) and the rate the
source reached. `--json PATH` writes everything. The machine may be shared: run it a few
times before believing a p99.
"""

# No `from __future__ import annotations`: `laminar-pg bench` loads this file by path, and
# dataclasses then cannot resolve string annotations.
import argparse
import datetime
import itertools
import json
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if not __package__:  # run by path (`python bench/freshness.py`, `laminar-pg bench freshness`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench import harness
from laminar_pg.testing.server import LaminarServer

BID_COLUMNS = ("auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, "
               "date_time TIMESTAMP, extra VARCHAR")
METRICS_PERIOD = 0.1  # seconds between samples of laminar_catalog.source_metrics
DEFAULT_INTERVAL = "default"  # no --barrier-interval flag: the server's default (200ms)


@dataclass(frozen=True)
class Settings:
    insert_seconds: float = 25.0
    event_seconds: float = 25.0
    warmup: float = 3.0
    rate: int = 100_000
    insert_gap: float = 0.02
    poll_interval: float = 0.005
    grace: float = 3.0
    intervals: tuple[str, ...] = (DEFAULT_INTERVAL, "50ms")

    @property
    def event_gap_us(self) -> int:
        return max(1, round(1e6 / self.rate))


@dataclass
class Series:
    """Latencies of one measurement, in seconds."""

    name: str
    values: list[float] = field(default_factory=list)
    note: str = ""
    event_time: bool = False  # wall clock - event time: includes the offset d

    def percentile(self, p: float) -> float | None:
        if not self.values:
            return None
        ordered = sorted(self.values)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def summary(self) -> dict[str, object]:
        return {"count": len(self.values), "p50_ms": ms(self.percentile(50)),
                "p99_ms": ms(self.percentile(99)),
                "max_ms": ms(max(self.values) if self.values else None), "note": self.note}


@dataclass
class ServerRun:
    """Everything measured on one server (one barrier interval)."""

    interval: str
    series: list[Series] = field(default_factory=list)
    raw: list[Series] = field(default_factory=list)  # event-time series before minus d
    load_before: float = 0.0
    load_after: float = 0.0
    source_offset: float | None = None  # d, an upper bound, seconds
    source_rate: float | None = None  # events/s over the measured phases
    epoch_period: float | None = None  # median seconds between PROGRESS rows
    progress_repeated: int = 0  # PROGRESS rows whose timestamp did not rise
    stamps_decreased: int = 0  # rows whose laminar_timestamp went down
    missed: int = 0  # inserts never seen within the grace period
    notes: list[str] = field(default_factory=list)


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def now() -> float:
    return time.time()


def parse_event_time(value: str | datetime.datetime) -> float:
    """A TIMESTAMP (its text, or as psycopg gives it; UTC, as the nexmark source makes
    it) as Unix seconds."""
    moment = value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(value)
    return moment.replace(tzinfo=datetime.UTC).timestamp()


# --------------------------------------------------------------------------- clients


class Subscriber:
    """`COPY (SUBSCRIBE view WITH (PROGRESS)) TO STDOUT` on a thread of its own.

    Keeps (receive time, row) of every data row after the snapshot and (receive time,
    epoch) of every PROGRESS row; `stop` cancels the statement (how a client ends it)."""

    def __init__(self, dsn: str, view: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.view = view
        self.rows: list[tuple[float, tuple[Any, ...]]] = []
        self.progress: list[tuple[float, int]] = []
        self.stamps_decreased = 0
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._stopping = False
        self.thread = threading.Thread(target=self._run, name=f"subscribe-{view}", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError(f"SUBSCRIBE {self.view}: no PROGRESS row in {timeout}s: "
                               f"{self.error!r}")

    def _run(self) -> None:
        last = -1
        try:
            sql = f"COPY (SUBSCRIBE {self.view} WITH (PROGRESS)) TO STDOUT"
            with self.conn.cursor().copy(sql) as copy:
                for row in copy.rows():
                    received = now()
                    stamp = int(row[0])
                    if stamp < last:
                        self.stamps_decreased += 1
                    last = stamp
                    if row[1] == "t":
                        self.progress.append((received, stamp))
                        self.ready.set()
                    elif self.ready.is_set():  # rows before the first PROGRESS: the snapshot
                        self.rows.append((received, tuple(row)))
        except psycopg.errors.QueryCanceled:
            if not self._stopping:
                raise
        except BaseException as exc:  # reported by the main thread
            self.error = exc
            self.ready.set()

    def stop(self) -> None:
        self._stopping = True
        self.conn.cancel()
        self.thread.join(30)
        self.conn.close()
        if self.error is not None:
            raise RuntimeError(f"SUBSCRIBE {self.view} failed: {self.error!r}")


class Poller:
    """Runs one query every `interval` on a thread of its own: (sent, received, value)."""

    def __init__(self, dsn: str, sql: str, interval: float) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.sql = sql
        self.interval = interval
        self.answers: list[tuple[float, float, Any]] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="poll", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                sent = now()
                row = self.conn.execute(self.sql).fetchone()
                self.answers.append((sent, now(), None if row is None else row[0]))
                self.stopping.wait(self.interval)
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(30)
        self.conn.close()
        if self.error is not None:
            raise RuntimeError(f"polling {self.sql!r} failed: {self.error!r}")


def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return done()


# --------------------------------------------------------------------------- phases


def setup(conn: psycopg.Connection[Any], settings: Settings) -> float:
    """The table, its view and the load (source and view); returns start_time (Unix s)."""
    conn.execute("CREATE TABLE fresh_t (id bigint PRIMARY KEY, sent_us bigint)")
    conn.execute("CREATE MATERIALIZED VIEW fresh_v AS SELECT id, sent_us FROM fresh_t")
    start = datetime.datetime.now(datetime.UTC)
    text = start.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    conn.execute(f"CREATE SOURCE bid ({BID_COLUMNS}) WITH (connector = 'nexmark', "
                 f"nexmark.table = 'bid', nexmark.events_per_second = '{settings.rate}', "
                 f"nexmark.event_gap = '{settings.event_gap_us}us', "
                 f"nexmark.start_time = '{text}')")
    conn.execute("CREATE MATERIALIZED VIEW fresh_events AS SELECT max(date_time) AS newest, "
                 "count(*) AS bids FROM bid")
    return start.timestamp()


def sample_source(dsn: str, stop: threading.Event,
                  samples: list[tuple[float, float, int]]) -> None:
    """(sent, received, events read) of the source `bid` every METRICS_PERIOD."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            sent = now()
            row = conn.execute("SELECT events FROM laminar_catalog.source_metrics "
                               "WHERE name = 'bid'").fetchone()
            if row is not None and row[0] is not None:
                samples.append((sent, now(), int(row[0])))
            stop.wait(METRICS_PERIOD)


def insert_phase(dsn: str, settings: Settings, run: ServerRun) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(1, 21):  # warm-up: plans, the view's first changes (negative ids)
            conn.execute("INSERT INTO fresh_t VALUES (%s, %s)", (-i, 0))
        conn.execute("FLUSH")
        sub = Subscriber(dsn, "fresh_v")
        sub.start()
        poller = Poller(dsn, "SELECT max(id) FROM fresh_v", settings.poll_interval)
        poller.start()
        sent: dict[int, float] = {}
        acks: list[float] = []
        rng = random.Random(7)
        deadline = now() + settings.insert_seconds
        next_id = 1
        try:
            while now() < deadline:
                t = now()
                conn.execute("INSERT INTO fresh_t VALUES (%s, %s)", (next_id, int(t * 1e6)))
                acks.append(now() - t)
                sent[next_id] = t
                next_id += 1
                time.sleep(rng.uniform(0, 2 * settings.insert_gap))
            last = next_id - 1

            def all_seen() -> bool:
                polled = [v for _, _, v in poller.answers[-1:] if v is not None]
                return bool(polled) and polled[0] >= last and any(
                    int(r[3]) == last for _, r in sub.rows[-5:])

            wait_until(all_seen, settings.grace)
        finally:
            poller.stop()
            sub.stop()
    polled = Series("insert -> view (poll SELECT)")
    seen = 0
    for _, received, value in poller.answers:
        top = -1 if value is None else int(value)
        while seen < top:
            seen += 1
            polled.values.append(received - sent[seen])
    subscribed = Series("insert -> SUBSCRIBE row")
    got: set[int] = set()
    for received, row in sub.rows:
        ident, diff, sent_us = int(row[3]), int(row[2]), int(row[4])
        if diff > 0 and ident > 0 and ident not in got:
            got.add(ident)
            subscribed.values.append(received - sent_us / 1e6)
    run.missed = (len(sent) - len(polled.values)) + (len(sent) - len(got))
    if run.missed:
        run.notes.append(f"{len(sent) - len(polled.values)} inserts never seen by polling, "
                         f"{len(sent) - len(got)} never in SUBSCRIBE, after {settings.grace}s")
    run.series += [polled, subscribed, Series("INSERT acknowledged (round trip)", acks),
                   Series("poll SELECT max(id) round trip",
                          [r - t for t, r, _ in poller.answers])]
    record_progress(sub, run)


def record_progress(sub: Subscriber, run: ServerRun) -> None:
    epochs = [e for _, e in sub.progress]
    run.progress_repeated += sum(1 for a, b in itertools.pairwise(epochs) if b <= a)
    run.stamps_decreased += sub.stamps_decreased
    gaps = sorted(b[0] - a[0] for a, b in itertools.pairwise(sub.progress))
    if gaps and run.epoch_period is None:
        run.epoch_period = gaps[len(gaps) // 2]


def event_phase(dsn: str, settings: Settings, run: ServerRun) -> None:
    sub = Subscriber(dsn, "fresh_events")
    sub.start()
    poller = Poller(dsn, "SELECT newest FROM fresh_events", settings.poll_interval)
    poller.start()
    try:
        time.sleep(settings.event_seconds)
    finally:
        poller.stop()
        sub.stop()
    newest = [(received, parse_event_time(row[3])) for received, row in sub.rows
              if int(row[2]) > 0 and row[3] is not None]
    changes: list[tuple[float, float]] = []  # poll answers that show a new value
    anyread = Series("view staleness: poll SELECT, any read (wall - newest)", event_time=True)
    previous: Any = poller.answers[0][2] if poller.answers else None
    for _, received, value in poller.answers:
        if value is None:
            continue
        anyread.values.append(received - parse_event_time(value))
        if value != previous:
            changes.append((received, parse_event_time(value)))
        previous = value
    run.series += [
        Series("event -> SUBSCRIBE, newest event of each epoch", newest_ages(newest), "",
               True),
        Series("event -> SUBSCRIBE, every event", every_event(newest), "", True),
        Series("event -> view: poll SELECT first sight, newest event", newest_ages(changes),
               "", True),
        Series("event -> view: poll SELECT first sight, every event", every_event(changes),
               "", True),
        anyread,
        Series("poll SELECT newest round trip", [r - t for t, r, _ in poller.answers]),
    ]
    record_progress(sub, run)


def newest_ages(seen: list[tuple[float, float]]) -> list[float]:
    """(received, newest event time) -> how old the newest event was when it arrived."""
    return [received - event for received, event in seen]


def every_event(seen: list[tuple[float, float]], step: float = 0.001) -> list[float]:
    """Every event's wait, not only the newest one's: an answer received at r whose newest
    event time is n, after one whose newest was p, brought the events of (p, n], each
    waiting r - (its time). One figure per `step` of event time (100 events at 100k/s),
    so that each epoch counts by the events it carried. The first answer has no p."""
    out: list[float] = []
    for (_, before), (received, event) in itertools.pairwise(seen):
        k = math.floor(before / step) + 1
        while k * step <= event:
            out.append(received - k * step)
            k += 1
    return out


def minus(series: Series, offset: float) -> Series:
    return Series(series.name, [v - offset for v in series.values],
                  f"minus d = {offset * 1000:.1f} ms")


def measure(settings: Settings, interval: str) -> ServerRun:
    run = ServerRun(interval, load_before=os.getloadavg()[0])
    args = [] if interval == DEFAULT_INTERVAL else ["--barrier-interval", interval]
    with LaminarServer(extra_args=args) as server:
        print(f"server: laminar_pg (pid {server.pid}) on :{server.port}, --workers 1 "
              f"{' '.join(args) or '(default --barrier-interval)'}", file=sys.stderr, flush=True)
        stop = threading.Event()
        samples: list[tuple[float, float, int]] = []
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            start_time = setup(conn, settings)
        sampler = threading.Thread(target=sample_source, args=(server.dsn, stop, samples),
                                   daemon=True)
        sampler.start()
        try:
            time.sleep(settings.warmup)
            measured_from = len(samples)
            insert_phase(server.dsn, settings, run)
            event_phase(server.dsn, settings, run)
        finally:
            stop.set()
            sampler.join(10)
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            status = conn.execute("SELECT name, status, error FROM "
                                  "laminar_catalog.view_metrics").fetchall()
        bad = [row for row in status if row[1] not in ("running", None)]
        if bad:
            run.notes.append(f"views not running at the end: {bad}")
    if samples:
        offset = min(received - start_time - events / settings.rate
                     for _, received, events in samples)
        run.source_offset = offset
        phase = samples[measured_from:] or samples
        if len(phase) > 1:
            run.source_rate = (phase[-1][2] - phase[0][2]) / (phase[-1][1] - phase[0][1])
        run.raw = [s for s in run.series if s.event_time]
        run.series = [minus(s, offset) if s.event_time else s for s in run.series]
    run.load_after = os.getloadavg()[0]
    return run


# --------------------------------------------------------------------------- output


def label(interval: str) -> str:
    return "200ms (default)" if interval == DEFAULT_INTERVAL else interval


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.1f}"


def format_table(runs: Sequence[ServerRun]) -> str:
    lines = ["| barrier interval | measurement | count | p50 ms | p99 ms | max ms |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for run in runs:
        for s in run.series:
            top = max(s.values) if s.values else None
            lines.append(f"| {label(run.interval)} | {s.name} | {len(s.values):,} "
                         f"| {fmt(s.percentile(50))} | {fmt(s.percentile(99))} | {fmt(top)} |")
    return "\n".join(lines)


def describe(run: ServerRun) -> str:
    parts = [f"{label(run.interval)}: load average {run.load_before:.2f} -> {run.load_after:.2f}"]
    if run.epoch_period is not None:
        parts.append(f"epoch period seen by the subscriber (median) {run.epoch_period * 1000:.1f} ms")
    if run.source_rate is not None:
        parts.append(f"source read {run.source_rate:,.0f} events/s")
    if run.source_offset is not None:
        parts.append(f"source start offset d <= {run.source_offset * 1000:.1f} ms "
                     "(subtracted from the event rows; --json has them raw)")
    parts.append(f"PROGRESS timestamps not rising {run.progress_repeated}, laminar_timestamp "
                 "decreased "
                 f"{run.stamps_decreased} times")
    return "; ".join(parts + run.notes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--insert-seconds", type=float, default=25.0,
                        help="inserting, per server")
    parser.add_argument("--event-seconds", type=float, default=25.0,
                        help="following the nexmark view, per server")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds between CREATE and the first measurement")
    parser.add_argument("--rate", type=int, default=100_000, help="nexmark events/s (load)")
    parser.add_argument("--insert-gap", type=float, default=0.02,
                        help="mean pause between inserts, seconds (uniform 0..2x)")
    parser.add_argument("--poll-interval", type=float, default=0.005,
                        help="pause between polling SELECTs, seconds")
    parser.add_argument("--grace", type=float, default=3.0,
                        help="how long to wait for the last insert to show, seconds")
    parser.add_argument("--intervals", action="append", default=[], metavar="DURATIONS",
                        help="barrier intervals, comma-separated (repeatable); 'default' is "
                             "the server's own (200ms); default: default,50ms")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    intervals = tuple(n.strip() for item in args.intervals for n in item.split(",") if n.strip())
    if min(args.insert_seconds, args.event_seconds, args.insert_gap, args.poll_interval) <= 0 \
            or args.rate <= 0 or args.warmup < 0 or args.grace < 0:
        parser.error("durations, gaps and --rate must be positive")
    if 1_000_000 % args.rate:
        parser.error("--rate must divide 1,000,000 (event time = 1 / rate apart, in whole us)")
    settings = Settings(args.insert_seconds, args.event_seconds, args.warmup, args.rate,
                        args.insert_gap, args.poll_interval, args.grace,
                        intervals or Settings.intervals)
    started = datetime.datetime.now(datetime.UTC)
    machine = harness.machine_description({"psycopg": psycopg.__version__})
    harness.print_machine(machine)
    runs: list[ServerRun] = []
    with harness.stop_on_interrupt() as state:
        for interval in settings.intervals:
            runs.append(measure(settings, interval))
            print(describe(runs[-1]), file=sys.stderr, flush=True)
    print(f"\nfreshness, {started:%Y-%m-%d %H:%M} UTC, {machine['cpus']} CPUs "
          f"({machine['cpu_model']}), nexmark load {settings.rate:,} events/s, "
          f"polling every {settings.poll_interval * 1000:g} ms\n")
    print(format_table(runs))
    print()
    for run in runs:
        print(f"- {describe(run)}")
    if args.json:
        args.json.write_text(json.dumps({
            "started": started.isoformat(), "machine": machine,
            "settings": {**settings.__dict__, "intervals": list(settings.intervals)},
            "interrupted": state.interrupted,
            "runs": [{"interval": r.interval, "load_before": r.load_before,
                      "load_after": r.load_after, "source_offset_s": r.source_offset,
                      "source_rate": r.source_rate, "epoch_period_s": r.epoch_period,
                      "progress_repeated": r.progress_repeated, "stamps_decreased": r.stamps_decreased,
                      "missed": r.missed, "notes": r.notes,
                      "series": {s.name: s.summary() for s in r.series},
                      "raw_event_time_series": {s.name: s.summary() for s in r.raw}}
                     for r in runs],
        }, indent=2) + "\n")
    return 1 if state.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())

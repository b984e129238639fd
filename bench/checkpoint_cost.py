"""What periodic checkpoints cost the pipeline (issue 7: throughput >= 90%, p99 +100 ms at most).

    python bench/checkpoint_cost.py                        # 3 pairs of 40 s runs, about 5 minutes
    laminar-pg bench checkpoint_cost --rounds 1 --seconds 25
    python bench/checkpoint_cost.py --interval 5s --rounds 5 --json /tmp/ckpt.json

Runs alternate between `laminar-pg serve --workers 1 --checkpoint-interval 0` ("off": no
periodic checkpoint; a CHECKPOINT statement would still take one, none is sent) and
`--checkpoint-interval <--interval>` ("on", default 10s): off, on, off, on, ... for
`--rounds` pairs, so that drift on a shared machine falls on both sides alike. Every run is
a fresh server on a fresh data directory, and lasts `--seconds` (40: several checkpoints)
from the moment its views exist.

Workload: unbounded, unpaced (as fast as the pipeline takes them) nexmark sources `person`,
`auction` and `bid` (every column, `--event-gap` apart in event time, 1 ms: 10 s windows hold
10,000 events and close as the run goes; 4 s watermark delay), read by views with real,
growing state, as sql_tests/nexmark writes them:

- q5_window: bids per auction per HOP window (2 s slide, 10 s size): a hash aggregate
  whose groups (auction, window) keep coming;
- q16: per channel and day, counts with FILTER and count(DISTINCT bidder / auction): the
  distinct sets are state;
- q3: auctions of category 10 joined with their sellers in OR / ID / CA (both sides kept);
- q8: persons and auctions grouped per tumble window, joined on seller and window (its
  state is never cleaned up yet, so it grows all run);
- bids_per_auction: `SELECT auction, count(*) FROM bid GROUP BY auction`.

Every view reads its sources with readers of its own (a source read by three views is
read three times); q0 (every bid materialized) is left out on purpose: it tests memory.

Measured per run, after `--warmup` seconds (5) of the run are skipped:

- throughput: `laminar_catalog.pipeline_metrics.events_ingested` (events read by every
  reader) sampled every `--sample-period` (1 s); events/s from the first steady sample to
  the last.
- batch latency: a client runs `FLUSH` every `--flush-period` (200 ms; at once when the
  previous one took longer) on a connection of its own. FLUSH waits for the next barrier
  to pass every operator (and the pipeline takes a checkpoint's capture at a barrier,
  before it answers the barrier's waiters), so a stalled pipeline shows as a slow FLUSH.
  p50 / p99 / max of those round trips (nearest rank). Beside them, from pipeline_metrics
  at the end: max_cycle_seconds (the longest epoch's busy time, warm-up included) and
  the mean busy time per epoch.
- checkpoints ("on" runs): from `laminar_catalog.checkpoints`, the completed count (and
  failed ones), median duration_ms, median and max capture_ms (the time the pipeline
  thread spent capturing state: the stall itself), median bytes_written per checkpoint
  and the state_bytes of the last one. An "off" run must show none.

Summary: median throughput on / off with min-max, their ratio and the per-pair ratios
(target >= 0.90); the median over runs of the per-run p99 FLUSH latency on / off, with
min-max, and their difference (target <= 100 ms), plus the p99 of all runs' FLUSHes pooled.
PASS / FAIL per target. Per run are printed too: every view's state_bytes at the end
(laminar_catalog.view_metrics) and, with `--timeline`, events/s, the slowest FLUSH and the
checkpoints completed so far for each sample interval (where a checkpoint's stall shows).

Exit status 0 whatever the figures (a benchmark, not a test). A run that fails (the server
dies, a dataflow or a statement fails) is reported loudly and left out of every figure
(its pair out of the pair ratios), and the next run goes on. The machine may be shared:
the load average is printed per run; run it again before quoting a figure.
"""

# No `from __future__ import annotations` (as bench/nexmark.py: loaded by path).
import argparse
import datetime
import json
import math
import os
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if not __package__:  # run by path (`python bench/checkpoint_cost.py`, `laminar-pg bench`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench import harness
from bench.nexmark import QUERY_DIR
from bench.nexmark_joins import SQL_TYPES
from laminar_pg.engine.sources.nexmark import TABLE_FIELDS
from laminar_pg.testing.server import LaminarServer

THROUGHPUT_TARGET = 0.90  # "on" keeps at least this share of "off"'s events/s
LATENCY_TARGET_MS = 100.0  # p99 FLUSH latency may rise by at most this much
SOURCES = ("person", "auction", "bid")
# name -> CREATE MATERIALIZED VIEW (None: the file sql_tests/nexmark/<name>.sql, as written)
VIEWS: dict[str, str | None] = {
    "q5_window": None,
    "q16": None,
    "q3": None,
    "q8": None,
    "bids_per_auction": ("CREATE MATERIALIZED VIEW bids_per_auction AS "
                         "SELECT auction, count(*) AS bids FROM bid GROUP BY auction"),
}


@dataclass(frozen=True)
class Settings:
    seconds: float = 40.0
    warmup: float = 5.0
    interval: str = "10s"
    rounds: int = 3
    flush_period: float = 0.2
    sample_period: float = 1.0
    event_gap: str = "1ms"
    prime_seconds: float = 8.0
    views: tuple[str, ...] = tuple(VIEWS)


@dataclass
class Run:
    """One server's run."""

    side: str  # "on" / "off"
    pair: int
    events_per_second: float = 0.0
    steady_seconds: float = 0.0
    flush_ms: list[float] = field(default_factory=list)  # steady part only
    flushes_total: int = 0
    max_cycle_ms: float = 0.0
    mean_cycle_ms: float = 0.0
    cycles: int = 0
    utilization: float = 0.0  # busy seconds / uptime over the steady part
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    checkpoints_completed: int = 0
    checkpoints_failed: int = 0
    load_before: float = 0.0
    load_after: float = 0.0
    samples: list[dict[str, float]] = field(default_factory=list)
    flush_timings: list[tuple[float, float]] = field(default_factory=list)  # (sent, s), all
    view_state: dict[str, int] = field(default_factory=dict)  # view -> state_bytes at the end

    def flush_percentile(self, p: float) -> float:
        return percentile(self.flush_ms, p)

    def completed(self) -> list[dict[str, Any]]:
        return [c for c in self.checkpoints if c["status"] == "completed"]


class RunFailed(Exception):
    """A run that measured nothing (server died, a dataflow failed, a source stopped)."""


def percentile(values: list[float], p: float) -> float:
    """Nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


# --------------------------------------------------------------------------- workload


def source_sql(table: str, gap: str) -> str:
    """An unbounded, unpaced nexmark source (no nexmark.events, no events_per_second)."""
    columns = ", ".join(f"{name} {SQL_TYPES[kind]}" for name, kind in TABLE_FIELDS[table].items())
    return (f"CREATE SOURCE {table} ({columns}, WATERMARK FOR date_time AS date_time - "
            f"INTERVAL '4' SECOND) WITH (connector = 'nexmark', nexmark.table = '{table}', "
            f"nexmark.seed = '1', nexmark.event_gap = '{gap}')")


def view_sql(name: str) -> str:
    text = VIEWS[name]
    return text if text is not None else (QUERY_DIR / f"{name}.sql").read_text()


def create_workload(conn: psycopg.Connection[Any], settings: Settings) -> None:
    for table in SOURCES:
        conn.execute(source_sql(table, settings.event_gap))
    for name in settings.views:
        conn.execute(view_sql(name))


# --------------------------------------------------------------------------- probes


class FlushProbe:
    """`FLUSH` every `period` on a connection and thread of its own: (sent, seconds)."""

    def __init__(self, dsn: str, period: float) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.period = period
        self.timings: list[tuple[float, float]] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="flush-probe", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                sent = time.monotonic()
                self.conn.execute("FLUSH")
                took = time.monotonic() - sent
                self.timings.append((sent, took))
                self.stopping.wait(max(0.0, self.period - took))
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(60)
        self.conn.close()
        if self.error is not None:
            raise RunFailed(f"FLUSH failed: {self.error!r}")


PIPELINE_SQL = ("SELECT events_ingested, cycles, mean_cycle_seconds, max_cycle_seconds, "
                "busy_seconds, uptime_seconds, checkpoints_completed, checkpoints_failed, "
                "failed_dataflows FROM laminar_catalog.pipeline_metrics")
PIPELINE_FIELDS = ("events_ingested", "cycles", "mean_cycle_seconds", "max_cycle_seconds",
                   "busy_seconds", "uptime_seconds", "checkpoints_completed",
                   "checkpoints_failed", "failed_dataflows")


def pipeline_sample(conn: psycopg.Connection[Any]) -> dict[str, float]:
    row = conn.execute(PIPELINE_SQL).fetchone()
    if row is None:
        raise RunFailed("laminar_catalog.pipeline_metrics returned no row")
    sample = {name: float(value or 0) for name, value in zip(PIPELINE_FIELDS, row, strict=True)}
    sample["t"] = time.monotonic()
    return sample


def checkpoint_rows(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    cur = conn.execute("SELECT epoch, duration_ms, capture_ms, bytes_written, state_bytes, "
                       "status, error FROM laminar_catalog.checkpoints ORDER BY epoch")
    names = [column.name for column in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def view_state(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute("SELECT name, state_bytes FROM laminar_catalog.view_metrics "
                        "ORDER BY name").fetchall()
    return {name: int(size or 0) for name, size in rows}


def failed_views(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT name, error FROM laminar_catalog.view_metrics "
                        "WHERE status <> 'running'").fetchall()
    return [f"{name}: {error}" for name, error in rows]


# --------------------------------------------------------------------------- one run


def server_args(side: str, settings: Settings) -> list[str]:
    return ["--checkpoint-interval", settings.interval if side == "on" else "0"]


def measure(side: str, pair: int, settings: Settings, seconds: float | None = None) -> Run:
    """A fresh server (fresh data directory), the workload, `seconds` of probing."""
    run = Run(side, pair, load_before=os.getloadavg()[0])
    length = settings.seconds if seconds is None else seconds
    server = LaminarServer(server_args(side, settings))
    try:
        server.start()
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            create_workload(conn, settings)
            began = time.monotonic()
            probe = FlushProbe(server.dsn, settings.flush_period)
            probe.start()
            try:
                ticks = math.floor(length / settings.sample_period + 1e-9)
                for tick in range(ticks + 1):  # at 0, period, 2 x period, ... <= length
                    time.sleep(max(0.0, began + tick * settings.sample_period - time.monotonic()))
                    sample = pipeline_sample(conn)
                    run.samples.append({**sample, "t": sample["t"] - began})
                    if sample["failed_dataflows"]:
                        raise RunFailed(f"dataflows failed: {failed_views(conn)}")
            finally:
                probe.stop()
            run.checkpoints = checkpoint_rows(conn)
            run.view_state = view_state(conn)
        if server.process is None or server.process.poll() is not None:
            raise RunFailed(f"the server exited:\n{server.log()[-3000:]}")
    finally:
        server.cleanup()
    run.load_after = os.getloadavg()[0]
    summarize(run, probe.timings, began, settings)
    return run


def summarize(run: Run, timings: list[tuple[float, float]], began: float,
              settings: Settings) -> None:
    steady = [s for s in run.samples if s["t"] >= settings.warmup]
    if len(steady) < 2:
        raise RunFailed(f"fewer than 2 samples after the {settings.warmup:g} s warm-up: "
                        "make --seconds longer")
    first, last = steady[0], steady[-1]
    run.steady_seconds = last["t"] - first["t"]
    run.events_per_second = (last["events_ingested"] - first["events_ingested"]) / run.steady_seconds
    busy = last["busy_seconds"] - first["busy_seconds"]
    run.utilization = busy / max(1e-9, last["uptime_seconds"] - first["uptime_seconds"])
    run.flush_timings = [(sent - began, took) for sent, took in timings]
    run.flush_ms = [took * 1000 for sent, took in run.flush_timings if sent >= settings.warmup]
    run.flushes_total = len(timings)
    run.cycles = int(last["cycles"])
    run.max_cycle_ms = last["max_cycle_seconds"] * 1000
    run.mean_cycle_ms = last["mean_cycle_seconds"] * 1000
    run.checkpoints_completed = int(last["checkpoints_completed"])
    run.checkpoints_failed = int(last["checkpoints_failed"])


# --------------------------------------------------------------------------- printing


def fmt_ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.1f}"


def fmt_bytes(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"


def checkpoint_figures(run: Run) -> dict[str, float]:
    done = run.completed()
    return {
        "count": float(len(done)),
        "failed": float(sum(1 for c in run.checkpoints if c["status"] != "completed")),
        "duration_ms": median([float(c["duration_ms"]) for c in done]),
        "capture_ms": median([float(c["capture_ms"]) for c in done]),
        "max_capture_ms": max((float(c["capture_ms"]) for c in done), default=math.nan),
        "bytes_written": median([float(c["bytes_written"]) for c in done]),
        "state_bytes": float(done[-1]["state_bytes"]) if done else math.nan,
    }


def print_run(run: Run, timeline: bool = False) -> None:
    line = (f"  pair {run.pair} {run.side:>3}: {run.events_per_second:,.0f} events/s over "
            f"{run.steady_seconds:.1f} s; FLUSH p50 {fmt_ms(run.flush_percentile(50))} ms, "
            f"p99 {fmt_ms(run.flush_percentile(99))} ms, max "
            f"{fmt_ms(max(run.flush_ms, default=math.nan))} ms ({len(run.flush_ms)} FLUSHes); "
            f"epochs {run.cycles}, busy per epoch mean {run.mean_cycle_ms:.1f} ms, max "
            f"{run.max_cycle_ms:.1f} ms; pipeline busy {run.utilization:.0%}; "
            f"load {run.load_before:.2f} -> {run.load_after:.2f}")
    print(line, flush=True)
    figures = checkpoint_figures(run)
    if run.side == "on":
        print(f"          checkpoints: {figures['count']:.0f} completed, "
              f"{figures['failed']:.0f} failed; duration median "
              f"{fmt_ms(figures['duration_ms'])} ms; capture median "
              f"{fmt_ms(figures['capture_ms'])} ms, max {fmt_ms(figures['max_capture_ms'])} ms; "
              f"written per checkpoint (median) {fmt_bytes(figures['bytes_written'])}; "
              f"state {fmt_bytes(figures['state_bytes'])} (last)", flush=True)
    elif run.checkpoints or run.checkpoints_completed:
        print(f"          WARNING: {len(run.checkpoints)} checkpoints in a run without "
              "periodic checkpoints", flush=True)
    print("          state at the end: " + ", ".join(
        f"{name} {fmt_bytes(size)}" for name, size in run.view_state.items()), flush=True)
    if timeline:
        print_timeline(run)


def print_timeline(run: Run) -> None:
    """Per sample interval: events/s, the slowest FLUSH sent in it (none: the one sent
    before was still waiting), checkpoints completed so far."""
    print("          timeline (s from start: events/s, slowest FLUSH sent, #checkpoints "
          "done):", flush=True)
    cells = []
    for before, after in zip(run.samples, run.samples[1:], strict=False):
        rate = (after["events_ingested"] - before["events_ingested"]) / (after["t"] - before["t"])
        slowest = max((took * 1000 for sent, took in run.flush_timings
                       if before["t"] <= sent < after["t"]), default=math.nan)
        flush = "none sent" if math.isnan(slowest) else f"{slowest:,.0f}ms"
        cells.append(f"{after['t']:.0f}: {rate / 1e6:.2f}M {flush} "
                     f"#{after['checkpoints_completed']:.0f}")
    for start in range(0, len(cells), 5):
        print("            " + " | ".join(cells[start:start + 5]), flush=True)


def spread(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    if not values:
        return "n/a"
    return (f"{median(values) / scale:,.{digits}f} (min {min(values) / scale:,.{digits}f}, "
            f"max {max(values) / scale:,.{digits}f})")


def verdict(met: bool) -> str:
    return "PASS" if met else "FAIL"


def print_summary(runs: list[Run], settings: Settings) -> dict[str, Any]:
    on = [r for r in runs if r.side == "on"]
    off = [r for r in runs if r.side == "off"]
    pairs = sorted({r.pair for r in runs})
    by_pair = {(r.pair, r.side): r for r in runs}
    ratios = [by_pair[p, "on"].events_per_second / by_pair[p, "off"].events_per_second
              for p in pairs if (p, "on") in by_pair and (p, "off") in by_pair]
    tput_on = median([r.events_per_second for r in on])
    tput_off = median([r.events_per_second for r in off])
    ratio = tput_on / tput_off if tput_off else math.nan
    p99_on = median([r.flush_percentile(99) for r in on])
    p99_off = median([r.flush_percentile(99) for r in off])
    pooled_on = percentile([v for r in on for v in r.flush_ms], 99)
    pooled_off = percentile([v for r in off for v in r.flush_ms], 99)
    rise = p99_on - p99_off

    print()
    print("| run | pair | events/s | FLUSH p50 ms | FLUSH p99 ms | FLUSH max ms | max epoch "
          "busy ms | checkpoints | capture median / max ms | duration median ms | "
          "written / checkpoint | state |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in runs:
        figures = checkpoint_figures(run)
        checkpoint_cells = (
            f"{figures['count']:.0f} | {fmt_ms(figures['capture_ms'])} / "
            f"{fmt_ms(figures['max_capture_ms'])} | {fmt_ms(figures['duration_ms'])} | "
            f"{fmt_bytes(figures['bytes_written'])} | {fmt_bytes(figures['state_bytes'])}"
            if run.side == "on" else f"{figures['count']:.0f} | | | |")
        print(f"| {run.side} | {run.pair} | {run.events_per_second:,.0f} | "
              f"{fmt_ms(run.flush_percentile(50))} | {fmt_ms(run.flush_percentile(99))} | "
              f"{fmt_ms(max(run.flush_ms, default=math.nan))} | {run.max_cycle_ms:,.1f} | "
              f"{checkpoint_cells} |")
    print()
    tput_met = ratio >= THROUGHPUT_TARGET
    latency_met = rise <= LATENCY_TARGET_MS
    print(f"throughput, events/s, median (min-max): off {spread([r.events_per_second for r in off])}"
          f", on {spread([r.events_per_second for r in on])}")
    print(f"  on / off of the medians: {ratio:.3f}; per pair: "
          + (", ".join(f"{x:.3f}" for x in ratios) or "n/a")
          + f"; target >= {THROUGHPUT_TARGET:.2f}: {verdict(tput_met)}")
    print(f"FLUSH p99, ms, median over runs (min-max): off "
          f"{spread([r.flush_percentile(99) for r in off], digits=1)}, on "
          f"{spread([r.flush_percentile(99) for r in on], digits=1)}")
    print(f"  FLUSH p50, ms, median over runs: off "
          f"{fmt_ms(median([r.flush_percentile(50) for r in off]))}, on "
          f"{fmt_ms(median([r.flush_percentile(50) for r in on]))}; p99 of every FLUSH pooled: "
          f"off {fmt_ms(pooled_off)}, on {fmt_ms(pooled_on)} ({pooled_on - pooled_off:+.1f})")
    print(f"  p99 rise (on - off, medians): {rise:+.1f} ms; target <= +{LATENCY_TARGET_MS:.0f} ms: "
          f"{verdict(latency_met)}")
    captures = [float(c["capture_ms"]) for r in on for c in r.completed()]
    print(f"checkpoints: {len(captures)} completed over {len(on)} 'on' runs (every "
          f"{settings.interval}); capture (the pipeline's stall) median {fmt_ms(median(captures))}"
          f" ms, max {fmt_ms(max(captures, default=math.nan))} ms")
    return {"throughput_on": tput_on, "throughput_off": tput_off, "ratio": ratio,
            "pair_ratios": ratios, "p99_on_ms": p99_on, "p99_off_ms": p99_off,
            "p99_rise_ms": rise, "pooled_p99_on_ms": pooled_on,
            "pooled_p99_off_ms": pooled_off, "throughput_met": tput_met,
            "latency_met": latency_met}


# --------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved off/on pairs")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each run")
    parser.add_argument("--interval", default="10s",
                        help="--checkpoint-interval of the 'on' runs")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds at the start of each run left out of every figure")
    parser.add_argument("--flush-period", type=float, default=0.2,
                        help="seconds between FLUSH probes")
    parser.add_argument("--sample-period", type=float, default=1.0,
                        help="seconds between pipeline_metrics samples")
    parser.add_argument("--event-gap", default="1ms", help="nexmark.event_gap of the sources")
    parser.add_argument("--prime-seconds", type=float, default=8.0,
                        help="an untimed run first (numba kernels compiled or loaded); 0: none")
    parser.add_argument("--views", default=",".join(VIEWS),
                        help=f"comma-separated views, of: {', '.join(VIEWS)}")
    parser.add_argument("--timeline", action="store_true",
                        help="print each run's events/s and slowest FLUSH per sample interval")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    views = tuple(v.strip() for v in args.views.split(",") if v.strip())
    unknown = [v for v in views if v not in VIEWS]
    if unknown or not views:
        parser.error(f"unknown view {', '.join(unknown)}; known: {', '.join(VIEWS)}")
    if args.rounds < 1 or args.seconds <= args.warmup + 2 * args.sample_period:
        parser.error("--rounds >= 1 and --seconds > --warmup + 2 x --sample-period")
    settings = Settings(seconds=args.seconds, warmup=args.warmup, interval=args.interval,
                        rounds=args.rounds, flush_period=args.flush_period,
                        sample_period=args.sample_period, event_gap=args.event_gap,
                        prime_seconds=args.prime_seconds, views=views)
    machine = harness.machine_description({"psycopg": psycopg.__version__})
    harness.print_machine(machine)
    started = datetime.datetime.now(datetime.UTC)
    print(f"{settings.rounds} pairs (off, on) of {settings.seconds:g} s runs, checkpoint "
          f"interval {settings.interval} when on; views {', '.join(views)}; first "
          f"{settings.warmup:g} s of each run skipped; load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if settings.prime_seconds > 0:
        print(f"priming: one untimed 'off' run of {settings.prime_seconds:g} s", flush=True)
        try:
            measure("off", 0, settings, max(settings.prime_seconds, settings.warmup + 2.5))
        except (RunFailed, RuntimeError, psycopg.Error) as exc:
            print(f"  priming run FAILED (the timed runs go on): {exc}", flush=True)
    runs: list[Run] = []
    failures: list[str] = []
    for pair in range(1, settings.rounds + 1):
        for side in ("off", "on"):
            try:
                runs.append(measure(side, pair, settings))
            except (RunFailed, RuntimeError, psycopg.Error) as exc:
                failures.append(f"pair {pair} {side}: {exc}")
                print(f"  pair {pair} {side:>3}: RUN FAILED (left out of every figure): {exc}",
                      flush=True)
                continue
            print_run(runs[-1], args.timeline)
    summary: dict[str, Any] = {}
    if any(r.side == "on" for r in runs) and any(r.side == "off" for r in runs):
        summary = print_summary(runs, settings)
    else:
        print("\nno summary: the 'on' or the 'off' side has no completed run")
    if failures:
        print(f"\n{len(failures)} run(s) FAILED and are left out: " + "; ".join(failures))
    print(f"\n{machine['cpus']} cores ({machine['cpu_model']}); laminar_pg --workers 1, "
          f"unbounded unpaced nexmark sources; {settings.rounds} interleaved pairs; "
          f"{started:%Y-%m-%d %H:%M} UTC; load average now "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json is not None:
        args.json.write_text(json.dumps(
            {"machine": machine, "settings": asdict(settings), "started": started.isoformat(),
             "summary": summary, "runs": [asdict(r) for r in runs], "failures": failures},
            indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

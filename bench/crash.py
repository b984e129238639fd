"""Crash recovery, round after round: SIGKILL at random moments and at every named crash
point, restart, and check that nothing was lost or counted twice.

    python bench/crash.py                      # 100 rounds, about 15 minutes on 2 cores
    laminar-pg bench crash --rounds 14 --seed 7 --json crash.json

Each round runs the scenario of laminar_pg/testing/crash_workload.py (the same as
tests/e2e/test_checkpoint_recovery.py) on a fresh data directory: one `laminar-pg serve
--workers 1` server; three bounded nexmark sources (person, auction, bid: `--events`
events, paced at `--rate` events/s) feeding an aggregate view, window views (q7_window,
q5_window) and join views (q3, q8); a table changed by one client (INSERT, UPDATE,
DELETE, small transactions; the client records which commits were acknowledged) feeding
an aggregate view. Then the server dies, one of two ways, in turn:

- random: started with `--checkpoint-interval` (500ms), killed with SIGKILL from outside
  after a random time (uniform in `--kill-after`, 0.5 to 2.5 s, while the sources read);
- crash point: started with LAMINAR_PG_CRASHPOINT set to the next crash point (cycling
  through all of them; `name:2` for the checkpoint points, so that one checkpoint completed
  before, `mid_changelog_batch:n` with a random n), without periodic checkpoints; driven
  with CHECKPOINT statements and table writes until it kills itself. `after_restore` is
  armed on a restart instead, after a CHECKPOINT and a SIGKILL (that start must die too);
  `mid_changelog_batch:n` on a restart after a clean stop (DDL goes through the change
  log too: n counts the client's commits only).

It is restarted on the same data directory (without the crash point). Per round, the
figures are: how it was killed, the crash point it hit (from its log: `crashpoint.kill`),
the newest checkpoint completed before the kill (laminar_catalog.checkpoints, sampled just
before it), the checkpoint the restart restored (`checkpoint.restored` in its log) and how
many views came from it or were rebuilt, the recovery time (from starting the process to
the first successful query of a view: the restore, the table log's replay, start-up; the
summary gives the first start on an empty data directory beside it, for scale), and
the source events read (summed over every reader) just before the kill and at that first
query: what the restart had to read again shows there when the server reports events
from the restored offset.

Checks (every one counts as a mismatch): the table holds every acknowledged commit and
the one in flight entirely or not at all (lost / duplicated writes); once the sources are
finished and after FLUSH, every view equals its batch answer (DuckDB over exactly the
generated events; the table's view over the recovered rows); the restart restored the
checkpoint it had to (the newest completed one; never a torn one) with every view from
it. The exit status is 1 on any mismatch or failed round.
"""

# No `from __future__ import annotations`: `laminar-pg bench` loads this file by path, and
# dataclasses then cannot resolve string annotations.
import argparse
import collections
import datetime
import json
import math
import random
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

if not __package__:  # run by path (`python bench/crash.py`, `laminar-pg bench crash`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench import harness
from laminar_pg.testing.crash_workload import (
    CRASH_POINTS,
    CrashScenario,
    RoundReport,
    SourceSettings,
    armed_at_setup,
    checkpoint_problems,
    crash_point_spec,
    expected_answers,
)
from laminar_pg.testing.server import LaminarServer


@dataclass(frozen=True)
class Settings:
    rounds: int = 100
    events: int = 40_000
    rate: int = 20_000
    kill_after: tuple[float, float] = (0.5, 2.5)
    checkpoint_interval: str = "500ms"
    seed: int = 0


@dataclass
class Outcome:
    """One round: the report of its kill and restart, and what the checks found."""

    number: int
    kind: str  # random | crash point
    point: str | None  # the crash point armed (None: random)
    seconds: float = 0.0
    report: RoundReport | None = None
    fresh_start_seconds: float | None = None  # the same server's first start, empty dir
    table_problems: list[str] = field(default_factory=list)  # lost / duplicated writes
    view_problems: list[str] = field(default_factory=list)
    checkpoint_problems: list[str] = field(default_factory=list)
    error: str | None = None  # the round could not run to its end

    @property
    def mismatches(self) -> int:
        return len(self.table_problems) + len(self.view_problems) + len(
            self.checkpoint_problems)


def run_round(number: int, point: str | None, settings: Settings,
              sources: SourceSettings, rng: random.Random) -> Outcome:
    outcome = Outcome(number, "random" if point is None else "crash point", point)
    started = time.monotonic()
    if point is None:
        args = ["--checkpoint-interval", settings.checkpoint_interval]
    else:
        args = ["--checkpoint-interval", "600s", "--checkpoints-retained", "2"]
    server = LaminarServer(extra_args=args)
    scenario = CrashScenario(server, sources, rng.randrange(2**32))
    try:
        if point is None:
            scenario.setup()
            report = scenario.random_kill_round(number, *settings.kill_after)
        else:
            spec = crash_point_spec(point, rng)
            scenario.setup(armed_at_setup(spec))
            report = scenario.crash_point_round(number, spec)
            if report.crash_point != point:
                outcome.error = f"the server did not kill itself at {point} " \
                                f"(log: {report.crash_point})"
        outcome.report = report
        outcome.fresh_start_seconds = scenario.fresh_start_seconds
        outcome.table_problems = [p for p in report.problems if p.startswith("table ")]
        outcome.checkpoint_problems = [p for p in report.problems if not p.startswith("table ")]
        outcome.checkpoint_problems += checkpoint_problems(report, point)
        for problem in scenario.finish():
            target = outcome.table_problems if problem.startswith("table ") \
                else outcome.view_problems
            target.append(problem)
    except (AssertionError, RuntimeError, psycopg.Error) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        log = server.log()
        if log:
            outcome.error += "\n  server log (tail):\n    " + "\n    ".join(
                log[-2000:].splitlines())
        traceback.print_exc(file=sys.stderr)
    finally:
        server.cleanup()
    outcome.seconds = time.monotonic() - started
    return outcome


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def print_outcome(outcome: Outcome) -> None:
    if outcome.report is not None:
        print(outcome.report.line(), flush=True)
    else:
        print(f"round {outcome.number:>3}  {outcome.kind} {outcome.point or ''}: no report",
              flush=True)
    for label, problems in (("table", outcome.table_problems), ("view", outcome.view_problems),
                            ("checkpoint", outcome.checkpoint_problems)):
        for problem in problems:
            print(f"    MISMATCH ({label}): {problem}", flush=True)
    if outcome.error:
        print(f"    FAILED: {outcome.error}", flush=True)


def summary(outcomes: list[Outcome]) -> dict[str, object]:
    reports = [o.report for o in outcomes if o.report is not None]
    recovery = [r.recovery_seconds for r in reports if r.recovery_seconds is not None]
    hits = collections.Counter(r.crash_point for r in reports if r.crash_point is not None)
    restored = [r for r in reports if r.restore is not None]
    fresh = [o.fresh_start_seconds for o in outcomes if o.fresh_start_seconds is not None]
    return {
        "rounds": len(outcomes),
        "random_kills": sum(o.kind == "random" for o in outcomes),
        "crash_point_rounds": sum(o.kind != "random" for o in outcomes),
        "failed_rounds": sum(o.error is not None for o in outcomes),
        "mismatches": sum(o.mismatches for o in outcomes),
        "lost_or_duplicated_writes": sum(len(o.table_problems) for o in outcomes),
        "view_mismatches": sum(len(o.view_problems) for o in outcomes),
        "wrong_checkpoint_restored": sum(len(o.checkpoint_problems) for o in outcomes),
        "crash_points_hit": {p: hits.get(p, 0) for p in CRASH_POINTS},
        "restarts_from_a_checkpoint": len(restored),
        "views_restored": sum(r.restore.flows_restored or 0 for r in restored
                              if r.restore is not None),
        "views_rebuilt": sum(r.restore.flows_rebuilt or 0 for r in restored
                             if r.restore is not None),
        "in_flight_commits": dict(collections.Counter(r.in_flight for r in reports)),
        "acknowledged_commits": sum(r.acked_commits for r in reports),
        "recovery_s_median": statistics.median(recovery) if recovery else None,
        "recovery_s_p99": percentile(recovery, 99),
        "recovery_s_max": max(recovery) if recovery else None,
        "fresh_start_s_median": statistics.median(fresh) if fresh else None,
    }


def print_summary(figures: dict[str, object], settings: Settings) -> None:
    def secs(value: object) -> str:
        return "-" if not isinstance(value, float) else f"{value:.2f} s"

    print(f"\ncrash recovery, {figures['rounds']} rounds ({figures['random_kills']} random "
          f"SIGKILL, {figures['crash_point_rounds']} crash points), seed {settings.seed}, "
          f"{settings.events:,} nexmark events per source at {settings.rate:,}/s\n")
    print("| figure | value |\n| --- | ---: |")
    in_flight = figures["in_flight_commits"]
    assert isinstance(in_flight, dict)
    rows = [
        ("mismatches (must be 0)", figures["mismatches"]),
        ("lost or duplicated table writes", figures["lost_or_duplicated_writes"]),
        ("views unequal to their batch answer", figures["view_mismatches"]),
        ("restart problems (wrong or no checkpoint restored, epochs)",
         figures["wrong_checkpoint_restored"]),
        ("failed rounds", figures["failed_rounds"]),
        ("restarts from a checkpoint", figures["restarts_from_a_checkpoint"]),
        ("views restored / rebuilt at those",
         f"{figures['views_restored']} / {figures['views_rebuilt']}"),
        ("acknowledged commits", figures["acknowledged_commits"]),
        ("commit in flight at the kill: none / present / absent after restart",
         " / ".join(str(in_flight.get(k, 0)) for k in ("none", "present", "absent"))),
        ("recovery time, median", secs(figures["recovery_s_median"])),
        ("recovery time, p99", secs(figures["recovery_s_p99"])),
        ("recovery time, max", secs(figures["recovery_s_max"])),
        ("for scale: first start on an empty data directory, median",
         secs(figures["fresh_start_s_median"])),
    ]
    hits = figures["crash_points_hit"]
    assert isinstance(hits, dict)
    rows += [(f"crash point hit: {point}", count) for point, count in hits.items()]
    for name, value in rows:
        print(f"| {name} | {value} |")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="kills (default 100)")
    parser.add_argument("--events", type=int, default=40_000,
                        help="nexmark events per source (default 40,000)")
    parser.add_argument("--rate", type=int, default=20_000,
                        help="source pacing, events/s (default 20,000)")
    parser.add_argument("--kill-after", default="0.5,2.5", metavar="LOW,HIGH",
                        help="random kills: seconds after the start, uniform (default 0.5,2.5)")
    parser.add_argument("--checkpoint-interval", default="500ms",
                        help="random-kill servers' --checkpoint-interval (default 500ms)")
    parser.add_argument("--only", choices=("random", "points"),
                        help="only random kills, or only crash points (default: alternate)")
    parser.add_argument("--seed", type=int, help="replay a run (default: random, printed)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        low, high = (float(x) for x in args.kill_after.split(","))
    except ValueError:
        parser.error("--kill-after is LOW,HIGH in seconds")
    if args.rounds <= 0 or args.events <= 0 or args.rate <= 0 or not 0 < low <= high:
        parser.error("--rounds, --events, --rate and --kill-after must be positive")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    settings = Settings(args.rounds, args.events, args.rate, (low, high),
                        args.checkpoint_interval, seed)
    sources = SourceSettings(events=settings.events, events_per_second=settings.rate)
    started = datetime.datetime.now(datetime.UTC)
    machine = harness.machine_description({"psycopg": psycopg.__version__})
    harness.print_machine(machine)
    print(f"seed {seed} (--seed {seed} replays the kill moments and crash points)",
          file=sys.stderr, flush=True)
    expected_answers(sources)  # the batch answers, once, before any server runs
    rng = random.Random(seed)
    points = iter(CRASH_POINTS * (args.rounds // len(CRASH_POINTS) + 1))
    outcomes: list[Outcome] = []
    with harness.stop_on_interrupt() as state:
        for number in range(1, settings.rounds + 1):
            random_round = args.only == "random" or (args.only is None and number % 2 == 1)
            point = None if random_round else next(points)
            outcomes.append(run_round(number, point, settings, sources,
                                      random.Random(rng.randrange(2**32))))
            print_outcome(outcomes[-1])
    figures = summary(outcomes)
    print_summary(figures, settings)
    if args.json:
        args.json.write_text(json.dumps({
            "started": started.isoformat(), "machine": machine,
            "settings": asdict(settings), "interrupted": state.interrupted,
            "summary": figures,
            "rounds": [{**{k: v for k, v in asdict(o).items() if k != "report"},
                        "report": None if o.report is None else asdict(o.report)}
                       for o in outcomes],
        }, indent=2, default=str) + "\n")
    failed = any(o.mismatches or o.error for o in outcomes)
    return 1 if failed or state.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())

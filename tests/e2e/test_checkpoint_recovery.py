"""Checkpoints and exact recovery: SIGKILL the server while paced nexmark sources feed
aggregate, window and join views and a client changes a table that feeds another view;
restart it on the same data directory and check that

- the table holds every acknowledged commit, and the one commit in flight at the kill
  entirely or not at all (never part of it, never anything else);
- once the sources are finished and after FLUSH, every view equals its batch answer over
  exactly the generated events (DuckDB over the generator's output) and over the table's
  recovered rows: no event lost, none counted twice;
- the restart really restored a checkpoint (the server logs `checkpoint.restored`), every
  view from it (none rebuilt by replaying its sources from the first event, which would
  also give the right answer), and the newest one that had completed: a torn checkpoint
  (killed before its manifest was in place) is never used, one whose manifest is in
  place always is;
- epoch timestamps never go back across a restart.

The scenario (laminar_pg/testing/crash_workload.py) is shared with bench/crash.py, which
runs it for many rounds. Kill moments are random; the seed is printed (set
LAMINAR_CRASH_SEED to replay a run). Random moments rarely land inside a manifest write,
so the second test starts the server with LAMINAR_PG_CRASHPOINT set to each named crash
point, drives it (CHECKPOINT statements, table writes) until it kills itself there, and
restarts it without.
"""

from __future__ import annotations

import os
import random

import pytest

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

# 100,000 events (about 92,000 bids) at 20,000 events/s: each source reads for 5 s.
RANDOM_SOURCES = SourceSettings(events=100_000, events_per_second=20_000)
POINT_SOURCES = SourceSettings(events=40_000, events_per_second=20_000)
# Crash-point runs take their checkpoints by CHECKPOINT only, so that the test knows
# which checkpoint completed before the one the server dies in.
NO_PERIODIC_CHECKPOINTS = ["--checkpoint-interval", "600s", "--checkpoints-retained", "2"]


def crash_seed(name: str) -> int:
    seed = int(os.environ.get("LAMINAR_CRASH_SEED") or random.randrange(2**32))
    print(f"{name}: LAMINAR_CRASH_SEED={seed}")
    return seed


def round_problems(report: RoundReport, point: str | None) -> list[str]:
    """The round's recovery problems (table rows, epoch timestamps), whether it died where
    it had to, and whether it restored the right checkpoint."""
    print(report.line())
    found = [f"{report.how}: {p}" for p in report.problems]
    if report.crash_point != point:
        found.append(f"{report.how}: the server killed itself at {report.crash_point}, "
                     f"not at {point}")
    return found + [f"{report.how}: {p}" for p in checkpoint_problems(report, point)]


@pytest.mark.slow
def test_random_kills_recover_exactly(own_server: LaminarServer) -> None:
    seed = crash_seed("random kills")
    expected_answers(RANDOM_SOURCES)  # computed before the server competes for the CPU
    own_server.extra_args = ["--checkpoint-interval", "500ms", "--checkpoints-retained", "3"]
    scenario = CrashScenario(own_server, RANDOM_SOURCES, seed)
    scenario.setup()
    problems = []
    for number in range(1, 4):
        report = scenario.random_kill_round(number, 1.0, 2.5)
        problems += [f"round {number}, {p}" for p in round_problems(report, None)]
    if not any(r.restored is not None for r in scenario.rounds):
        problems.append("no restart restored a checkpoint: the test proved nothing about them")
    # The views are checked even when a restore went wrong: both are worth knowing.
    problems += [f"after the last restart: {p}" for p in scenario.finish()]
    assert not problems, f"seed {seed}:\n" + "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_point_recovers_exactly(own_server: LaminarServer, point: str) -> None:
    seed = crash_seed(point)
    rng = random.Random(seed)
    spec = crash_point_spec(point, rng)
    expected_answers(POINT_SOURCES)
    own_server.extra_args = NO_PERIODIC_CHECKPOINTS
    scenario = CrashScenario(own_server, POINT_SOURCES, rng.randrange(2**32))
    # after_restore and mid_changelog_batch are armed on a restart
    scenario.setup(armed_at_setup(spec))
    report = scenario.crash_point_round(1, spec)
    problems = round_problems(report, point)
    problems += [f"after the restart: {p}" for p in scenario.finish()]
    assert not problems, f"seed {seed}, {spec}:\n" + "\n".join(problems)

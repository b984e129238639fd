"""What the benchmarks in bench/ share: the two servers as targets, named measurements and
their per-round figures, timing loops, the Markdown table, the machine description, `--only`,
Ctrl-C / SIGTERM handling and the JSON file.

Each benchmark keeps its own settings, workloads, flags and summary line; a measurement's `run`
takes whatever arguments its benchmark passes (`Measurement` and `Figures` are generic in it).
"""

# No `from __future__ import annotations`: the dataclasses here are used by benchmarks that
# `laminar-pg bench` loads by path, and dataclasses must be able to resolve their annotations.
import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer

RunT = TypeVar("RunT", bound=Callable[..., float])


@dataclass(frozen=True)
class Target:
    """One server to measure: where it listens and whom to log in as."""

    label: str
    host: str
    port: int
    user: str
    dbname: str
    pid: int = 0

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"


def postgres_target(pg: PostgresServer) -> Target:
    return Target("postgres", pg.host, pg.port, "postgres", "postgres")


def laminar_target(lam: LaminarServer) -> Target:
    return Target("laminar_pg", lam.host, lam.port, "laminar", "laminar", lam.pid)


@dataclass(frozen=True)
class Measurement(Generic[RunT]):
    """A named workload: `run(target, ...)` returns units (round trips, rows, ops) per second."""

    name: str
    unit: str
    description: str
    run: RunT


@dataclass
class Figures(Generic[RunT]):
    """Per-round results of one measurement."""

    measurement: Measurement[RunT]
    postgres: list[float] = field(default_factory=list)
    laminar: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [lam / pg for pg, lam in zip(self.postgres, self.laminar, strict=False) if pg > 0]

    def as_json(self) -> dict[str, object]:
        ratios = self.ratios
        return {
            "unit": self.measurement.unit,
            "description": self.measurement.description,
            "postgres": self.postgres,
            "laminar": self.laminar,
            "ratios": ratios,
            "postgres_median": statistics.median(self.postgres) if self.postgres else None,
            "laminar_median": statistics.median(self.laminar) if self.laminar else None,
            "ratio_median": statistics.median(ratios) if ratios else None,
            "ratio_min": min(ratios) if ratios else None,
            "ratio_max": max(ratios) if ratios else None,
        }


# --------------------------------------------------------------------------- timing


class Timing(Protocol):
    """The part of a benchmark's settings that `rate` reads."""

    @property
    def seconds(self) -> float: ...

    @property
    def warmup(self) -> float: ...


def run_for(op: Callable[[], int], seconds: float) -> tuple[int, float]:
    """Call `op` (it returns the units it did) until `seconds` have passed, at least once."""
    start = time.perf_counter()
    deadline = start + seconds
    units = 0
    while True:
        units += op()
        now = time.perf_counter()
        if now >= deadline:
            return units, now - start


def rate(op: Callable[[], int], timing: Timing) -> float:
    """Units per second of `op` over `timing.seconds`, after `timing.warmup` of warm-up."""
    run_for(op, timing.warmup)
    units, elapsed = run_for(op, timing.seconds)
    return units / elapsed


def expect(what: str, got: object, want: object) -> None:
    if got != want:
        raise RuntimeError(f"{what}: expected {want!r}, got {got!r}")


# --------------------------------------------------------------------------- running


def print_round(figures: Figures[RunT], round_no: int, rounds: int, width: int) -> None:
    """The progress line (stderr) for the round just added to `figures`."""
    pg, lam = figures.postgres[-1], figures.laminar[-1]
    print(
        f"  {figures.measurement.name:<{width}} round {round_no}/{rounds}: postgres {pg:>12,.0f}  "
        f"laminar_pg {lam:>12,.0f}  ratio {lam / pg:.3f}",
        file=sys.stderr,
        flush=True,
    )


def format_table(results: Sequence[Figures[RunT]]) -> str:
    """A Markdown table: medians, median ratio laminar/PostgreSQL and the ratio's range."""
    header = (
        "| measurement | unit | PostgreSQL 15 (median) | laminar_pg (median) "
        "| laminar / PG (median) | ratio min-max |"
    )
    lines = [header, "| --- | --- | ---: | ---: | ---: | ---: |"]
    for fig in results:
        if not fig.laminar:
            continue
        ratios = fig.ratios
        lines.append(
            f"| {fig.measurement.name} ({fig.measurement.description}) | {fig.measurement.unit} "
            f"| {statistics.median(fig.postgres):,.0f} | {statistics.median(fig.laminar):,.0f} "
            f"| {statistics.median(ratios):.3f} | {min(ratios):.3f}-{max(ratios):.3f} |"
        )
    return "\n".join(lines)


def machine_description(versions: Mapping[str, str]) -> dict[str, object]:
    """CPUs, CPU model, Python and platform, then `versions` (client libraries and the like)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }


def print_machine(machine: Mapping[str, object]) -> None:
    print(f"machine: {machine['cpus']} CPUs, {machine['cpu_model']}, Python {machine['python']}",
          file=sys.stderr)  # fmt: skip


def add_only_argument(
    parser: argparse.ArgumentParser, measurements: Sequence[Measurement[RunT]]
) -> None:
    parser.add_argument("--only", action="append", metavar="NAME", default=[],
                        help="run only these measurements (repeat or comma-separate): "
                        + ", ".join(m.name for m in measurements))  # fmt: skip


def selected(
    only: Sequence[str], measurements: Sequence[Measurement[RunT]], parser: argparse.ArgumentParser
) -> list[Measurement[RunT]]:
    """The measurements `--only` names (all when it names none), in their own order."""
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    known = [m.name for m in measurements]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [m for m in measurements if not names or m.name in names]


@dataclass
class RunState:
    interrupted: bool = False


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def stop_on_interrupt() -> Iterator[RunState]:
    """Run the block (which starts and stops the servers); Ctrl-C or SIGTERM ends it early.

    SIGTERM is turned into KeyboardInterrupt for the block's duration (only possible on the
    main thread; elsewhere, an embedding caller, nothing changes). An interrupt is reported on
    stderr and swallowed, and `interrupted` set, so that the figures so far can be printed.
    """
    state = RunState()
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:
        previous = None
    try:
        yield state
    except KeyboardInterrupt:
        state.interrupted = True
        print("interrupted: servers stopped; figures so far follow", file=sys.stderr)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def write_json(
    path: Path,
    *,
    started: datetime.datetime,
    machine: Mapping[str, object],
    settings: Mapping[str, object],
    interrupted: bool,
    results: Sequence[Figures[RunT]],
    **extra: object,
) -> None:
    """The figures and what they were measured on, then `extra` (a benchmark's own keys)."""
    payload = {
        "started": started.isoformat(),
        "machine": machine,
        "settings": settings,
        "interrupted": interrupted,
        "results": {f.measurement.name: f.as_json() for f in results},
        **extra,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")

"""The process's own figures, as Prometheus clients report them: resident and virtual
memory, CPU seconds, open file descriptors and the start time (Linux /proc; elsewhere
what the `resource` module knows)."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    resident_memory_bytes: int | None
    virtual_memory_bytes: int | None
    cpu_seconds: float
    open_fds: int | None
    max_fds: int | None
    start_time_seconds: float | None
    threads: int | None


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _start_time(stat_fields: list[str]) -> float | None:
    """/proc/self/stat field 22 is the start time in clock ticks after boot."""
    uptime = _read("/proc/uptime")
    if uptime is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    since_boot = int(stat_fields[19]) / ticks
    boot = time.time() - float(uptime.split()[0])
    return boot + since_boot


def process_figures() -> ProcessFigures:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    stat = _read("/proc/self/stat")
    rss = vms = threads = None
    start = None
    if stat is not None:
        # the command name (field 2) may hold spaces: the fields after it follow ')'
        fields = stat[stat.rindex(")") + 2:].split()
        threads = int(fields[17])
        vms = int(fields[20])
        rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        start = _start_time(fields)
    try:
        fds: int | None = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return ProcessFigures(rss, vms, cpu, fds, None if soft == resource.RLIM_INFINITY else soft,
                          start, threads)

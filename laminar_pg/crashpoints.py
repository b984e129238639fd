"""Named crash points: the server kills itself (SIGKILL) at a chosen moment, for tests.

`LAMINAR_PG_CRASHPOINT=<name>` kills the process the first time `crashpoint(name)` runs;
`<name>:<n>` on the n-th time (1-based). Random kill moments rarely land inside a
manifest write or between a log record's write and its sync, so the crash tests aim at
those moments by name (tests/e2e/test_checkpoint_recovery.py, bench/crash.py). Without
the variable a crash point is one dictionary lookup.

The points (where they sit):
- `mid_state_write`: some of a checkpoint's state pages are written (engine/checkpoint.py);
- `after_state_write`: all of its state is in RocksDB, no manifest yet;
- `before_manifest_rename`: the manifest's temporary file is written and synced;
- `after_manifest_rename`: the manifest is in place, older checkpoints not pruned yet;
- `mid_prune`: an old checkpoint's manifest is gone, part of its state not yet deleted;
- `mid_changelog_batch`: a commit's log record is written to RocksDB but its WAL is not
  synced and the client not answered (storage/log.py; every commit counts, DDL too);
- `after_restore`: at start, state is restored from the newest manifest and the sources
  have not resumed (session/streaming.py).
"""

from __future__ import annotations

import os
import signal

import structlog

log = structlog.get_logger("laminar_pg.crashpoints")

POINTS = ("mid_state_write", "after_state_write", "before_manifest_rename",
          "after_manifest_rename", "mid_prune", "mid_changelog_batch", "after_restore")


def _armed() -> tuple[str, int] | None:
    spec = os.environ.get("LAMINAR_PG_CRASHPOINT", "").strip()
    if not spec:
        return None
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"LAMINAR_PG_CRASHPOINT: unknown crash point {name!r} "
                         f"(known: {', '.join(POINTS)})")
    return name, int(count) if count else 1


_ARMED = _armed()
_hits: dict[str, int] = {}


def crashpoint(name: str) -> None:
    """Kill this process here if LAMINAR_PG_CRASHPOINT names this point (and hit count)."""
    if _ARMED is None or _ARMED[0] != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == _ARMED[1]:
        log.warning("crashpoint.kill", point=name, hit=_hits[name])
        os.kill(os.getpid(), signal.SIGKILL)

"""node-postgres (pg 8.23.1) against a real laminar_pg server.

`node client_test.js HOST PORT` runs every check once and prints one `ok NAME` or
`FAIL NAME: ...` line per check; each check is reported here as its own test, so one
failing check does not hide the others.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from laminar_pg.testing.server import LaminarServer

NODE_DIR = Path(__file__).parent / "node"
TIMEOUT_S = 120

CHECKS = [
    "simple query",
    "parameterised query (extended protocol)",
    "named prepared statement executed twice",
    "multi-row generate_series (10k rows)",
    "generate_series(int4, int4) yields int4",
    "int8 / numeric / bool / text / timestamp / json values",
    "error carries SQLSTATE, then the connection still works",
    "BEGIN / COMMIT and ROLLBACK after an error",
    "pg.Pool with 10 concurrent queries",
]

_LINE = re.compile(r"^(ok|FAIL) +(.+?)(?: \(\d+ ms\)$|: )", re.MULTILINE)


@dataclass(frozen=True)
class NodeRun:
    returncode: int
    output: str
    outcomes: dict[str, str]  # check name -> "ok" | "FAIL"


def require_node_pg() -> None:
    """Skips only where `make install` did not run (it installs node-postgres with npm)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "pg").is_dir():
        pytest.skip("node_modules/pg missing: run `npm install` in tests/clients/node (make deps)")


@pytest.fixture(scope="module")
def node_run(server: LaminarServer) -> NodeRun:
    require_node_pg()
    proc = subprocess.run(
        ["node", "client_test.js", server.host, str(server.port)],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    output = proc.stdout + proc.stderr
    outcomes = {name: status for status, name in _LINE.findall(output)}
    return NodeRun(proc.returncode, output, outcomes)


def test_script_runs_every_check(node_run: NodeRun) -> None:
    names = [c if isinstance(c, str) else c.values[0] for c in CHECKS]
    assert sorted(node_run.outcomes) == sorted(names), node_run.output
    # Exit code 0 exactly when every check passed, 1 when some failed (2 = could not connect).
    expected = 0 if all(s == "ok" for s in node_run.outcomes.values()) else 1
    assert node_run.returncode == expected, node_run.output


@pytest.mark.parametrize("check", CHECKS)
def test_node_postgres(node_run: NodeRun, check: str) -> None:
    assert node_run.outcomes.get(check) == "ok", node_run.output

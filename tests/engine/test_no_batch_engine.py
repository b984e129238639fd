"""The engine never imports the batch engine (CONVENTIONS rule 6): a view that re-ran
its query on DuckDB would pass every oracle test and be no streaming engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "laminar_pg" / "engine"


def test_no_engine_module_imports_duckdb() -> None:
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in ("duckdb", "sqlite3", "pandas", "polars")
                          or n.startswith(("laminar_pg.session", "laminar_pg.wire"))]
    assert not offenders, offenders
    assert len(list(ENGINE.rglob("*.py"))) > 10


def test_importing_the_whole_engine_loads_no_duckdb() -> None:
    modules = sorted(
        ".".join(p.relative_to(ENGINE.parent.parent).with_suffix("").parts)
        for p in ENGINE.rglob("*.py") if p.name != "__init__.py")
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "bad = [m for m in sys.modules if m.split('.')[0] in ('duckdb', 'pandas')]\n"
            + "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]

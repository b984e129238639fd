"""Run sqllogictest files against fresh laminar_pg servers (what `make slt` does).

Each file gets its own server on an empty data directory, as sqllogictest runners give
each file a fresh database: the SQLite corpus's files all create the same table names.
"""

from __future__ import annotations

import sys

from laminar_pg.slt.cli import main as slt_main
from laminar_pg.testing.server import LaminarServer


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    files = [a for a in args if not a.startswith("-") and a.endswith((".test", ".slt"))]
    options = [a for a in args if a not in files]
    status = 0
    for path in files:
        with LaminarServer() as server:
            status = max(status, slt_main([path, *options, "--url", server.url]))
    return status


if __name__ == "__main__":
    sys.exit(main())

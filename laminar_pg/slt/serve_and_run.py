"""Run sqllogictest files against a fresh laminar_pg server (what `make slt` does)."""

from __future__ import annotations

import sys

from laminar_pg.slt.cli import main as slt_main
from laminar_pg.testing.server import LaminarServer


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    with LaminarServer() as server:
        return slt_main([*args, "--url", server.url])


if __name__ == "__main__":
    sys.exit(main())

"""`laminar-pg slt PATH...`: run sqllogictest scripts against a server and summarise.

Exit status: 0 when no record failed, 1 when some did, 2 for a usage error (argparse).
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TextIO

from laminar_pg.slt.runner import (
    DEFAULT_ENGINE,
    DEFAULT_URL,
    FileResult,
    Outcome,
    Protocol,
    RunnerConfig,
    RunSummary,
    SltRunner,
)


def build_parser(prog: str = "laminar-pg slt") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Run sqllogictest scripts (*.slt, *.test) against a server."
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="script files or directories")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--protocol",
        choices=[protocol.value for protocol in Protocol],
        default=Protocol.SIMPLE.value,
        help="simple Query messages or prepared statements (extended protocol)",
    )
    parser.add_argument(
        "--engine",
        default=DEFAULT_ENGINE,
        help=f"engine name for skipif/onlyif (default {DEFAULT_ENGINE})",
    )
    parser.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    parser.add_argument("--verbose", action="store_true", help="print every failure in full")
    parser.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report here")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    config = RunnerConfig(
        url=args.url,
        protocol=Protocol(args.protocol),
        engine=args.engine,
        fail_fast=args.fail_fast,
    )
    out = sys.stdout

    def report(result: FileResult) -> None:
        _print_file(result, verbose=args.verbose, out=out)

    summary = SltRunner(config).run_paths(args.paths, on_file=report)
    print(summary.summary_line(), file=out)
    if args.junit:
        write_junit(summary, Path(args.junit))
    return 0 if summary.ok and summary.files else 1


def _print_file(result: FileResult, *, verbose: bool, out: TextIO) -> None:
    if result.error is not None:
        print(f"ERROR {result.error}", file=out)
    for failure in result.failures:
        if verbose:
            print(failure.render(max_lines=None), file=out)
        else:
            print(f"FAIL {failure.location}: {failure.reason}", file=out)
    print(result.summary_line(), file=out)


def write_junit(summary: RunSummary, path: Path) -> None:
    """One <testsuite> per script, one <testcase> per statement or query record."""
    suites = ET.Element(
        "testsuites",
        tests=str(summary.run + summary.skipped),
        failures=str(summary.failed),
        skipped=str(summary.skipped),
        time=f"{summary.seconds:.3f}",
    )
    for result in summary.files:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=result.path,
            tests=str(result.run + result.skipped),
            failures=str(result.failed),
            skipped=str(result.skipped),
            time=f"{result.seconds:.3f}",
        )
        if result.error is not None:
            case = ET.SubElement(suite, "testcase", classname=result.path, name="script")
            ET.SubElement(case, "error", message=result.error)
        for record in result.records:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=result.path,
                name=f"{record.kind} at line {record.location.line}",
                time=f"{record.seconds:.6f}",
            )
            if record.outcome is Outcome.SKIPPED:
                ET.SubElement(case, "skipped")
            elif record.failure is not None:
                element = ET.SubElement(case, "failure", message=record.failure.reason)
                element.text = record.failure.render(max_lines=None)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


if __name__ == "__main__":
    sys.exit(main())

"""pgjdbc (Debian's /usr/share/java/postgresql.jar, 42.5) against a real laminar_pg server.

ClientTest.java is compiled with plain `javac` into a temporary directory and run once; it
prints one `ok NAME` or `FAIL NAME: ...` line per check, and each check is reported here as
its own test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from laminar_pg.testing.server import LaminarServer

SOURCE = Path(__file__).parent / "java" / "ClientTest.java"
PGJDBC_JAR = Path("/usr/share/java/postgresql.jar")
TIMEOUT_S = 180

CHECKS = [
    "connect and startup settings",
    "Statement query",
    "PreparedStatement parameters x10",
    "ResultSetMetaData",
    "fetch-size cursor",
    "error then more queries",
]

_LINE = re.compile(r"^(ok|FAIL) +(.+?)(?: \(\d+ ms\)$|: )", re.MULTILINE)


@dataclass(frozen=True)
class JavaRun:
    returncode: int
    output: str
    outcomes: dict[str, str]  # check name -> "ok" | "FAIL"


def compile_with_pgjdbc(source: Path, classes: Path) -> Path:
    """Compile a Java program against Debian's pgjdbc into `classes` (skips only where
    `make install` did not run: it installs the JDK and the jar)."""
    for tool in ("javac", "java"):
        if shutil.which(tool) is None:
            pytest.skip(f"`{tool}` is not installed (apt-get install default-jdk-headless)")
    if not PGJDBC_JAR.is_file():
        pytest.skip(f"{PGJDBC_JAR} is missing (apt-get install libpostgresql-jdbc-java)")
    compiled = subprocess.run(
        ["javac", "-encoding", "UTF-8", "-cp", str(PGJDBC_JAR), "-d", str(classes), str(source)],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return classes


@pytest.fixture(scope="module")
def java_run(server: LaminarServer, tmp_path_factory: pytest.TempPathFactory) -> JavaRun:
    classes = compile_with_pgjdbc(SOURCE, tmp_path_factory.mktemp("java-classes"))
    url = f"jdbc:postgresql://{server.host}:{server.port}/laminar?user=laminar"
    proc = subprocess.run(
        ["java", "-Dfile.encoding=UTF-8", "-cp", f"{classes}:{PGJDBC_JAR}", "ClientTest", url],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )
    output = proc.stdout + proc.stderr
    outcomes = {name: status for status, name in _LINE.findall(output)}
    return JavaRun(proc.returncode, output, outcomes)


def test_program_runs_every_check(java_run: JavaRun) -> None:
    assert sorted(java_run.outcomes) == sorted(CHECKS), java_run.output
    expected = 0 if all(s == "ok" for s in java_run.outcomes.values()) else 1
    assert java_run.returncode == expected, java_run.output


@pytest.mark.parametrize("check", CHECKS)
def test_pgjdbc(java_run: JavaRun, check: str) -> None:
    assert java_run.outcomes.get(check) == "ok", java_run.output

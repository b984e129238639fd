"""psql, the client every user tries first: -c, scripts, and an interactive session."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from laminar_pg.testing.server import LaminarServer


def psql(server: LaminarServer, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-h", server.host, "-p", str(server.port), "-U", "laminar", *args],
        capture_output=True, text=True, timeout=60, input=input,
    )


def test_psql_c_select_1(server: LaminarServer) -> None:
    out = psql(server, "-c", "select 1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:4] == [" ?column? ", "----------", "        1", "(1 row)"]


def test_psql_default_user_and_database_with_only_host_and_port(server: LaminarServer) -> None:
    out = subprocess.run(
        ["psql", "-X", "-h", "localhost", "-p", str(server.port), "-At", "-c",
         "select current_user, current_database()"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    user = os.environ.get("PGUSER") or os.environ.get("USER") or "root"
    assert out.stdout.strip() == f"{user}|{os.environ.get('PGDATABASE') or user}"


def test_psql_error_shows_sqlstate_and_position(server: LaminarServer) -> None:
    out = psql(server, "-v", "VERBOSITY=verbose", "-c", "selec 1")
    assert out.returncode == 1
    assert "ERROR:  42601" in out.stderr
    assert "LINE 1: selec 1" in out.stderr


def test_psql_script_with_error_continues(server: LaminarServer) -> None:
    script = "select 'before';\nselect nope;\nselect 'after';\n"
    out = psql(server, "-At", input=script)
    assert out.stdout.split() == ["before", "after"]
    assert 'column "nope" does not exist' in out.stderr


def test_psql_interactive_session(server: LaminarServer) -> None:
    """A real terminal session: prompt, a query, \\set, a transaction, then \\q."""
    pid, fd = pty.fork()
    if pid == 0:  # child: exec psql on the pty
        os.environ["PAGER"] = "cat"
        os.execvp("psql", ["psql", "-X", "-P", "pager=off", "-h", server.host, "-p", str(server.port), "-U", "laminar"])
    output = b""

    def read_until(marker: bytes, timeout: float = 20) -> bytes:
        nonlocal output
        deadline = time.monotonic() + timeout
        while marker not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    break
        assert marker in output, output.decode(errors="replace")
        return output

    try:
        read_until(b"=>")  # prompt: "laminar=>" (not a superuser prompt '#'? we report is_superuser=on)
    except AssertionError:
        read_until(b"=#")
    os.write(fd, b"select 40 + 2 as answer;\n")
    read_until(b"42")
    os.write(fd, b"begin;\n")
    read_until(b"BEGIN")
    os.write(fd, b"select 'in tx';\n")
    read_until(b"in tx")
    os.write(fd, b"commit;\n")
    read_until(b"COMMIT")
    os.write(fd, b"\\q\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert b"answer" in output

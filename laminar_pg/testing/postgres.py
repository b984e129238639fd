"""A throwaway real PostgreSQL 15 server for tests and benchmarks.

Strategy: `initdb` a fresh cluster into a temporary directory (trust auth, no fsync, so it
takes a second or two), rewrite `pg_hba.conf` for the requested method, start the postmaster
on a loopback port with its socket in the same directory, and tear everything down with
`pg_ctl stop -m immediate` plus `rmtree`.  PostgreSQL refuses to run as root, so when we are
root the directory is handed to the `postgres` OS user and the server binaries run under
`runuser -u postgres --`.

The local (Unix socket) connection for the `postgres` superuser is always `trust`: it is the
admin channel `psql()` uses, whatever method the TCP lines ask for.

    with start_postgres(hba="scram-sha-256", password="secret") as pg:
        pg.psql("CREATE ROLE u LOGIN PASSWORD 'pw'")
        psycopg.connect(pg.dsn_for("u", "pw"))
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

PG_BINDIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
_OS_USER = "postgres"  # the account the server runs as when we are root
_HBA_METHODS = frozenset({"trust", "reject", "scram-sha-256", "md5", "password"})
_START_TIMEOUT_S = 30.0


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL 15 binaries (or, as root, the `postgres` OS user) are missing."""


def postgres_unavailable_reason(bindir: Path = PG_BINDIR) -> str | None:
    """Why a throwaway server cannot be started here, or None when it can (for skip markers)."""
    for tool in ("initdb", "pg_ctl", "pg_isready", "psql", "postgres"):
        if not (bindir / tool).is_file():
            return f"PostgreSQL 15 binary {bindir / tool} not found"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root but `runuser` is not installed"
        try:
            import pwd

            pwd.getpwnam(_OS_USER)
        except KeyError:
            return f"running as root but there is no `{_OS_USER}` OS user to run the server"
    return None


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _conf_value(value: object) -> str:
    """A postgresql.conf value: booleans and numbers bare, everything else single-quoted."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def sql_literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings on: only quotes are doubled)."""
    if "\x00" in text:
        raise ValueError("a SQL string literal cannot contain NUL")
    return "'" + text.replace("'", "''") + "'"


def _libpq_value(value: str) -> str:
    """A libpq key=value value, quoted when it needs to be."""
    if value and not any(c in value for c in " '\\\t\n"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class PostgresServer:
    """One throwaway PostgreSQL 15 cluster; `start()` / `stop()` or use as a context manager.

    `hba` is the pg_hba.conf method for TCP connections on 127.0.0.1/32 and ::1/128 and for
    local-socket connections of users other than the superuser.  `password`, when given, is
    set for the `postgres` superuser after start-up and put into `dsn` / `url`.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        hba: str = "trust",
        settings: Mapping[str, object] | None = None,
        password: str | None = None,
        bindir: Path = PG_BINDIR,
    ) -> None:
        if hba not in _HBA_METHODS:
            raise ValueError(f"unsupported pg_hba method {hba!r}; one of {sorted(_HBA_METHODS)}")
        self.host = "127.0.0.1"
        self.port = port
        self.hba = hba
        self.settings: dict[str, object] = dict(settings or {})
        self.password = password
        self.bindir = bindir
        self.user = SUPERUSER
        self.dbname = "postgres"
        self._requested_port = port
        self._as_root = os.geteuid() == 0
        self._tmpdir: Path | None = None
        self._running = False

    # ------------------------------------------------------------------ properties

    @property
    def tmpdir(self) -> Path:
        """The temporary directory holding the cluster (`data/`), socket and log."""
        if self._tmpdir is None:
            raise RuntimeError("the server has not been started")
        return self._tmpdir

    @property
    def datadir(self) -> Path:
        return self.tmpdir / "data"

    @property
    def logfile(self) -> Path:
        return self.tmpdir / "postgres.log"

    @property
    def dsn(self) -> str:
        """libpq key=value connection string for the superuser over TCP."""
        return self.dsn_for(self.user, self.password)

    @property
    def url(self) -> str:
        """postgresql:// URL for the superuser over TCP."""
        return self.url_for(self.user, self.password)

    def dsn_for(self, user: str, password: str | None = None, dbname: str | None = None) -> str:
        """libpq key=value connection string for `user` over TCP."""
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": user,
            "dbname": dbname or self.dbname,
        }
        if password is not None:
            parts["password"] = password
        return " ".join(f"{k}={_libpq_value(v)}" for k, v in parts.items())

    def url_for(self, user: str, password: str | None = None, dbname: str | None = None) -> str:
        """postgresql:// URL for `user` over TCP."""
        from urllib.parse import quote

        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return (
            f"postgresql://{auth}@{self.host}:{self.port}/{quote(dbname or self.dbname, safe='')}"
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PostgresServer:
        """initdb, configure and start the server; wait until it accepts connections."""
        if self._running:
            return self
        reason = postgres_unavailable_reason(self.bindir)
        if reason is not None:
            raise PostgresUnavailable(reason)
        atexit.register(self.stop)
        try:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="laminar-pg15-"))
            if self._as_root:
                shutil.chown(self._tmpdir, _OS_USER, _OS_USER)
            self._initdb()
            self._write_hba()
            self._write_settings()
            self._start_postmaster()
            if self.password is not None:
                self.psql(f"ALTER ROLE {SUPERUSER} PASSWORD {sql_literal(self.password)}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server immediately (if running) and remove its directory. Idempotent."""
        atexit.unregister(self.stop)
        try:
            if self._running and self._tmpdir is not None:
                self._run_server_tool(
                    ["pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate", "-w"],
                    check=False,
                )
        finally:
            self._running = False
            if self._tmpdir is not None:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ queries

    def psql(self, sql: str, *, dbname: str | None = None) -> str:
        """Run `sql` with psql as the superuser over the Unix socket; return its stdout.

        Output is unaligned, tuples only (`-XAtq`), so a single value comes back bare.
        Raises `subprocess.CalledProcessError` (with psql's stderr) when a statement fails.
        """
        cmd = [
            str(self.bindir / "psql"),
            "-XAtq",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.tmpdir),
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            dbname or self.dbname,
            "-f",
            "-",
        ]
        proc = subprocess.run(
            cmd,
            input=sql,
            capture_output=True,
            text=True,
            cwd=self.tmpdir,
            check=False,
            env=self._env(),
        )
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, proc.stderr)
        return proc.stdout

    # ------------------------------------------------------------------ internals

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        return env

    def _run_server_tool(
        self, argv: list[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a server binary, as the `postgres` OS user when we are root."""
        cmd = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", _OS_USER, "--", *cmd]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self.tmpdir, check=False, env=self._env()
        )
        if check and proc.returncode != 0:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}{log}"
            )
        return proc

    def _initdb(self) -> None:
        self._run_server_tool(
            [
                "initdb",
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )

    def _write_hba(self) -> None:
        method = self.hba
        lines = [
            "# written by laminar_pg.testing.postgres",
            f"local all {SUPERUSER} trust",
            f"local all all {method}",
            f"host all all 127.0.0.1/32 {method}",
            f"host all all ::1/128 {method}",
        ]
        (self.datadir / "pg_hba.conf").write_text("\n".join(lines) + "\n")

    def _write_settings(self) -> None:
        if not self.settings:
            return
        extra = "".join(f"{k} = {_conf_value(v)}\n" for k, v in self.settings.items())
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n# laminar_pg.testing.postgres settings\n" + extra)

    def _start_postmaster(self) -> None:
        """pg_ctl start on the requested port, or on a free one (retried if another process
        grabbed it between our probe and the postmaster's bind)."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        attempts = 3 if self._requested_port == 0 else 1
        for attempt in range(1, attempts + 1):
            self.port = self._requested_port or free_loopback_port()
            options = shlex.join(
                [
                    "-p", str(self.port),
                    "-c", "listen_addresses=127.0.0.1",
                    "-k", str(self.tmpdir),
                    "-c", "fsync=off",
                ]
            )  # fmt: skip
            # Count it as running from here: if pg_ctl times out the postmaster may still be
            # up, and stop() must then take it down (stopping a stopped server is harmless).
            self._running = True
            proc = self._run_server_tool(
                [
                    "pg_ctl", "start", "-w", "-t", str(int(_START_TIMEOUT_S)),
                    "-D", str(self.datadir), "-l", str(self.logfile), "-o", options,
                ],
                check=attempt == attempts or not self._port_was_taken(),
            )  # fmt: skip
            if proc.returncode == 0:
                break
        self._wait_ready(deadline)

    def _port_was_taken(self) -> bool:
        log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
        return "could not bind" in log or "already in use" in log

    def _wait_ready(self, deadline: float) -> None:
        """Poll pg_isready over TCP until the server accepts connections (pg_ctl -w already
        waited for the postmaster; this also proves the TCP listener is up)."""
        cmd = [
            str(self.bindir / "pg_isready"),
            "-q",
            "-h", self.host,
            "-p", str(self.port),
            "-U", self.user,
            "-d", self.dbname,
        ]  # fmt: skip
        while True:
            rc = subprocess.run(cmd, cwd=self.tmpdir, env=self._env(), check=False).returncode
            if rc == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not become ready on port {self.port}")
            time.sleep(0.05)


@contextmanager
def start_postgres(
    *,
    port: int = 0,
    hba: str = "trust",
    settings: Mapping[str, object] | None = None,
    password: str | None = None,
) -> Iterator[PostgresServer]:
    """Run a throwaway PostgreSQL 15 server for the duration of the `with` block."""
    server = PostgresServer(port=port, hba=hba, settings=settings, password=password)
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""Run a real laminar_pg server process for tests and benchmarks.

The server is started with `--port 0`; we wait for DATA_DIR/server.json (written when it
is ready to run queries), never for a fixed time. The metrics endpoint is off unless a
test asks for it (`metrics=True`: a free port, read back from server.json), so servers
started in parallel never compete for port 6876.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType


@dataclass
class LaminarServer:
    """A `laminar-pg serve` subprocess on a free loopback port."""

    extra_args: list[str] = field(default_factory=list)
    data_dir: Path | None = None
    env: dict[str, str] | None = None
    metrics: bool = False
    host: str = "127.0.0.1"
    port: int = 0
    metrics_port: int | None = None
    pid: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self, timeout: float = 60.0) -> LaminarServer:
        if self.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="laminar-test-")
            self.data_dir = Path(self._tmp.name) / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        info_path = self.data_dir / "server.json"
        info_path.unlink(missing_ok=True)
        self.log_path = self.data_dir.parent / f"server-{os.getpid()}-{time.time_ns()}.log"
        args = [
            sys.executable, "-m", "laminar_pg", "serve", "--host", self.host, "--port", "0",
            "--data-dir", str(self.data_dir), "--workers", "1",
            "--metrics-port", "0" if self.metrics else "off",
            *self.extra_args,
        ]
        env = dict(os.environ)
        env.update(self.env or {})
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"laminar-pg exited with {self.process.returncode}:\n{self.log()}")
            if info_path.exists():
                try:
                    info = json.loads(info_path.read_text())
                except json.JSONDecodeError:
                    info = None
                if info:
                    self.port = int(info["port"])
                    found = info.get("metrics_port")
                    self.metrics_port = int(found) if found is not None else None
                    self.pid = int(info["pid"])
                    return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"laminar-pg did not become ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user=laminar dbname=laminar"

    @property
    def metrics_url(self) -> str:
        if self.metrics_port is None:
            raise RuntimeError("this server runs without metrics (LaminarServer(metrics=True))")
        return f"http://{self.host}:{self.metrics_port}/metrics"

    @property
    def url(self) -> str:
        return f"postgresql://laminar@{self.host}:{self.port}/laminar"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        proc = self.process
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.process = None
        return proc.returncode

    def cleanup(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LaminarServer:
        return self.start() if self.process is None else self

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()

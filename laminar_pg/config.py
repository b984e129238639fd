"""Server configuration, read in one place: CLI flags over environment over defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    """'100us', '500ms', '10s', '1m' or a plain number of seconds -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 100us, 500ms, 10s, 1m or 2.5)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 6875
    data_dir: Path = Path("laminar-data")
    workers: int = max(1, os.cpu_count() or 1)
    metrics_port: int | None = 6876
    operator_metrics: bool = True  # per-operator counters (--operator-metrics on|off)
    barrier_interval: float = 0.2
    checkpoint_interval: float = 10.0
    checkpoints_retained: int = 3
    auth: str | None = None  # None: trust on loopback, SCRAM when a password file is given
    password_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_format: str = "text"
    log_level: str = "info"
    max_message_bytes: int = 64 * 1024 * 1024

    @property
    def auth_method(self) -> str:
        """'scram' or 'trust' (the explicit flag wins; a password file implies scram)."""
        if self.auth is not None:
            return self.auth
        return "scram" if self.password_file is not None else "trust"

    @property
    def trust_remote(self) -> bool:
        """Non-loopback clients are accepted without a password only with --auth trust."""
        return self.auth == "trust"

"""The state every session shares: configuration, the SQL engine, process ids."""

from __future__ import annotations

import itertools
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

from laminar_pg.config import Config
from laminar_pg.session import engine


class Database:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.started_at = time.time()
        self.duck = engine.open_engine()
        # DuckDB releases the GIL while it runs: queries of several sessions overlap.
        # Threads mostly wait (pg_sleep) or run DuckDB without the GIL; a generous pool
        # keeps a few long queries from queueing everyone else's.
        self.executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="sql")
        self._pids = itertools.count((os.getpid() % 10000) * 100000 + 1)

    def next_process_id(self) -> tuple[int, int]:
        return next(self._pids) & 0x7FFFFFFF, secrets.randbits(31)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.duck.close()

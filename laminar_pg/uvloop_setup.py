"""Choose the event loop once, at start-up: uvloop where available (as uvicorn does)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep a fallback
        return asyncio.run(main)
    return uvloop.run(main)

"""Capturing a dataflow's state at a barrier, and merging it back into a fresh one.

Strategy (docs/architecture.md "Checkpoints and recovery"):

- Capture (pipeline thread, right after a barrier has passed every operator, so every
  state is exactly as of that epoch): each dataflow's operators, node counters and source
  readers are pickled (protocol 5). Plan objects (compiled expressions, closures, numba
  dispatchers, generators, change feeds: whatever the planner rebuilds from the
  definition) are pickled as a reference, never as data; derived and scratch attributes
  are left out by the classes' `__getstate__`. Every large buffer goes out of band:
  Arrow buffers (immutable) are referenced; a mutable numpy array is fingerprinted per
  page and only the pages changed since the last written checkpoint are copied (into a
  pool of warm page buffers), the others referenced by their stored name, pages of zeros
  by the one zero page. Nothing else happens on the pipeline thread.
- Restore: the planner rebuilds the dataflow from its definition; `restore_flow`
  unpickles the saved tree and merges it into the fresh one: saved data replaces fresh
  data, plan references keep the fresh plan objects. A flow whose operators do not match
  the saved ones raises RestoreMismatch (the caller then starts it from scratch, which is
  exact too).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import io
import pickle
import threading
import types
from concurrent.futures import Future
from typing import Any

import numba
import numpy as np

PAGE_BYTES = 256 << 10
INLINE_BYTES = 16 << 10  # smaller buffers stay in the payload
NODE_FIELDS = ("rows_in", "rows_out", "chunks_in", "watermark")

# ------------------------------------------------------------------ plan references


class _PlanRef:
    """Stands, in a saved tree, for an object the planner rebuilds (restore keeps the
    fresh one)."""

    def __repr__(self) -> str:
        return "<plan>"


PLAN = _PlanRef()


def _plan_types() -> tuple[type, ...]:
    from numba.core.dispatcher import Dispatcher

    from laminar_pg.engine.change_feed import ChangeFeed
    from laminar_pg.engine.expr.nodes import CompiledExpr
    from laminar_pg.engine.sources.base import Generator

    return (types.MethodType, functools.partial, Dispatcher, CompiledExpr, ChangeFeed,
            Generator, Future, type(threading.Lock()), type(threading.RLock()),
            threading.Event)


class _Pickler(pickle.Pickler):
    """Pickles plan objects as a reference. A module-level function pickles by name as
    usual (reduce functions are such, and must stay callable); a closure or lambda is
    the planner's and is a plan object."""

    plan_types: tuple[type, ...] = ()

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, self.plan_types):
            return "plan"
        if isinstance(obj, types.FunctionType) and "<" in obj.__qualname__:
            return "plan"
        return None


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        if pid != "plan":
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return PLAN


def _holds_plan(value: Any, memo: dict[int, bool]) -> bool:
    """Whether a saved value contains a plan reference anywhere (containers and plain
    objects are searched; arrays and scalars cannot hold one)."""
    if value is PLAN:
        return True
    key = id(value)
    if key in memo:
        return memo[key]
    memo[key] = False  # cycles
    if isinstance(value, (list, tuple, set, frozenset, collections.deque)):
        found = any(_holds_plan(v, memo) for v in value)
    elif isinstance(value, dict):
        found = any(_holds_plan(v, memo) for v in value.values())
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        found = any(_holds_plan(v, memo) for v in vars(value).values())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        found = any(_holds_plan(getattr(value, f.name), memo)
                    for f in dataclasses.fields(value))
    else:
        found = False
    memo[key] = found
    return found


def _merge(fresh: Any, saved: Any, memo: dict[int, bool]) -> Any:
    """The restored value: saved data, with the fresh plan objects where the saved tree
    holds plan references."""
    if saved is PLAN:
        return fresh
    if not _holds_plan(saved, memo):
        return saved
    if isinstance(saved, (list, tuple)):
        if not isinstance(fresh, (list, tuple)) or len(fresh) != len(saved):
            raise RestoreMismatch(f"a list of {len(saved)} plan objects became {fresh!r}")
        merged = [_merge(f, s, memo) for f, s in zip(fresh, saved, strict=True)]
        if isinstance(saved, tuple):
            return type(saved)(*merged) if hasattr(saved, "_fields") else tuple(merged)
        return merged
    if isinstance(saved, dict):
        if not isinstance(fresh, dict):
            raise RestoreMismatch("a mapping of plan objects changed shape")
        return {k: _merge(fresh.get(k), v, memo) for k, v in saved.items()}
    if isinstance(saved, (set, frozenset, collections.deque)):
        # no way to pair their plan objects with the fresh ones: start from scratch
        raise RestoreMismatch(f"a {type(saved).__name__} holds plan objects")
    if type(fresh) is not type(saved):
        raise RestoreMismatch(f"{type(saved).__name__} became {type(fresh).__name__}")
    _merge_into(fresh, saved, memo)
    return fresh


def _merge_into(fresh: Any, saved: Any, memo: dict[int, bool]) -> None:
    if hasattr(saved, "__dict__"):
        items = list(vars(saved).items())
    else:
        items = [(f.name, getattr(saved, f.name)) for f in dataclasses.fields(saved)]
    for name, value in items:
        object.__setattr__(fresh, name, _merge(getattr(fresh, name, None), value, memo))


class RestoreMismatch(Exception):
    """The saved state does not fit the dataflow the planner built now."""


# ------------------------------------------------------------------ capture / restore

WORDS_PER_PAGE = PAGE_BYTES // 8


@numba.njit(nogil=True, cache=True)
def page_fingerprints(words: np.ndarray) -> np.ndarray:
    """Per PAGE_BYTES of `words` (uint64), a 256-bit fingerprint: four lanes, each a
    chain of xor, multiply and rotate over every fourth word (a bijection of its state
    per word, so one changed word changes its lane). Reads at memory speed, several times
    faster than copying on this kind of machine: a capture fingerprints every mutable
    buffer and copies only the pages whose fingerprint changed since the last checkpoint
    (a page whose fingerprint matches is the page already stored under its SHA-256)."""
    n = words.shape[0]
    pages = (n + WORDS_PER_PAGE - 1) // WORDS_PER_PAGE
    out = np.empty((pages, 4), dtype=np.uint64)
    p1 = np.uint64(0x9E3779B97F4A7C15)
    p2 = np.uint64(0xC2B2AE3D27D4EB4F)
    r = np.uint64(29)
    rl = np.uint64(35)
    for page in range(pages):
        lo = page * WORDS_PER_PAGE
        hi = min(n, lo + WORDS_PER_PAGE)
        a0 = np.uint64(hi - lo)
        a1 = np.uint64(0x165667B19E3779F9)
        a2 = np.uint64(0x27D4EB2F165667C5)
        a3 = np.uint64(0x85EBCA77C2B2AE63)
        i = lo
        while i + 4 <= hi:
            a0 = (a0 ^ words[i]) * p1
            a0 = (a0 << r) | (a0 >> rl)
            a1 = (a1 ^ words[i + 1]) * p2
            a1 = (a1 << r) | (a1 >> rl)
            a2 = (a2 ^ words[i + 2]) * p1
            a2 = (a2 << r) | (a2 >> rl)
            a3 = (a3 ^ words[i + 3]) * p2
            a3 = (a3 << r) | (a3 >> rl)
            i += 4
        while i < hi:
            a0 = (a0 ^ words[i]) * p2
            a0 = (a0 << r) | (a0 >> rl)
            i += 1
        out[page, 0] = a0
        out[page, 1] = a1
        out[page, 2] = a2
        out[page, 3] = a3
    return out


@dataclasses.dataclass
class CapturedBuffer:
    """One out-of-band buffer of a capture: its pages, each either its content (copied,
    or a view of an immutable Arrow buffer) or, unchanged since the last checkpoint, the
    name that checkpoint stored it under."""

    size: int
    pages: list[bytes | bytearray | memoryview | Known]
    fingerprints: np.ndarray | None = None  # of a mutable buffer
    names: list[bytes] | None = None  # filled in once written


@dataclasses.dataclass(frozen=True, slots=True)
class Known:
    name: bytes


ZERO_PAGE = Known(hashlib.sha256(bytes(PAGE_BYTES)).digest())


@functools.cache
def _zero_print() -> np.ndarray:
    zero_print: np.ndarray = page_fingerprints(np.zeros(WORDS_PER_PAGE, dtype=np.uint64))[0]
    return zero_print


def _capture_buffer(raw: memoryview, previous: tuple[int, np.ndarray, list[bytes]] | None,
                    pool: list[bytearray] | None = None) -> CapturedBuffer:
    """`pool`: page buffers to copy into (warm memory: copying into fresh memory costs a
    page fault per 4 KiB, several times the copy itself); the writer gives them back."""
    size = raw.nbytes
    if raw.readonly:  # an Arrow buffer never changes: referenced, hashed by the writer
        return CapturedBuffer(size, [raw[i:i + PAGE_BYTES] for i in range(0, size, PAGE_BYTES)])
    whole = size // 8
    words = np.frombuffer(raw, dtype=np.uint64, count=whole)
    prints = page_fingerprints(words)
    if size % 8:  # the bytes past the last whole word, folded into the last page's print
        tail = int.from_bytes(raw[whole * 8:], "little") | (1 << 63)
        if prints.shape[0] * WORDS_PER_PAGE * 8 < size:  # they start a page of their own
            prints = np.vstack([prints, np.zeros((1, 4), dtype=np.uint64)])
        prints[-1, 0] ^= np.uint64(tail)
    pages: list[bytes | bytearray | memoryview | Known] = []
    same = np.zeros(prints.shape[0], dtype=np.bool_)
    if previous is not None:  # page by page: a grown array keeps its old pages in front
        common = min(previous[1].shape[0], prints.shape[0])
        same[:common] = (previous[1][:common] == prints[:common]).all(axis=1)
    # a full page of zeros (the unused capacity of a grown array) is the one zero page
    zero = (prints == _zero_print()).all(axis=1)
    for index, start in enumerate(range(0, size, PAGE_BYTES)):
        if same[index]:
            pages.append(Known(previous[2][index]))  # type: ignore[index]
        elif zero[index]:
            pages.append(ZERO_PAGE)
        elif pool is not None and start + PAGE_BYTES <= size:
            page = pool.pop() if pool else bytearray(PAGE_BYTES)
            page[:] = raw[start:start + PAGE_BYTES]  # copied: it goes on changing
            pages.append(page)
        else:
            pages.append(bytes(raw[start:start + PAGE_BYTES]))
    return CapturedBuffer(size, pages, prints)


@dataclasses.dataclass
class FlowState:
    """One dataflow's state as of a barrier (captured on the pipeline thread)."""

    oid: int
    name: str
    definition: str  # sha256 of the definition the flow was built from
    labels: list[str]
    payload: bytes
    buffers: list[CapturedBuffer]
    sources: list[dict[str, Any]]
    rows: int | None  # a view's row count

    @property
    def nbytes(self) -> int:
        return len(self.payload) + sum(b.size for b in self.buffers)

    @property
    def copied(self) -> int:
        """Bytes the capture copied (the pages that changed)."""
        return sum(len(p) for b in self.buffers if b.fingerprints is not None
                   for p in b.pages if isinstance(p, (bytes, bytearray)))


def definition_key(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


Fingerprints = dict[tuple[int, int], tuple[int, np.ndarray, list[bytes]]]


def capture_flow(flow: Any, definition: str, previous: Fingerprints | None = None,
                 pool: list[bytearray] | None = None) -> FlowState:
    """Pickle a dataflow's state (pipeline thread, right after a barrier). `previous`:
    per (flow, buffer index), the size, page fingerprints and page names of the last
    written checkpoint, whose unchanged pages are referenced instead of copied."""
    tree = {
        "nodes": [(node.operator, {f: getattr(node, f) for f in NODE_FIELDS})
                  for node in flow.nodes],
        "readers": [reader for reader, _ in flow.readers],
    }
    buffers: list[CapturedBuffer] = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if raw.nbytes < INLINE_BYTES:
            return True  # in band
        last = previous.get((flow.oid, len(buffers))) if previous is not None else None
        buffers.append(_capture_buffer(raw, last, pool))
        return False

    out = io.BytesIO()
    pickler = _Pickler(out, protocol=5, buffer_callback=out_of_band)
    pickler.plan_types = _plan_types()
    pickler.dump(tree)
    sources = [{"source": node.source_oid, "positions": list(reader.positions),
                "events_read": reader.events_read, "done": reader.done}
               for reader, node in flow.readers]
    rows = getattr(flow.output, "rows", None)
    return FlowState(flow.oid, flow.name, definition, [n.label for n in flow.nodes],
                     out.getvalue(), buffers, sources, rows if isinstance(rows, int) else None)


def restore_flow(flow: Any, payload: bytes, buffers: list[bytearray], now: float) -> None:
    """Merge a saved state into a freshly planned dataflow (pipeline thread, before the
    flow is installed). Raises RestoreMismatch when the flow's shape differs."""
    tree = load_tree(payload, buffers)
    nodes = tree["nodes"]
    if len(nodes) != len(flow.nodes) or len(tree["readers"]) != len(flow.readers):
        raise RestoreMismatch("the dataflow has another number of operators or sources")
    for node, (saved, _) in zip(flow.nodes, nodes, strict=True):
        if type(saved) is not type(node.operator):
            raise RestoreMismatch(f"{node.label}: {type(saved).__name__} became "
                                  f"{type(node.operator).__name__}")
    memo: dict[int, bool] = {}
    for node, (saved, fields) in zip(flow.nodes, nodes, strict=True):
        _merge_into(node.operator, saved, memo)
        node.operator.after_restore()
        for name, value in fields.items():
            setattr(node, name, value)
    for (reader, _), saved in zip(flow.readers, tree["readers"], strict=True):
        _merge_into(reader, saved, memo)
        reader.resume(now)


def load_tree(payload: bytes, buffers: list[bytearray]) -> Any:
    """A saved flow's tree (plan references as PLAN), over its buffers."""
    return _Unpickler(io.BytesIO(payload), buffers=buffers).load()


"""What every built-in generator source shares: the `Generator` interface the dataflow
runtime reads, the factory `make_generator`, WITH-option parsing, and the numba pieces
the generators are built from (a counter-based random number generator and Arrow string
assembly from offsets and bytes).

Strategy: a generator is a pure function of (options, split, position range). Every
random value is `mix64` of (a key derived from the seed, the row's global index, a salt
naming the field), so any range of rows can be generated on its own, in any batch size,
by any split, with the same result: replay after a restart is `read` from the
checkpointed position. Kernels take and return numpy arrays; Arrow arrays are assembled
around their buffers without a copy.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from laminar_pg.config import parse_duration
from laminar_pg.errors import SqlError, error_for

U64 = np.uint64
GOLDEN = U64(0x9E3779B97F4A7C15)  # splitmix64's increment: successive draws of one stream
MAX_EVENTS_PER_READ = 1 << 22  # one read covers at most this many events (int32 offsets)

# Connectors of the contract that no code implements yet: refused with 0A000, never faked.
NOT_BUILT = ("kafka", "postgres-cdc", "mysql-cdc", "file", "csv", "json", "parquet", "s3")


class Generator(ABC):
    """A built-in source of events, read by split and position.

    `schema` holds the declared columns in declared order; `event_time_column` names the
    generator's own event-time field when it is declared (nexmark: 'date_time'), else
    None; `events_per_second` is the requested pacing (None: as fast as possible; pacing
    is the caller's job); `splits` is the number of independent readers.

    A position counts the events of one split, from 0. What an event is, and which
    events a split owns, is each generator's to define (see its module); whatever the
    split count and the read sizes, the union of all splits' rows is the same.
    """

    schema: pa.Schema
    event_time_column: str | None
    events_per_second: float | None
    splits: int
    max_events_per_read: int = MAX_EVENTS_PER_READ

    @abstractmethod
    def events_in(self, split: int) -> int | None:
        """How many events `split` has in all (None: unbounded)."""

    @abstractmethod
    def _columns(self, split: int, start: int, stop: int) -> list[pa.Array]:
        """The declared columns of the rows among events [start, stop) of `split`."""

    def exhausted(self, split: int, position: int) -> bool:
        """True when `split` has no event at `position` or later."""
        self._check_split(split)
        total = self.events_in(split)
        return total is not None and position >= total

    def read(self, split: int, position: int, max_events: int) -> tuple[pa.RecordBatch, int]:
        """The rows of events [position, position + max_events) of `split`, clamped to the
        split's end and to `max_events_per_read`; returns (batch, next_position).

        The batch may hold fewer rows than events covered (a table of one event kind), or
        none; `next_position == position` only when the split is exhausted or
        `max_events` is 0.
        """
        self._check_split(split)
        if position < 0 or max_events < 0:
            raise ValueError(f"position and max_events must be >= 0 ({position}, {max_events})")
        stop = position + min(max_events, self.max_events_per_read)
        total = self.events_in(split)
        if total is not None:
            stop = min(stop, total)
        if stop <= position:
            return _empty(self.schema), position
        batch = pa.RecordBatch.from_arrays(self._columns(split, position, stop), schema=self.schema)
        return batch, stop

    def _check_split(self, split: int) -> None:
        if not 0 <= split < self.splits:
            raise ValueError(f"split {split} out of range (this source has {self.splits})")


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema], schema=schema)


def make_generator(
    connector: str,
    columns: list[tuple[str, pa.DataType]],
    options: dict[str, str],
    default_splits: int,
) -> Generator:
    """The generator a CREATE SOURCE ... WITH (connector = ...) describes.

    `columns` are the declared (name, Arrow type) pairs, possibly none; `options` are
    the other WITH options, keys lowercased. Raises SqlError: 0A000 for a connector that
    is not built, 22023 for a bad or unknown option, 42703 / 42804 for a declared column
    the generator has no field for / a field of another type.
    """
    from laminar_pg.engine.sources.datagen import DatagenGenerator
    from laminar_pg.engine.sources.nexmark import NexmarkGenerator

    name = connector.strip().lower()
    opts = {k: v for k, v in options.items() if k != "connector"}
    if name == "nexmark":
        return NexmarkGenerator.from_options(columns, opts, default_splits)
    if name == "datagen":
        return DatagenGenerator.from_options(columns, opts, default_splits)
    if name in NOT_BUILT:
        raise error_for("0A000", f'connector "{connector}" is not built yet')
    raise error_for(
        "0A000",
        f'connector "{connector}" is not supported',
        hint="The built-in connectors are nexmark and datagen.",
    )


# --- WITH options --------------------------------------------------------------------


class Options:
    """One source's WITH options, taken key by key; `finish` refuses what nobody took."""

    def __init__(self, connector: str, options: dict[str, str]) -> None:
        self.connector = connector
        self._left = {k.lower(): v for k, v in options.items()}

    def keys(self) -> list[str]:
        return list(self._left)

    def take(self, key: str) -> str | None:
        return self._left.pop(key, None)

    def take_int(self, key: str, default: int | None, minimum: int | None = None) -> int | None:
        text = self.take(key)
        if text is None:
            return default
        return parse_int(key, text, minimum)

    def take_float(self, key: str, *, positive: bool = False) -> float | None:
        text = self.take(key)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            raise bad_option(key, text, "a number") from None
        if not np.isfinite(value) or (positive and value <= 0):
            raise bad_option(key, text, "a positive number" if positive else "a finite number")
        return value

    def finish(self, allowed: Iterable[str]) -> None:
        """Refuse (22023) the first option no parser took, naming what is allowed."""
        allowed = sorted(allowed)
        for key in sorted(self._left):
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f'Did you mean "{close[0]}"? ' if close else ""
            raise error_for(
                "22023",
                f'unknown option "{key}" for a {self.connector} source',
                hint=hint + "Allowed: " + ", ".join(allowed) + ".",
            )


def bad_option(key: str, value: str, expected: str) -> SqlError:
    return error_for("22023", f'invalid value for option "{key}": "{value}" (expected {expected})')


def parse_int(key: str, text: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        raise bad_option(key, text, "an integer") from None
    if minimum is not None and value < minimum:
        raise bad_option(key, text, f"an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise bad_option(key, text, f"an integer <= {maximum}")
    return value


def parse_duration_us(key: str, text: str) -> int:
    """A duration option in whole microseconds (sub-microsecond durations are refused)."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise bad_option(key, text, "a duration such as 100us, 500ms, 10s or 1m") from None
    micros = round(seconds * 1_000_000)
    if seconds > 0 and micros == 0:
        raise bad_option(key, text, "a duration of at least 1us, or 0")
    return micros


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp_us(key: str, text: str) -> int:
    """An ISO-8601 timestamp ('2015-07-15 00:00:00', '...T...Z', '...+02:00') as
    microseconds since the Unix epoch; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad_option(key, text, "a timestamp such as '2015-07-15 00:00:00'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


# --- declared columns ------------------------------------------------------------------

_SQL_NAMES: dict[pa.DataType, str] = {
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.int16(): "smallint",
    pa.string(): "varchar",
    pa.large_string(): "text",
    pa.float64(): "double precision",
    pa.float32(): "real",
    pa.bool_(): "boolean",
    pa.timestamp("us"): "timestamp",
}


def sql_type_name(data_type: pa.DataType) -> str:
    """How PostgreSQL would name an Arrow type in a message."""
    if pa.types.is_timestamp(data_type):
        return "timestamp with time zone" if data_type.tz else "timestamp"
    if pa.types.is_decimal(data_type):
        return "numeric"
    return _SQL_NAMES.get(data_type, str(data_type))


def check_unique(columns: Sequence[tuple[str, pa.DataType]]) -> None:
    seen: set[str] = set()
    for name, _ in columns:
        if name in seen:
            raise error_for("42701", f'column "{name}" specified more than once')
        seen.add(name)


def mix64_py(z: int) -> int:
    """`mix64` in plain Python, for pools and keys built once."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def salt_of(name: str) -> np.uint64:
    """A fixed random 64-bit word naming a field's stream of draws (FNV-1a, then mixed)."""
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & _MASK64
    return U64(mix64_py(h))


_MASK64 = (1 << 64) - 1


# --- Arrow assembly --------------------------------------------------------------------


def string_array(offsets: npt.NDArray[np.int32], data: npt.NDArray[np.uint8]) -> pa.Array:
    """A utf8 array over int32 `offsets` (n + 1) and `data` bytes, without a copy."""
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def timestamp_array(micros: npt.NDArray[np.int64], data_type: pa.DataType) -> pa.Array:
    """A timestamp array of `data_type` over int64 microseconds, without a copy."""
    return pa.Array.from_buffers(data_type, len(micros), [None, pa.py_buffer(micros)])


class StringPool:
    """A fixed list of strings as offsets + bytes, for kernels to gather from."""

    def __init__(self, values: Sequence[str]) -> None:
        encoded = [v.encode() for v in values]
        lengths = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=len(encoded))
        self.offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        self.data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
        self.lengths = lengths.astype(np.int32)
        self.values = tuple(values)

    def __len__(self) -> int:
        return len(self.values)

    def take(self, indices: npt.NDArray[np.int32]) -> pa.Array:
        return string_array(*gather_strings(self.offsets, self.data, indices))


# --- numba kernels: counter-based random numbers ---------------------------------------


@njit(inline="always", nogil=True, cache=True)
def mix64(z: np.uint64) -> np.uint64:
    """splitmix64's finaliser: a bijection of 64-bit words with full avalanche."""
    z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
    return z ^ (z >> U64(31))


@njit(inline="always", nogil=True, cache=True)
def row_hash(key: np.uint64, index: np.int64) -> np.uint64:
    """The random state of row `index` of the stream `key` (splitmix64 at that index)."""
    return mix64(key + U64(index) * GOLDEN)


@njit(inline="always", nogil=True, cache=True)
def draw(state: np.uint64, salt: np.uint64, k: int) -> np.uint64:
    """The k-th random word of field `salt` of the row whose state is `state`."""
    return mix64(state + salt + U64(k) * GOLDEN)


@njit(inline="always", nogil=True, cache=True)
def below(word: np.uint64, n: np.uint64) -> np.uint64:
    """A uniform integer in [0, n) from a random word (the high half of word * n)."""
    mask = U64(0xFFFFFFFF)
    a_hi = word >> U64(32)
    a_lo = word & mask
    b_hi = n >> U64(32)
    b_lo = n & mask
    lo_lo = a_lo * b_lo
    hi_lo = a_hi * b_lo
    lo_hi = a_lo * b_hi
    cross = (lo_lo >> U64(32)) + (hi_lo & mask) + lo_hi
    return a_hi * b_hi + (hi_lo >> U64(32)) + (cross >> U64(32))


@njit(inline="always", nogil=True, cache=True)
def below32(word: np.uint64, n: int) -> int:
    """A uniform integer in [0, n) for n < 2**32, from the high 32 bits of a word."""
    return int(((word >> U64(32)) * U64(n)) >> U64(32))


@njit(inline="always", nogil=True, cache=True)
def unit(word: np.uint64) -> float:
    """A uniform double in [0, 1) from the top 53 bits of a word."""
    return float(word >> U64(11)) * (1.0 / 9007199254740992.0)


# --- numba kernels: strings --------------------------------------------------------------


def _copy_bytes(
    typingctx: Any, dst: Any, dst_at: Any, src: Any, src_at: Any, count: Any
) -> tuple[Any, Any]:
    signature = types.void(dst, dst_at, src, src_at, count)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        target = context.make_array(sig.args[0])(context, builder, args[0])
        source = context.make_array(sig.args[2])(context, builder, args[2])
        at = [context.cast(builder, args[i], sig.args[i], types.intp) for i in (1, 3, 4)]
        cgutils.raw_memcpy(  # type: ignore[no-untyped-call]
            builder,
            builder.gep(target.data, [at[0]]),
            builder.gep(source.data, [at[1]]),
            at[2],
            1,
        )
        return context.get_dummy_value()

    return signature, codegen


# copy_bytes(dst, dst_at, src, src_at, count), in a kernel: dst[dst_at : dst_at + count] =
# src[src_at : src_at + count] as one llvm.memcpy (a numba slice assignment or byte loop
# costs five to ten times more for strings of tens of bytes).
copy_bytes: Any = intrinsic(_copy_bytes)


@njit(nogil=True, cache=True)
def gather_strings(
    pool_offsets: npt.NDArray[np.int64],
    pool_data: npt.NDArray[np.uint8],
    indices: npt.NDArray[np.int32],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """Offsets + bytes of the pool strings at `indices`, in order."""
    n = len(indices)
    offsets = np.empty(n + 1, dtype=np.int32)
    offsets[0] = 0
    total = 0
    for row in range(n):
        k = indices[row]
        total += pool_offsets[k + 1] - pool_offsets[k]
        offsets[row + 1] = total
    data = np.empty(total, dtype=np.uint8)
    for row in range(n):
        k = indices[row]
        start = pool_offsets[k]
        copy_bytes(data, offsets[row], pool_data, start, pool_offsets[k + 1] - start)
    return offsets, data


@njit(nogil=True, cache=True)
def random_letters(count: int, key: np.uint64) -> npt.NDArray[np.uint8]:
    """`count` uniform lowercase letters, a fixed function of `key`."""
    out = np.empty(count, dtype=np.uint8)
    for i in range(count):
        out[i] = 97 + below32(mix64(key + U64(i) * GOLDEN), 26)
    return out

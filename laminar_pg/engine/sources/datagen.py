"""The datagen generator (connector = 'datagen'): rows of sequence and random columns,
with RisingWave's option names.

    CREATE SOURCE s (id BIGINT, v DOUBLE, name VARCHAR, ts TIMESTAMP)
      WITH (connector = 'datagen',
            fields.id.kind = 'sequence', fields.id.start = '1', fields.id.end = '1000',
            fields.v.min = '0', fields.v.max = '10', fields.v.seed = '7',
            fields.name.length = '12', fields.ts.max_past = '1h',
            datagen.rows.per.second = '1000', datagen.split.num = '2');

Columns (the declared ones, in order; every one is generated):
- numbers (SMALLINT, INT, BIGINT, REAL, DOUBLE): `fields.<c>.kind` = 'random' (default)
  draws uniformly from [min, max] (`min` default 0, `max` default 32767; floats from
  [min, max)); 'sequence' is start, start + 1, ... (`start` default 0, `end` optional).
- VARCHAR: random alphanumeric strings of `fields.<c>.length` characters (default 10).
- BOOLEAN: random.
- TIMESTAMP / TIMESTAMPTZ: random in [base - max_past, base] (`max_past` a duration,
  default 1 day). `max_past_mode` = 'absolute' (default): the base is `basetime` (an
  ISO timestamp) or, without it, the time the source was created (RisingWave's default;
  set `basetime` for values that survive a restart); 'relative': the wall-clock time of
  each read (not replayable).
- `fields.<c>.seed` (any integer, default 0) picks the column's random stream; columns
  with the same seed still differ (the column name is part of the stream's key).

Rows: row r (r = 0, 1, ...) is a fixed function of r: a sequence column holds start + r,
a random column `mix64` of (seed, column, r). The source ends after `datagen.rows` rows,
or where a sequence ends (its `end`, or its type's maximum), whichever comes first;
otherwise it is unbounded. `datagen.rows.per.second` is the pacing (default: as fast as
possible, where RisingWave paces 10 rows/s). Split s of n (`datagen.split.num`, default
the worker count) owns rows s, s + n, s + 2n, ... as RisingWave's do; its position p is
row p * n + s. So the rows do not depend on the split count or the read sizes, and
`event_time_column` is None: the WATERMARK clause names the event-time column.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from numba import njit

from laminar_pg.engine.sources.base import (
    GOLDEN,
    U64,
    Generator,
    Options,
    bad_option,
    below,
    check_unique,
    mix64,
    mix64_py,
    parse_duration_us,
    parse_int,
    parse_timestamp_us,
    row_hash,
    salt_of,
    sql_type_name,
    string_array,
    timestamp_array,
    unit,
)
from laminar_pg.errors import error_for

DEFAULT_MIN = 0
DEFAULT_MAX = 32767
DEFAULT_LENGTH = 10
DEFAULT_MAX_PAST = "24h"
MAX_LENGTH = 1 << 16
ALPHANUMERIC = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8
).copy()

_INT_RANGES = {
    pa.int16(): (-(1 << 15), (1 << 15) - 1),
    pa.int32(): (-(1 << 31), (1 << 31) - 1),
    pa.int64(): (-(1 << 63), (1 << 63) - 1),
}
_FLOATS = (pa.float32(), pa.float64())
_NUMPY: dict[pa.DataType, type[np.generic]] = {
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}

OPTIONS = ("datagen.rows", "datagen.rows.per.second", "datagen.split.num")
_PARAMS = {
    "sequence": ("kind", "start", "end"),
    "number": ("kind", "min", "max", "seed"),
    "varchar": ("kind", "length", "seed"),
    "boolean": ("kind", "seed"),
    "timestamp": ("kind", "max_past", "max_past_mode", "basetime", "seed"),
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one column is generated."""

    name: str
    data_type: pa.DataType
    kind: str  # 'sequence' | 'random'
    key: np.uint64  # the random stream (seed and column name)
    low: int | float = 0  # sequence start / random min
    high: int | float | None = None  # sequence end / random max
    length: int = DEFAULT_LENGTH  # varchar
    max_past_us: int = 0  # timestamps
    base_us: int | None = None  # timestamps: None = the wall clock at each read

    def rows_available(self) -> int | None:
        """How many rows a sequence column can give before its end (None: unbounded)."""
        if self.kind != "sequence":
            return None
        end = self.high
        if end is None and self.data_type in _INT_RANGES:
            end = _INT_RANGES[self.data_type][1]
        if end is None:
            return None
        return max(0, int(np.floor(end - self.low)) + 1)


# --- kernels -------------------------------------------------------------------------


@njit(nogil=True, cache=True)
def _random_ints(
    rows: npt.NDArray[np.int64], key: np.uint64, low: int, span: np.uint64
) -> npt.NDArray[np.int64]:
    """low + a uniform integer in [0, span) per row; span 0 means all 2**64 values."""
    out = np.empty(len(rows), dtype=np.int64)
    for r in range(len(rows)):
        word = row_hash(key, rows[r])
        if span != U64(0):
            word = below(word, span)
        out[r] = np.int64(U64(low) + word)
    return out


@njit(nogil=True, cache=True)
def _random_floats(
    rows: npt.NDArray[np.int64], key: np.uint64, low: float, high: float
) -> npt.NDArray[np.float64]:
    out = np.empty(len(rows), dtype=np.float64)
    for r in range(len(rows)):
        out[r] = low + unit(row_hash(key, rows[r])) * (high - low)
    return out


@njit(nogil=True, cache=True)
def _random_bools(rows: npt.NDArray[np.int64], key: np.uint64) -> npt.NDArray[np.bool_]:
    out = np.empty(len(rows), dtype=np.bool_)
    for r in range(len(rows)):
        out[r] = (row_hash(key, rows[r]) >> U64(63)) == U64(1)
    return out


@njit(nogil=True, cache=True)
def _random_alphanumerics(
    rows: npt.NDArray[np.int64], key: np.uint64, length: int, alphabet: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """`length` characters of `alphabet` (62) per row, 3 from each half of a word."""
    data = np.empty(len(rows) * length, dtype=np.uint8)
    for r in range(len(rows)):
        state = row_hash(key, rows[r])
        at = r * length
        fraction = U64(0)
        for c in range(length):
            if c % 3 == 0:
                word = mix64(state + U64(1 + c // 6) * GOLDEN)
                fraction = word >> U64(32) if c % 6 == 0 else word & U64(0xFFFFFFFF)
            fraction = fraction * U64(62)
            data[at + c] = alphabet[int(fraction >> U64(32))]
            fraction = fraction & U64(0xFFFFFFFF)
    return data


# --- the generator -------------------------------------------------------------------


class DatagenGenerator(Generator):
    """Rows of sequence and random columns (see the module docstring)."""

    def __init__(
        self,
        fields: list[FieldSpec],
        *,
        rows: int | None = None,
        rows_per_second: float | None = None,
        splits: int = 1,
    ) -> None:
        self.fields = fields
        self.schema = pa.schema([pa.field(f.name, f.data_type) for f in fields])
        self.event_time_column = None
        self.events_per_second = rows_per_second
        self.splits = splits
        widest = max((f.length for f in fields if f.data_type == pa.string()), default=1)
        self.max_events_per_read = min(self.max_events_per_read, (2**31 - 1) // max(widest, 1) - 1)
        limits = [n for n in (f.rows_available() for f in fields) if n is not None]
        if rows is not None:
            limits.append(rows)
        self.rows = min(limits) if limits else None

    @classmethod
    def from_options(
        cls, columns: list[tuple[str, pa.DataType]], options: dict[str, str], default_splits: int
    ) -> DatagenGenerator:
        if not columns:
            raise error_for("42P16", "a datagen source must declare its columns")
        check_unique(columns)
        opts = Options("datagen", options)
        by_column = _field_options(opts, [name for name, _ in columns])
        fields = [
            _field_spec(name, data_type, by_column.get(name.lower(), {}))
            for name, data_type in columns
        ]
        rows = opts.take_int("datagen.rows", None, minimum=0)
        rate = opts.take_float("datagen.rows.per.second", positive=True)
        splits = opts.take_int("datagen.split.num", max(1, default_splits), minimum=1)
        opts.finish([*OPTIONS, "fields.<column>.<parameter>"])
        return cls(fields, rows=rows, rows_per_second=rate, splits=1 if splits is None else splits)

    def events_in(self, split: int) -> int | None:
        if self.rows is None:
            return None
        return max(0, (self.rows - split + self.splits - 1) // self.splits)

    def _columns(self, split: int, start: int, stop: int) -> list[pa.Array]:
        rows = np.arange(start, stop, dtype=np.int64) * self.splits + split
        return [_column(f, rows) for f in self.fields]


def _column(spec: FieldSpec, rows: npt.NDArray[np.int64]) -> pa.Array:
    data_type = spec.data_type
    if spec.kind == "sequence":
        if data_type in _FLOATS:
            values = (spec.low + rows.astype(np.float64)).astype(_NUMPY[data_type])
        else:
            values = (int(spec.low) + rows).astype(_NUMPY[data_type])
        return pa.array(values, type=data_type)
    if data_type in _INT_RANGES:
        low, high = int(spec.low), int(spec.high if spec.high is not None else DEFAULT_MAX)
        span = (high - low + 1) % (1 << 64)
        ints = _random_ints(rows, spec.key, low, U64(span))
        return pa.array(ints.astype(_NUMPY[data_type]), type=data_type)
    if data_type in _FLOATS:
        high_f = float(spec.high if spec.high is not None else DEFAULT_MAX)
        floats = _random_floats(rows, spec.key, float(spec.low), high_f)
        return pa.array(floats.astype(_NUMPY[data_type]), type=data_type)
    if pa.types.is_boolean(data_type):
        return pa.array(_random_bools(rows, spec.key), type=data_type)
    if pa.types.is_timestamp(data_type):
        base = spec.base_us if spec.base_us is not None else _now_us()
        past = _random_ints(rows, spec.key, 0, U64(spec.max_past_us + 1))
        return timestamp_array(base - past, data_type)
    offsets = np.arange(0, spec.length * (len(rows) + 1), spec.length, dtype=np.int32)
    return string_array(offsets, _random_alphanumerics(rows, spec.key, spec.length, ALPHANUMERIC))


def _now_us() -> int:
    return time.time_ns() // 1000


# --- options -------------------------------------------------------------------------


def _field_options(opts: Options, names: list[str]) -> dict[str, dict[str, str]]:
    """Take every `fields.<column>.<parameter>` option, by (lowercased) column name."""
    known = {name.lower() for name in names}
    found: dict[str, dict[str, str]] = {}
    for key in opts.keys():
        if not key.startswith("fields."):
            continue
        column, dot, parameter = key[len("fields.") :].rpartition(".")
        if not dot or not column:
            continue  # left for finish() to refuse
        if column not in known:
            raise error_for(
                "42703",
                f'option "{key}" names column "{column}", which the source does not declare',
                hint="Declared columns: " + ", ".join(names) + ".",
            )
        value = opts.take(key)
        assert value is not None
        found.setdefault(column, {})[parameter] = value
    return found


def _family(data_type: pa.DataType, kind: str) -> str:
    if data_type in _INT_RANGES or data_type in _FLOATS:
        return "sequence" if kind == "sequence" else "number"
    if data_type == pa.string():
        return "varchar"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_timestamp(data_type) and data_type.unit == "us":
        return "timestamp"
    raise error_for(
        "0A000", f"datagen cannot generate columns of type {sql_type_name(data_type)} yet"
    )


def _field_spec(name: str, data_type: pa.DataType, params: dict[str, str]) -> FieldSpec:
    """Check one column's parameters against its type and kind, and parse them."""
    prefix = f"fields.{name.lower()}."
    kind = params.get("kind", "random").strip().lower()
    if kind not in ("random", "sequence"):
        raise bad_option(prefix + "kind", params["kind"], "'random' or 'sequence'")
    family = _family(data_type, kind)
    if kind == "sequence" and family != "sequence":
        raise bad_option(prefix + "kind", params["kind"], "'random' for a non-numeric column")
    allowed = _PARAMS[family]
    for parameter in params:
        if parameter not in allowed:
            raise error_for(
                "22023",
                f'unknown option "{prefix}{parameter}" for a {kind} '
                f"{sql_type_name(data_type)} column",
                hint="Allowed: " + ", ".join(prefix + p for p in allowed) + ".",
            )
    seed = parse_int(prefix + "seed", params.get("seed", "0"))
    key = U64(mix64_py((seed & ((1 << 64) - 1)) ^ int(salt_of("datagen:" + name.lower()))))
    spec = FieldSpec(name, data_type, kind, key)
    if family in ("sequence", "number"):
        low_key, high_key = ("start", "end") if kind == "sequence" else ("min", "max")
        low = _number(prefix + low_key, params.get(low_key), data_type, DEFAULT_MIN)
        assert low is not None
        default_high = None if kind == "sequence" else DEFAULT_MAX
        high = _number(prefix + high_key, params.get(high_key), data_type, default_high)
        if high is not None and high < low:
            raise bad_option(prefix + high_key, params[high_key], f"a number >= {low_key} ({low})")
        return FieldSpec(name, data_type, kind, key, low=low, high=high)
    if family == "varchar":
        length = parse_int(
            prefix + "length", params.get("length", str(DEFAULT_LENGTH)), 0, MAX_LENGTH
        )
        return FieldSpec(name, data_type, kind, key, length=length)
    if family == "timestamp":
        max_past = parse_duration_us(prefix + "max_past", params.get("max_past", DEFAULT_MAX_PAST))
        mode = params.get("max_past_mode", "absolute").strip().lower()
        if mode not in ("absolute", "relative"):
            raise bad_option(prefix + "max_past_mode", mode, "'absolute' or 'relative'")
        basetime = params.get("basetime")
        if basetime is not None and mode == "relative":
            raise bad_option(
                prefix + "basetime", basetime, "no basetime with max_past_mode 'relative'"
            )
        base: int | None = None
        if mode == "absolute":
            base = (
                _now_us() if basetime is None else parse_timestamp_us(prefix + "basetime", basetime)
            )
        return FieldSpec(name, data_type, kind, key, max_past_us=max_past, base_us=base)
    return spec


def _number(
    key: str, text: str | None, data_type: pa.DataType, default: int | None
) -> int | float | None:
    if text is None:
        return default
    if data_type in _INT_RANGES:
        low, high = _INT_RANGES[data_type]
        return parse_int(key, text, low, high)
    try:
        value = float(text)
    except ValueError:
        raise bad_option(key, text, "a number") from None
    if not np.isfinite(value):
        raise bad_option(key, text, "a finite number")
    return value

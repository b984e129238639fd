"""Date and time: operators (timestamp + interval, timestamp - timestamp, ...), date_trunc,
extract / date_part and to_timestamp (to_char lives in to_char.py).

Strategy: timestamps are int64 microseconds and dates int32 days (Arrow's layouts), so
the calendar work is numpy over those: datetime64[D] / [M] / [Y] views give years, months
and month lengths.  The session time zone of the engine is UTC, so timestamp and
timestamptz share their arithmetic (PostgreSQL adds a timestamptz's days in the session
zone; in UTC that is the same).  Adding an interval adds months first (clamping the day
to the month's end: Jan 31 + 1 month = Feb 29 in 2024), then days, then time, as
PostgreSQL's timestamp_pl_interval does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import intervals as I
from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.nodes import (
    BoolMask,
    Datum,
    Kernel,
    combine_valid,
    is_null_datum,
    null_scalar,
    to_numpy,
    valid_mask,
)
from laminar_pg.errors import error_for

Int64s = I.Int64s


# --- datum <-> numpy ---------------------------------------------------------------------


def micros_of(value: Datum, n: int) -> tuple[Int64s, BoolMask | None]:
    """Microseconds since 1970 of a timestamp, date (midnight) or time datum."""
    if value.type == T.DATE:
        days, valid = to_numpy(pc.cast(value, pa.int32()), n)
        return days.astype(np.int64) * I.US_PER_DAY, valid
    data, valid = to_numpy(pc.cast(value, pa.int64()), n)
    return data.astype(np.int64), valid


def _interval(value: Datum, n: int) -> tuple[Int64s, Int64s, Int64s, BoolMask | None]:
    if isinstance(value, pa.Scalar):
        if not value.is_valid:
            zeros = np.zeros(n, dtype=np.int64)
            return zeros, zeros, zeros, np.zeros(n, dtype=np.bool_)
        m, d, ns = I.interval_parts(pa.array([value.as_py()], I.INTERVAL_TYPE))
        return np.repeat(m, n), np.repeat(d, n), np.repeat(ns, n), None
    m, d, ns = I.interval_parts(value)
    return m, d, ns, valid_mask(value)


def timestamp_array(micros: Int64s, valid: BoolMask | None, type: pa.DataType) -> pa.Array:
    array = pa.array(micros, type=pa.int64(), mask=None if valid is None else ~valid)
    return array.cast(type)


Compute = Callable[[Sequence[Datum], int], Datum]


def strict(out_type: pa.DataType) -> Callable[[Compute], Kernel]:
    """Make a kernel NULL for a NULL scalar argument, and scalar for all-scalar arguments."""

    def wrap(compute: Compute) -> Kernel:
        def kernel(values: Sequence[Datum], n: int) -> Datum:
            if any(is_null_datum(v) for v in values):
                return null_scalar(out_type)
            if all(isinstance(v, pa.Scalar) for v in values):
                result = compute(values, 1)
                return result[0] if isinstance(result, pa.Array) else result
            return compute(values, n)

        return kernel

    return wrap


# --- calendar helpers -------------------------------------------------------------------


def add_months(micros: Int64s, months: Int64s) -> Int64s:
    """Add calendar months, clamping the day of month (Jan 31 + 1 month = Feb 28/29)."""
    if not np.any(months):
        return micros
    days = np.floor_divide(micros, I.US_PER_DAY)
    time_of_day = micros - days * I.US_PER_DAY
    day = days.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    day_of_month = (day - month.astype("datetime64[D]")).astype(np.int64)
    target = (month.astype(np.int64) + months).astype("datetime64[M]")
    target_start = target.astype("datetime64[D]").astype(np.int64)
    month_length = (target + np.timedelta64(1, "M")).astype("datetime64[D]").astype(
        np.int64
    ) - target_start
    new_days = target_start + np.minimum(day_of_month, month_length - 1)
    return np.asarray(new_days * I.US_PER_DAY + time_of_day, dtype=np.int64)


def add_interval(micros: Int64s, months: Int64s, days: Int64s, nanos: Int64s) -> Int64s:
    shifted = add_months(micros, months)
    return np.asarray(shifted + days * I.US_PER_DAY + nanos // I.NS_PER_US, dtype=np.int64)


class Civil:
    """Calendar fields of timestamps, each computed on first use: year, month, day, doy
    (day of year), dow (weekday, 0 = Sunday) and time (microseconds since midnight)."""

    def __init__(self, micros: Int64s) -> None:
        self.micros = micros
        self.days = np.floor_divide(micros, I.US_PER_DAY)
        self._cache: dict[str, Int64s] = {}

    def __getitem__(self, field: str) -> Int64s:
        if field not in self._cache:
            self._cache[field] = np.asarray(getattr(self, "_" + field)(), dtype=np.int64)
        return self._cache[field]

    def _day64(self) -> np.ndarray:
        return self.days.astype("datetime64[D]")

    def _year(self) -> np.ndarray:
        return self._day64().astype("datetime64[Y]").astype(np.int64) + 1970

    def _month(self) -> np.ndarray:
        return self._day64().astype("datetime64[M]").astype(np.int64) % 12 + 1

    def _day(self) -> np.ndarray:
        day = self._day64()
        start = day.astype("datetime64[M]").astype("datetime64[D]")
        return np.asarray((day - start).astype(np.int64) + 1)

    def _doy(self) -> np.ndarray:
        day = self._day64()
        start = day.astype("datetime64[Y]").astype("datetime64[D]")
        return np.asarray((day - start).astype(np.int64) + 1)

    def _dow(self) -> np.ndarray:
        return np.asarray(np.mod(self.days + 4, 7))  # 1970-01-01 was a Thursday

    def _time(self) -> np.ndarray:
        return np.asarray(self.micros - self.days * I.US_PER_DAY)


def civil(micros: Int64s) -> Civil:
    return Civil(micros)


def year_startmicros_of(year: Int64s) -> Int64s:
    return np.asarray(
        (year - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
        * I.US_PER_DAY
    )


# --- operators ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """One operator PostgreSQL defines: `left op right -> result`."""

    op: str
    left: pa.DataType
    right: pa.DataType
    result: pa.DataType
    kernel: Kernel


def _timestamp_plus_interval(sign: int, out_type: pa.DataType, swap: bool = False) -> Kernel:
    @strict(out_type)
    def compute(values: Sequence[Datum], n: int) -> Datum:
        stamp, span = (values[1], values[0]) if swap else (values[0], values[1])
        micros, v1 = micros_of(stamp, n)
        months, days, nanos, v2 = _interval(span, n)
        result = add_interval(micros, sign * months, sign * days, sign * nanos)
        return timestamp_array(result, combine_valid(v1, v2), out_type)

    return compute


def _timestamp_difference(values: Sequence[Datum], n: int) -> Datum:
    a, va = micros_of(values[0], n)
    b, vb = micros_of(values[1], n)
    difference = a - b
    days = np.trunc(difference / I.US_PER_DAY).astype(np.int64)  # justify_hours: same signs
    rest = difference - days * I.US_PER_DAY
    zeros = np.zeros(len(difference), dtype=np.int64)
    return I.interval_array(zeros, days, rest * I.NS_PER_US, combine_valid(va, vb))


def _date_plus_days(sign: int, swap: bool = False) -> Kernel:
    def compute(values: Sequence[Datum], n: int) -> Datum:
        date, count = (values[1], values[0]) if swap else (values[0], values[1])
        try:
            shifted = pc.add_checked(
                pc.cast(date, pa.int32()),
                pc.multiply_checked(pc.cast(count, pa.int32()), pa.scalar(sign, pa.int32())),
            )
        except pa.ArrowInvalid as e:
            raise error_for("22008", "date out of range") from e
        return pc.cast(shifted, T.DATE)

    return compute


def _date_difference(values: Sequence[Datum], n: int) -> Datum:
    return pc.subtract(pc.cast(values[0], pa.int32()), pc.cast(values[1], pa.int32()))


def _date_plus_time(swap: bool) -> Kernel:
    @strict(T.TIMESTAMP)
    def compute(values: Sequence[Datum], n: int) -> Datum:
        date, time = (values[1], values[0]) if swap else (values[0], values[1])
        day_micros, v1 = micros_of(date, n)
        time_micros, v2 = micros_of(time, n)
        return timestamp_array(day_micros + time_micros, combine_valid(v1, v2), T.TIMESTAMP)

    return compute


def _time_plus_interval(sign: int, swap: bool = False) -> Kernel:
    @strict(T.TIME)
    def compute(values: Sequence[Datum], n: int) -> Datum:
        time, span = (values[1], values[0]) if swap else (values[0], values[1])
        micros, v1 = micros_of(time, n)
        _, _, nanos, v2 = _interval(span, n)
        result = np.mod(micros + sign * (nanos // I.NS_PER_US), I.US_PER_DAY)
        return timestamp_array(result, combine_valid(v1, v2), T.TIME)

    return compute


@strict(T.INTERVAL)
def _time_difference(values: Sequence[Datum], n: int) -> Datum:
    a, va = micros_of(values[0], n)
    b, vb = micros_of(values[1], n)
    zeros = np.zeros(len(a), dtype=np.int64)
    return I.interval_array(zeros, zeros, (a - b) * I.NS_PER_US, combine_valid(va, vb))


def _interval_sum(sign: int) -> Kernel:
    @strict(T.INTERVAL)
    def compute(values: Sequence[Datum], n: int) -> Datum:
        m1, d1, t1, v1 = _interval(values[0], n)
        m2, d2, t2, v2 = _interval(values[1], n)
        return I.interval_array(
            m1 + sign * m2, d1 + sign * d2, t1 + sign * t2, combine_valid(v1, v2)
        )

    return compute


def _ts_round(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.rint(x * 1e6) / 1e6)


def _interval_scale(divide: bool, swap: bool = False) -> Kernel:
    """interval * float8 / interval / float8, cascading fractions down (interval_mul)."""

    @strict(T.INTERVAL)
    def compute(values: Sequence[Datum], n: int) -> Datum:
        span, factor_datum = (values[1], values[0]) if swap else (values[0], values[1])
        months, days, nanos, v1 = _interval(span, n)
        factor, v2 = to_numpy(pc.cast(factor_datum, T.FLOAT64), n, 1.0)
        valid = combine_valid(v1, v2)
        live = np.ones(len(months), dtype=np.bool_) if valid is None else valid
        with np.errstate(all="ignore"):
            if divide:
                if np.any(live & (factor == 0)):
                    raise error_for("22012", "division by zero")
                factor = 1.0 / np.where(factor == 0, 1.0, factor)
            month_value = months * factor
            new_months = np.trunc(month_value)
            day_value = days * factor
            new_days = np.trunc(day_value)
            month_remainder_days = _ts_round((month_value - new_months) * I.DAYS_PER_MONTH)
            seconds = _ts_round(
                (day_value - new_days + month_remainder_days - np.trunc(month_remainder_days))
                * 86400.0
            )
            carry = np.where(np.abs(seconds) >= 86400.0, np.trunc(seconds / 86400.0), 0.0)
            seconds = seconds - carry * 86400.0
            new_days = new_days + carry + np.trunc(month_remainder_days)
            micros = np.rint((nanos // I.NS_PER_US) * factor + seconds * 1e6)
            if np.any(
                live & ~(np.isfinite(micros) & np.isfinite(new_months) & np.isfinite(new_days))
            ):
                raise error_for("22008", "interval out of range")
        micros = np.where(live, micros, 0)
        if np.any(np.abs(micros) >= 2.0**63 / I.NS_PER_US):
            raise error_for("22008", "interval out of range")
        return I.interval_array(
            np.where(live, new_months, 0).astype(np.int64),
            np.where(live, new_days, 0).astype(np.int64),
            micros.astype(np.int64) * I.NS_PER_US,
            valid,
        )

    return compute


def negate_interval(values: Sequence[Datum], n: int) -> Datum:
    value = values[0]
    if isinstance(value, pa.Scalar):
        if not value.is_valid:
            return value
        m, d, ns = I.interval_parts(pa.array([value.as_py()], I.INTERVAL_TYPE))
        return I.interval_array(-m, -d, -ns, None)[0]
    m, d, ns = I.interval_parts(value)
    return I.interval_array(-m, -d, -ns, valid_mask(value))


def interval_comparison(op: str) -> Kernel:
    """Intervals compare as PostgreSQL's interval_cmp: 1 month = 30 days, 1 day = 24 hours."""

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        if any(is_null_datum(v) for v in values):
            return null_scalar(T.BOOL)
        rows = 1 if all(isinstance(v, pa.Scalar) for v in values) else n
        m1, d1, t1, v1 = _interval(values[0], rows)
        m2, d2, t2, v2 = _interval(values[1], rows)
        days1, rest1 = I.comparison_key(m1, d1, t1)
        days2, rest2 = I.comparison_key(m2, d2, t2)
        equal = (days1 == days2) & (rest1 == rest2)
        less = (days1 < days2) | ((days1 == days2) & (rest1 < rest2))
        result = {
            "=": equal,
            "<>": ~equal,
            "<": less,
            "<=": less | equal,
            ">": ~(less | equal),
            ">=": ~less,
        }[op]
        valid = combine_valid(v1, v2)
        array = pa.array(result, type=T.BOOL, mask=None if valid is None else ~valid)
        return array[0] if rows == 1 and all(isinstance(v, pa.Scalar) for v in values) else array

    return kernel


def _signatures() -> list[Signature]:
    S = Signature
    ts, tz, iv, dt, tm, i4, f8 = (
        T.TIMESTAMP,
        T.TIMESTAMPTZ,
        T.INTERVAL,
        T.DATE,
        T.TIME,
        T.INT32,
        T.FLOAT64,
    )
    result = []
    for stamp in (ts, tz):
        result += [
            S("+", stamp, iv, stamp, _timestamp_plus_interval(1, stamp)),
            S("+", iv, stamp, stamp, _timestamp_plus_interval(1, stamp, swap=True)),
            S("-", stamp, iv, stamp, _timestamp_plus_interval(-1, stamp)),
            S("-", stamp, stamp, iv, strict(T.INTERVAL)(_timestamp_difference)),
        ]
    date_difference: Kernel = _date_difference
    result += [
        S("+", dt, i4, dt, _date_plus_days(1)),
        S("+", i4, dt, dt, _date_plus_days(1, swap=True)),
        S("-", dt, i4, dt, _date_plus_days(-1)),
        S("-", dt, dt, i4, date_difference),
        S("+", dt, iv, ts, _timestamp_plus_interval(1, ts)),
        S("+", iv, dt, ts, _timestamp_plus_interval(1, ts, swap=True)),
        S("-", dt, iv, ts, _timestamp_plus_interval(-1, ts)),
        S("+", dt, tm, ts, _date_plus_time(False)),
        S("+", tm, dt, ts, _date_plus_time(True)),
        S("+", tm, iv, tm, _time_plus_interval(1)),
        S("+", iv, tm, tm, _time_plus_interval(1, swap=True)),
        S("-", tm, iv, tm, _time_plus_interval(-1)),
        S("-", tm, tm, iv, _time_difference),
        S("+", iv, iv, iv, _interval_sum(1)),
        S("-", iv, iv, iv, _interval_sum(-1)),
        S("*", iv, f8, iv, _interval_scale(divide=False)),
        S("*", f8, iv, iv, _interval_scale(divide=False, swap=True)),
        S("/", iv, f8, iv, _interval_scale(divide=True)),
    ]
    return result


OPERATORS: list[Signature] = _signatures()


# --- date_trunc ---------------------------------------------------------------------------

_UNIT_ALIASES = {
    "microsecond": "microsecond", "microseconds": "microsecond", "us": "microsecond", "usec": "microsecond", "usecs": "microsecond",
    "millisecond": "millisecond", "milliseconds": "millisecond", "ms": "millisecond", "msec": "millisecond", "msecs": "millisecond",
    "second": "second", "seconds": "second", "s": "second", "sec": "second", "secs": "second",
    "minute": "minute", "minutes": "minute", "m": "minute", "min": "minute", "mins": "minute",
    "hour": "hour", "hours": "hour", "h": "hour", "hr": "hour", "hrs": "hour",
    "day": "day", "days": "day", "d": "day",
    "week": "week", "weeks": "week", "w": "week",
    "month": "month", "months": "month", "mon": "month", "mons": "month",
    "quarter": "quarter", "qtr": "quarter",
    "year": "year", "years": "year", "y": "year", "yr": "year", "yrs": "year",
    "decade": "decade", "decades": "decade", "dec": "decade",
    "century": "century", "centuries": "century", "c": "century", "cent": "century",
    "millennium": "millennium", "millennia": "millennium", "mil": "millennium", "millenniums": "millennium",
    "epoch": "epoch", "dow": "dow", "isodow": "isodow", "doy": "doy", "isoyear": "isoyear",
    "julian": "julian", "timezone": "timezone", "timezone_hour": "timezone_hour", "timezone_minute": "timezone_minute",
}  # fmt: skip


def normalise_unit(unit: str) -> str | None:
    return _UNIT_ALIASES.get(unit.strip().lower())


def date_trunc_kernel(unit: str, source: pa.DataType) -> tuple[Kernel, pa.DataType]:
    """date_trunc(unit, x): timestamp -> timestamp; timestamptz and date -> timestamptz."""
    canonical = normalise_unit(unit)
    supported = (
        "microsecond",
        "millisecond",
        "second",
        "minute",
        "hour",
        "day",
        "week",
        "month",
        "quarter",
        "year",
        "decade",
        "century",
        "millennium",
    )
    if canonical not in supported:
        raise error_for("22023", f'unit "{unit}" not recognized for type {T.pg_type_name(source)}')
    out_type = T.TIMESTAMP if source == T.TIMESTAMP else T.TIMESTAMPTZ

    @strict(out_type)
    def compute(values: Sequence[Datum], n: int) -> Datum:
        stamp = pc.cast(values[0], out_type) if source == T.DATE else values[0]
        if canonical in ("decade", "century", "millennium"):
            micros, valid = micros_of(stamp, n)
            year = civil(micros)["year"]
            if canonical == "decade":
                start = year - np.mod(year, 10)
            elif canonical == "century":
                start = (year + 99) // 100 * 100 - 99
            else:
                start = (year + 999) // 1000 * 1000 - 999
            return timestamp_array(year_startmicros_of(start), valid, out_type)
        return pc.floor_temporal(stamp, unit=canonical, week_starts_monday=True)

    return compute, out_type


# --- extract / date_part --------------------------------------------------------------------

_TIME_FIELDS = ("microsecond", "millisecond", "second", "minute", "hour", "epoch")


def extract_kernel(field: str, source: pa.DataType) -> Kernel:
    """extract(field FROM x) as double precision.

    PostgreSQL's extract returns numeric and date_part double precision; sqlglot parses
    both to one node, so both return float64 here.
    """
    canonical = normalise_unit(field)
    type_name = T.pg_type_name(source)
    if canonical is None or canonical in ("julian", "week" if source == T.INTERVAL else ""):
        raise error_for("22023", f'unit "{field}" not recognized for type {type_name}')
    if source == T.INTERVAL:
        if canonical in (
            "dow",
            "isodow",
            "doy",
            "isoyear",
            "week",
            "timezone",
            "timezone_hour",
            "timezone_minute",
        ):
            raise error_for("0A000", f'unit "{field}" not supported for type interval')
        return strict(T.FLOAT64)(lambda values, n: _extract_interval(canonical, values[0], n))
    if source == T.TIME and canonical not in _TIME_FIELDS:
        raise error_for("0A000", f'unit "{field}" not supported for type {type_name}')
    return strict(T.FLOAT64)(lambda values, n: _extract_stamp(canonical, values[0], n))


def _extract_stamp(field: str, value: Datum, n: int) -> pa.Array:
    micros, valid = micros_of(value, n)
    if field in ("week", "isoyear"):
        stamp = timestamp_array(micros, valid, T.TIMESTAMP)
        computed = pc.iso_week(stamp) if field == "week" else pc.iso_year(stamp)
        return pc.cast(computed, T.FLOAT64)
    parts = civil(micros)
    time = parts["time"]
    seconds_part = np.mod(time, 60 * I.US_PER_SECOND)
    table: dict[str, Callable[[], np.ndarray]] = {
        "microsecond": lambda: seconds_part.astype(np.float64),
        "millisecond": lambda: seconds_part / 1e3,
        "second": lambda: seconds_part / 1e6,
        "minute": lambda: (time // I.US_PER_MINUTE) % 60,
        "hour": lambda: time // I.US_PER_HOUR,
        "day": lambda: parts["day"],
        "month": lambda: parts["month"],
        "quarter": lambda: (parts["month"] - 1) // 3 + 1,
        "year": lambda: parts["year"],
        "decade": lambda: np.floor_divide(parts["year"], 10),
        "century": lambda: (parts["year"] + 99) // 100,
        "millennium": lambda: (parts["year"] + 999) // 1000,
        "dow": lambda: parts["dow"],
        "isodow": lambda: np.where(parts["dow"] == 0, 7, parts["dow"]),
        "doy": lambda: parts["doy"],
        "epoch": lambda: (micros if value.type != T.TIME else time) / 1e6,
        "timezone": lambda: np.zeros(len(micros)),
        "timezone_hour": lambda: np.zeros(len(micros)),
        "timezone_minute": lambda: np.zeros(len(micros)),
    }
    result = np.asarray(table[field](), dtype=np.float64)
    return pa.array(result, type=T.FLOAT64, mask=None if valid is None else ~valid)


def _extract_interval(field: str, value: Datum, n: int) -> pa.Array:
    months, days, nanos, valid = _interval(value, n)
    time = nanos // I.NS_PER_US
    years = np.trunc(months / 12)
    seconds_part = np.fmod(time, 60 * I.US_PER_SECOND)
    table: dict[str, Callable[[], np.ndarray]] = {
        "microsecond": lambda: seconds_part.astype(np.float64),
        "millisecond": lambda: seconds_part / 1e3,
        "second": lambda: seconds_part / 1e6,
        "minute": lambda: np.fmod(np.trunc(time / I.US_PER_MINUTE), 60),
        "hour": lambda: np.trunc(time / I.US_PER_HOUR),
        "day": lambda: days,
        "month": lambda: np.fmod(months, 12),
        "quarter": lambda: np.trunc(np.fmod(months, 12) / 3) + 1,
        "year": lambda: years,
        "decade": lambda: np.trunc(years / 10),
        "century": lambda: np.trunc(years / 100),
        "millennium": lambda: np.trunc(years / 1000),
        "epoch": lambda: (
            time / 1e6 + (365.25 * years + I.DAYS_PER_MONTH * np.fmod(months, 12) + days) * 86400.0
        ),
    }
    result = np.asarray(table[field](), dtype=np.float64)
    return pa.array(result, type=T.FLOAT64, mask=None if valid is None else ~valid)


# --- to_timestamp -------------------------------------------------------------------------


@strict(T.TIMESTAMPTZ)
def to_timestamp(values: Sequence[Datum], n: int) -> Datum:
    """to_timestamp(double precision): seconds since 1970 as timestamptz."""
    seconds, valid = to_numpy(pc.cast(values[0], T.FLOAT64), n)
    live = np.ones(len(seconds), dtype=np.bool_) if valid is None else valid
    with np.errstate(invalid="ignore"):
        if np.any(live & ~np.isfinite(seconds)):
            raise error_for("22008", "timestamp cannot be NaN or infinite")
        micros = np.rint(seconds * 1e6)
        if np.any(live & (np.abs(micros) >= 9.2e18)):
            raise error_for("22008", "timestamp out of range")
    return timestamp_array(np.where(live, micros, 0).astype(np.int64), valid, T.TIMESTAMPTZ)

"""INTERVAL values: PostgreSQL's input syntax, its output format, and Arrow's layout.

An interval is Arrow's month_day_nano_interval: months, days and nanoseconds kept apart,
as PostgreSQL keeps months, days and microseconds (a month is not a fixed number of days,
nor a day of hours across a DST change).  Nanoseconds are always whole microseconds here.

Input follows PostgreSQL's DecodeInterval for the forms people write: '1 day 2 hours',
'1.5 hours', '-1 hour ago', '01:02:03', '2 days 01:02:03', '1-2' (years-months),
ISO 8601 'P1Y2M3DT4H5M6S', and a bare number in the unit of `INTERVAL '10' SECOND`.
"""

from __future__ import annotations

import math
import re

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.errors import error_for

NS_PER_US = 1_000
US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR
NS_PER_DAY = US_PER_DAY * NS_PER_US
DAYS_PER_MONTH = 30
INTERVAL_TYPE = pa.month_day_nano_interval()

_LAYOUT = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])

Int64s = npt.NDArray[np.int64]


def interval_parts(array: pa.Array) -> tuple[Int64s, Int64s, Int64s]:
    """(months, days, nanoseconds) of each value as int64 numpy arrays (NULLs give 0)."""
    n = len(array)
    buffer = array.buffers()[1]
    if buffer is None or n == 0:
        zeros = np.zeros(n, dtype=np.int64)
        return zeros, zeros.copy(), zeros.copy()
    raw = np.frombuffer(buffer, dtype=_LAYOUT)[array.offset : array.offset + n]
    months = raw["months"].astype(np.int64)
    days = raw["days"].astype(np.int64)
    nanos = raw["nanos"].astype(np.int64)
    if array.null_count:
        invalid = ~np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        months[invalid] = days[invalid] = nanos[invalid] = 0
    return months, days, nanos


def interval_array(
    months: npt.ArrayLike,
    days: npt.ArrayLike,
    nanos: npt.ArrayLike,
    valid: npt.NDArray[np.bool_] | None,
) -> pa.Array:
    """An interval array from its parts; 22008 if months or days leave int32."""
    m = np.asarray(months, dtype=np.int64)
    d = np.asarray(days, dtype=np.int64)
    live = np.ones(len(m), dtype=np.bool_) if valid is None else valid
    limit = 2**31 - 1
    if np.any(live & ((np.abs(m) > limit) | (np.abs(d) > limit))):
        raise error_for("22008", "interval out of range")
    raw = np.zeros(len(m), dtype=_LAYOUT)
    raw["months"] = np.where(live, m, 0)
    raw["days"] = np.where(live, d, 0)
    raw["nanos"] = np.where(live, np.asarray(nanos, dtype=np.int64), 0)
    validity = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    null_count = 0 if valid is None else int(len(m) - valid.sum())
    return pa.Array.from_buffers(
        INTERVAL_TYPE, len(m), [validity, pa.py_buffer(raw.tobytes())], null_count=null_count
    )


def interval_scalar(months: int, days: int, micros: int) -> pa.Scalar:
    return pa.scalar(pa.MonthDayNano([months, days, micros * NS_PER_US]), INTERVAL_TYPE)


def comparison_key(months: Int64s, days: Int64s, nanos: Int64s) -> tuple[Int64s, Int64s]:
    """PostgreSQL compares intervals as months * 30 days + days + time: (whole days, rest)."""
    whole_days = months * DAYS_PER_MONTH + days + np.floor_divide(nanos, NS_PER_DAY)
    return whole_days, np.mod(nanos, NS_PER_DAY)


# --- input --------------------------------------------------------------------------------

# unit -> (months, days, microseconds) in one of it
_UNITS: dict[str, tuple[float, float, float]] = {}
for _names, _value in (
    (("microsecond", "microseconds", "us", "usec", "usecs", "useconds"), (0, 0, 1)),
    (("millisecond", "milliseconds", "ms", "msec", "msecs", "mseconds"), (0, 0, 1_000)),
    (("second", "seconds", "s", "sec", "secs"), (0, 0, US_PER_SECOND)),
    (("minute", "minutes", "m", "min", "mins"), (0, 0, US_PER_MINUTE)),
    (("hour", "hours", "h", "hr", "hrs"), (0, 0, US_PER_HOUR)),
    (("day", "days", "d"), (0, 1, 0)),
    (("week", "weeks", "w"), (0, 7, 0)),
    (("month", "months", "mon", "mons"), (1, 0, 0)),
    (("year", "years", "y", "yr", "yrs"), (12, 0, 0)),
    (("decade", "decades", "dec", "decs"), (120, 0, 0)),
    (("century", "centuries", "c", "cent"), (1200, 0, 0)),
    (("millennium", "millennia", "mil", "mils", "millenniums"), (12000, 0, 0)),
):
    for _name in _names:
        _UNITS[_name] = _value

_NUMBER_UNIT = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))\s*([a-z]+)")
_TIME = re.compile(r"([+-])?(\d+):(\d+)(?::(\d+(?:\.\d*)?))?")
_YEAR_MONTH = re.compile(r"([+-])?(\d+)-(\d+)")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_ISO = re.compile(
    r"(-)?P(?:([+-]?[\d.]+)Y)?(?:([+-]?[\d.]+)M)?(?:([+-]?[\d.]+)W)?(?:([+-]?[\d.]+)D)?"
    r"(?:T(?:([+-]?[\d.]+)H)?(?:([+-]?[\d.]+)M)?(?:([+-]?[\d.]+)S)?)?"
)


class _Accumulator:
    """Months, days and microseconds, with PostgreSQL's cascade of fractions downwards."""

    def __init__(self) -> None:
        self.months = 0
        self.days = 0
        self.micros = 0.0

    def add(self, amount: float, unit: tuple[float, float, float]) -> None:
        months, days, micros = unit
        if months:
            whole = math.trunc(amount * months)
            self.months += whole
            self.add_days((amount * months - whole) * DAYS_PER_MONTH)
        elif days:
            self.add_days(amount * days)
        else:
            self.micros += amount * micros

    def add_days(self, amount: float) -> None:
        whole = math.trunc(amount)
        self.days += whole
        self.micros += (amount - whole) * US_PER_DAY

    def negate(self) -> None:
        self.months, self.days, self.micros = -self.months, -self.days, -self.micros

    def scalar(self) -> pa.Scalar:
        return interval_scalar(self.months, self.days, round(self.micros))


def _invalid(text: str) -> Exception:
    return error_for("22007", f'invalid input syntax for type interval: "{text}"')


def parse_interval(text: str, unit: str | None = None) -> pa.Scalar:
    """An interval scalar from PostgreSQL interval input text.

    `unit` is the qualifier of `INTERVAL '10' SECOND` (or 'YEAR TO MONTH'): a bare number
    counts in it.  Invalid text raises 22007 as PostgreSQL does.
    """
    source = text
    text = text.strip().lower()
    if text.startswith("@"):
        text = text[1:].strip()
    if not text:
        raise _invalid(source)
    iso = _ISO.fullmatch(text.upper())
    if iso and text.upper() != "P":
        return _parse_iso(iso, source)
    total = _Accumulator()
    ago = text.endswith(" ago") or text == "ago"
    if ago:
        text = text[: -len("ago")].strip()
    position = 0
    while position < len(text):
        if text[position].isspace() or text[position] == ",":
            position += 1
            continue
        position = _parse_item(text, position, total, unit, source)
    if ago:
        total.negate()
    try:
        return total.scalar()
    except (OverflowError, pa.ArrowInvalid) as e:
        raise error_for("22015", "interval field value out of range") from e


_QUALIFIER_STEP = {"hour": US_PER_HOUR, "minute": US_PER_MINUTE}


def truncate_to_qualifier(value: pa.Scalar, unit: str) -> pa.Scalar:
    """Drop the fields finer than an interval qualifier's last unit, as PostgreSQL's
    interval typmod does: INTERVAL '1.5' HOUR is 01:00:00, INTERVAL '1.5' DAY is 1 day."""
    last = unit.split(" to ")[-1].strip().rstrip("s")
    months, days, nanos = value.value.months, value.value.days, value.value.nanoseconds
    micros = nanos // NS_PER_US
    if last in ("year", "month"):
        months = months - months % 12 if last == "year" and months >= 0 else months
        if last == "year" and months < 0:
            months = -((-months) // 12 * 12)
        return interval_scalar(months, 0, 0)
    if last == "day":
        return interval_scalar(months, days, 0)
    step = _QUALIFIER_STEP.get(last)
    if step is not None:
        micros = int(micros / step) * step  # toward zero
    return interval_scalar(months, days, micros)


def _parse_item(
    text: str, position: int, total: _Accumulator, unit: str | None, source: str
) -> int:
    match = _TIME.match(text, position)
    if match and (match.end() == len(text) or not text[match.end()].isalpha()):
        sign = -1 if match.group(1) == "-" else 1
        seconds = float(match.group(4) or 0)
        if unit in ("minute to second",) and match.group(4) is None:
            micros = int(match.group(2)) * US_PER_MINUTE + int(match.group(3)) * US_PER_SECOND
        else:
            micros = int(match.group(2)) * US_PER_HOUR + int(match.group(3)) * US_PER_MINUTE
        total.micros += sign * (micros + seconds * US_PER_SECOND)
        return match.end()
    match = _YEAR_MONTH.match(text, position)
    if (
        match
        and match.end() == len(text)
        and position == 0
        and (unit is None or "year" in unit or "month" in unit)
    ):
        sign = -1 if match.group(1) == "-" else 1
        total.months += sign * (int(match.group(2)) * 12 + int(match.group(3)))
        return match.end()
    match = _NUMBER_UNIT.match(text, position)
    if match and match.group(2) in _UNITS:
        total.add(float(match.group(1)), _UNITS[match.group(2)])
        return match.end()
    match = _NUMBER.match(text, position)
    if match and (match.end() == len(text) or text[match.end()].isspace()):
        # A bare number: days before a time ('3 4:05:06'), else in the qualifier's (last)
        # unit, else seconds (as PostgreSQL).
        following = _TIME.match(text[match.end() :].lstrip())
        if following:
            total.add(float(match.group(0)), _UNITS["day"])
            return match.end()
        last_unit = (unit or "second").split(" to ")[-1].strip()
        if last_unit not in _UNITS:
            raise _invalid(source)
        total.add(float(match.group(0)), _UNITS[last_unit])
        return match.end()
    raise _invalid(source)


def _parse_iso(match: re.Match[str], source: str) -> pa.Scalar:
    total = _Accumulator()
    units = ("year", "month", "week", "day", "hour", "minute", "second")
    for value, unit in zip(match.groups()[1:], units, strict=True):
        if value is not None:
            try:
                total.add(float(value), _UNITS[unit])
            except ValueError as e:
                raise _invalid(source) from e
    if match.group(1):
        total.negate()
    return total.scalar()


# --- output -----------------------------------------------------------------------------


def interval_text(array: pa.Array) -> pa.Array:
    """PostgreSQL's interval output (IntervalStyle postgres): '1 year 2 mons 3 days 04:05:06.5'."""
    months, days, nanos = interval_parts(array)
    valid = (
        None
        if array.null_count == 0
        else np.asarray(array.is_valid().to_numpy(zero_copy_only=False))
    )
    micros = nanos // NS_PER_US
    years = np.trunc(months / 12).astype(np.int64)
    mons = months - years * 12
    pieces: list[pa.Array] = []
    printed = np.zeros(len(array), dtype=np.bool_)
    before = np.zeros(len(array), dtype=np.bool_)  # the last printed field was negative
    for value, unit in ((years, "year"), (mons, "mon"), (days, "day")):
        shown = value != 0
        sign = np.where(before & (value > 0), "+", "")
        text = pc.binary_join_element_wise(
            pa.array(np.where(printed, " ", "")),
            pa.array(sign),
            pc.cast(pa.array(value), pa.string()),
            pa.array(np.where(value == 1, f" {unit}", f" {unit}s")),
            "",
        )
        pieces.append(pc.if_else(pa.array(shown), text, ""))
        before = np.where(shown, value < 0, before)
        printed |= shown
    time_shown = (micros != 0) | ~printed
    magnitude = np.abs(micros)
    hours = magnitude // US_PER_HOUR
    minutes = (magnitude // US_PER_MINUTE) % 60
    seconds = (magnitude // US_PER_SECOND) % 60
    fraction = magnitude % US_PER_SECOND
    sign = np.where(micros < 0, "-", np.where(before, "+", ""))
    frac_text = pc.replace_substring_regex(
        pc.utf8_lpad(pc.cast(pa.array(fraction), pa.string()), 6, "0"), "0+$", ""
    )
    time_text = pc.binary_join_element_wise(
        pa.array(np.where(printed, " ", "")),
        pa.array(sign),
        pc.utf8_lpad(pc.cast(pa.array(hours), pa.string()), 2, "0"),
        ":",
        pc.utf8_lpad(pc.cast(pa.array(minutes), pa.string()), 2, "0"),
        ":",
        pc.utf8_lpad(pc.cast(pa.array(seconds), pa.string()), 2, "0"),
        pc.if_else(pa.array(fraction != 0), pc.binary_join_element_wise(".", frac_text, ""), ""),
        "",
    )
    pieces.append(pc.if_else(pa.array(time_shown), time_text, ""))
    result = pc.binary_join_element_wise(*pieces, "")
    if valid is not None:
        result = pc.if_else(pa.array(valid), result, pa.scalar(None, pa.string()))
    return result

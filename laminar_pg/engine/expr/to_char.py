"""to_char(timestamp, template): PostgreSQL's formatting templates, vectorised.

The template is split once at compile time into keywords and literal text (as
formatting.c's DCH_keywords, longest match first, case-sensitive); each keyword becomes
an Arrow string array built from the calendar fields, and the pieces are joined per row.
Supported: YYYY YYY YY Y MM DD DDD D ID HH HH12 HH24 MI SS MS US SSSS Q IW IYYY WW CC J,
AM/PM (and a.m. forms), Mon/Month/Dy/Day in their three cases, AD, TZ / OF (UTC), the FM
and TM prefixes and "quoted" text.  Other PostgreSQL keywords are refused with 0A000.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import intervals as I
from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.nodes import Datum, Kernel, null_scalar
from laminar_pg.engine.expr.temporal import Civil, Int64s, civil, micros_of, strict, timestamp_array
from laminar_pg.errors import error_for

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

# PostgreSQL's to_char keywords (formatting.c DCH_keywords), longest first per prefix.
_SUPPORTED = {
    "YYYY", "YYY", "YY", "Y", "MM", "DD", "DDD", "D", "ID", "HH24", "HH12", "HH", "MI", "SS", "MS", "US",
    "SSSS", "SSSSS", "Q", "IW", "IYYY", "WW", "CC", "J",
    "AM", "PM", "A.M.", "P.M.", "am", "pm", "a.m.", "p.m.",
    "MONTH", "Month", "month", "MON", "Mon", "mon", "DAY", "Day", "day", "DY", "Dy", "dy",
    "AD", "BC", "A.D.", "B.C.", "ad", "bc", "a.d.", "b.c.", "TZ", "tz", "OF",
}  # fmt: skip
_UNSUPPORTED = {"Y,YYY", "IDDD", "IYY", "IY", "I", "RM", "W", "TZH", "TZM"} | {
    f"FF{i}" for i in range(1, 7)
}
# Upper-case keywords have lower-case twins (case-free numbers, or lower-case output).
_KEYWORDS = sorted(
    _SUPPORTED | _UNSUPPORTED | {k.lower() for k in _SUPPORTED | _UNSUPPORTED if k == k.upper()},
    key=len,
    reverse=True,
)
_CASE_FREE = {"YYYY", "YYY", "YY", "Y", "MM", "DD", "DDD", "D", "ID", "HH24", "HH12", "HH", "MI", "SS", "MS", "US", "SSSS", "SSSSS", "Q", "IW", "IYYY", "WW", "CC", "J"}  # fmt: skip
_MODIFIERS = re.compile(r"(FM|fm|TM|tm|FX|fx)")


@dataclass(frozen=True)
class _Token:
    text: str
    keyword: bool
    fill_mode: bool = False


def parse_to_char_format(fmt: str) -> list[_Token]:
    """Split a to_char template into keywords and literal text (0A000 for keywords we lack)."""
    tokens: list[_Token] = []
    i = 0
    fill_mode = False
    while i < len(fmt):
        if fmt[i] == '"':
            end = i + 1
            literal = []
            while end < len(fmt) and fmt[end] != '"':
                if fmt[end] == "\\" and end + 1 < len(fmt):
                    end += 1
                literal.append(fmt[end])
                end += 1
            tokens.append(_Token("".join(literal), keyword=False))
            i = end + 1
            continue
        if fmt[i] == "\\" and i + 1 < len(fmt):
            tokens.append(_Token(fmt[i + 1], keyword=False))
            i += 2
            continue
        modifier = _MODIFIERS.match(fmt, i)
        if modifier:
            fill_mode = fill_mode or modifier.group(1).upper() == "FM"
            i = modifier.end()
            continue
        keyword = next((k for k in _KEYWORDS if fmt.startswith(k, i)), None)
        if keyword is None:
            tokens.append(_Token(fmt[i], keyword=False))
            i += 1
            continue
        upper = keyword.upper()
        if keyword not in _SUPPORTED and not (upper in _CASE_FREE and keyword.islower()):
            raise error_for("0A000", f'to_char pattern "{keyword}" is not supported')
        if fmt.startswith(("TH", "th", "SP"), i + len(keyword)):
            raise error_for("0A000", "to_char suffixes TH, th and SP are not supported")
        tokens.append(
            _Token(upper if upper in _CASE_FREE else keyword, keyword=True, fill_mode=fill_mode)
        )
        fill_mode = False
        i += len(keyword)
    return tokens


def to_char_kernel(fmt: str, source: pa.DataType) -> Kernel:
    tokens = parse_to_char_format(fmt)

    granule = _granule(tokens)

    @strict(T.TEXT)
    def compute(values: Sequence[Datum], n: int) -> Datum:
        micros, valid = micros_of(values[0], n)
        inverse = None
        if granule > 1 and len(micros) > _DEDUP_MIN_ROWS:
            micros, inverse = _distinct_granules(np.asarray(micros, dtype=np.int64), granule)
        parts = civil(micros)
        pieces: list[pa.Array | str] = []
        for token in tokens:
            pieces.append(
                _to_char_piece(token, parts, micros, source) if token.keyword else token.text
            )
        if not pieces:
            result = pa.array([""] * len(micros), T.TEXT)
        else:
            arrays = [p if isinstance(p, pa.Array) else pa.scalar(p) for p in pieces]
            result = pc.binary_join_element_wise(*arrays, "")
            if not isinstance(result, pa.Array):
                result = pa.repeat(result, len(micros))
        if inverse is not None:
            result = result.take(pa.array(inverse))
        if valid is not None:
            result = pc.if_else(pa.array(valid), result, null_scalar(T.TEXT))
        return result

    return compute


# The finest time unit (in microseconds) each keyword reads; the rest read the day.
_GRANULES = {"HH24": I.US_PER_HOUR, "HH12": I.US_PER_HOUR, "HH": I.US_PER_HOUR,
             "AM": I.US_PER_HOUR, "PM": I.US_PER_HOUR, "A.M.": I.US_PER_HOUR,
             "P.M.": I.US_PER_HOUR, "MI": I.US_PER_MINUTE, "SS": I.US_PER_SECOND,
             "SSSS": I.US_PER_SECOND, "SSSSS": I.US_PER_SECOND, "MS": 1000, "US": 1}
_DEDUP_MIN_ROWS = 64


def _granule(tokens: list[_Token]) -> int:
    """The largest unit that every keyword of the template is constant within: rows in
    the same granule format alike, so a chunk formats each distinct granule once."""
    granule: int = I.US_PER_DAY
    for token in tokens:
        if token.keyword:
            granule = min(granule, _GRANULES.get(token.text.upper(), I.US_PER_DAY))
    return granule


def _distinct_granules(micros: np.ndarray, granule: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct granules' starts and, per row, the index of its granule. Event times
    arrive nearly in order, so runs are found in one pass; otherwise by sorting."""
    keys = np.floor_divide(micros, granule)
    steps = np.diff(keys)
    if (steps >= 0).all():
        starts = np.concatenate(([0], np.flatnonzero(steps) + 1))
        inverse = np.cumsum(np.concatenate(([0], steps != 0)), dtype=np.int64)
        return keys[starts] * granule, inverse
    distinct, inverse = np.unique(keys, return_inverse=True)
    return distinct * granule, inverse.astype(np.int64)


def _number(values: np.ndarray, width: int, fill_mode: bool) -> pa.Array:
    text = pc.cast(pa.array(np.asarray(values, dtype=np.int64)), T.TEXT)
    return text if fill_mode else pc.utf8_lpad(text, width, "0")


def _names(
    names: list[str], index: np.ndarray, keyword: str, width: int, fill_mode: bool
) -> pa.Array:
    if keyword.isupper():
        names = [name.upper() for name in names]
    elif keyword.islower():
        names = [name.lower() for name in names]
    if width == 3:
        names = [name[:3] for name in names]
    text = pc.take(pa.array(names), pa.array(np.asarray(index, dtype=np.int64)))
    return text if fill_mode or width == 3 else pc.utf8_rpad(text, 9, " ")


def _to_char_piece(
    token: _Token, parts: Civil, micros: Int64s, source: pa.DataType
) -> pa.Array | str:
    k, fm = token.text, token.fill_mode
    time = parts["time"]
    hour = time // I.US_PER_HOUR
    numbers: dict[str, Callable[[], tuple[np.ndarray, int]]] = {
        "YYYY": lambda: (parts["year"], 4),
        "YYY": lambda: (np.mod(parts["year"], 1000), 3),
        "YY": lambda: (np.mod(parts["year"], 100), 2),
        "Y": lambda: (np.mod(parts["year"], 10), 1),
        "MM": lambda: (parts["month"], 2),
        "DD": lambda: (parts["day"], 2),
        "DDD": lambda: (parts["doy"], 3),
        "D": lambda: (parts["dow"] + 1, 1),
        "ID": lambda: (np.where(parts["dow"] == 0, 7, parts["dow"]), 1),
        "HH24": lambda: (hour, 2),
        "HH12": lambda: (np.mod(hour + 11, 12) + 1, 2),
        "HH": lambda: (np.mod(hour + 11, 12) + 1, 2),
        "MI": lambda: ((time // I.US_PER_MINUTE) % 60, 2),
        "SS": lambda: ((time // I.US_PER_SECOND) % 60, 2),
        "MS": lambda: ((time // 1000) % 1000, 3),
        "US": lambda: (time % I.US_PER_SECOND, 6),
        "SSSS": lambda: (time // I.US_PER_SECOND, 1),
        "SSSSS": lambda: (time // I.US_PER_SECOND, 1),
        "Q": lambda: ((parts["month"] - 1) // 3 + 1, 1),
        "WW": lambda: ((parts["doy"] - 1) // 7 + 1, 2),
        "CC": lambda: ((parts["year"] + 99) // 100, 2),
        "J": lambda: (np.floor_divide(micros, I.US_PER_DAY) + 2440588, 1),
    }
    if k in numbers:
        values, width = numbers[k]()
        return _number(values, width, fm)
    if k in ("IW", "IYYY"):
        stamp = timestamp_array(micros, None, T.TIMESTAMP)
        iso = pc.iso_week(stamp) if k == "IW" else pc.iso_year(stamp)
        return _number(iso.to_numpy(zero_copy_only=False), 2 if k == "IW" else 4, fm)
    upper = k.upper()
    if upper in ("AM", "PM", "A.M.", "P.M."):
        morning = hour < 12
        am, pm = ("A.M.", "P.M.") if "." in k else ("AM", "PM")
        if k.islower():
            am, pm = am.lower(), pm.lower()
        return pa.array(np.where(morning, am, pm))
    if upper in ("MONTH", "MON"):
        return _names(_MONTHS, parts["month"] - 1, k, 9 if upper == "MONTH" else 3, fm)
    if upper in ("DAY", "DY"):
        return _names(_DAYS, parts["dow"], k, 9 if upper == "DAY" else 3, fm)
    if upper in ("AD", "BC", "A.D.", "B.C."):
        era = "A.D." if "." in k else "AD"
        return era.lower() if k.islower() else era
    if upper == "TZ":
        zone = "UTC" if source == T.TIMESTAMPTZ else ""
        return zone.lower() if k.islower() else zone
    if upper == "OF":
        return "+00" if source == T.TIMESTAMPTZ else ""
    raise error_for("0A000", f'to_char pattern "{k}" is not supported')

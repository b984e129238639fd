"""numeric (decimal128) helpers shared by casts, operators and functions: rounding half
away from zero, as PostgreSQL rounds numerics, and the 22003 a value that does not fit
raises."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.errors import SqlError, error_for


def round_decimal(a: pa.Array, scale: int) -> pa.Array:
    """Round half away from zero to `scale` digits (keeps the type)."""
    assert isinstance(a.type, pa.Decimal128Type | pa.Decimal256Type)
    if a.type.scale <= scale:
        return a
    return pc.round(a, ndigits=scale, round_mode="half_towards_infinity")


def to_decimal(a: pa.Array, target: pa.DataType) -> pa.Array:
    """A decimal array rounded and checked into `target` (22003 if it does not fit)."""
    assert isinstance(target, pa.Decimal128Type)
    try:
        return pc.cast(round_decimal(a, target.scale), target)
    except pa.ArrowInvalid as e:
        raise numeric_overflow(target) from e


def numeric_overflow(target: pa.Decimal128Type) -> SqlError:
    return error_for(
        "22003",
        "numeric field overflow",
        detail=(
            f"A field with precision {target.precision}, scale {target.scale} must round to an "
            f"absolute value less than 10^{target.precision - target.scale}."
        ),
    )

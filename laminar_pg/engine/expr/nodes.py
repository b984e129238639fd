"""The compiled expression tree and the array plumbing its kernels share.

Strategy: a node evaluates to a `Datum` (an Arrow array with one value a row, or one
scalar standing for every row), so constants are never materialised until the top
(`CompiledExpr.evaluate` broadcasts).  A `Call` applies a vectorised kernel to its
arguments' datums; a `Call` whose arguments are all constants is folded at compile
time unless it raises (then the error waits for a row that reaches it, as in
PostgreSQL's CASE).  Nodes that may raise for some rows (division, checked arithmetic,
casts) are `fallible`: CASE, COALESCE, AND and OR evaluate a fallible branch only over
the rows that reach it, so `CASE WHEN b <> 0 THEN a / b END` never divides by zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import types as T
from laminar_pg.errors import SqlError, error_for

# An Arrow array (a value a row) or scalar (one value for every row).  pyarrow ships no
# type stubs, so to mypy this is Any either way.
Datum: TypeAlias = Any
Kernel = Callable[[Sequence[Datum], int], Datum]
BoolMask = npt.NDArray[np.bool_]


class CompiledExpr:
    """A scalar expression compiled against an input schema.

    `type` is the Arrow type of the result (PostgreSQL's typing rules), `nullable`
    whether it can be NULL.  `evaluate(batch)` returns one value a row.
    """

    type: pa.DataType
    nullable: bool
    fallible: bool = False  # may raise an error for some rows
    unknown: bool = False  # an untyped literal ('abc', NULL): its context picks its type
    name: str = "expr"

    def children(self) -> Sequence[CompiledExpr]:
        return ()

    def datum(self, batch: pa.RecordBatch) -> Datum:
        raise NotImplementedError

    def evaluate(self, batch: pa.RecordBatch) -> pa.Array:
        """The value for each row of `batch` (constants broadcast to batch.num_rows)."""
        return broadcast(self.datum(batch), batch.num_rows, self.type)

    def columns(self) -> set[int]:
        """The indices of the input columns this expression reads."""
        found: set[int] = set()
        for child in self.children():
            found |= child.columns()
        return found

    @property
    def constant(self) -> pa.Scalar | None:
        """The value if this node is a constant, else None."""
        return None

    def __repr__(self) -> str:
        args = ", ".join(repr(c) for c in self.children())
        return f"{self.name}({args})::{T.pg_type_name(self.type)}"


class Constant(CompiledExpr):
    name = "const"

    def __init__(self, value: pa.Scalar, *, unknown: bool = False) -> None:
        self.value = value
        self.type = value.type
        self.nullable = not value.is_valid
        self.unknown = unknown

    def datum(self, batch: pa.RecordBatch) -> Datum:
        return self.value

    @property
    def constant(self) -> pa.Scalar:
        return self.value

    def __repr__(self) -> str:
        return f"{self.value.as_py()!r}::{'unknown' if self.unknown else T.pg_type_name(self.type)}"


class ColumnRef(CompiledExpr):
    """Input column `index`, read as its canonical type (see types.canonical_type)."""

    name = "column"

    def __init__(self, index: int, field: pa.Field) -> None:
        self.index = index
        self.field = field
        self.type = T.canonical_type(field.type)
        self.nullable = field.nullable

    def datum(self, batch: pa.RecordBatch) -> Datum:
        column = batch.column(self.index)
        if column.type != self.type:
            column = _to_canonical(column, self.type)
        return column

    def columns(self) -> set[int]:
        return {self.index}

    def __repr__(self) -> str:
        return f"${self.index}:{self.field.name}::{T.pg_type_name(self.type)}"


def _to_canonical(column: pa.Array, target: pa.DataType) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
        if column.type == target:
            return column
    # Timestamps of another unit truncate to microseconds, as PostgreSQL stores them.
    return column.cast(
        target, safe=not pa.types.is_timestamp(target) and not pa.types.is_time(target)
    )


class Call(CompiledExpr):
    """A kernel applied to the values of its arguments."""

    def __init__(
        self,
        name: str,
        kernel: Kernel,
        args: Sequence[CompiledExpr],
        type: pa.DataType,
        *,
        nullable: bool | None = None,
        fallible: bool = False,
    ) -> None:
        self.name = name
        self.kernel = kernel
        self.args = tuple(args)
        self.type = type
        self.nullable = any(a.nullable for a in self.args) if nullable is None else nullable
        self.fallible = fallible or any(a.fallible for a in self.args)

    def children(self) -> Sequence[CompiledExpr]:
        return self.args

    def datum(self, batch: pa.RecordBatch) -> Datum:
        return self.kernel([a.datum(batch) for a in self.args], batch.num_rows)


def make_call(
    name: str,
    kernel: Kernel,
    args: Sequence[CompiledExpr],
    type: pa.DataType,
    *,
    nullable: bool | None = None,
    fallible: bool = False,
) -> CompiledExpr:
    """A Call, folded to a Constant when every argument is constant and it does not raise."""
    call = Call(name, kernel, args, type, nullable=nullable, fallible=fallible)
    values = [a.constant for a in call.args]
    if all(v is not None for v in values):
        try:
            result = kernel(values, 1)
        except SqlError:
            return call  # raise when (if) a row evaluates it
        return Constant(scalar_of(result, type))
    return call


def scalar_of(result: Datum, type: pa.DataType) -> pa.Scalar:
    scalar = result if isinstance(result, pa.Scalar) else result[0]
    if scalar.type != type:
        raise error_for("XX000", f"internal error: kernel returned {scalar.type}, expected {type}")
    return scalar


# --- datum helpers ------------------------------------------------------------------


def broadcast(value: Datum, n: int, type: pa.DataType) -> pa.Array:
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        return value
    if not value.is_valid:
        return pa.nulls(n, type)
    return pa.repeat(value, n)


def null_scalar(type: pa.DataType) -> pa.Scalar:
    return pa.scalar(None, type)


def is_null_datum(value: Datum) -> bool:
    return isinstance(value, pa.Scalar) and not value.is_valid


def true_mask(value: Datum, n: int) -> BoolMask:
    """The rows where a boolean datum is TRUE (NULL and FALSE are not)."""
    if isinstance(value, pa.Scalar):
        return np.full(n, bool(value.is_valid and value.as_py()))
    filled = value.fill_null(False) if value.null_count else value
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.bool_)


def false_mask(value: Datum, n: int) -> BoolMask:
    """The rows where a boolean datum is FALSE."""
    if isinstance(value, pa.Scalar):
        return np.full(n, bool(value.is_valid and not value.as_py()))
    return true_mask(pc.invert(value), n)


def null_mask(value: Datum, n: int) -> BoolMask:
    if isinstance(value, pa.Scalar):
        return np.full(n, not value.is_valid)
    if value.null_count == 0:
        return np.zeros(n, dtype=np.bool_)
    return np.asarray(value.is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)


def valid_mask(value: pa.Array) -> BoolMask | None:
    """Validity as a numpy mask, or None when there are no nulls."""
    if value.null_count == 0:
        return None
    return np.asarray(value.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)


def scatter(values: Datum, mask: BoolMask, type: pa.DataType) -> pa.Array:
    """An array of len(mask): `values` (one per true row, in order) at the true rows, else NULL."""
    positions = np.cumsum(mask, dtype=np.int64) - 1
    indices = pa.array(positions, mask=~mask)
    if isinstance(values, pa.Scalar):
        values = broadcast(values, int(mask.sum()), type)
    return pc.take(values, indices)


def evaluate_where(node: CompiledExpr, batch: pa.RecordBatch, mask: BoolMask | None) -> Datum:
    """`node` over the rows where `mask` holds (NULL elsewhere; None means every row).

    A node that cannot fail is evaluated over the whole batch (cheaper than filtering); a
    fallible one only over the selected rows, so rows that do not reach it cannot raise.
    """
    if mask is None or not node.fallible:
        return node.datum(batch)
    selected = int(mask.sum())
    if selected == len(mask):
        return node.datum(batch)
    if selected == 0:
        return null_scalar(node.type)
    return scatter(node.datum(batch.filter(pa.array(mask))), mask, node.type)


# --- numpy bridges ------------------------------------------------------------------


def to_numpy(value: Datum, n: int, fill: object = 0) -> tuple[np.ndarray, BoolMask | None]:
    """(values with NULLs replaced by `fill`, validity or None if all valid), length n."""
    if isinstance(value, pa.Scalar):
        if not value.is_valid:
            data = pa.repeat(pa.scalar(fill).cast(value.type), n) if n else pa.array([], value.type)
            return data.to_numpy(zero_copy_only=False), np.zeros(n, dtype=np.bool_)
        return broadcast(value, n, value.type).to_numpy(zero_copy_only=False), None
    valid = valid_mask(value)
    if valid is not None:
        value = value.fill_null(pa.scalar(fill).cast(value.type))
    return value.to_numpy(zero_copy_only=False), valid


def int64s(array: pa.Array) -> npt.NDArray[np.int64]:
    """An integer-valued array as int64 numpy values (NULLs as 0)."""
    if array.null_count:
        array = array.fill_null(0)
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.int64)


def combine_valid(*masks: BoolMask | None) -> BoolMask | None:
    result: BoolMask | None = None
    for m in masks:
        if m is not None:
            result = m if result is None else result & m
    return result


def from_numpy(values: np.ndarray, valid: BoolMask | None, type: pa.DataType) -> pa.Array:
    if valid is None:
        return pa.array(values, type=type)
    return pa.array(values, type=type, mask=~valid)


def numpy_kernel(
    fn: Callable[..., np.ndarray], out_type: pa.DataType, fills: Sequence[object] = ()
) -> Kernel:
    """A strict kernel (NULL in, NULL out) computing `fn` over numpy arrays.

    `fn` receives each argument's values (NULLs replaced by its fill, default 0) and a
    mask of the rows that are valid (for error checks that must skip NULL rows).
    """

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        if any(is_null_datum(v) for v in values):
            return null_scalar(out_type)
        all_scalar = all(isinstance(v, pa.Scalar) for v in values)
        rows = 1 if all_scalar else n
        arrays, masks = [], []
        for i, v in enumerate(values):
            data, valid = to_numpy(v, rows, fills[i] if i < len(fills) else 0)
            arrays.append(data)
            masks.append(valid)
        valid = combine_valid(*masks)
        live = np.ones(rows, dtype=np.bool_) if valid is None else valid
        result = from_numpy(fn(*arrays, live), valid, out_type)
        return result[0] if all_scalar else result

    return kernel


def arrow_error(error: pa.ArrowException, *, overflow: str = "value out of range") -> SqlError:
    """A SqlError for an error an Arrow kernel raised."""
    text = str(error)
    lowered = text.lower()
    if "divide by zero" in lowered or "division by zero" in lowered:
        return error_for("22012", "division by zero")
    if "overflow" in lowered or "does not fit" in lowered or "out of bounds" in lowered:
        return error_for("22003", overflow)
    return error_for("XX000", f"internal error: {text}")


def raise_invalid_text(type_name: str, value: object, sqlstate: str = "22P02") -> NoReturn:
    raise error_for(sqlstate, f'invalid input syntax for type {type_name}: "{value}"')


def first_failing(values: pa.Array, failed: BoolMask) -> object:
    """The first value of `values` where `failed` holds (for error messages)."""
    index = int(np.flatnonzero(failed)[0])
    return values[index].as_py()


ArrayFn = Callable[[pa.Array], pa.Array]


def unary(fn: ArrayFn, out_type: pa.DataType) -> Kernel:
    """A strict one-argument kernel from a function over arrays (scalars round-trip)."""

    def kernel(values: Sequence[Datum], n: int) -> Datum:
        (value,) = values
        if isinstance(value, pa.Scalar):
            if not value.is_valid:
                return null_scalar(out_type)
            return fn(pa.array([value.as_py()], value.type))[0]
        return fn(value)

    return kernel

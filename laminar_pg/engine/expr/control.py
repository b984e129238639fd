"""AND, OR, CASE and COALESCE: nodes that decide which rows reach which argument.

PostgreSQL evaluates a CASE branch, a later COALESCE argument or the right side of
AND / OR only for the rows that need it, and queries rely on it (`b <> 0 AND a / b > 1`).
Each node here evaluates a fallible argument over just those rows (nodes.evaluate_where);
arguments that cannot fail are evaluated over the whole batch, which is cheaper.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import types as T
from laminar_pg.engine.expr.nodes import (
    BoolMask,
    CompiledExpr,
    Constant,
    Datum,
    evaluate_where,
    false_mask,
    null_mask,
    null_scalar,
    true_mask,
)


class AndExpr(CompiledExpr):
    """Three-valued AND; the right side only sees rows where the left is not FALSE."""

    name = "and"

    def __init__(self, left: CompiledExpr, right: CompiledExpr) -> None:
        self.left, self.right = left, right
        self.type = T.BOOL
        self.nullable = left.nullable or right.nullable
        self.fallible = left.fallible or right.fallible

    def children(self) -> Sequence[CompiledExpr]:
        return (self.left, self.right)

    def datum(self, batch: pa.RecordBatch) -> Datum:
        left = self.left.datum(batch)
        mask = None
        if self.right.fallible:
            mask = ~false_mask(left, batch.num_rows)
        return pc.and_kleene(left, evaluate_where(self.right, batch, mask))


class OrExpr(CompiledExpr):
    """Three-valued OR; the right side only sees rows where the left is not TRUE."""

    name = "or"

    def __init__(self, left: CompiledExpr, right: CompiledExpr) -> None:
        self.left, self.right = left, right
        self.type = T.BOOL
        self.nullable = left.nullable or right.nullable
        self.fallible = left.fallible or right.fallible

    def children(self) -> Sequence[CompiledExpr]:
        return (self.left, self.right)

    def datum(self, batch: pa.RecordBatch) -> Datum:
        left = self.left.datum(batch)
        mask = None
        if self.right.fallible:
            mask = ~true_mask(left, batch.num_rows)
        return pc.or_kleene(left, evaluate_where(self.right, batch, mask))


def fold_and(left: CompiledExpr, right: CompiledExpr) -> CompiledExpr:
    lv, rv = left.constant, right.constant
    if lv is not None and lv.is_valid and not lv.as_py():
        return left  # FALSE AND x is FALSE without looking at x
    if lv is not None and rv is not None:
        return Constant(pc.and_kleene(lv, rv))
    return AndExpr(left, right)


def fold_or(left: CompiledExpr, right: CompiledExpr) -> CompiledExpr:
    lv, rv = left.constant, right.constant
    if lv is not None and lv.is_valid and lv.as_py():
        return left
    if lv is not None and rv is not None:
        return Constant(pc.or_kleene(lv, rv))
    return OrExpr(left, right)


class CaseExpr(CompiledExpr):
    """Searched CASE: the first WHEN that is TRUE picks its THEN; else ELSE (or NULL).

    Each condition is evaluated over the rows no earlier WHEN took, each result over the
    rows that chose it.  All results already have the common type.
    """

    name = "case"

    def __init__(
        self,
        whens: Sequence[tuple[CompiledExpr, CompiledExpr]],
        default: CompiledExpr | None,
        type: pa.DataType,
    ) -> None:
        self.whens = tuple(whens)
        self.default = default
        self.type = type
        results = [v for _, v in self.whens] + ([default] if default is not None else [])
        self.nullable = default is None or any(r.nullable for r in results)
        self.fallible = any(c.fallible for c in self.children())

    def children(self) -> Sequence[CompiledExpr]:
        nodes: list[CompiledExpr] = []
        for condition, value in self.whens:
            nodes += [condition, value]
        if self.default is not None:
            nodes.append(self.default)
        return nodes

    def datum(self, batch: pa.RecordBatch) -> Datum:
        n = batch.num_rows
        remaining: BoolMask | None = None  # None: every row is still undecided
        chosen: list[tuple[BoolMask, Datum]] = []
        for condition, value in self.whens:
            hit = true_mask(evaluate_where(condition, batch, remaining), n)
            if remaining is not None:
                hit &= remaining
            if not hit.any():
                continue
            chosen.append((hit, evaluate_where(value, batch, hit)))
            remaining = ~hit if remaining is None else remaining & ~hit
            if not remaining.any():
                break
        result: Datum = null_scalar(self.type)
        if self.default is not None and (remaining is None or remaining.any()):
            result = evaluate_where(self.default, batch, remaining)
        for hit, value in reversed(chosen):
            result = pc.if_else(pa.array(hit), value, result)
        return result


class CoalesceExpr(CompiledExpr):
    """The first non-NULL argument; later arguments only see rows still NULL."""

    name = "coalesce"

    def __init__(self, args: Sequence[CompiledExpr], type: pa.DataType) -> None:
        self.args = tuple(args)
        self.type = type
        self.nullable = all(a.nullable for a in self.args)
        self.fallible = any(a.fallible for a in self.args)

    def children(self) -> Sequence[CompiledExpr]:
        return self.args

    def datum(self, batch: pa.RecordBatch) -> Datum:
        n = batch.num_rows
        result = self.args[0].datum(batch)
        for arg in self.args[1:]:
            missing = null_mask(result, n)
            if not missing.any():
                break
            result = pc.coalesce(result, evaluate_where(arg, batch, missing))
        return result

"""Temporal filters: WHERE conjuncts that compare a row's time with now().

`t > now() - INTERVAL '1' HOUR` (also `>=`, `now() - INTERVAL ... < t`, `t > now()`,
`now() <= t + INTERVAL ...`): a row is in the view while now() is before its expiry
`t + 1 hour`; inside a view now() is the epoch's timestamp, so rows leave the view as
epochs pass (engine/operators/temporal_filter.py). Other uses of now() in a streaming
query (an upper bound `t <= now()`, now() in the SELECT list, in HAVING, in a join
condition) are refused with 0A000: their answers would change with time in ways the
engine does not track.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from laminar_pg.sql.ast import split_and

_NOW_NAMES = ("now", "mz_now", "current_timestamp", "transaction_timestamp",
              "statement_timestamp")
_HINT = ("A temporal filter keeps recent rows: WHERE time_column > now() - INTERVAL "
         "'1' HOUR (or >=).")


def _is_now(node: exp.Expr) -> bool:
    if isinstance(node, exp.CurrentTimestamp):
        return True
    return isinstance(node, exp.Anonymous) and str(node.this).lower() in _NOW_NAMES


def mentions_now(node: exp.Expr) -> bool:
    return any(_is_now(n) for n in node.walk())


def split_temporal(condition: exp.Expr) -> tuple[exp.Expr | None, list[exp.Expr]]:
    """(the conjuncts without now(), ANDed; the temporal ones)."""
    parts = split_and(condition)
    temporal = [p for p in parts if mentions_now(p)]
    rest = [p for p in parts if not mentions_now(p)]
    if not temporal:
        return condition, []
    combined: exp.Expr | None = None
    for part in rest:
        combined = part if combined is None else exp.and_(combined, part)
    return combined, temporal


def _now_offset(node: exp.Expr, interval_us: Any) -> int | None:
    """now() + offset as the offset in microseconds, or None if `node` is not that."""
    if isinstance(node, exp.Paren):
        return _now_offset(node.this, interval_us)
    if _is_now(node):
        return 0
    if isinstance(node, (exp.Add, exp.Sub)) and _is_now(node.this) \
            and not mentions_now(node.expression):
        amount = int(interval_us(node.expression))
        return amount if isinstance(node, exp.Add) else -amount
    return None


def temporal_bound(conjunct: exp.Expr, interval_us: Any) -> tuple[exp.Expr, int]:
    """For `row_time > now() + k` (or the forms that mean the same): (row_time, the
    offset in microseconds such that the row is in the view while now() < row_time +
    offset)."""
    from laminar_pg.sql.planner import unsupported

    comparison = conjunct.this if isinstance(conjunct, exp.Paren) else conjunct
    flips: dict[type[exp.Expr], type[exp.Expr]] = {
        exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT, exp.GTE: exp.LTE}
    if type(comparison) not in flips:
        raise unsupported(f"now() in {conjunct.sql('postgres')}", hint=_HINT)
    left, right = comparison.this, comparison.expression
    kind: type[exp.Expr] = type(comparison)
    if mentions_now(left) and not mentions_now(right):
        left, right = right, left
        kind = flips[kind]
    offset = _now_offset(right, interval_us)
    if offset is None or mentions_now(left) or kind not in (exp.GT, exp.GTE):
        raise unsupported(f"now() in {conjunct.sql('postgres')}", hint=_HINT)
    # t > now() + k  <=>  now() < t - k;  t >= now() + k  <=>  now() < t - k + 1 us
    return left, -offset + (1 if kind is exp.GTE else 0)

"""Point lookups by primary key without the engine: the fast path of `SELECT cols FROM t
WHERE pk = <value>`.

DuckDB answers such a query through its ART index, but every statement costs it about
0.4 ms of parsing, planning and Arrow export (docs/benchmarks.md, "Tables"), which caps a
connection at ~2,000 lookups/s where PostgreSQL does 10-20k. Like Materialize's fast-path
peeks at an index, a table with an integer primary key that is looked up gets an in-memory
index (`PkIndex`): a snapshot of its rows (Arrow, read once from the engine while no
commit can run) with its keys sorted (numpy), plus the changes committed since, applied
at each COMMIT from the change ops the transaction logged. A lookup is a binary search
and a one-row slice.

Consistency: the index is built and changed only under the database's writer lock, and a
commit applies its changes before it releases the lock, so a lookup sees exactly the
committed state, as a query on the engine would; the reader still waits until what it saw
is durable. An index whose table is altered, dropped or bulk-changed is dropped and built
again on the next lookup. Lookups inside a transaction that has written, and every other
query shape, take the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from laminar_pg.storage.log import ChangeOp, DdlOp, Op

WEIGHT = "_laminar_weight"
MAX_BATCH_APPLIED = 2_000  # a larger change to an indexed table drops its index
MAX_DELTA = 200_000  # changed keys kept beside the snapshot before it is rebuilt
MAX_ROWS = 20_000_000  # tables larger than this are not indexed


@dataclass(frozen=True, slots=True)
class LookupPlan:
    """What an eligible query asks: which table, its key column, the key's source."""

    table_oid: int
    table_version: int
    key_column: str
    key_param: int | None  # 1-based parameter number, or None for a literal
    key_literal: int | None
    columns: tuple[str, ...] | None  # None: SELECT *


def plan_lookup(tree: exp.Expr, table_oid: int, table_version: int, key_column: str,
                table_columns: Sequence[str]) -> LookupPlan | None:
    """A LookupPlan when `tree` is exactly SELECT <* | columns> FROM t WHERE key = value."""
    if not isinstance(tree, exp.Select):
        return None
    for arg in ("joins", "group", "having", "order", "limit", "offset", "distinct", "with_",
                "with", "qualify", "windows", "laterals", "pivots", "into", "locks"):
        if tree.args.get(arg):
            return None
    source = tree.args.get("from_")
    if not isinstance(source, exp.From) or not isinstance(source.this, exp.Table):
        return None
    table = source.this
    alias = table.alias_or_name
    columns: list[str] | None = []
    for item in tree.expressions:
        if isinstance(item, exp.Star) and len(tree.expressions) == 1:
            columns = None
            break
        if not isinstance(item, exp.Column) or item.table not in ("", alias):
            return None
        if item.name not in table_columns:
            return None
        assert columns is not None
        columns.append(item.name)
    where = tree.args.get("where")
    condition = where.this if isinstance(where, exp.Where) else None
    if not isinstance(condition, exp.EQ):
        return None
    column, value = condition.this, condition.expression
    if not isinstance(column, exp.Column):
        column, value = value, column
    if (not isinstance(column, exp.Column) or column.name != key_column
            or column.table not in ("", alias)):
        return None
    param = literal = None
    if isinstance(value, exp.Parameter) and value.name.isdigit():
        param = int(value.name)
    elif isinstance(value, exp.Literal) and not value.is_string and value.this.lstrip("-").isdigit():
        literal = int(value.this)
    elif (isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal)
          and value.this.this.isdigit()):
        literal = -int(value.this.this)
    else:
        return None
    return LookupPlan(table_oid, table_version, key_column, param, literal,
                      None if columns is None else tuple(columns))


class PkIndex:
    """One table's committed rows by integer primary key (see the module docstring)."""

    def __init__(self, rows: pa.Table, key_column: str, version: int) -> None:
        self.version = version
        self.key_column = key_column
        self.rows = rows.combine_chunks()
        keys = self.rows.column(key_column).to_numpy(zero_copy_only=False).astype(np.int64)
        self.order = np.argsort(keys, kind="stable")
        self.sorted_keys = keys[self.order]
        self.delta: dict[int, tuple[Any, ...] | None] = {}

    def get(self, key: int) -> pa.Table:
        """The row with this key (zero or one row), in the table's schema."""
        if key in self.delta:
            row = self.delta[key]
            if row is None:
                return self.rows.slice(0, 0)
            arrays = [pa.array([v], type=f.type) for v, f in zip(row, self.rows.schema,
                                                                  strict=True)]
            return pa.Table.from_arrays(arrays, schema=self.rows.schema)
        at = int(np.searchsorted(self.sorted_keys, key))
        if at < len(self.sorted_keys) and self.sorted_keys[at] == key:
            return self.rows.slice(int(self.order[at]), 1)
        return self.rows.slice(0, 0)

    def apply(self, batch: pa.RecordBatch) -> bool:
        """A committed change batch; False when the index should be dropped instead."""
        if batch.num_rows > MAX_BATCH_APPLIED or len(self.delta) > MAX_DELTA:
            return False
        names = [n for n in batch.schema.names if n != WEIGHT]
        if names != self.rows.schema.names:
            return False
        weights = batch.column(batch.num_columns - 1).to_pylist()
        keys = batch.column(self.key_column).to_pylist()
        table = pa.Table.from_batches([batch]).drop_columns([WEIGHT]).cast(self.rows.schema)
        values = [table.column(i).to_pylist() for i in range(table.num_columns)]
        # deletes first, then inserts: an UPDATE is logged as both, for the same key
        for key, weight in zip(keys, weights, strict=True):
            if weight < 0:
                self.delta[int(key)] = None
        for i, (key, weight) in enumerate(zip(keys, weights, strict=True)):
            if weight > 0:
                self.delta[int(key)] = tuple(col[i] for col in values)
        return True


class Lookups:
    """The database's primary-key indexes, by table OID."""

    def __init__(self) -> None:
        self.indexes: dict[int, PkIndex] = {}

    def get(self, plan: LookupPlan) -> PkIndex | None:
        index = self.indexes.get(plan.table_oid)
        if index is None or index.version != plan.table_version:
            return None
        return index

    def apply_commit(self, ops: Sequence[Op]) -> None:
        """Called under the writer lock, after the engine committed `ops`."""
        if not self.indexes:
            return
        for op in ops:
            if isinstance(op, DdlOp):
                if op.oid is not None:
                    self.indexes.pop(op.oid, None)
            elif isinstance(op, ChangeOp):
                index = self.indexes.get(op.oid)
                if index is not None and (index.version != op.schema_version
                                          or not index.apply(op.batch)):
                    del self.indexes[op.oid]

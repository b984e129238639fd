"""Project: computes the output columns from each input row (SELECT list, pre-aggregate
arguments). Stateless; weights pass through untouched."""

from __future__ import annotations

import pyarrow as pa

from laminar_pg.engine.expr import CompiledExpr
from laminar_pg.engine.messages import Chunk, Message
from laminar_pg.engine.operator import Operator


class Project(Operator):
    name = "project"

    def __init__(self, schema: pa.Schema, expressions: list[CompiledExpr],
                 direct: list[int | None]) -> None:
        super().__init__(schema)
        self.expressions = expressions
        # A plain column reference (direct[i] = its input index) is taken, not evaluated:
        # the common case of a view reading some of a source's columns.
        self._direct = direct

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        batch = chunk.batch
        if not self.expressions:  # no columns (count(*) alone): keep the row count
            return [Chunk(batch.select([]), chunk.weights)]
        arrays = [
            batch.column(direct) if direct is not None else expr.evaluate(batch)
            for expr, direct in zip(self.expressions, self._direct, strict=True)
        ]
        arrays = [a if a.type == f.type else a.cast(f.type) for a, f in zip(arrays, self.schema, strict=True)]
        out = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        return [Chunk(out, chunk.weights)]

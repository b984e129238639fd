"""UNION ALL: the chunks of every input, in arrival order; the watermark is the minimum
over the inputs (the base class does that) and a barrier waits for every input."""

from __future__ import annotations

import pyarrow as pa

from laminar_pg.engine.messages import Chunk, Message
from laminar_pg.engine.operator import Operator


class UnionAll(Operator):
    name = "union_all"

    def __init__(self, schema: pa.Schema, inputs: int) -> None:
        super().__init__(schema, inputs)

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        batch = chunk.batch
        if batch.schema != self.schema:
            arrays = [c if c.type == f.type else c.cast(f.type)
                      for c, f in zip(batch.columns, self.schema, strict=True)]
            batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        return [Chunk(batch, chunk.weights)]

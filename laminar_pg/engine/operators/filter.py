"""Filter: keeps the rows whose predicate is TRUE (NULL and FALSE drop the row).

Stateless, so a retraction is filtered exactly like the insertion it cancels.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from laminar_pg.engine.expr import CompiledExpr
from laminar_pg.engine.messages import Chunk, Message
from laminar_pg.engine.operator import Operator


class Filter(Operator):
    name = "filter"

    def __init__(self, schema: pa.Schema, predicate: CompiledExpr) -> None:
        super().__init__(schema)
        self.predicate = predicate

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        return [filter_chunk(chunk, self.predicate.evaluate(chunk.batch))]


def filter_chunk(chunk: Chunk, mask: pa.Array) -> Chunk:
    """The rows of `chunk` where `mask` is TRUE."""
    if mask.null_count:
        mask = pc.fill_null(mask, False)
    keep = mask.to_numpy(zero_copy_only=False)
    if keep.all():
        return chunk
    batch = chunk.batch.filter(mask)
    weights = None if chunk.weights is None else chunk.weights[np.asarray(keep, dtype=bool)]
    return Chunk(batch, weights)

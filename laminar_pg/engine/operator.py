"""The base of every incremental operator.

An operator receives messages on numbered input ports and returns the messages it emits,
synchronously: the dataflow (`engine.dataflow`) routes them. Every hook has a default
that does the expected thing for an operator that does not care (watermarks pass
through as the minimum over the inputs, barriers emit nothing), so an operator
overrides only what it handles. The dataflow delivers `on_barrier` once the barrier has
arrived on every input (aligned), and counts rows in and out per operator, per chunk.

Stateful operators keep their state in `engine.state.StateTable`s, committed at barriers;
`state_bytes()` reports their size for the metrics.
"""

from __future__ import annotations

import pyarrow as pa

from laminar_pg.engine.messages import Barrier, Chunk, Message, Watermark


class Operator:
    """One node of a dataflow. `schema` is the schema of the chunks it emits."""

    name = "operator"
    # attributes a checkpoint leaves out because `after_restore` rebuilds them from the
    # rest of the state (engine/checkpoint.py)
    derived: tuple[str, ...] = ()

    def __init__(self, schema: pa.Schema, inputs: int = 1) -> None:
        self.schema = schema
        self.inputs = inputs
        self._watermarks: list[int | None] = [None] * inputs
        self._emitted_watermark: int | None = None

    def on_chunk(self, chunk: Chunk, port: int) -> list[Message]:
        return [chunk]

    def on_watermark(self, watermark: Watermark, port: int) -> list[Message]:
        """Pass on the minimum of the inputs' watermarks when it rises."""
        advanced = self.input_watermark(watermark, port)
        return [] if advanced is None else [Watermark(advanced)]

    def on_barrier(self, barrier: Barrier) -> list[Message]:
        return []

    def state_bytes(self) -> int:
        return 0

    def __getstate__(self) -> dict[str, object]:
        """What a checkpoint pickles: every attribute but the derived ones."""
        state = dict(vars(self))
        for name in self.derived:
            state.pop(name, None)
        return state

    def after_restore(self) -> None:
        """Rebuild the derived attributes after a checkpoint restored the state."""

    def input_watermark(self, watermark: Watermark, port: int) -> int | None:
        """Record an input's watermark; the new combined watermark if it rose, else None."""
        current = self._watermarks[port]
        if current is None or watermark.value > current:
            self._watermarks[port] = watermark.value
        if any(w is None for w in self._watermarks):
            return None
        combined = min(w for w in self._watermarks if w is not None)
        if self._emitted_watermark is not None and combined <= self._emitted_watermark:
            return None
        self._emitted_watermark = combined
        return combined

"""Committed table rows queue for the pipeline; a writer waits while the pipeline is more
than MAX_PENDING_ROWS behind, so a slow view bounds the memory its tables' commits hold."""

from __future__ import annotations

import asyncio

import numpy as np
import pyarrow as pa

from laminar_pg.engine.runtime import Runtime
from laminar_pg.session import streaming as streaming_module
from laminar_pg.session.streaming import Streaming
from laminar_pg.storage.log import ChangeOp


def change(rows: int) -> ChangeOp:
    batch = pa.record_batch([pa.array(np.arange(rows)), pa.array(np.ones(rows, dtype=np.int64))],
                            names=["x", "_laminar_weight"])
    return ChangeOp("public.t", 7, 1, batch)


def test_writers_wait_until_the_pipeline_catches_up() -> None:
    runtime = Runtime(barrier_interval=3600)
    streaming = Streaming(runtime, 1)
    streaming.tables_read.add(7)
    limit = streaming_module.MAX_PENDING_ROWS
    streaming.feed_commit([change(limit + 1)])
    assert streaming.pending_rows == limit + 1

    async def scenario() -> None:
        waiter = asyncio.ensure_future(streaming.wait_for_room())
        await asyncio.sleep(0.05)
        assert not waiter.done()  # the pipeline has not taken the rows: the writer waits
        runtime.start()  # the pipeline drains the queue
        await asyncio.wait_for(waiter, timeout=30)

    try:
        asyncio.run(scenario())
        assert streaming.pending_rows == 0
        streaming.feed_commit([change(10)])  # below the limit: no wait at all
        asyncio.run(asyncio.wait_for(streaming.wait_for_room(), timeout=0.01))
    finally:
        runtime.stop()


def test_a_stopped_pipeline_does_not_hold_writers_forever() -> None:
    runtime = Runtime(barrier_interval=3600)
    streaming = Streaming(runtime, 1)
    streaming.tables_read.add(7)
    streaming.feed_commit([change(streaming_module.MAX_PENDING_ROWS + 1)])
    runtime.start()
    runtime.stop()  # stopped with work queued: writers are not held
    asyncio.run(asyncio.wait_for(streaming.wait_for_room(), timeout=1))

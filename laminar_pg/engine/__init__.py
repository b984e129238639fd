"""The incremental dataflow engine (Streaming engine I builds it)."""

"""Pipeline observability: the figures behind the `laminar_catalog.*` system tables, the
Prometheus text exposition of the same figures, and the HTTP endpoint that serves it.

`figures` builds every system table as an Arrow table from the server's state (the
session layer registers them as relations); `prometheus` renders those tables, plus the
process's own figures (`process`), in the Prometheus text format; `http` serves
`GET /metrics` from the server's event loop. Reading any of them only reads counters the
pipeline thread writes per batch or per epoch: it never waits for the pipeline.
"""

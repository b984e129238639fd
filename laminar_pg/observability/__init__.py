"""Pipeline observability: the figures behind the `laminar_catalog.*` system tables, the
Prometheus text exposition of the same figures, EXPLAIN of running dataflows, and the
HTTP endpoint that serves the metrics and the live pipeline page.

`figures` builds every system table as an Arrow table from the server's state (the
session layer registers them as relations); `prometheus` renders those tables, plus the
process's own figures (`process`), in the Prometheus text format; `explain` draws a
running dataflow's operator graph (EXPLAIN [ANALYZE] MATERIALIZED VIEW | SINK); `pipeline`
is the JSON the page (`page`) draws; `http` serves `/metrics`, `/`, `/api/pipeline` and
`/api/explain` from the server's event loop. Reading any of them only reads counters the
pipeline thread writes per batch or per epoch: it never waits for the pipeline.
"""

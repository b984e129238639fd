"""The Prometheus text exposition (format 0.0.4) of the pipeline's figures.

Strategy: the families are declared as data (`FAMILIES`: which system table, which
column, which labels, counter or gauge), rendered from the very Arrow tables that
`laminar_catalog.*` returns (observability/figures.py), so a scrape and a SELECT agree.
Pure: no I/O, no asyncio (observability/http.py serves it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from laminar_pg.engine.messages import END_OF_TIME
from laminar_pg.observability import figures
from laminar_pg.observability.process import ProcessFigures, process_figures

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # counters end with _total, as Prometheus expects
    kind: str  # "counter" | "gauge"
    help: str
    table: str  # the figures table it reads
    column: str
    labels: tuple[tuple[str, str], ...] = ()  # (label name, column)
    scale: float = 1.0


_SOURCE = (("source", "name"),)
_VIEW = (("view", "name"),)
_OPERATOR = (("view", "view"), ("operator_id", "operator_id"), ("operator", "operator"),
             ("shard", "shard"))

FAMILIES: tuple[Family, ...] = (
    Family("laminar_pipeline_uptime_seconds", "gauge", "Seconds since the pipeline started.",
           "pipeline_metrics", "uptime_seconds"),
    Family("laminar_pipeline_epoch", "gauge", "The last completed epoch.",
           "pipeline_metrics", "epoch"),
    Family("laminar_pipeline_events_ingested_total", "counter",
           "Events read by every source reader.", "pipeline_metrics", "events_ingested"),
    Family("laminar_pipeline_events_emitted_total", "counter",
           "Changes received by the outputs of views and sinks.", "pipeline_metrics",
           "events_emitted"),
    Family("laminar_pipeline_batches_total", "counter", "Source batches pushed.",
           "pipeline_metrics", "batches"),
    Family("laminar_pipeline_cycles_total", "counter", "Epochs completed.",
           "pipeline_metrics", "cycles"),
    Family("laminar_pipeline_cycle_mean_seconds", "gauge",
           "Mean busy time of an epoch.", "pipeline_metrics", "mean_cycle_seconds"),
    Family("laminar_pipeline_cycle_max_seconds", "gauge", "Longest busy time of an epoch.",
           "pipeline_metrics", "max_cycle_seconds"),
    Family("laminar_pipeline_busy_seconds_total", "counter",
           "Time the pipeline thread spent working (not waiting).", "pipeline_metrics",
           "busy_seconds"),
    Family("laminar_pipeline_utilization_ratio", "gauge",
           "Busy share of the last epoch's wall time.", "pipeline_metrics", "utilization"),
    Family("laminar_pipeline_backpressure_ratio", "gauge",
           "Committed table rows waiting for the pipeline, as a share of the limit.",
           "pipeline_metrics", "backpressure"),
    Family("laminar_pipeline_dataflows", "gauge", "Dataflows (views and sinks) installed.",
           "pipeline_metrics", "dataflows"),
    Family("laminar_pipeline_failed_dataflows", "gauge", "Dataflows that failed.",
           "pipeline_metrics", "failed_dataflows"),
    Family("laminar_checkpoints_completed_total", "counter",
           "Checkpoints this process completed.", "pipeline_metrics",
           "checkpoints_completed"),
    Family("laminar_checkpoints_failed_total", "counter", "Checkpoints failed.",
           "pipeline_metrics", "checkpoints_failed"),
    Family("laminar_checkpoint_last_duration_seconds", "gauge",
           "How long the newest completed checkpoint took, capture to manifest.",
           "pipeline_metrics", "last_checkpoint_seconds"),
    Family("laminar_checkpoint_epoch", "gauge",
           "The epoch of the newest completed checkpoint (recovery starts there).",
           "pipeline_metrics", "checkpoint_epoch"),
    Family("laminar_source_events_total", "counter", "Events read from a source.",
           "source_metrics", "events", _SOURCE),
    Family("laminar_source_bytes_total", "counter", "Bytes read from a source.",
           "source_metrics", "bytes", _SOURCE),
    Family("laminar_source_events_per_second", "gauge",
           "Events read per second over the last 10 s.", "source_metrics",
           "events_per_second", _SOURCE),
    Family("laminar_source_watermark_seconds", "gauge",
           "A source's watermark (event time, Unix seconds; +Inf at the end of time).",
           "source_metrics", "watermark", _SOURCE),
    Family("laminar_source_lag_seconds", "gauge",
           "How far a source's watermark is behind the wall clock.", "source_metrics",
           "lag_seconds", _SOURCE),
    Family("laminar_source_late_events_dropped_total", "counter",
           "Late events a source dropped.", "source_metrics", "late_events_dropped", _SOURCE),
    Family("laminar_source_parse_errors_total", "counter", "Events a source could not parse.",
           "source_metrics", "parse_errors", _SOURCE),
    Family("laminar_view_rows_in_total", "counter", "Rows into a view's dataflow.",
           "view_metrics", "rows_in", _VIEW),
    Family("laminar_view_rows_out_total", "counter", "Changes applied to a view.",
           "view_metrics", "rows_out", _VIEW),
    Family("laminar_view_rows", "gauge", "Rows a view holds (its last published version).",
           "view_metrics", "row_count", _VIEW),
    Family("laminar_view_state_bytes", "gauge", "Bytes of operator state of a view.",
           "view_metrics", "state_bytes", _VIEW),
    Family("laminar_view_freshness_seconds", "gauge",
           "Now minus the ingest time of the newest change a view reflects.",
           "view_metrics", "freshness_seconds", _VIEW),
    Family("laminar_view_event_time_lag_seconds", "gauge",
           "How far a view's watermark is behind the wall clock.", "view_metrics",
           "event_time_lag_seconds", _VIEW),
    Family("laminar_operator_rows_in_total", "counter", "Rows into an operator.",
           "operator_metrics", "rows_in", _OPERATOR),
    Family("laminar_operator_rows_out_total", "counter", "Rows out of an operator.",
           "operator_metrics", "rows_out", _OPERATOR),
    Family("laminar_operator_busy_seconds_total", "counter", "Time an operator spent.",
           "operator_metrics", "busy_seconds", _OPERATOR),
    Family("laminar_operator_state_bytes", "gauge", "Bytes of an operator's state.",
           "operator_metrics", "state_bytes", _OPERATOR),
    Family("laminar_sink_changes_total", "counter", "Changes a sink received.",
           "sinks", "changes", (("sink", "name"),)),
)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _number(value: Any, column_type: pa.DataType) -> float | None:
    """A figure as a sample value; watermarks become Unix seconds (+Inf: end of time)."""
    if value is None:
        return None
    if pa.types.is_timestamp(column_type):
        micros = int(value)
        return math.inf if micros >= END_OF_TIME else micros / 1e6
    return float(value)


def _samples(family: Family, table: pa.Table) -> Iterable[str]:
    column_type = table.schema.field(family.column).type
    values = table.column(family.column)
    if pa.types.is_timestamp(column_type):
        values = values.cast(pa.int64())
    label_columns = [(label, table.column(column).to_pylist()) for label, column in family.labels]
    for index, value in enumerate(values.to_pylist()):
        number = _number(value, column_type)
        if number is None:
            continue
        labels = ",".join(f'{label}="{escape_label(str(column[index]))}"'
                          for label, column in label_columns)
        yield f"{family.name}{{{labels}}} {format_value(number * family.scale)}" if labels \
            else f"{family.name} {format_value(number * family.scale)}"


def _header(name: str, kind: str, text: str) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


def _status_family(name: str, text: str, table: pa.Table, label: str) -> list[str]:
    """One sample per object with its status as a label (value 1), like an info metric."""
    lines = _header(name, "gauge", text)
    for object_name, status in zip(table.column("name").to_pylist(),
                                   table.column("status").to_pylist(), strict=True):
        lines.append(f'{name}{{{label}="{escape_label(object_name)}",'
                     f'status="{escape_label(status)}"}} 1')
    return lines


def _process_lines(proc: ProcessFigures) -> list[str]:
    lines: list[str] = []
    entries: list[tuple[str, str, str, float | None]] = [
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
         proc.resident_memory_bytes),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
         proc.virtual_memory_bytes),
        ("process_cpu_seconds_total", "counter", "User and system CPU time in seconds.",
         proc.cpu_seconds),
        ("process_open_fds", "gauge", "Open file descriptors.", proc.open_fds),
        ("process_max_fds", "gauge", "Limit of open file descriptors.", proc.max_fds),
        ("process_start_time_seconds", "gauge", "Start time since the Unix epoch, seconds.",
         proc.start_time_seconds),
        ("process_threads", "gauge", "Threads of the process.", proc.threads),
    ]
    for name, kind, text, value in entries:
        if value is None:
            continue
        lines.extend(_header(name, kind, text))
        lines.append(f"{name} {format_value(float(value))}")
    return lines


def render(db: Any, sessions: int | None = None,
           process: Callable[[], ProcessFigures] = process_figures) -> str:
    """The whole exposition: pipeline, sources, views, operators, sinks, process."""
    tables: dict[str, pa.Table] = {
        "pipeline_metrics": figures.pipeline_metrics(db),
        "source_metrics": figures.source_metrics(db),
        "view_metrics": figures.view_metrics(db),
        "operator_metrics": figures.operator_metrics(db),
        "sinks": figures.sinks(db),
    }
    lines: list[str] = []
    for family in FAMILIES:
        lines.extend(_header(family.name, family.kind, family.help))
        lines.extend(_samples(family, tables[family.table]))
    state = tables["pipeline_metrics"].column("state")[0].as_py()
    lines.extend(_header("laminar_pipeline_state", "gauge",
                         "The pipeline's state, as a label (value 1)."))
    lines.append(f'laminar_pipeline_state{{state="{escape_label(state)}"}} 1')
    lines.extend(_status_family("laminar_source_status", "A source's status (value 1).",
                                tables["source_metrics"], "source"))
    lines.extend(_status_family("laminar_view_status", "A view's status (value 1).",
                                tables["view_metrics"], "view"))
    count = len(figures.sessions(db)) if sessions is None else sessions
    lines.extend(_header("laminar_sessions", "gauge", "Connected client sessions."))
    lines.append(f"laminar_sessions {count}")
    lines.extend(_process_lines(process()))
    return "\n".join(lines) + "\n"

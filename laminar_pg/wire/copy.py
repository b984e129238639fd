"""COPY ... TO STDOUT framing: text, CSV and binary, batch by batch.

The formats follow PostgreSQL's copy.c (CopyAttributeOutText / CopyAttributeOutCSV and
the binary file header).  Each batch becomes one CopyData message.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import tzinfo

import pyarrow as pa

from laminar_pg.wire import types
from laminar_pg.wire.rows import length_prefixed
from laminar_pg.wire.session import Column, CopyFormat

BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_TEXT_ESCAPES = {
    ord("\\"): "\\\\",
    ord("\b"): "\\b",
    ord("\f"): "\\f",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\v"): "\\v",
}


class CopyEncoder:
    def __init__(
        self, copy: CopyFormat, columns: Sequence[Column], tz: tzinfo | None = None
    ) -> None:
        self.copy = copy
        self.columns = list(columns)
        fmt = 1 if copy.format == "binary" else 0
        self.overall_format = fmt
        self._encoders = [types.column_encoder(c.type_oid, fmt, tz=tz) for c in columns]
        self._text_escapes = dict(_TEXT_ESCAPES)
        if copy.format == "text" and len(copy.delimiter) == 1:
            self._text_escapes.setdefault(ord(copy.delimiter), "\\" + copy.delimiter)
        self._row_head = struct.pack("!h", len(columns))
        force = copy.force_quote
        self._force = [
            force is True or (isinstance(force, tuple) and c.name in force) for c in columns
        ]

    def header(self) -> bytes:
        if self.copy.format == "binary":
            return BINARY_SIGNATURE + struct.pack("!ii", 0, 0)
        if self.copy.header:
            names = [c.name for c in self.columns]
            if self.copy.format == "csv":
                names = [self._csv_quote(n, False) for n in names]
            return (self.copy.delimiter.join(names) + "\n").encode()
        return b""

    def trailer(self) -> bytes:
        return b"\xff\xff" if self.copy.format == "binary" else b""

    def encode(self, batch: pa.RecordBatch) -> list[bytes]:
        """Each row of the batch, encoded; the connection sends one CopyData per row as
        PostgreSQL does (psycopg's row parser relies on that)."""
        columns = [enc(batch.column(i)) for i, enc in enumerate(self._encoders)]
        if self.copy.format == "binary":
            fields = [length_prefixed(col) for col in columns]
            head = self._row_head
            if not fields:
                return [head] * batch.num_rows
            return [head + b"".join(row) for row in zip(*fields, strict=True)]
        if self.copy.format == "csv":
            texts = [
                [self._csv_value(v, force) for v in col]
                for col, force in zip(columns, self._force, strict=True)
            ]
        else:
            null, esc = self.copy.null, self._text_escapes
            texts = [
                [null if v is None else v.decode().translate(esc) for v in col] for col in columns
            ]
        delim = self.copy.delimiter
        if not texts:
            return [b"\n"] * batch.num_rows
        return [(delim.join(row) + "\n").encode() for row in zip(*texts, strict=True)]

    def _csv_value(self, value: bytes | None, force: bool) -> str:
        if value is None:
            return self.copy.null
        return self._csv_quote(value.decode(), force)

    def _csv_quote(self, text: str, force: bool) -> str:
        """Quote as copy.c's CopyAttributeOutCSV: when needed, or always if forced."""
        q, esc, d = self.copy.quote, self.copy.escape, self.copy.delimiter
        needs = (
            force
            or text == self.copy.null
            or d in text
            or q in text
            or "\n" in text
            or "\r" in text
            or text.startswith("\\.")
        )
        if not needs:
            return text
        body = text.replace(q, q + q) if esc == q else text.replace(esc, esc + esc).replace(q, esc + q)
        return q + body + q

"""Arrow record batches to DataRow messages.

Strategy: encode column by column (types.column_encoder is vectorised where PostgreSQL's
text matches Arrow's), then stitch rows together with one join per row.  The per-row
work is a tuple of already-encoded fields, never a Python object per value.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import tzinfo

import pyarrow as pa

from laminar_pg.wire import types

_I32 = struct.Struct("!i").pack
_NULL_FIELD = b"\xff\xff\xff\xff"


def length_prefixed(values: list[bytes | None]) -> list[bytes]:
    """Each value as a DataRow / binary-COPY field: int32 length then bytes, or -1 for NULL."""
    return [_NULL_FIELD if v is None else _I32(len(v)) + v for v in values]


class RowEncoder:
    """Encodes batches of one result shape in the formats the client asked for."""

    __slots__ = ("_encoders", "_head")

    def __init__(
        self, type_oids: Sequence[int], formats: Sequence[int], tz: tzinfo | None = None
    ) -> None:
        fmts = list(formats) if formats else [0] * len(type_oids)
        self._encoders = [
            types.column_encoder(oid, f, tz=tz) for oid, f in zip(type_oids, fmts, strict=True)
        ]
        self._head = struct.pack("!h", len(type_oids))

    def data_rows(self, batch: pa.RecordBatch) -> bytes:
        """DataRow messages for every row of `batch`, as one bytes object."""
        head = self._head
        if not self._encoders:
            return bytes((b"D" + _I32(6) + head) * batch.num_rows)
        columns = [
            length_prefixed(enc(batch.column(i))) for i, enc in enumerate(self._encoders)
        ]
        out = []
        for fields in zip(*columns, strict=True):
            body = b"".join(fields)
            out.append(b"D" + _I32(len(body) + 6) + head + body)
        return b"".join(out)

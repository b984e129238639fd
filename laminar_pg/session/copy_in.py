"""COPY table FROM STDIN: the client's text or CSV rows parsed column-wise into Arrow.

The bytes are collected as they arrive and parsed once at CopyDone by pyarrow's CSV
reader (multi-threaded C++, no Python object per row); every column is read as text and
the engine casts it to the column's type on INSERT, so malformed values fail with the
same errors as in an INSERT. PostgreSQL's text format is tab-separated with `\\N` for NULL
and backslash escapes; values holding a backslash escape other than `\\N` (rare) are
unescaped afterwards, per value.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from laminar_pg import errcodes
from laminar_pg.wire.session import CopyFormat

_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)")
_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape_one(match: re.Match[str]) -> str:
    code = match.group(1)
    if code in _SIMPLE:
        return _SIMPLE[code]
    if code[0] == "x" and len(code) > 1:
        return chr(int(code[1:], 16))
    if code[0].isdigit():
        return chr(int(code, 8) & 0xFF)
    return code


def parse_copy(data: bytes, fmt: CopyFormat, columns: Sequence[str]) -> pa.Table:
    """The rows of a COPY FROM body as a table of nullable text columns."""
    names = list(columns)
    if fmt.format == "binary":
        raise errcodes.FeatureNotSupported("COPY FROM STDIN in binary format is not supported yet",
                                           hint="Use FORMAT text or FORMAT csv.")
    if fmt.format == "text" and data.endswith(b"\\.\n"):
        data = data[:-3]  # the old end-of-data marker some clients still send
    if not data.strip(b"\r\n"):
        return pa.table({n: pa.array([], pa.string()) for n in names})
    text_format = fmt.format == "text"
    read = pacsv.ReadOptions(column_names=names, skip_rows=1 if fmt.header else 0,
                             block_size=16 << 20)
    parse = pacsv.ParseOptions(
        delimiter=fmt.delimiter,
        quote_char=False if text_format else fmt.quote,
        double_quote=not text_format and fmt.escape == fmt.quote,
        escape_char=False if text_format or fmt.escape == fmt.quote else fmt.escape,
        newlines_in_values=not text_format,
        ignore_empty_lines=False,
    )
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        null_values=[fmt.null],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pacsv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse,
                               convert_options=convert)
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "Expected" in message and "columns" in message:
            raise errcodes.BadCopyFileFormat(
                "missing data for column" if "got" in message else "extra data after last "
                "expected column", detail=message) from None
        raise errcodes.BadCopyFileFormat(f"invalid COPY data: {message}") from None
    if text_format and b"\\" in data:
        table = pa.table({n: _unescape_column(table.column(n)) for n in names})
    return table


def _unescape_column(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    has = pc.match_substring(column, "\\")
    if not pc.any(has).as_py():
        return column
    values = column.to_pylist()
    return pa.array([v if v is None or "\\" not in v else _ESCAPE.sub(_unescape_one, v)
                     for v in values], pa.string())


def _join_and_parse(chunks: list[bytes], fmt: CopyFormat, columns: Sequence[str]) -> pa.Table:
    return parse_copy(b"".join(chunks), fmt, columns)


class CopyInCollector:
    """The CopyInSink of COPY table FROM STDIN: collects, then loads at CopyDone."""

    def __init__(self, fmt: CopyFormat, columns: Sequence[str],
                 load: Callable[[pa.Table], Awaitable[int]],
                 in_thread: Callable[..., Awaitable[Any]]) -> None:
        self.format = fmt
        self.columns = list(columns)
        self._load = load
        self._in_thread = in_thread  # parsing takes long: never on the event loop
        self._chunks: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self._chunks.append(data)

    async def finish(self) -> str:
        chunks, self._chunks = self._chunks, []
        rows = await self._in_thread(_join_and_parse, chunks, self.format, self.columns)
        count = await self._load(rows)
        return f"COPY {count}"

    async def abort(self, reason: str) -> None:
        self._chunks = []

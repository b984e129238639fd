"""Tables: DDL and DML run by the embedded engine, with their changes captured for the log.

DuckDB keeps the rows (it enforces keys, NOT NULL and CHECK, and runs UPDATE / DELETE /
ON CONFLICT); this module runs each write statement inside the session's engine
transaction and records what it changed as change-log ops: the engine SQL of every DDL,
and for DML the inserted rows (+1) and the deleted or replaced old rows (-1) as Arrow
batches. At COMMIT the session writes those ops as one log record; on start `replay`
rebuilds the engine's tables from the log.

How the changes are captured, per statement (all in the same engine transaction, so
the reads see exactly the rows the write touches):
- INSERT: `RETURNING *` gives the rows as stored (defaults filled in).
- INSERT ... ON CONFLICT DO UPDATE: the rows with the incoming keys before and after.
- UPDATE: the matching rows are read first (-1), `RETURNING *` gives the new ones (+1).
- DELETE: `RETURNING *` gives the old rows (-1).
- TRUNCATE: the table's rows are read, then deleted (-1).
Every function here runs in a worker thread (it calls the engine).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from laminar_pg import errcodes
from laminar_pg.catalog.objects import Catalog, CatalogObject
from laminar_pg.errors import SqlError
from laminar_pg.session import engine
from laminar_pg.storage.log import ChangeOp, DdlOp, Op

WEIGHT = "_laminar_weight"
COMMENT_OP = "comment"  # DdlOp.name of a COMMENT ON record (no "kind:" key: not an object)
STAGE = "laminar_stage"  # the name Arrow inputs (COPY rows, RETURNING rows) get in the engine
UNCONSTRAINED_NUMERIC = "DECIMAL(38, 10)"


@dataclass(slots=True)
class WriteState:
    """One transaction's writes: its engine connection (inside BEGIN), its copy of the
    catalog, and the ops its log record will hold."""

    duck: Any
    catalog: Catalog
    search_path: list[str]
    ops: list[Op] = field(default_factory=list)
    catalog_changed: bool = False
    begun: bool = False  # BEGIN is sent with the first statement (one trip to the engine)

    def ensure_begun(self) -> None:
        if not self.begun:
            self.duck.execute("BEGIN TRANSACTION")
            self.begun = True

    def ddl(self, sql: str, obj_oid: int, key: str | None) -> None:
        self.ops.append(DdlOp(sql, obj_oid, key))
        self.catalog.apply(obj_oid, key)
        self.catalog_changed = True

    def comment(self, sql: str, obj_oid: int, column: str, text: str | None) -> None:
        """COMMENT ON: logged as a DdlOp named COMMENT_OP whose `sql` is the statement
        (the target named by OID, so replay needs no name lookup); nothing reaches the
        engine, whose own column comments hold declared types."""
        self.ops.append(DdlOp(sql, obj_oid, COMMENT_OP))
        self.catalog.set_comment(obj_oid, column, text)
        self.catalog_changed = True

    def change(self, table: CatalogObject, rows: pa.Table, weight: int) -> None:
        if rows.num_rows == 0:
            return
        if weight > 0:
            check_lengths(self, table, rows)
        rows = rows.combine_chunks()
        columns = [rows.column(i).combine_chunks() for i in range(rows.num_columns)]
        columns.append(pa.array(np.full(rows.num_rows, weight, dtype=np.int64)))
        batch = pa.RecordBatch.from_arrays(columns, names=[*rows.column_names, WEIGHT])
        self.ops.append(ChangeOp(table.qualified, table.oid, table.version, batch))


@dataclass(slots=True)
class WriteResult:
    tag: str
    returning: pa.Table | None = None  # RETURNING rows, named and typed as the client sees them
    returning_oids: dict[int, int] = field(default_factory=dict)
    notices: list[tuple[str, str]] = field(default_factory=list)  # (sqlstate, message)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified_sql(obj: CatalogObject) -> str:
    return f"{quote(obj.schema)}.{quote(obj.name)}"


# ---------------------------------------------------------------------------- names


def target_schema(state: WriteState, table: exp.Table) -> str:
    """The schema a CREATE puts an unqualified name in: the first existing one on the
    search_path (namespace.c RangeVarGetCreationNamespace)."""
    if table.db:
        if state.catalog.find("schema", "", table.db) is None:
            raise errcodes.InvalidSchemaName(f'schema "{table.db}" does not exist')
        return table.db
    for schema in state.search_path:
        if state.catalog.find("schema", "", schema) is not None:
            return schema
    raise errcodes.InvalidSchemaName("no schema has been selected to create in")


def resolve(state: WriteState, table: exp.Table, kind: str = "table") -> CatalogObject | None:
    schemas = [table.db] if table.db else state.search_path
    for schema in schemas:
        obj = state.catalog.find(kind, schema, table.name)
        if obj is not None:
            return obj
    return None


def resolve_table(state: WriteState, table: exp.Table) -> CatalogObject:
    obj = resolve(state, table)
    if obj is None:
        raise errcodes.UndefinedTable(f'relation "{table.sql("postgres")}" does not exist')
    return obj


def _qualify(table: exp.Table, obj: CatalogObject) -> None:
    table.set("db", exp.to_identifier(obj.schema, quoted=True))
    table.set("this", exp.to_identifier(obj.name, quoted=True))
    table.set("catalog", None)


# ---------------------------------------------------------------------------- engine calls


def _renumbered(tree: exp.Expr, params: Sequence[Any]) -> tuple[str, list[Any]]:
    """The engine SQL of `tree` with its parameters renumbered $1.. in order of use, and
    the values they take: a statement built from part of another uses only some of its
    parameters, and the engine wants exactly the ones it uses."""
    tree = tree.copy()
    order: list[int] = []
    for param in tree.find_all(exp.Parameter):
        index = _param_number(param)
        if index is None:
            continue
        if index not in order:
            order.append(index)
        param.set("this", exp.Literal.number(order.index(index) + 1))
    return tree.sql(dialect="duckdb"), [params[i - 1] for i in order]


def _param_number(param: exp.Parameter) -> int | None:
    inner = param.this
    text = inner.name if isinstance(inner, exp.Expr) else str(inner)
    return int(text) if text.isdigit() else None


def _arrow(duck: Any, tree: exp.Expr, params: Sequence[Any],
           schema: pa.Schema | None = None) -> pa.Table:
    sql, values = _renumbered(tree, params)
    if schema is not None:
        return _rows_as_arrow(duck, sql, values, schema)
    return _arrow_sql(duck, sql, values)


_PLAIN_TYPES = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean,
                pa.types.is_string, pa.types.is_large_string, pa.types.is_decimal,
                pa.types.is_date32, pa.types.is_binary)


def _plain(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t):
        return True
    return any(check(t) for check in _PLAIN_TYPES)


def _rows_as_arrow(duck: Any, sql: str, values: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """A small write's RETURNING * rows: fetched as Python values and built into the
    table's Arrow schema, which for a handful of rows costs a fraction of the engine's
    Arrow export."""
    try:
        cursor = duck.execute(sql, list(values) or None)
        rows = cursor.fetchall()
    except SqlError:
        raise
    except Exception as exc:
        raise translate_write_error(exc) from None
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def row_schema(state: WriteState, obj: CatalogObject) -> pa.Schema | None:
    """The Arrow schema of a table's rows when every column is of a plain type (then
    small writes take the `_rows_as_arrow` path), else None."""
    def compute() -> pa.Schema | None:
        schema = _arrow_sql(state.duck, f"SELECT * FROM {qualified_sql(obj)} LIMIT 0").schema
        return schema if all(_plain(f.type) for f in schema) else None

    return state.catalog.shape("row_schema", obj, compute)


def _arrow_sql(duck: Any, sql: str, values: Sequence[Any] = ()) -> pa.Table:
    try:
        rel = duck.sql(sql, params=list(values) or None)
        if rel is None:
            return pa.table({})
        table: pa.Table = rel.to_arrow_table()
        return table
    except SqlError:
        raise
    except Exception as exc:
        raise translate_write_error(exc) from None


def _execute(duck: Any, sql: str, values: Sequence[Any] = ()) -> None:
    try:
        duck.execute(sql, list(values) or None)
    except Exception as exc:
        raise translate_write_error(exc) from None


_DUPLICATE = re.compile(r'Duplicate key "(.*)" violates (primary key|unique) constraint')
_NOT_NULL = re.compile(r"NOT NULL constraint failed: ([^.]+)\.(\S+)")
_EXISTS = re.compile(r'(Table|Schema|Index|Sequence) with name "?([^"]+?)"? already exists')
_COMMIT_DUP = re.compile(r'duplicate key "(.*)"')
_CONVERT_NUMBER = re.compile(
    r"Could not convert string ['\"](\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*)['\"] to "
    r"(INT16|INT32|INT64|DECIMAL\(\d+,\d+\))")
_NO_COLUMN = re.compile(r'Table "([^"]+)" does not have a column with name "([^"]+)"')


def translate_write_error(exc: Exception) -> SqlError:
    """Constraint and catalog errors of the engine, as PostgreSQL words them."""
    if isinstance(exc, SqlError):
        return exc
    text = str(exc)
    message = text.split(": ", 1)[1] if ": " in text.split("\n")[0] else text
    message = message.split("\n")[0]
    if (m := _DUPLICATE.search(message)) is not None:
        key = m.group(1)
        cols, _, vals = key.partition(": ")
        detail = f"Key ({cols})=({vals}) already exists." if vals else f"Key {key} already exists."
        return errcodes.UniqueViolation(
            "duplicate key value violates unique constraint", detail=detail
        )
    if "constraint violation" in message and (m := _COMMIT_DUP.search(message)) is not None:
        return errcodes.UniqueViolation(
            "duplicate key value violates unique constraint",
            detail=f"Key ({m.group(1)}) already exists.",
        )
    if (m := _NO_COLUMN.search(message)) is not None:
        return errcodes.UndefinedColumn(
            f'column "{m.group(2)}" of relation "{m.group(1)}" does not exist')
    if (m := _CONVERT_NUMBER.search(message)) is not None:  # a number out of the type's range
        target = m.group(2)
        if target.startswith("DECIMAL"):
            return errcodes.NumericValueOutOfRange("numeric field overflow")
        name = {"INT16": "smallint", "INT32": "integer", "INT64": "bigint"}.get(target)
        if name is not None:
            return errcodes.NumericValueOutOfRange(
                f'value "{m.group(1).strip()}" is out of range for type {name}')
    if (m := _NOT_NULL.search(message)) is not None:
        return errcodes.NotNullViolation(
            f'null value in column "{m.group(2)}" of relation "{m.group(1)}" violates '
            "not-null constraint"
        )
    if "CHECK constraint failed" in message:
        return errcodes.CheckViolation(f"new row violates check constraint ({message})")
    if "foreign key constraint" in message.lower():
        return errcodes.ForeignKeyViolation(message)
    if (m := _EXISTS.search(message)) is not None:
        kind, name = m.group(1), m.group(2).split(".")[-1]
        if kind == "Schema":
            return errcodes.DuplicateSchema(f'schema "{name}" already exists')
        return errcodes.DuplicateTable(f'relation "{name}" already exists')
    if "Conflict on" in message or "Failed to commit" in message:
        if (m := _COMMIT_DUP.search(message)) is not None:
            return errcodes.UniqueViolation(
                "duplicate key value violates unique constraint",
                detail=f"Key {m.group(1)} already exists.",
            )
        return errcodes.SerializationFailure(
            "could not serialize access due to concurrent update"
        )
    if (m := re.search(r'Column with name "?([^"!]+)"? already exists', message)) is not None:
        return errcodes.DuplicateColumn(f'column "{m.group(1)}" of relation already exists')
    if "Dependency Error" in text or "depend on it" in message:
        return errcodes.DependentObjectsStillExist(message)
    return engine.translate_error(exc)


# ---------------------------------------------------------------------------- DDL


_SERIAL = {"serial": "INTEGER", "serial4": "INTEGER", "bigserial": "BIGINT",
           "serial8": "BIGINT", "smallserial": "SMALLINT", "serial2": "SMALLINT"}


def _column_type(dtype: exp.DataType) -> exp.DataType:
    """A column type in the engine's terms: what PostgreSQL keeps exactly stays exact."""
    if dtype.is_type(exp.DataType.Type.DECIMAL) and not dtype.expressions:
        return exp.DataType.build(UNCONSTRAINED_NUMERIC)
    if dtype.is_type(exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.NCHAR,
                     exp.DataType.Type.NVARCHAR, exp.DataType.Type.TEXT):
        return exp.DataType.build("VARCHAR")
    if dtype.is_type(exp.DataType.Type.JSONB, exp.DataType.Type.JSON):
        return exp.DataType.build("JSON")
    if dtype.is_type(exp.DataType.Type.ARRAY) and dtype.expressions:
        inner = dtype.expressions[0]
        if isinstance(inner, exp.DataType):
            return exp.DataType(this=exp.DataType.Type.ARRAY,
                                expressions=[_column_type(inner)], nested=True)
    return dtype


_DECLARED_OIDS = {"varchar": 1043, "bpchar": 1042, "jsonb": 3802}


def declared_type(dtype: exp.DataType) -> str | None:
    """The PostgreSQL type a column keeps beside its engine type when the two differ
    (varchar(n), char(n), jsonb): kept as the engine column's COMMENT, so it lives in
    the engine's catalog, follows renames and is rebuilt by replay."""
    if dtype.is_type(exp.DataType.Type.VARCHAR, exp.DataType.Type.NVARCHAR) and dtype.expressions:
        return f"varchar({dtype.expressions[0].sql()})"
    if dtype.is_type(exp.DataType.Type.CHAR, exp.DataType.Type.NCHAR):
        return f"bpchar({dtype.expressions[0].sql() if dtype.expressions else '1'})"
    if dtype.is_type(exp.DataType.Type.JSONB):
        return "jsonb"
    return None


def declared_oid(declared: str) -> int:
    return _DECLARED_OIDS.get(declared.split("(")[0], 0)


def declared_length(declared: str) -> int | None:
    if "(" not in declared:
        return None
    return int(declared.split("(")[1].rstrip(")"))


def declared_types(state: WriteState, obj: CatalogObject) -> dict[str, str]:
    return state.catalog.shape("declared", obj,
                               lambda: read_declared(state.duck, obj.schema, obj.name))


def read_declared(duck: Any, schema: str, name: str) -> dict[str, str]:
    rows = duck.execute(
        "SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = $1 AND "
        "table_name = $2 AND comment IS NOT NULL", [schema, name]).fetchall()
    return {str(c): str(d) for c, d in rows if declared_oid(str(d))}


def _comment_declared(state: WriteState, obj: CatalogObject, columns: dict[str, str]) -> None:
    for column, declared in columns.items():
        sql = (f"COMMENT ON COLUMN {qualified_sql(obj)}.{quote(column)} IS "
               f"'{declared}'")
        _execute(state.duck, sql)
        state.ddl(sql, obj.oid, obj.key)


def check_lengths(state: WriteState, obj: CatalogObject, rows: pa.Table) -> None:
    """varchar(n) / char(n): a longer value is 22001, as PostgreSQL says it."""
    for column, declared in declared_types(state, obj).items():
        limit = declared_length(declared)
        if limit is None or column not in rows.column_names:
            continue
        lengths = pc.utf8_length(rows.column(column))
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > limit:
            kind = "character varying" if declared.startswith("varchar") else "character"
            raise errcodes.StringDataRightTruncation22001(
                f"value too long for type {kind}({limit})")


def _already_exists(tree: exp.Create, tag: str, what: str,
                    error: type[SqlError]) -> WriteResult:
    """CREATE of an existing object: a notice with IF NOT EXISTS, else the error."""
    if not tree.args.get("exists"):
        raise error(f"{what} already exists")
    return WriteResult(tag, notices=[(error.sqlstate, f"{what} already exists, skipping")])


def create_table(state: WriteState, tree: exp.Create, query_sql: str | None,
                 params: Sequence[Any]) -> WriteResult:
    """CREATE TABLE [IF NOT EXISTS] name (...) | AS query. `query_sql` is the engine SQL
    of the AS query, planned by the caller (it names columns as PostgreSQL does)."""
    if tree.args.get("replace"):
        raise errcodes.FeatureNotSupported("CREATE OR REPLACE TABLE is not supported")
    props = tree.args.get("properties")
    if props is not None and any(isinstance(p, exp.TemporaryProperty) for p in props.expressions):
        raise errcodes.FeatureNotSupported(
            "temporary tables are not supported yet", hint="Create an ordinary table."
        )
    schema_node = tree.this
    table = schema_node.this if isinstance(schema_node, exp.Schema) else schema_node
    assert isinstance(table, exp.Table)
    schema = target_schema(state, table)
    name = table.name
    result = WriteResult("SELECT 0" if query_sql is not None else "CREATE TABLE")
    if state.catalog.find("table", schema, name) is not None:
        return _already_exists(tree, result.tag, f'relation "{name}"', errcodes.DuplicateTable)
    target = f"{quote(schema)}.{quote(name)}"
    oid = state.catalog.allocate_oid()
    if query_sql is not None:
        if isinstance(schema_node, exp.Schema) and schema_node.expressions:
            names = ", ".join(quote(c.name) for c in schema_node.expressions)
            query_sql = f"SELECT * FROM ({query_sql}) AS q({names})"
        _execute(state.duck, f"CREATE TABLE {target} AS {query_sql}", params)
        stored = _arrow_sql(state.duck, "SELECT sql FROM duckdb_tables() WHERE schema_name = $1 "
                            "AND table_name = $2", [schema, name]).column(0)[0].as_py()
        state.ddl(stored, oid, f"table:{schema}.{name}")
        rows = _arrow_sql(state.duck, f"SELECT * FROM {target}")
        obj = state.catalog.objects[oid]
        state.change(obj, rows, 1)
        result.tag = f"SELECT {rows.num_rows}"
        return result
    assert isinstance(schema_node, exp.Schema)
    node = schema_node.copy()
    sequences: list[tuple[int, str, str]] = []
    declared_columns: dict[str, str] = {}
    for col in node.expressions:
        if not isinstance(col, exp.ColumnDef):
            continue
        dtype = col.args.get("kind")
        identity = [c for c in col.constraints
                    if isinstance(c.kind, exp.GeneratedAsIdentityColumnConstraint)]
        serial = isinstance(dtype, exp.DataType) and dtype.sql("postgres").lower() in _SERIAL
        if serial or identity:
            seq_name = f"{name}_{col.name}_seq"
            seq_sql = f"CREATE SEQUENCE {quote(schema)}.{quote(seq_name)}"
            sequences.append((state.catalog.allocate_oid(), seq_name, seq_sql))
            if serial:
                assert isinstance(dtype, exp.DataType)
                col.set("kind", exp.DataType.build(_SERIAL[dtype.sql("postgres").lower()]))
            for c in identity:
                c.pop()
            default = exp.ColumnConstraint(kind=exp.DefaultColumnConstraint(
                this=exp.Anonymous(this="nextval", expressions=[
                    exp.Literal.string(f"{schema}.{seq_name}")])))
            col.append("constraints", default)
            if not any(isinstance(c.kind, (exp.NotNullColumnConstraint,
                                           exp.PrimaryKeyColumnConstraint))
                       for c in col.constraints):
                col.append("constraints", exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
        elif isinstance(dtype, exp.DataType):
            if (declared := declared_type(dtype)) is not None:
                declared_columns[col.name] = declared
            col.set("kind", _column_type(dtype))
    node.set("this", exp.to_table(target, dialect="duckdb"))
    _qualify(node.this, CatalogObject(0, "table", schema, name))
    ddl = exp.Create(this=node, kind="TABLE")
    for seq_oid, seq_name, seq_sql in sequences:
        _execute(state.duck, seq_sql)
        state.ddl(seq_sql, seq_oid, f"sequence:{schema}.{seq_name}")
    sql = ddl.sql(dialect="duckdb")
    _execute(state.duck, sql)
    state.ddl(sql, oid, f"table:{schema}.{name}")
    _comment_declared(state, state.catalog.objects[oid], declared_columns)
    return result


def drop(state: WriteState, tree: exp.Drop) -> WriteResult:
    kind = str(tree.args.get("kind") or "").upper()
    if kind == "SCHEMA":
        return _drop_schema(state, tree)
    if kind not in ("TABLE", "INDEX", "SEQUENCE"):
        raise errcodes.FeatureNotSupported(f"DROP {kind} is not supported yet")
    lower = kind.lower()
    tables = _drop_targets(tree)
    result = WriteResult(f"DROP {kind}")
    found: list[CatalogObject] = []
    for t in tables:
        if not isinstance(t, exp.Table):
            continue
        obj = resolve(state, t, lower)
        if obj is None:
            if tree.args.get("exists"):
                result.notices.append(("00000", f'{lower} "{t.name}" does not exist, skipping'))
                continue
            if kind == "TABLE":
                raise errcodes.UndefinedTable(f'table "{t.name}" does not exist')
            raise errcodes.UndefinedObject(f'{lower} "{t.name}" does not exist')
        found.append(obj)
    cascade = " CASCADE" if tree.args.get("cascade") else ""
    for obj in found:
        dependents = _indexes_of(state, obj) if kind == "TABLE" else []
        sequences = _owned_sequences(state, obj) if kind == "TABLE" else []
        sql = f"DROP {kind} {qualified_sql(obj)}{cascade}"
        _execute(state.duck, sql)
        for dep in dependents:
            state.ddl("", dep.oid, None)
        state.ddl(sql, obj.oid, None)
        for seq in sequences:  # its serial columns' sequences go with it, as in PostgreSQL
            seq_sql = f"DROP SEQUENCE {qualified_sql(seq)}"
            _execute(state.duck, seq_sql)
            state.ddl(seq_sql, seq.oid, None)
    return result


def _owned_sequences(state: WriteState, table: CatalogObject) -> list[CatalogObject]:
    """Sequences created for a table's serial / identity columns: those its columns'
    defaults call nextval() on (cached per table version)."""
    def compute() -> set[str]:
        defaults = state.duck.execute(
            "SELECT column_default FROM duckdb_columns() WHERE schema_name = $1 AND "
            "table_name = $2 AND column_default LIKE 'nextval(%'",
            [table.schema, table.name]).fetchall()
        return {m.group(1) for (d,) in defaults
                if (m := re.search(r"nextval\('(?:[^'.]*\.)?([^']+)'", str(d)))}

    names = state.catalog.shape("sequences", table, compute)
    return [o for o in state.catalog.objects.values()
            if o.kind == "sequence" and o.schema == table.schema and o.name in names]


def _drop_targets(tree: exp.Drop) -> list[exp.Expr]:
    """DROP's objects: sqlglot keeps them in `tables` (a schema's name lands in `db`)."""
    targets = list(tree.args.get("tables") or [])
    if tree.this is not None:
        targets.insert(0, tree.this)
    return [*targets, *(tree.expressions or [])]


def _indexes_of(state: WriteState, table: CatalogObject) -> list[CatalogObject]:
    rows = _arrow_sql(state.duck, "SELECT index_name FROM duckdb_indexes() WHERE schema_name = $1 "
                      "AND table_name = $2", [table.schema, table.name])
    names = set(rows.column(0).to_pylist()) if rows.num_columns else set()
    return [o for o in state.catalog.objects.values()
            if o.kind == "index" and o.schema == table.schema and o.name in names]


def _drop_schema(state: WriteState, tree: exp.Drop) -> WriteResult:
    result = WriteResult("DROP SCHEMA")
    for t in _drop_targets(tree):
        name = t.db or t.name if isinstance(t, exp.Table) else t.name
        obj = state.catalog.find("schema", "", name)
        if obj is None:
            if tree.args.get("exists"):
                result.notices.append(("00000", f'schema "{name}" does not exist, skipping'))
                continue
            raise errcodes.InvalidSchemaName(f'schema "{name}" does not exist')
        contents = state.catalog.in_schema(name)
        if contents and not tree.args.get("cascade"):
            raise errcodes.DependentObjectsStillExist(
                f"cannot drop schema {name} because other objects depend on it",
                hint="Use DROP ... CASCADE to drop the dependent objects too.",
            )
        sql = f"DROP SCHEMA {quote(name)}" + (" CASCADE" if contents else "")
        _execute(state.duck, sql)
        for dep in contents:
            state.ddl("", dep.oid, None)
        if contents:
            result.notices.append(("00000", f"drop cascades to {len(contents)} other objects"))
        state.ddl(sql, obj.oid, None)
    return result


def create_schema(state: WriteState, tree: exp.Create) -> WriteResult:
    table = tree.this
    name = (table.db or table.name) if isinstance(table, exp.Table) else str(table)
    if state.catalog.find("schema", "", name) is not None:
        return _already_exists(tree, "CREATE SCHEMA", f'schema "{name}"', errcodes.DuplicateSchema)
    sql = f"CREATE SCHEMA {quote(name)}"
    _execute(state.duck, sql)
    state.ddl(sql, state.catalog.allocate_oid(), f"schema:{name}")
    return WriteResult("CREATE SCHEMA")


def create_index(state: WriteState, tree: exp.Create) -> WriteResult:
    index = tree.this
    assert isinstance(index, exp.Index)
    table_node = index.args.get("table")
    assert isinstance(table_node, exp.Table)
    table = resolve_table(state, table_node)
    params = index.args.get("params")
    columns = params.args.get("columns") if params is not None else None
    col_names = [c.this.name if isinstance(c, exp.Ordered) else c.name for c in columns or []]
    name = index.name or f"{table.name}_{'_'.join(col_names)}_idx"
    if state.catalog.find("index", table.schema, name) is not None:
        return _already_exists(tree, "CREATE INDEX", f'relation "{name}"', errcodes.DuplicateTable)
    unique = "UNIQUE " if tree.args.get("unique") else ""
    cols = ", ".join(quote(c) for c in col_names)
    sql = f"CREATE {unique}INDEX {quote(name)} ON {qualified_sql(table)} ({cols})"
    _execute(state.duck, sql)
    state.ddl(sql, state.catalog.allocate_oid(), f"index:{table.schema}.{name}")
    return WriteResult("CREATE INDEX")


def alter_table(state: WriteState, tree: exp.Alter) -> WriteResult:
    table_node = tree.this
    assert isinstance(table_node, exp.Table)
    obj = resolve(state, table_node)
    if obj is None:
        if tree.args.get("exists"):
            return WriteResult("ALTER TABLE", notices=[
                ("00000", f'relation "{table_node.name}" does not exist, skipping')])
        raise errcodes.UndefinedTable(f'relation "{table_node.name}" does not exist')
    actions = tree.args.get("actions") or []
    for action in actions:
        node = exp.Alter(this=exp.to_table("x"), kind="TABLE", actions=[action.copy()])
        _qualify(node.this, obj)
        key = f"table:{obj.qualified}"
        if isinstance(action, exp.AlterRename):
            new = action.this.name
            if state.catalog.find("table", obj.schema, new) is not None:
                raise errcodes.DuplicateTable(f'relation "{new}" already exists')
            renamed = exp.AlterRename(this=exp.to_identifier(new, quoted=True))
            node.set("actions", [renamed])
            key = f"table:{obj.schema}.{new}"
        declared: dict[str, str] = {}
        if isinstance(action, exp.ColumnDef):
            dtype = action.args.get("kind")
            if isinstance(dtype, exp.DataType):
                if (found := declared_type(dtype)) is not None:
                    declared[action.name] = found
                node.args["actions"][0].set("kind", _column_type(dtype))
        sql = node.sql(dialect="duckdb")
        _execute(state.duck, sql)
        state.ddl(sql, obj.oid, key)
        obj = state.catalog.objects[obj.oid]
        _comment_declared(state, obj, declared)
        _move_column_comments(state, obj, action)
    return WriteResult("ALTER TABLE")


def _move_column_comments(state: WriteState, obj: CatalogObject, action: exp.Expr) -> None:
    """COMMENT ON COLUMN: a dropped column's comment goes with it, a renamed column's
    follows it, as PostgreSQL keys comments by attnum (logged as comment records, so
    replay does the same)."""
    moves: list[tuple[str, str | None]] = []
    if isinstance(action, exp.Drop) and str(action.args.get("kind") or "").upper() == "COLUMN":
        moves = [(column.name, None) for column in action.args.get("tables") or []]
    elif isinstance(action, exp.RenameColumn) and action.args.get("to") is not None:
        moves = [(action.this.name, action.args["to"].name)]
    for old, new in moves:
        text = state.catalog.comments.get((obj.oid, old))
        if text is None:
            continue
        state.comment(f"COMMENT ON COLUMN {qualified_sql(obj)}.{quote(old)} IS NULL",
                      obj.oid, old, None)
        if new is not None:
            literal = "'" + text.replace("'", "''") + "'"
            state.comment(f"COMMENT ON COLUMN {qualified_sql(obj)}.{quote(new)} IS {literal}",
                          obj.oid, new, text)


def truncate(state: WriteState, tree: exp.TruncateTable) -> WriteResult:
    objs = [resolve_table(state, t) for t in tree.expressions if isinstance(t, exp.Table)]
    for obj in objs:
        old = _arrow_sql(state.duck, f"SELECT * FROM {qualified_sql(obj)}")
        _execute(state.duck, f"DELETE FROM {qualified_sql(obj)}")
        state.change(obj, old, -1)
    return WriteResult("TRUNCATE TABLE")


# ---------------------------------------------------------------------------- DML


def _strip_returning(tree: exp.Expr) -> exp.Returning | None:
    returning = tree.args.get("returning")
    tree.set("returning", exp.Returning(expressions=[exp.Star()]))
    return returning if isinstance(returning, exp.Returning) else None


def _target_alias(table: exp.Table) -> str:
    alias = table.args.get("alias")
    return alias.name if alias is not None and alias.name else table.name


def insert(state: WriteState, tree: exp.Insert, params: Sequence[Any]) -> tuple[WriteResult, exp.Returning | None, str]:
    tree = tree.copy()
    schema_node = tree.this
    table_node = schema_node.this if isinstance(schema_node, exp.Schema) else schema_node
    assert isinstance(table_node, exp.Table)
    obj = resolve_table(state, table_node)
    alias = _target_alias(table_node)
    _qualify(table_node, obj)
    returning = _strip_returning(tree)
    _fill_column_list(state, tree, obj)
    _typed_literals(state, tree, obj)
    conflict = tree.args.get("conflict")
    if isinstance(conflict, exp.OnConflict) and conflict.args.get("constraint") is not None:
        _conflict_constraint(state, conflict, obj)
    update = (isinstance(conflict, exp.OnConflict) and conflict.args.get("action") is not None
              and "UPDATE" in str(conflict.args["action"]).upper())
    if update:
        rows, old, new = _upsert(state, tree, obj, params)
        state.change(obj, old, -1)
        state.change(obj, new, 1)
    else:
        small = isinstance(tree.expression, exp.Values) and len(tree.expression.expressions) <= 64
        rows = _arrow(state.duck, tree, params, row_schema(state, obj) if small else None)
        state.change(obj, rows, 1)
    return WriteResult(f"INSERT 0 {rows.num_rows}", rows), returning, alias


def _typed_literals(state: WriteState, tree: exp.Insert, obj: CatalogObject) -> None:
    """String literals in VALUES bound for array or bytea columns are read as PostgreSQL
    reads them ('{1,NULL,3}', '\\xdeadbeef'), not with the engine's own text syntax."""
    source = tree.expression
    if not isinstance(source, exp.Values):
        return
    types = dict(_column_types(state, obj))
    schema_node = tree.this
    names = ([c.name for c in schema_node.expressions] if isinstance(schema_node, exp.Schema)
             else [n for n, _ in _column_types(state, obj)])
    special = {n: types[n] for n in names
               if n in types and (types[n].endswith("]") or types[n] == "BLOB")}
    if not special:
        return
    for row in source.expressions:
        items = row.expressions if isinstance(row, exp.Tuple) else [row]
        for name, item in zip(names, items, strict=False):
            if name in special and isinstance(item, exp.Literal) and item.is_string:
                item.replace(exp.Cast(this=item.copy(),
                                      to=exp.DataType.build(special[name], dialect="duckdb")))
    from laminar_pg.session.query import _array_literals, _bytea_literals

    _array_literals(source)
    _bytea_literals(source)


def _column_types(state: WriteState, obj: CatalogObject) -> list[tuple[str, str]]:
    """(name, engine type) of the table's columns, in order."""
    def compute() -> list[tuple[str, str]]:
        rows = state.duck.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = $1 "
            "AND table_name = $2 ORDER BY column_index", [obj.schema, obj.name]).fetchall()
        return [(str(n), str(t)) for n, t in rows]

    return state.catalog.shape("types", obj, compute)


def _fill_column_list(state: WriteState, tree: exp.Insert, obj: CatalogObject) -> None:
    """INSERT INTO t VALUES (1) into a wider table: PostgreSQL fills the remaining columns
    with their defaults; the engine wants the column list spelled out."""
    if isinstance(tree.this, exp.Schema):
        return
    source = tree.expression
    width = None
    if isinstance(source, exp.Values) and source.expressions:
        first = source.expressions[0]
        width = len(first.expressions) if isinstance(first, exp.Tuple) else 1
    elif isinstance(source, exp.Select) and not any(
            isinstance(e, exp.Star) or (isinstance(e, exp.Column) and e.is_star)
            for e in source.expressions):
        width = len(source.expressions)
    if width is None:
        return
    names = _column_names(state, obj)
    if width > len(names):
        raise errcodes.SyntaxError("INSERT has more expressions than target columns")
    if width < len(names):
        tree.set("this", exp.Schema(this=tree.this, expressions=[
            exp.to_identifier(n, quoted=True) for n in names[:width]]))


def _conflict_constraint(state: WriteState, conflict: exp.OnConflict,
                         obj: CatalogObject) -> None:
    """ON CONFLICT ON CONSTRAINT name: the constraint's columns as the conflict target.
    Constraints carry PostgreSQL's default names: t_pkey, and t_a_b_key for UNIQUE (a, b)."""
    name = conflict.args["constraint"].name
    rows = state.duck.execute(
        "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() WHERE "
        "schema_name = $1 AND table_name = $2 AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
        [obj.schema, obj.name]).fetchall()
    for kind, columns in rows:
        default = (f"{obj.name}_pkey" if kind == "PRIMARY KEY"
                   else f"{obj.name}_{'_'.join(columns)}_key")
        if default == name:
            conflict.set("constraint", None)
            conflict.set("conflict_keys", [exp.to_identifier(c, quoted=True) for c in columns])
            return
    raise errcodes.UndefinedObject(
        f'constraint "{name}" for table "{obj.name}" does not exist')


def _upsert(state: WriteState, tree: exp.Insert, obj: CatalogObject,
            params: Sequence[Any]) -> tuple[pa.Table, pa.Table, pa.Table]:
    """INSERT ... ON CONFLICT (keys) DO UPDATE: the rows with the incoming keys before and
    after, which covers inserted, updated and left-alone rows alike."""
    conflict = tree.args["conflict"]
    keys = [k.this.name if isinstance(k, exp.Ordered) else k.name
            for k in conflict.args.get("conflict_keys") or []]
    if not keys:
        raise errcodes.SyntaxError("ON CONFLICT DO UPDATE requires inference specification "
                                   "or constraint name")
    schema_node = tree.this
    columns = ([c.name for c in schema_node.expressions]
               if isinstance(schema_node, exp.Schema) else _column_names(state, obj))
    source = tree.expression
    staged = _arrow(state.duck, source, params)
    staged = staged.rename_columns(columns[: staged.num_columns])
    state.duck.register(STAGE, staged)
    try:
        listed = ", ".join(quote(k) for k in keys)
        twice = state.duck.execute(
            f"SELECT count(*) FROM (SELECT {listed} FROM {STAGE} WHERE "
            + " AND ".join(f"{quote(k)} IS NOT NULL" for k in keys)
            + " GROUP BY ALL HAVING count(*) > 1)"
        ).fetchall()  # (fetchone would leave the result open on the connection)
        if twice and twice[0][0]:
            raise errcodes.CardinalityViolation(
                "ON CONFLICT DO UPDATE command cannot affect row a second time",
                hint="Ensure that no rows proposed for insertion within the same command "
                     "have duplicate constrained values.")
        match = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
        select_sql = (f"SELECT t.* FROM {qualified_sql(obj)} AS t WHERE EXISTS "
                      f"(SELECT 1 FROM {STAGE} AS s WHERE {match})")
        old = _arrow_sql(state.duck, select_sql)
        tree.set("expression", exp.select("*").from_(STAGE))
        rows = _arrow(state.duck, tree, params)
        new = _arrow_sql(state.duck, select_sql)
    finally:
        _unregister(state.duck)
    return rows, old, new


def _unregister(duck: Any) -> None:
    try:
        duck.unregister(STAGE)
    except Exception:
        pass  # the transaction failed; its error is the one to report


def _column_names(state: WriteState, obj: CatalogObject) -> list[str]:
    return [name for name, _ in _column_types(state, obj)]


def update(state: WriteState, tree: exp.Update, params: Sequence[Any]) -> tuple[WriteResult, exp.Returning | None, str]:
    tree = tree.copy()
    table_node = tree.this
    assert isinstance(table_node, exp.Table)
    obj = resolve_table(state, table_node)
    alias = _target_alias(table_node)
    _qualify(table_node, obj)
    returning = _strip_returning(tree)
    _set_defaults(state, tree, obj)
    old = _arrow(state.duck, _matching_rows(table_node, alias, tree.args.get("from_"),
                                            tree.args.get("where")), params)
    new = _arrow(state.duck, tree, params)
    state.change(obj, old, -1)
    state.change(obj, new, 1)
    return WriteResult(f"UPDATE {new.num_rows}", new), returning, alias


def _set_defaults(state: WriteState, tree: exp.Update, obj: CatalogObject) -> None:
    """UPDATE ... SET col = DEFAULT: the column's default expression (or NULL)."""
    defaults: dict[str, str | None] | None = None
    for item in tree.expressions:
        value = item.expression if isinstance(item, exp.EQ) else None
        if not (isinstance(value, exp.Column) and not value.table
                and value.name.upper() == "DEFAULT" and not value.this.quoted):
            continue
        if defaults is None:
            rows = state.duck.execute(
                "SELECT column_name, column_default FROM duckdb_columns() WHERE "
                "schema_name = $1 AND table_name = $2", [obj.schema, obj.name]).fetchall()
            defaults = {str(n): (None if d is None else str(d)) for n, d in rows}
        text = defaults.get(item.this.name)
        value.replace(exp.Null() if text is None
                      else sqlglot.parse_one(text, read="duckdb"))


def _matching_rows(table: exp.Table, alias: str, sources: exp.Expr | None,
                   where: exp.Expr | None) -> exp.Select:
    """The target rows an UPDATE's WHERE (and FROM) picks, each once."""
    target = table.copy()
    target.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
    if sources is None:
        query = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier(alias, quoted=True)))
        query = query.from_(target)
        if where is not None:
            query.set("where", where.copy())
        return query
    inner = exp.select(exp.column("rowid", table=alias, quoted=True)).from_(target)
    inner.set("joins", [exp.Join(this=s.copy()) for s in sources.expressions]
              if isinstance(sources, exp.From) and sources.expressions
              else [exp.Join(this=sources.this.copy())])
    if where is not None:
        inner.set("where", where.copy())
    outer_target = table.copy()
    outer_target.set("alias", None)
    return exp.select("*").from_(outer_target).where(
        exp.In(this=exp.column("rowid"), query=exp.Subquery(this=inner)))


def delete(state: WriteState, tree: exp.Delete, params: Sequence[Any]) -> tuple[WriteResult, exp.Returning | None, str]:
    tree = tree.copy()
    table_node = tree.this
    assert isinstance(table_node, exp.Table)
    obj = resolve_table(state, table_node)
    alias = _target_alias(table_node)
    _qualify(table_node, obj)
    returning = tree.args.get("returning")
    target_star = exp.Column(this=exp.Star(), table=exp.to_identifier(alias, quoted=True)) \
        if tree.args.get("using") else exp.Star()
    tree.set("returning", exp.Returning(expressions=[target_star]))
    old = _arrow(state.duck, tree, params)
    state.change(obj, old, -1)
    return (WriteResult(f"DELETE {old.num_rows}", old),
            returning if isinstance(returning, exp.Returning) else None, alias)


def insert_arrow(state: WriteState, obj: CatalogObject, columns: Sequence[str],
                 rows: pa.Table) -> int:
    """COPY FROM: rows of text (or typed) columns into the table; the engine casts them."""
    state.duck.register(STAGE, rows)
    try:
        cols = ", ".join(quote(c) for c in columns)
        sql = f"INSERT INTO {qualified_sql(obj)} ({cols}) SELECT * FROM {STAGE} RETURNING *"
        schema = row_schema(state, obj) if rows.num_rows <= 64 else None
        stored = (_rows_as_arrow(state.duck, sql, (), schema) if schema is not None
                  else _arrow_sql(state.duck, sql))
    finally:
        _unregister(state.duck)
    state.change(obj, stored, 1)
    count: int = stored.num_rows
    return count


_INTEGER_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"})
_NUMERIC_TYPES = frozenset({"FLOAT", "DOUBLE"})


def _literals_fit(kinds: set[str], engine_type: str) -> bool:
    """Whether literals of these kinds, handed to the engine as text, become what
    PostgreSQL would store (else the statement takes the general path)."""
    kinds = kinds - {"null"}
    base = engine_type.split("(")[0]
    if engine_type.endswith("]") or base in ("BLOB", "BIT", "UNION", "STRUCT", "MAP"):
        return not kinds  # PostgreSQL's array / bytea text needs the general path
    if base in _INTEGER_TYPES:
        return kinds <= {"string", "integer"}
    if base in _NUMERIC_TYPES or base == "DECIMAL":
        return kinds <= {"string", "integer", "number"}
    if base == "BOOLEAN":
        return kinds <= {"string", "boolean"}
    return kinds <= {"string"}


def insert_literal_rows(state: WriteState, obj: CatalogObject, rows: Any) -> int | None:
    """sql/literal_insert.py's rows into the table, or None when a column's literals would
    need PostgreSQL's own coercions (the caller then takes the general path)."""
    types = _column_types(state, obj)
    names = rows.columns if rows.columns is not None else [n for n, _ in types][: len(rows.values)]
    if len(names) != len(rows.values) or len(set(names)) != len(names):
        return None
    by_name = dict(types)
    for name, kinds in zip(names, rows.kinds, strict=True):
        if name not in by_name or not _literals_fit(kinds, by_name[name]):
            return None
    staged = pa.table({f"c{i}": pa.array(v, pa.string()) for i, v in enumerate(rows.values)})
    return insert_arrow(state, obj, names, staged)


# ---------------------------------------------------------------------------- replay


def apply_op(duck: Any, catalog: Catalog, op: Op) -> None:
    """Re-run one logged op on the engine (recovery): DDL as logged, rows by value."""
    if isinstance(op, DdlOp):
        if op.name == COMMENT_OP and op.oid is not None:
            from laminar_pg.session.pg_comments import replay_comment

            replay_comment(catalog, op.oid, op.sql)
            return
        if op.sql:
            duck.execute(op.sql)
        if op.oid is not None:
            catalog.apply(op.oid, op.name)
        return
    obj = catalog.objects.get(op.oid)
    if obj is None:
        raise RuntimeError(f"change log names table {op.table} (oid {op.oid}) that does not exist")
    batch = op.batch
    weights = batch.column(batch.num_columns - 1)
    rows = pa.Table.from_batches([batch]).drop_columns([WEIGHT])
    inserts = rows.filter(pc.greater(weights, 0))
    deletes = rows.filter(pc.less(weights, 0))
    if deletes.num_rows:
        _delete_rows(duck, obj, deletes)
    if inserts.num_rows:
        duck.register(STAGE, inserts)
        try:
            duck.execute(f"INSERT INTO {qualified_sql(obj)} SELECT * FROM {STAGE}")
        finally:
            _unregister(duck)


class Replayer:
    """Applies logged records to the engine on start, fast: runs of inserts (the common
    case: INSERT and COPY) are gathered per table and loaded with one INSERT each; any
    delete or DDL first flushes what was gathered, so the order of effects is kept."""

    FLUSH_ROWS = 1_000_000

    def __init__(self, duck: Any, catalog: Catalog) -> None:
        self.duck = duck
        self.catalog = catalog
        self.pending: dict[tuple[int, int], list[pa.RecordBatch]] = {}
        self.pending_rows = 0
        self.positions: dict[int, int] = {}  # sequence oid -> last value handed out
        # Definitions of sources, streams and views, in log order: the database rebuilds
        # them once the tables are back (their DdlOp holds no engine SQL to re-run).
        self.streaming_ops: list[DdlOp] = []

    def apply(self, op: Op) -> None:
        if isinstance(op, DdlOp) and op.oid is not None and _is_streaming(self.catalog, op):
            self.flush()
            self.catalog.apply(op.oid, op.name)
            self.streaming_ops.append(op)
            return
        if isinstance(op, ChangeOp):
            weights = op.batch.column(op.batch.num_columns - 1)
            if len(weights) and pc.min(weights).as_py() > 0 and pc.max(weights).as_py() == 1:
                self.pending.setdefault((op.oid, op.schema_version), []).append(op.batch)
                self.pending_rows += op.batch.num_rows
                if self.pending_rows >= self.FLUSH_ROWS:
                    self.flush()
                return
        self.flush()
        if isinstance(op, DdlOp) and op.position is not None and op.oid is not None:
            self.positions[op.oid] = max(self.positions.get(op.oid, 0), op.position)
            return
        apply_op(self.duck, self.catalog, op)

    def flush(self) -> None:
        pending, self.pending, self.pending_rows = self.pending, {}, 0
        for (oid, _), batches in pending.items():
            obj = self.catalog.objects[oid]
            rows = pa.Table.from_batches(batches).drop_columns([WEIGHT])
            self.duck.register(STAGE, rows)
            try:
                self.duck.execute(f"INSERT INTO {qualified_sql(obj)} SELECT * FROM {STAGE}")
            finally:
                _unregister(self.duck)


STREAMING_KINDS = ("source", "stream", "materialized view", "sink")


def _is_streaming(catalog: Catalog, op: DdlOp) -> bool:
    if op.name is not None:
        return op.name.partition(":")[0] in STREAMING_KINDS
    obj = catalog.objects.get(op.oid) if op.oid is not None else None
    return obj is not None and obj.kind in STREAMING_KINDS


def _delete_rows(duck: Any, obj: CatalogObject, rows: pa.Table) -> None:
    """Delete one stored row per given row (a multiset difference), matching every column
    (NULLs match NULLs); by the primary key when the table has one."""
    pk = duck.execute(
        "SELECT constraint_column_names FROM duckdb_constraints() WHERE schema_name = $1 "
        "AND table_name = $2 AND constraint_type = 'PRIMARY KEY'", [obj.schema, obj.name]
    ).fetchall()
    target = qualified_sql(obj)
    duck.register(STAGE, rows)
    try:
        if pk:
            keys = ", ".join(quote(k) for k in pk[0][0])
            duck.execute(f"DELETE FROM {target} WHERE ({keys}) IN (SELECT {keys} FROM {STAGE})")
            return
        cols = [quote(c) for c in rows.column_names]
        listed = ", ".join(cols)
        match = " AND ".join(f"cur.{c} IS NOT DISTINCT FROM del.{c}" for c in cols)
        duck.execute(
            f"DELETE FROM {target} WHERE rowid IN (SELECT cur.rid FROM "
            f"(SELECT rowid AS rid, row_number() OVER (PARTITION BY {listed}) AS rn, {listed} "
            f"FROM {target}) AS cur JOIN (SELECT {listed}, count(*) AS n FROM {STAGE} "
            f"GROUP BY ALL) AS del ON {match} WHERE cur.rn <= del.n)"
        )
    finally:
        _unregister(duck)


def record_sequence_positions(state: WriteState) -> None:
    """Before COMMIT: the position of each sequence of a table this transaction inserted
    into, so that after a restart no serial value is handed out twice."""
    tables = {(op.table, op.oid) for op in state.ops if isinstance(op, ChangeOp)}
    owned = []
    for _, oid in tables:
        table = state.catalog.objects.get(oid)
        if table is not None:
            owned += _owned_sequences(state, table)
    if not owned:
        return
    rows = dict(((s, n), v) for s, n, v in state.duck.execute(
        "SELECT schema_name, sequence_name, last_value FROM duckdb_sequences()").fetchall())
    for seq in owned:
        value = rows.get((seq.schema, seq.name))
        if value is not None:
            state.ops.append(DdlOp("", seq.oid, seq.key, position=int(value)))


def advance_sequences(duck: Any, catalog: Catalog,
                      positions: dict[int, int] | None = None) -> None:
    """After replay, each serial column's sequence continues after the last value it
    handed out (logged at commit) and after the largest value stored."""
    positions = positions or {}
    for seq in [o for o in catalog.objects.values() if o.kind == "sequence"]:
        rows = duck.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = $1 "
            "AND column_default LIKE $2", [seq.schema, f"%{seq.name}%"]
        ).fetchall()
        top = positions.get(seq.oid, 0)
        for table, column in rows:
            found = duck.execute(
                f"SELECT max({quote(column)}) FROM {quote(seq.schema)}.{quote(table)}"
            ).fetchall()
            if found and found[0][0] is not None:
                top = max(top, int(found[0][0]))
        if top > 0:
            duck.execute(f"SELECT nextval('{seq.schema}.{seq.name}') FROM range({top})")

"""What pg_catalog describes, read once per catalog state: namespaces, relations with their
columns, indexes, constraints and column defaults.

Strategy: a `CatalogSnapshot` is built from the durable catalog (OIDs, kinds, names),
the engine's own catalog (a table's columns, NOT NULL, defaults, primary key and
indexes, asked in three queries for every table at once) and the streaming objects
(their Arrow schemas). It is cached by catalog state, so the dozen catalog queries of a
psql `\\d` build it once, and every session of the same catalog state shares it.

Each kind of object maps to a pg_class kind in `RELKINDS`: a new kind of object needs
one entry there, not a new query. Sources are foreign tables ('f': their rows come from
outside through a connector, as a foreign data wrapper's do; the connector is the
"server"); streams are views ('v': a named query that holds no rows of its own).

OIDs: every relation's OID is its durable catalog OID. Objects laminar_pg does not
allocate an OID for (a table's primary-key index and constraint, column defaults) get
one derived from their table's OID in ranges above 2^30 (see `derived_oid`), so they
are stable across restarts too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from laminar_pg.catalog.objects import Catalog
from laminar_pg.catalog.pg_types import (
    PG_CATALOG_OID,
    arrow_type_modifier,
    arrow_type_oid,
    format_type,
)

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession

DATABASE_OID = 5  # PostgreSQL's OID of the `postgres` database: ours is the one database
INFORMATION_SCHEMA_OID = 13000
LAMINAR_CATALOG_OID = 13100

_SYSTEM_NAMESPACES = frozenset({PG_CATALOG_OID, INFORMATION_SCHEMA_OID, LAMINAR_CATALOG_OID})

RELKINDS = {"table": "r", "index": "i", "sequence": "S", "materialized view": "m",
            "source": "f", "stream": "v"}

# PostgreSQL's own OIDs of the system catalogs that pg_catalog here holds.
SYSTEM_RELATION_OIDS = {
    "pg_type": 1247, "pg_attribute": 1249, "pg_proc": 1255, "pg_class": 1259,
    "pg_authid": 1260, "pg_auth_members": 1261, "pg_database": 1262, "pg_tablespace": 1213,
    "pg_foreign_server": 1417, "pg_sequence": 2224, "pg_foreign_data_wrapper": 2328,
    "pg_shdescription": 2396, "pg_am": 2601, "pg_attrdef": 2604, "pg_constraint": 2606,
    "pg_conversion": 2607, "pg_depend": 2608, "pg_description": 2609, "pg_index": 2610,
    "pg_inherits": 2611, "pg_language": 2612, "pg_namespace": 2615, "pg_opclass": 2616,
    "pg_rewrite": 2618, "pg_trigger": 2620, "pg_extension": 3079, "pg_foreign_table": 3118,
    "pg_policy": 3256, "pg_statistic_ext": 3381, "pg_collation": 3456,
    "pg_event_trigger": 3466, "pg_enum": 3501, "pg_range": 3541, "pg_publication": 6104,
    "pg_publication_rel": 6106, "pg_publication_namespace": 6237,
}

_PKEY_INDEX, _PKEY_CONSTRAINT, _UNIQUE_INDEX, _UNIQUE_CONSTRAINT, _ATTRDEF, _SERVER = (
    0x80000000, 0x90000000, 0xA0000000, 0xB0000000, 0x40000000, 0x30000000)
_CHECK_CONSTRAINT, _FOREIGN_KEY, REWRITE_RULE = 0xC0000000, 0xD0000000, 0xE0000000
ROW_TYPE, ROW_ARRAY_TYPE = 0xF0000000, 0xF8000000  # a relation's row type and its array


def row_type_oid(rel: Relation) -> int:
    """pg_class.reltype: the row type PostgreSQL gives every table, view, materialized view
    and foreign table (0 for the system relations here, and for indexes and sequences)."""
    if rel.relkind in ("r", "m", "v", "f") and rel.namespace_oid not in _SYSTEM_NAMESPACES:
        return derived_oid(ROW_TYPE, rel.oid)
    return 0


def derived_oid(base: int, table_oid: int, item: int = 0, per_table: int = 1) -> int:
    """A stable OID for an object the catalog gives no OID of its own."""
    return base + table_oid * per_table + item


@dataclass(slots=True)
class Column:
    name: str
    type_oid: int
    typmod: int = -1
    not_null: bool = False
    default: str | None = None


@dataclass(slots=True)
class Index:
    oid: int
    name: str
    table_oid: int
    namespace_oid: int
    columns: tuple[int, ...]  # attnums
    unique: bool
    primary: bool

    def definition(self, snap: CatalogSnapshot) -> str:
        table = snap.by_oid[self.table_oid]
        names = ", ".join(quote_ident(table.columns[n - 1].name) for n in self.columns)
        unique = "UNIQUE " if self.unique else ""
        return (f"CREATE {unique}INDEX {quote_ident(self.name)} ON "
                f"{quote_ident(table.schema)}.{quote_ident(table.name)} USING btree ({names})")


@dataclass(slots=True)
class Constraint:
    oid: int
    name: str
    contype: str  # 'p' primary key, 'u' unique, 'c' check, 'f' foreign key
    table_oid: int
    namespace_oid: int
    index_oid: int
    columns: tuple[int, ...]
    check: str | None = None  # 'c': the expression, as the engine keeps it
    ref_table_oid: int = 0  # 'f': the referenced table and columns
    ref_columns: tuple[int, ...] = ()
    ref_names: tuple[str, ...] = ()  # 'f', while building: the referenced table, columns

    def definition(self, snap: CatalogSnapshot, search_path: list[str] | None = None,
                   pretty: bool = False) -> str:
        table = snap.by_oid[self.table_oid]
        names = ", ".join(quote_ident(table.columns[n - 1].name) for n in self.columns)
        if self.contype == "c":
            # The engine keeps the expression parenthesised; pretty-printing drops the
            # outer parentheses PostgreSQL adds, as pg_get_constraintdef(oid, true) does.
            text = str(self.check)
            wrapped = text.startswith("(") and text.endswith(")")
            return f"CHECK {text}" if pretty and wrapped else f"CHECK ({text})"
        if self.contype == "f":
            ref = snap.by_oid[self.ref_table_oid]
            ref_name = snap.relation_name(ref.oid, search_path or ["public"])
            ref_cols = ", ".join(quote_ident(ref.columns[n - 1].name) for n in self.ref_columns)
            return f"FOREIGN KEY ({names}) REFERENCES {ref_name}({ref_cols})"
        return f"{'PRIMARY KEY' if self.contype == 'p' else 'UNIQUE'} ({names})"


@dataclass(slots=True)
class Default:
    oid: int
    table_oid: int
    attnum: int
    expression: str


@dataclass(slots=True)
class Relation:
    oid: int
    name: str
    schema: str
    namespace_oid: int
    relkind: str
    columns: list[Column] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    definition: str | None = None  # views: the query
    connector: str = ""  # sources: the connector
    options: list[tuple[str, str]] = field(default_factory=list)
    checks: int = 0  # CHECK constraints (pg_class.relchecks)
    has_triggers: bool = False  # PostgreSQL enforces foreign keys with triggers
    depends_on: tuple[int, ...] = ()  # views: the relations their query reads


@dataclass(slots=True)
class Namespace:
    oid: int
    name: str


@dataclass
class CatalogSnapshot:
    namespaces: list[Namespace]
    relations: list[Relation]
    indexes: list[Index]
    constraints: list[Constraint]
    defaults: list[Default]
    servers: dict[str, int]
    by_oid: dict[int, Relation] = field(default_factory=dict)
    tables: dict[str, pa.Table] = field(default_factory=dict)
    # COMMENT ON: (objoid, objsubid) -> (classoid, description), pg_description's rows
    descriptions: dict[tuple[int, int], tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_oid = {r.oid: r for r in self.relations}
        self.namespace_by_name = {n.name: n for n in self.namespaces}
        self.namespace_by_oid = {n.oid: n for n in self.namespaces}
        self.index_by_oid = {i.oid: i for i in self.indexes}
        self.constraint_by_oid = {c.oid: c for c in self.constraints}

    def table(self, name: str, compute: Callable[[], pa.Table]) -> pa.Table:
        if name not in self.tables:
            self.tables[name] = compute()
        return self.tables[name]

    def server_oid(self, connector: str) -> int:
        return self.servers.get(connector, 0)

    def is_visible(self, oid: int, search_path: list[str]) -> bool:
        """pg_table_is_visible: the relation's schema is searched and no schema before
        it holds a relation of the same name."""
        rel = self.by_oid.get(oid)
        if rel is None:
            return False
        for schema in ["pg_catalog", *search_path]:
            if any(r.schema == schema and r.name == rel.name for r in self.relations):
                return schema == rel.schema
        return False

    def find_relation(self, text: str, search_path: list[str]) -> Relation | None:
        parts = identifier_parts(text)
        if len(parts) == 2:
            schemas, name = [parts[0]], parts[1]
        elif len(parts) == 1:
            schemas, name = ["pg_catalog", *search_path], parts[0]
        else:
            return None
        for schema in schemas:
            for rel in self.relations:
                if rel.schema == schema and rel.name == name:
                    return rel
        return None

    def relation_name(self, oid: int, search_path: list[str]) -> str | None:
        """regclass output: the name, schema-qualified when not visible."""
        rel = self.by_oid.get(oid)
        if rel is None:
            return None
        if self.is_visible(oid, search_path):
            return quote_ident(rel.name)
        return f"{quote_ident(rel.schema)}.{quote_ident(rel.name)}"


def quote_ident(name: str) -> str:
    """PostgreSQL's quote_ident: quoted unless a plain lower-case identifier."""
    plain = name and (name[0].isalpha() or name[0] == "_") and name.isascii() and all(
        ch.islower() or ch.isdigit() or ch == "_" for ch in name)
    if plain and name.upper() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


_RESERVED = frozenset(
    "ALL ANALYSE ANALYZE AND ANY ARRAY AS ASC ASYMMETRIC BOTH CASE CAST CHECK COLLATE COLUMN "
    "CONSTRAINT CREATE CURRENT_CATALOG CURRENT_DATE CURRENT_ROLE CURRENT_TIME "
    "CURRENT_TIMESTAMP CURRENT_USER DEFAULT DEFERRABLE DESC DISTINCT DO ELSE END EXCEPT "
    "FALSE FETCH FOR FOREIGN FROM GRANT GROUP HAVING IN INITIALLY INTERSECT INTO LATERAL "
    "LEADING LIMIT LOCALTIME LOCALTIMESTAMP NOT NULL OFFSET ON ONLY OR ORDER PLACING "
    "PRIMARY REFERENCES RETURNING SELECT SESSION_USER SOME SYMMETRIC TABLE THEN TO "
    "TRAILING TRUE UNION UNIQUE USER USING VARIADIC WHEN WHERE WINDOW WITH".split())


def identifier_parts(text: str) -> list[str]:
    """'a.b', '"A".b' -> the names, folded to lower case unless quoted."""
    parts: list[str] = []
    current = ""
    quoted = False
    i = 0
    was_quoted = False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"' and i + 1 < len(text) and text[i + 1] == '"':
                current += '"'
                i += 1
            elif ch == '"':
                quoted = False
            else:
                current += ch
        elif ch == '"':
            quoted = was_quoted = True
        elif ch == ".":
            parts.append(current if was_quoted else current.strip().lower())
            current, was_quoted = "", False
        else:
            current += ch
        i += 1
    parts.append(current if was_quoted else current.strip().lower())
    return parts


# ------------------------------------------------------------------------- building

_CACHE: dict[tuple[Any, ...], CatalogSnapshot] = {}
_LAST: dict[int, tuple[tuple[Any, ...], CatalogSnapshot]] = {}  # by session process id
_CACHE_LOCK = threading.Lock()  # catalog functions build snapshots on engine threads


def _catalog_of(session: PgSession) -> Catalog:
    return session._catalog()


def _state_key(session: PgSession, catalog: Catalog) -> tuple[Any, ...]:
    streaming = tuple(sorted(session.db.streaming.objects))
    return (id(session.db), catalog.version, hash(tuple(catalog.objects.values())), streaming,
            hash(tuple(sorted(catalog.comments.items()))))


def snapshot(session: PgSession, engine: Callable[[], Any] | None = None) -> CatalogSnapshot:
    """The snapshot of the session's catalog state (built on first use). `engine` makes
    the engine connection to read table shapes with (default: the session's own)."""
    catalog = _catalog_of(session)
    # A cheap check first: catalog functions call this once per row they are given.
    quick = (id(session.db), id(catalog), catalog.version, len(catalog.objects),
             len(session.db.streaming.objects))
    last = _LAST.get(session.process_id)
    if last is not None and last[0] == quick:
        return last[1]
    key = _state_key(session, catalog)
    found = _CACHE.get(key)
    if found is not None:
        _LAST[session.process_id] = (quick, found)
        return found
    if engine is None:
        found = _build(session, catalog, session._describe_engine())
    else:
        duck = engine()
        try:
            found = _build(session, catalog, duck)
        finally:
            duck.close()
    if engine is not None and session.writes.state is not None:
        # Built on another connection than the transaction's: its tables' shapes may
        # miss the transaction's own DDL, so it is used once and not kept.
        return found
    with _CACHE_LOCK:
        if len(_CACHE) >= 16:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = found
        if len(_LAST) >= 1024:
            _LAST.pop(next(iter(_LAST)))
        _LAST[session.process_id] = (quick, found)
    return found


def _build(session: PgSession, catalog: Catalog, duck: Any) -> CatalogSnapshot:
    from laminar_pg.session.pg_catalog import COLUMNS

    namespaces = [Namespace(PG_CATALOG_OID, "pg_catalog"),
                  Namespace(INFORMATION_SCHEMA_OID, "information_schema"),
                  Namespace(LAMINAR_CATALOG_OID, "laminar_catalog")]
    namespaces += sorted((Namespace(o.oid, o.name) for o in catalog.objects.values()
                          if o.kind == "schema"), key=lambda n: n.oid)
    ns_oid = {n.name: n.oid for n in namespaces}
    relations: list[Relation] = []
    for name, oid in sorted(SYSTEM_RELATION_OIDS.items(), key=lambda kv: kv[1]):
        columns = [Column(col, _catalog_type_oid(pgtype)) for col, pgtype in COLUMNS[name]]
        relations.append(Relation(oid, name, "pg_catalog", PG_CATALOG_OID, "r", columns))
    relations += _system_tables()
    shapes = _engine_shapes(duck)
    indexes: list[Index] = []
    constraints: list[Constraint] = []
    defaults: list[Default] = []
    servers: dict[str, int] = {}
    streaming = session.db.streaming.objects
    for obj in sorted(catalog.objects.values(), key=lambda o: o.oid):
        relkind = RELKINDS.get(obj.kind)
        if relkind is None or relkind == "i":
            continue
        rel = Relation(obj.oid, obj.name, obj.schema, ns_oid.get(obj.schema, 0), relkind)
        relations.append(rel)
        if obj.kind == "table":
            _table_shape(rel, shapes, indexes, constraints, defaults)
        item = streaming.get(obj.oid)
        if item is not None:
            rel.columns = [Column(f.name, arrow_type_oid(f.type), arrow_type_modifier(f.type))
                           for f in item.schema if not f.name.startswith("_laminar")]
            rel.definition = _view_query(item.tree)
            rel.depends_on = tuple(sorted(item.depends_on))
            if obj.kind == "source":
                rel.connector = str(item.options.get("connector", ""))
                rel.options = sorted((str(k), str(v)) for k, v in item.options.items()
                                     if k != "connector")
                if rel.connector and rel.connector not in servers:
                    servers[rel.connector] = derived_oid(_SERVER, 0, len(servers) + 1)
    by_name = {(r.schema, r.name): r for r in relations}
    for obj in catalog.objects.values():
        if obj.kind != "index":
            continue
        spec = shapes["indexes"].get((obj.schema, obj.name))
        if spec is None:
            continue
        table = by_name.get((obj.schema, spec[0]))
        if table is None:
            continue
        attnums = tuple(_attnum(table, c) for c in spec[2])
        indexes.append(Index(obj.oid, obj.name, table.oid, table.namespace_oid, attnums,
                             spec[1], False))
        relations.append(Relation(obj.oid, obj.name, obj.schema, table.namespace_oid, "i",
                                  [table.columns[n - 1] for n in attnums if n > 0]))
        table.indexes.append(obj.oid)
    for index in indexes:
        if index.oid >= _PKEY_INDEX:  # a key's index, which the catalog does not list
            table = next(r for r in relations if r.oid == index.table_oid)
            relations.append(Relation(index.oid, index.name, table.schema,
                                      table.namespace_oid, "i",
                                      [table.columns[n - 1] for n in index.columns]))
    _resolve_foreign_keys(relations, constraints)
    snap = CatalogSnapshot(namespaces, relations, indexes, constraints, defaults, servers)
    snap.descriptions = _descriptions(catalog, snap)
    return snap


def _descriptions(catalog: Catalog, snap: CatalogSnapshot) -> dict[tuple[int, int],
                                                                  tuple[int, str]]:
    """pg_description's rows from the catalog's comments: a relation's under pg_class,
    its columns' by attnum, a schema's under pg_namespace. A comment on a column that is
    gone (ALTER TABLE DROP COLUMN) is left out."""
    found: dict[tuple[int, int], tuple[int, str]] = {}
    for (oid, column), text in catalog.comments.items():
        if oid in snap.namespace_by_oid:
            found[(oid, 0)] = (SYSTEM_RELATION_OIDS["pg_namespace"], text)
            continue
        rel = snap.by_oid.get(oid)
        if rel is None:
            continue
        attnum = 0
        if column:
            attnum = next((i for i, c in enumerate(rel.columns, 1) if c.name == column), 0)
            if not attnum:
                continue
        found[(oid, attnum)] = (SYSTEM_RELATION_OIDS["pg_class"], text)
    return found


# laminar_catalog's system tables, with OIDs of their own (fixed: the namespace is 13100).
SYSTEM_TABLE_OIDS = {name: 13101 + i for i, name in enumerate((
    "sources", "tables", "streams", "materialized_views", "sinks", "pipeline_metrics",
    "source_metrics", "stream_metrics", "view_metrics", "operator_metrics", "watermarks",
    "checkpoints", "sessions"))}


def _system_tables() -> list[Relation]:
    """laminar_catalog's system tables as views (relkind 'v': computed, no storage of
    their own), with the columns a query of them returns (observability/figures.py's
    schemas). Not in pg_tables, and not visible (laminar_catalog is not on the search
    path), so psql's \\d and \\dt and the drivers' default table lists leave them out."""
    from laminar_pg.observability.figures import SCHEMAS

    found = []
    for name, oid in SYSTEM_TABLE_OIDS.items():
        schema = SCHEMAS.get(name)
        if schema is None:
            continue
        columns = [Column(f.name, arrow_type_oid(f.type), arrow_type_modifier(f.type))
                   for f in schema]
        found.append(Relation(oid, name, "laminar_catalog", LAMINAR_CATALOG_OID, "v", columns))
    return found


def _attnum(rel: Relation, column: str) -> int:
    for i, col in enumerate(rel.columns, start=1):
        if col.name == column:
            return i
    return 0


def _catalog_type_oid(pgtype: str) -> int:
    from laminar_pg.wire import types

    aliases = {"xid": 20, "pg_node_tree": 25, "anyarray": 25, "aclitem[]": 1009,
               "int2vector": 1005, "oidvector": 1028, "char[]": 1002, "name": 19}
    if pgtype in aliases:
        return aliases[pgtype]
    found = types.TYPES_BY_NAME.get(pgtype)
    return found.oid if found is not None else 25


def _view_query(tree: Any) -> str | None:
    query = tree.args.get("expression") if isinstance(tree, exp.Expr) else None
    if isinstance(query, exp.Expr):
        return query.sql(dialect="postgres", pretty=True) + ";"
    return None


def _engine_shapes(duck: Any) -> dict[str, Any]:
    """Every table's columns, constraints and indexes, as the engine's catalog holds them."""
    columns: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in duck.execute(
            "SELECT schema_name, table_name, column_name, data_type, is_nullable, "
            "column_default, comment, numeric_precision, numeric_scale FROM duckdb_columns() "
            "WHERE NOT internal ORDER BY schema_name, table_name, column_index").fetchall():
        columns.setdefault((row[0], row[1]), []).append(row[2:])
    keys: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for schema, table, kind, names, expression, ref_table, ref_names in duck.execute(
            "SELECT schema_name, table_name, constraint_type, constraint_column_names, "
            "expression, referenced_table, referenced_column_names FROM duckdb_constraints() "
            "WHERE constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'CHECK', 'FOREIGN KEY') "
            "ORDER BY constraint_index").fetchall():
        keys.setdefault((schema, table), []).append(
            (kind, list(names), expression, ref_table, list(ref_names or [])))
    indexes: dict[tuple[str, str], tuple[str, bool, list[str]]] = {}
    for schema, name, table, unique, sql in duck.execute(
            "SELECT schema_name, index_name, table_name, is_unique, sql FROM duckdb_indexes()"
    ).fetchall():
        indexes[(schema, name)] = (table, bool(unique), _index_columns(sql))
    return {"columns": columns, "keys": keys, "indexes": indexes}


def _index_columns(sql: str | None) -> list[str]:
    if not sql:
        return []
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return []
    params = tree.find(exp.IndexParameters)
    cols = params.args.get("columns") if params is not None else None
    out = []
    for c in cols or []:
        node = c.this if isinstance(c, exp.Ordered) else c
        out.append(node.name if isinstance(node, exp.Column) else node.sql())
    return out


def _table_shape(rel: Relation, shapes: dict[str, Any], indexes: list[Index],
                 constraints: list[Constraint], defaults: list[Default]) -> None:
    from laminar_pg.session import engine, tables

    for attnum, (name, dtype, nullable, default, comment, precision, scale) in enumerate(
            shapes["columns"].get((rel.schema, rel.name), []), start=1):
        declared = str(comment) if comment else ""
        oid = (tables.declared_oid(declared) if declared else 0) or \
            engine.duck_type_name_oid(str(dtype))
        typmod = -1
        length = tables.declared_length(declared) if declared else None
        if length is not None:
            typmod = length + 4
        elif oid == 1700 and precision is not None and (precision, scale) != (38, 10):
            typmod = ((int(precision) << 16) | int(scale)) + 4
        col = Column(str(name), oid, typmod, not nullable)
        if default is not None:
            col.default = _pg_default(str(default), oid, typmod)
            defaults.append(Default(derived_oid(_ATTRDEF, rel.oid, attnum, 2048), rel.oid,
                                    attnum, col.default))
        rel.columns.append(col)
    counts = {"UNIQUE": 0, "CHECK": 0, "FOREIGN KEY": 0}
    used: set[str] = set()
    for kind, names, expression, ref_table, ref_names in shapes["keys"].get(
            (rel.schema, rel.name), []):
        attnums = tuple(_attnum(rel, n) for n in names)
        if kind in counts:
            counts[kind] += 1
        if kind == "CHECK":
            name = _unique_name(f"{rel.name}_{names[0]}_check" if len(names) == 1
                                else f"{rel.name}_check", used)
            constraints.append(Constraint(
                derived_oid(_CHECK_CONSTRAINT, rel.oid, counts[kind], 16), name, "c",
                rel.oid, rel.namespace_oid, 0, attnums, check=str(expression)))
            rel.checks += 1
            continue
        if kind == "FOREIGN KEY":  # the referenced side is resolved once all tables exist
            name = _unique_name(f"{rel.name}_{'_'.join(names)}_fkey", used)
            constraints.append(Constraint(
                derived_oid(_FOREIGN_KEY, rel.oid, counts[kind], 16), name, "f", rel.oid,
                rel.namespace_oid, 0, attnums, ref_names=(str(ref_table), *ref_names)))
            rel.has_triggers = True
            continue
        if kind == "PRIMARY KEY":
            index_oid = derived_oid(_PKEY_INDEX, rel.oid)
            con_oid = derived_oid(_PKEY_CONSTRAINT, rel.oid)
            name, contype = f"{rel.name}_pkey", "p"
        else:
            index_oid = derived_oid(_UNIQUE_INDEX, rel.oid, counts[kind], 16)
            con_oid = derived_oid(_UNIQUE_CONSTRAINT, rel.oid, counts[kind], 16)
            name, contype = _unique_name(f"{rel.name}_{'_'.join(names)}_key", used), "u"
        used.add(name)
        indexes.append(Index(index_oid, name, rel.oid, rel.namespace_oid, attnums, True,
                             contype == "p"))
        constraints.append(Constraint(con_oid, name, contype, rel.oid, rel.namespace_oid,
                                      index_oid, attnums))
        rel.indexes.append(index_oid)


def _unique_name(name: str, used: set[str]) -> str:
    """PostgreSQL's choice of a constraint name: `name`, else name1, name2 ..."""
    candidate, n = name, 0
    while candidate in used:
        n += 1
        candidate = f"{name}{n}"
    used.add(candidate)
    return candidate


def _resolve_foreign_keys(relations: list[Relation], constraints: list[Constraint]) -> None:
    """A foreign key's referenced table, columns and the unique index it relies on."""
    by_name = {(r.schema, r.name): r for r in relations}
    for con in constraints:
        if con.contype != "f" or not con.ref_names:
            continue
        table_name, *ref_names = con.ref_names
        schema = next(r.schema for r in relations if r.oid == con.table_oid)
        ref = by_name.get((schema, table_name))
        if ref is None:
            continue
        ref.has_triggers = True
        con.ref_table_oid = ref.oid
        con.ref_columns = tuple(_attnum(ref, n) for n in ref_names)
        con.index_oid = next((c.index_oid for c in constraints if c.table_oid == ref.oid
                              and c.contype in "pu" and c.columns == con.ref_columns), 0)


def _pg_default(text: str, oid: int, typmod: int) -> str:
    """A column default as pg_get_expr prints it: `'x'::character varying`,
    `nextval('t_id_seq'::regclass)`."""
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except sqlglot.errors.ParseError:
        return text
    if isinstance(tree, exp.Literal) and tree.is_string:
        base = format_type(oid, -1) or "text"
        return f"{tree.sql(dialect='postgres')}::{base}"
    if isinstance(tree, exp.Anonymous) and str(tree.this).lower() == "nextval" \
            and tree.expressions and isinstance(tree.expressions[0], exp.Literal):
        name = tree.expressions[0].this
        if name.startswith("public."):
            name = name[len("public."):]
        return f"nextval('{name}'::regclass)"
    if isinstance(tree, exp.CurrentTimestamp):
        return "now()"
    return tree.sql(dialect="postgres")

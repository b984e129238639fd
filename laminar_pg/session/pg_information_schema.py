"""`information_schema.*`: the SQL standard's view of the catalog, as PostgreSQL 15 fills it.

Built from the same `CatalogSnapshot` as pg_catalog (session/pg_model.py). As in
PostgreSQL, materialized views are not in `tables` or `columns` (they are no SQL-standard
object); sources are 'FOREIGN' tables and streams 'VIEW's (docs/catalog.md); NOT NULL
columns appear in `table_constraints` as CHECK constraints named
`<namespace oid>_<table oid>_<column number>_not_null`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from laminar_pg.catalog.pg_types import format_type
from laminar_pg.session.pg_catalog import columns_of, make_table
from laminar_pg.session.pg_model import CatalogSnapshot, Relation, snapshot
from laminar_pg.session.relations import relation
from laminar_pg.wire import types

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession

_SPECS: dict[str, str] = {
    "schemata": (
        "catalog_name sql_identifier, schema_name sql_identifier, schema_owner sql_identifier, "
        "default_character_set_catalog sql_identifier, "
        "default_character_set_schema sql_identifier, "
        "default_character_set_name sql_identifier, sql_path character_data"),
    "tables": (
        "table_catalog sql_identifier, table_schema sql_identifier, table_name sql_identifier, "
        "table_type character_data, self_referencing_column_name sql_identifier, "
        "reference_generation character_data, user_defined_type_catalog sql_identifier, "
        "user_defined_type_schema sql_identifier, user_defined_type_name sql_identifier, "
        "is_insertable_into yes_or_no, is_typed yes_or_no, commit_action character_data"),
    "columns": (
        "table_catalog sql_identifier, table_schema sql_identifier, table_name sql_identifier, "
        "column_name sql_identifier, ordinal_position cardinal_number, "
        "column_default character_data, is_nullable yes_or_no, data_type character_data, "
        "character_maximum_length cardinal_number, character_octet_length cardinal_number, "
        "numeric_precision cardinal_number, numeric_precision_radix cardinal_number, "
        "numeric_scale cardinal_number, datetime_precision cardinal_number, "
        "interval_type character_data, interval_precision cardinal_number, "
        "character_set_catalog sql_identifier, character_set_schema sql_identifier, "
        "character_set_name sql_identifier, collation_catalog sql_identifier, "
        "collation_schema sql_identifier, collation_name sql_identifier, "
        "domain_catalog sql_identifier, domain_schema sql_identifier, "
        "domain_name sql_identifier, udt_catalog sql_identifier, udt_schema sql_identifier, "
        "udt_name sql_identifier, scope_catalog sql_identifier, scope_schema sql_identifier, "
        "scope_name sql_identifier, maximum_cardinality cardinal_number, "
        "dtd_identifier sql_identifier, is_self_referencing yes_or_no, "
        "is_identity yes_or_no, identity_generation character_data, "
        "identity_start character_data, identity_increment character_data, "
        "identity_maximum character_data, identity_minimum character_data, "
        "identity_cycle yes_or_no, is_generated character_data, "
        "generation_expression character_data, is_updatable yes_or_no"),
    "views": (
        "table_catalog sql_identifier, table_schema sql_identifier, table_name sql_identifier, "
        "view_definition character_data, check_option character_data, "
        "is_updatable yes_or_no, is_insertable_into yes_or_no, "
        "is_trigger_updatable yes_or_no, is_trigger_deletable yes_or_no, "
        "is_trigger_insertable_into yes_or_no"),
    "table_constraints": (
        "constraint_catalog sql_identifier, constraint_schema sql_identifier, "
        "constraint_name sql_identifier, table_catalog sql_identifier, "
        "table_schema sql_identifier, table_name sql_identifier, "
        "constraint_type character_data, is_deferrable yes_or_no, "
        "initially_deferred yes_or_no, enforced yes_or_no, nulls_distinct yes_or_no"),
    "key_column_usage": (
        "constraint_catalog sql_identifier, constraint_schema sql_identifier, "
        "constraint_name sql_identifier, table_catalog sql_identifier, "
        "table_schema sql_identifier, table_name sql_identifier, column_name sql_identifier, "
        "ordinal_position cardinal_number, position_in_unique_constraint cardinal_number"),
    "referential_constraints": (
        "constraint_catalog sql_identifier, constraint_schema sql_identifier, "
        "constraint_name sql_identifier, unique_constraint_catalog sql_identifier, "
        "unique_constraint_schema sql_identifier, unique_constraint_name sql_identifier, "
        "match_option character_data, update_rule character_data, "
        "delete_rule character_data"),
    # PostgreSQL 15's 82 columns (information_schema.sql), in its order.
    "routines": (
        "specific_catalog sql_identifier, specific_schema sql_identifier, "
        "specific_name sql_identifier, routine_catalog sql_identifier, "
        "routine_schema sql_identifier, routine_name sql_identifier, "
        "routine_type character_data, module_catalog sql_identifier, "
        "module_schema sql_identifier, module_name sql_identifier, "
        "udt_catalog sql_identifier, udt_schema sql_identifier, udt_name sql_identifier, "
        "data_type character_data, character_maximum_length cardinal_number, "
        "character_octet_length cardinal_number, character_set_catalog sql_identifier, "
        "character_set_schema sql_identifier, character_set_name sql_identifier, "
        "collation_catalog sql_identifier, collation_schema sql_identifier, "
        "collation_name sql_identifier, numeric_precision cardinal_number, "
        "numeric_precision_radix cardinal_number, numeric_scale cardinal_number, "
        "datetime_precision cardinal_number, interval_type character_data, "
        "interval_precision cardinal_number, type_udt_catalog sql_identifier, "
        "type_udt_schema sql_identifier, type_udt_name sql_identifier, "
        "scope_catalog sql_identifier, scope_schema sql_identifier, "
        "scope_name sql_identifier, maximum_cardinality cardinal_number, "
        "dtd_identifier sql_identifier, routine_body character_data, "
        "routine_definition character_data, external_name character_data, "
        "external_language character_data, parameter_style character_data, "
        "is_deterministic yes_or_no, sql_data_access character_data, "
        "is_null_call yes_or_no, sql_path character_data, schema_level_routine yes_or_no, "
        "max_dynamic_result_sets cardinal_number, is_user_defined_cast yes_or_no, "
        "is_implicitly_invocable yes_or_no, security_type character_data, "
        "to_sql_specific_catalog sql_identifier, to_sql_specific_schema sql_identifier, "
        "to_sql_specific_name sql_identifier, as_locator yes_or_no, created time_stamp, "
        "last_altered time_stamp, new_savepoint_level yes_or_no, "
        "is_udt_dependent yes_or_no, result_cast_from_data_type character_data, "
        "result_cast_as_locator yes_or_no, result_cast_char_max_length cardinal_number, "
        "result_cast_char_octet_length cardinal_number, "
        "result_cast_char_set_catalog sql_identifier, "
        "result_cast_char_set_schema sql_identifier, "
        "result_cast_char_set_name sql_identifier, "
        "result_cast_collation_catalog sql_identifier, "
        "result_cast_collation_schema sql_identifier, "
        "result_cast_collation_name sql_identifier, "
        "result_cast_numeric_precision cardinal_number, "
        "result_cast_numeric_precision_radix cardinal_number, "
        "result_cast_numeric_scale cardinal_number, "
        "result_cast_datetime_precision cardinal_number, "
        "result_cast_interval_type character_data, "
        "result_cast_interval_precision cardinal_number, "
        "result_cast_type_udt_catalog sql_identifier, "
        "result_cast_type_udt_schema sql_identifier, "
        "result_cast_type_udt_name sql_identifier, result_cast_scope_catalog sql_identifier, "
        "result_cast_scope_schema sql_identifier, result_cast_scope_name sql_identifier, "
        "result_cast_maximum_cardinality cardinal_number, "
        "result_cast_dtd_identifier sql_identifier"),
    "character_sets": (
        "character_set_catalog sql_identifier, character_set_schema sql_identifier, "
        "character_set_name sql_identifier, character_repertoire sql_identifier, "
        "form_of_use sql_identifier, default_collate_catalog sql_identifier, "
        "default_collate_schema sql_identifier, default_collate_name sql_identifier"),
}
COLUMNS = {name: columns_of(spec) for name, spec in _SPECS.items()}

# Which relations each SQL-standard view shows, by pg_class kind, and as what.
_TABLE_TYPES = {"r": "BASE TABLE", "v": "VIEW", "f": "FOREIGN"}


def _visible_kinds(rel: Relation) -> bool:
    return rel.relkind in _TABLE_TYPES


def _base(session: PgSession) -> str:
    return session.database or "laminar"


def _schemata(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"catalog_name": _base(session), "schema_name": ns.name,
             "schema_owner": session.user or "laminar"} for ns in snap.namespaces]


def _tables(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"table_catalog": _base(session), "table_schema": rel.schema,
             "table_name": rel.name, "table_type": _TABLE_TYPES[rel.relkind],
             "is_insertable_into": "YES" if rel.relkind == "r" else "NO", "is_typed": "NO"}
            for rel in snap.relations if _visible_kinds(rel)]


def _views(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"table_catalog": _base(session), "table_schema": rel.schema,
             "table_name": rel.name, "view_definition": rel.definition,
             "check_option": "NONE", "is_updatable": "NO", "is_insertable_into": "NO",
             "is_trigger_updatable": "NO", "is_trigger_deletable": "NO",
             "is_trigger_insertable_into": "NO"}
            for rel in snap.relations if rel.relkind == "v"]


_NUMERIC_PRECISION = {21: 16, 23: 32, 20: 64, 700: 24, 701: 53}
_DATETIME = frozenset({1082, 1083, 1114, 1184, 1186})


def _type_facts(oid: int, typmod: int) -> dict[str, Any]:
    """data_type, lengths, precisions and udt_name of a column's type."""
    pg = types.TYPES_BY_OID.get(oid)
    facts: dict[str, Any] = {
        "data_type": "ARRAY" if pg is not None and pg.element_oid else format_type(oid, -1),
        "udt_schema": "pg_catalog", "udt_name": pg.name if pg is not None else None,
    }
    if oid in (1043, 1042, 25):
        length = typmod - 4 if typmod >= 4 else None
        facts["character_maximum_length"] = length
        facts["character_octet_length"] = length * 4 if length is not None else 1073741824
    elif oid in _NUMERIC_PRECISION:
        facts["numeric_precision"] = _NUMERIC_PRECISION[oid]
        facts["numeric_precision_radix"] = 2
        facts["numeric_scale"] = 0 if oid in (20, 21, 23) else None
    elif oid == 1700:
        facts["numeric_precision_radix"] = 10
        if typmod >= 4:
            facts["numeric_precision"] = (typmod - 4) >> 16
            facts["numeric_scale"] = (typmod - 4) & 0xFFFF
    if oid in _DATETIME:
        facts["datetime_precision"] = 0 if oid == 1082 else 6
    return facts


def _columns(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    rows = []
    for rel in snap.relations:
        if not _visible_kinds(rel):
            continue
        for num, col in enumerate(rel.columns, start=1):
            rows.append({
                "table_catalog": _base(session), "table_schema": rel.schema,
                "table_name": rel.name, "column_name": col.name, "ordinal_position": num,
                "column_default": col.default, "is_nullable": "NO" if col.not_null else "YES",
                **_type_facts(col.type_oid, col.typmod), "udt_catalog": _base(session),
                "dtd_identifier": str(num), "is_self_referencing": "NO", "is_identity": "NO",
                "identity_cycle": "NO", "is_generated": "NEVER",
                "is_updatable": "YES" if rel.relkind == "r" else "NO",
            })
    return rows


_CONSTRAINT_TYPES = {"p": "PRIMARY KEY", "u": "UNIQUE", "c": "CHECK", "f": "FOREIGN KEY"}


def _constraint_rows(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    rows = []
    for con in snap.constraints:
        rel = snap.by_oid[con.table_oid]
        rows.append({
            "constraint_catalog": _base(session), "constraint_schema": rel.schema,
            "constraint_name": con.name, "table_catalog": _base(session),
            "table_schema": rel.schema, "table_name": rel.name,
            "constraint_type": _CONSTRAINT_TYPES[con.contype],
            "is_deferrable": "NO", "initially_deferred": "NO", "enforced": "YES",
            "nulls_distinct": "YES" if con.contype in "pu" else None,
        })
    for rel in snap.relations:
        if rel.relkind != "r" or rel.schema == "pg_catalog":
            continue
        for num, col in enumerate(rel.columns, start=1):
            if col.not_null:
                rows.append({
                    "constraint_catalog": _base(session), "constraint_schema": rel.schema,
                    "constraint_name": f"{rel.namespace_oid}_{rel.oid}_{num}_not_null",
                    "table_catalog": _base(session), "table_schema": rel.schema,
                    "table_name": rel.name, "constraint_type": "CHECK",
                    "is_deferrable": "NO", "initially_deferred": "NO", "enforced": "YES",
                })
    return rows


def _key_columns(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    rows = []
    for con in snap.constraints:
        if con.contype == "c":
            continue
        rel = snap.by_oid[con.table_oid]
        for position, attnum in enumerate(con.columns, start=1):
            rows.append({
                "constraint_catalog": _base(session), "constraint_schema": rel.schema,
                "constraint_name": con.name, "table_catalog": _base(session),
                "table_schema": rel.schema, "table_name": rel.name,
                "column_name": rel.columns[attnum - 1].name, "ordinal_position": position,
                "position_in_unique_constraint": position if con.contype == "f" else None,
            })
    return rows


def _referential(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    rows = []
    for con in snap.constraints:
        if con.contype != "f":
            continue
        unique = snap.constraint_by_oid.get(_constraint_of_index(snap, con.index_oid))
        ref = snap.by_oid.get(con.ref_table_oid)
        rows.append({
            "constraint_catalog": _base(session),
            "constraint_schema": snap.by_oid[con.table_oid].schema,
            "constraint_name": con.name, "unique_constraint_catalog": _base(session),
            "unique_constraint_schema": ref.schema if ref is not None else None,
            "unique_constraint_name": unique.name if unique is not None else None,
            "match_option": "NONE", "update_rule": "NO ACTION", "delete_rule": "NO ACTION",
        })
    return rows


def _constraint_of_index(snap: CatalogSnapshot, index_oid: int) -> int:
    return next((c.oid for c in snap.constraints if c.index_oid == index_oid
                 and c.contype in "pu"), 0)


def _routines(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    """One row per pg_proc row, as PostgreSQL's view derives it (information_schema.sql):
    specific_name is `name_oid`, aggregates and window functions have no routine_type,
    the result type is described by data_type (ARRAY for arrays) and type_udt_*."""
    from laminar_pg.catalog.pg_types import pg_type_rows
    from laminar_pg.session.pg_procs import PROCS

    typnames = {row["oid"]: row["typname"] for row in pg_type_rows()}
    rows = []
    for proc in PROCS:
        pg = types.TYPES_BY_OID.get(proc.result)
        rows.append({
            "specific_catalog": _base(session), "specific_schema": "pg_catalog",
            "specific_name": f"{proc.name}_{proc.oid}", "routine_catalog": _base(session),
            "routine_schema": "pg_catalog", "routine_name": proc.name,
            "routine_type": "FUNCTION" if proc.kind == "f" else None,
            "data_type": "ARRAY" if pg is not None and pg.element_oid else format_type(
                proc.result, -1),
            "type_udt_catalog": _base(session), "type_udt_schema": "pg_catalog",
            "type_udt_name": typnames.get(proc.result, format_type(proc.result, -1)),
            "dtd_identifier": "0", "routine_body": "EXTERNAL", "routine_definition": proc.name,
            "external_language": "INTERNAL", "parameter_style": "GENERAL",
            "is_deterministic": "YES" if proc.volatile == "i" else "NO",
            "sql_data_access": "MODIFIES", "is_null_call": "YES" if proc.kind == "f" and proc.strict else "NO",
            "schema_level_routine": "YES", "max_dynamic_result_sets": 0,
            "security_type": "INVOKER", "as_locator": "NO", "is_udt_dependent": "NO",
        })
    return rows


def _character_sets(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"character_set_name": "UTF8", "character_repertoire": "UCS",
             "form_of_use": "UTF8", "default_collate_catalog": _base(session),
             "default_collate_schema": "pg_catalog", "default_collate_name": "C"}]


_ROWS = {"schemata": _schemata, "tables": _tables, "columns": _columns, "views": _views,
         "table_constraints": _constraint_rows, "key_column_usage": _key_columns,
         "referential_constraints": _referential, "routines": _routines,
         "character_sets": _character_sets}


def _builder(name: str) -> Any:
    def build(session: PgSession) -> pa.Table:
        snap = snapshot(session)
        fn = _ROWS.get(name)
        # The rows name the session's database and user: cached per both.
        key = f"information_schema.{name}:{session.database}:{session.user}"
        return snap.table(key, lambda: make_table(
            name, fn(snap, session) if fn is not None else [], COLUMNS[name]))

    return build


for _name in _SPECS:
    relation(f"information_schema.{_name}")(_builder(_name))

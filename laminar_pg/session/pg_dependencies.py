"""`pg_catalog.pg_depend` and `pg_rewrite`: which object needs which, as PostgreSQL 15
records them for the same DDL, so tools that show dependencies (DBeaver's Dependencies
tab, pgAdmin) and DROP-impact queries see them.

Recorded here: every relation on its schema ('n'); an index on its columns ('a'), or on
its constraint ('i') when a PRIMARY KEY / UNIQUE constraint made it; a constraint on its
columns ('a'), a CHECK constraint also on the columns its expression reads ('n'); a foreign key on the referenced columns ('n'); a column default on its
column ('a') and on the sequence it calls nextval() on ('n'); a serial column's sequence
on the column ('a'). A materialized view or stream has a `_RETURN` rule in pg_rewrite, as
a PostgreSQL view does: the rule depends on its view ('i', and 'n') and on every relation
the query reads ('n'; on the whole relation, refobjsubid 0, where PostgreSQL names each
column read). Every table, view and source's row type depends on it ('i'), and the
row type's array type on the row type. Not recorded: TOAST tables (laminar_pg has none).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from laminar_pg.session.pg_catalog import register_rows
from laminar_pg.session.pg_model import (
    REWRITE_RULE,
    ROW_ARRAY_TYPE,
    SYSTEM_RELATION_OIDS,
    CatalogSnapshot,
    derived_oid,
    row_type_oid,
)

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession

_CLASS = SYSTEM_RELATION_OIDS["pg_class"]
_NAMESPACE = SYSTEM_RELATION_OIDS["pg_namespace"]
_CONSTRAINT = SYSTEM_RELATION_OIDS["pg_constraint"]
_ATTRDEF = SYSTEM_RELATION_OIDS["pg_attrdef"]
_REWRITE = SYSTEM_RELATION_OIDS["pg_rewrite"]
_TYPE = SYSTEM_RELATION_OIDS["pg_type"]
_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "laminar_catalog"})
_NEXTVAL = re.compile(r"^nextval\('(.+)'::regclass\)$")


def _dep(classid: int, objid: int, refclassid: int, refobjid: int, refobjsubid: int,
         deptype: str) -> dict[str, Any]:
    return {"classid": classid, "objid": objid, "objsubid": 0, "refclassid": refclassid,
            "refobjid": refobjid, "refobjsubid": refobjsubid, "deptype": deptype}


@register_rows("pg_depend")
def _depends(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    by_name = {(rel.namespace_oid, rel.name): rel for rel in snap.relations}
    for rel in snap.relations:
        if rel.schema not in _SYSTEM_SCHEMAS and rel.relkind != "i":
            rows.append(_dep(_CLASS, rel.oid, _NAMESPACE, rel.namespace_oid, 0, "n"))
        row_type = row_type_oid(rel)
        if row_type:  # the row type belongs to its relation, its array type to it
            rows.append(_dep(_TYPE, row_type, _CLASS, rel.oid, 0, "i"))
            rows.append(_dep(_TYPE, derived_oid(ROW_ARRAY_TYPE, rel.oid), _TYPE, row_type, 0,
                             "i"))
    backed = {c.index_oid: c for c in snap.constraints if c.index_oid}
    for index in snap.indexes:
        constraint = backed.get(index.oid)
        if constraint is not None:
            rows.append(_dep(_CLASS, index.oid, _CONSTRAINT, constraint.oid, 0, "i"))
        else:
            rows += [_dep(_CLASS, index.oid, _CLASS, index.table_oid, col, "a")
                     for col in index.columns]
    for con in snap.constraints:
        rows += [_dep(_CONSTRAINT, con.oid, _CLASS, con.table_oid, col, "a")
                 for col in con.columns]
        if con.contype == "c":  # and, as for any expression, on the columns it reads
            rows += [_dep(_CONSTRAINT, con.oid, _CLASS, con.table_oid, col, "n")
                     for col in con.columns]
        if con.contype == "f":
            rows += [_dep(_CONSTRAINT, con.oid, _CLASS, con.ref_table_oid, col, "n")
                     for col in con.ref_columns]
    for default in snap.defaults:
        rows.append(_dep(_ATTRDEF, default.oid, _CLASS, default.table_oid, default.attnum, "a"))
        match = _NEXTVAL.match(default.expression)
        table = snap.by_oid.get(default.table_oid)
        name = match.group(1).split(".")[-1].strip('"') if match else ""
        sequence = by_name.get((table.namespace_oid, name)) if match and table else None
        if sequence is not None:
            rows.append(_dep(_ATTRDEF, default.oid, _CLASS, sequence.oid, 0, "n"))
            rows.append(_dep(_CLASS, sequence.oid, _CLASS, default.table_oid, default.attnum,
                             "a"))
    for rel in snap.relations:
        if rel.relkind in ("m", "v") and rel.depends_on:
            rule = derived_oid(REWRITE_RULE, rel.oid)
            rows.append(_dep(_REWRITE, rule, _CLASS, rel.oid, 0, "i"))
            rows.append(_dep(_REWRITE, rule, _CLASS, rel.oid, 0, "n"))
            rows += [_dep(_REWRITE, rule, _CLASS, ref, 0, "n") for ref in rel.depends_on
                     if ref in snap.by_oid]
    return rows


@register_rows("pg_rewrite")
def _rules(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    """The `_RETURN` rule of every materialized view and stream (their query is in
    pg_get_viewdef, not in ev_action)."""
    return [{"oid": derived_oid(REWRITE_RULE, rel.oid), "rulename": "_RETURN",
             "ev_class": rel.oid, "ev_type": "1", "ev_enabled": "O", "is_instead": True,
             "ev_qual": "<>"} for rel in snap.relations
            if rel.relkind in ("m", "v") and rel.depends_on]

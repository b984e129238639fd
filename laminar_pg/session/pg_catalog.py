"""`pg_catalog.*` relations answered from laminar_pg's state (see session/relations.py).

Strategy: every relation has PostgreSQL 15's column names and types (`_SPECS`, read from
the PostgreSQL documentation); the rows come from a `CatalogSnapshot` (session/pg_model.py)
computed once per catalog state and shared by every session, so psql's dozen catalog
queries behind one `\\d` cost one look at the engine's catalog. A relation PostgreSQL has
but laminar_pg has nothing to put in (pg_policy, pg_inherits, pg_publication ...) exists
with its columns and no rows, so tools that join it get an empty answer, not an error.

Column types in the engine: oid is UINTEGER (PostgreSQL's oid is an unsigned 32-bit
integer, and results of that engine type are described as oid, so drivers see the types
they expect); xid is BIGINT; name, "char" and pg_node_tree are VARCHAR; int2vector and
oidvector are lists. regproc columns hold the function's name (what PostgreSQL prints).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from laminar_pg.catalog.pg_types import BOOTSTRAP_SUPERUSER_OID, pg_type_rows, storage
from laminar_pg.session import settings as settings_module
from laminar_pg.session.pg_model import (
    DATABASE_OID,
    ROW_ARRAY_TYPE,
    CatalogSnapshot,
    derived_oid,
    row_type_oid,
    snapshot,
)
from laminar_pg.session.relations import relation

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession

_ARROW: dict[str, pa.DataType] = {
    "oid": pa.uint32(), "regproc": pa.string(), "xid": pa.int64(), "name": pa.string(),
    "text": pa.string(), "char": pa.string(), "pg_node_tree": pa.string(),
    "anyarray": pa.string(), "bool": pa.bool_(), "int2": pa.int16(), "int4": pa.int32(),
    "int8": pa.int64(), "float4": pa.float32(), "float8": pa.float64(),
    "timestamptz": pa.timestamp("us", tz="UTC"), "bytea": pa.binary(), "inet": pa.string(),
    "oid[]": pa.list_(pa.uint32()), "int2[]": pa.list_(pa.int16()),
    "text[]": pa.list_(pa.string()), "char[]": pa.list_(pa.string()),
    "aclitem[]": pa.list_(pa.string()), "name[]": pa.list_(pa.string()),
    "int2vector": pa.list_(pa.int16()),
    "oidvector": pa.list_(pa.uint32()),
    # information_schema's domains
    "sql_identifier": pa.string(), "character_data": pa.string(), "yes_or_no": pa.string(),
    "cardinal_number": pa.int32(), "time_stamp": pa.timestamp("us", tz="UTC"),
}

# PostgreSQL 15's columns of each relation, in order ("name type, ...").
_SPECS: dict[str, str] = {
    "pg_namespace": "oid oid, nspname name, nspowner oid, nspacl aclitem[]",
    "pg_class": (
        "oid oid, relname name, relnamespace oid, reltype oid, reloftype oid, relowner oid, "
        "relam oid, relfilenode oid, reltablespace oid, relpages int4, reltuples float4, "
        "relallvisible int4, reltoastrelid oid, relhasindex bool, relisshared bool, "
        "relpersistence char, relkind char, relnatts int2, relchecks int2, relhasrules bool, "
        "relhastriggers bool, relhassubclass bool, relrowsecurity bool, "
        "relforcerowsecurity bool, relispopulated bool, relreplident char, "
        "relispartition bool, relrewrite oid, relfrozenxid xid, relminmxid xid, "
        "relacl aclitem[], reloptions text[], relpartbound pg_node_tree"),
    "pg_attribute": (
        "attrelid oid, attname name, atttypid oid, attstattarget int4, attlen int2, "
        "attnum int2, attndims int4, attcacheoff int4, atttypmod int4, attbyval bool, "
        "attalign char, attstorage char, attcompression char, attnotnull bool, "
        "atthasdef bool, atthasmissing bool, attidentity char, attgenerated char, "
        "attisdropped bool, attislocal bool, attinhcount int4, attcollation oid, "
        "attacl aclitem[], attoptions text[], attfdwoptions text[], attmissingval anyarray"),
    "pg_type": (
        "oid oid, typname name, typnamespace oid, typowner oid, typlen int2, typbyval bool, "
        "typtype char, typcategory char, typispreferred bool, typisdefined bool, "
        "typdelim char, typrelid oid, typsubscript regproc, typelem oid, typarray oid, "
        "typinput regproc, typoutput regproc, typreceive regproc, typsend regproc, "
        "typmodin regproc, typmodout regproc, typanalyze regproc, typalign char, "
        "typstorage char, typnotnull bool, typbasetype oid, typtypmod int4, typndims int4, "
        "typcollation oid, typdefaultbin pg_node_tree, typdefault text, typacl aclitem[]"),
    "pg_database": (
        "oid oid, datname name, datdba oid, encoding int4, datlocprovider char, "
        "datistemplate bool, datallowconn bool, datconnlimit int4, datfrozenxid xid, "
        "datminmxid xid, dattablespace oid, datcollate text, datctype text, "
        "daticulocale text, datcollversion text, datacl aclitem[]"),
    "pg_roles": (
        "rolname name, rolsuper bool, rolinherit bool, rolcreaterole bool, "
        "rolcreatedb bool, rolcanlogin bool, rolreplication bool, rolconnlimit int4, "
        "rolpassword text, rolvaliduntil timestamptz, rolbypassrls bool, "
        "rolconfig text[], oid oid"),
    "pg_authid": (
        "oid oid, rolname name, rolsuper bool, rolinherit bool, rolcreaterole bool, "
        "rolcreatedb bool, rolcanlogin bool, rolreplication bool, rolbypassrls bool, "
        "rolconnlimit int4, rolpassword text, rolvaliduntil timestamptz"),
    "pg_user": (
        "usename name, usesysid oid, usecreatedb bool, usesuper bool, userepl bool, "
        "usebypassrls bool, passwd text, valuntil timestamptz, useconfig text[]"),
    "pg_auth_members": "roleid oid, member oid, grantor oid, admin_option bool",
    "pg_index": (
        "indexrelid oid, indrelid oid, indnatts int2, indnkeyatts int2, indisunique bool, "
        "indnullsnotdistinct bool, indisprimary bool, indisexclusion bool, "
        "indimmediate bool, indisclustered bool, indisvalid bool, indcheckxmin bool, "
        "indisready bool, indislive bool, indisreplident bool, indkey int2vector, "
        "indcollation oidvector, indclass oidvector, indoption int2vector, "
        "indexprs pg_node_tree, indpred pg_node_tree"),
    "pg_constraint": (
        "oid oid, conname name, connamespace oid, contype char, condeferrable bool, "
        "condeferred bool, convalidated bool, conrelid oid, contypid oid, conindid oid, "
        "conparentid oid, confrelid oid, confupdtype char, confdeltype char, "
        "confmatchtype char, conislocal bool, coninhcount int4, connoinherit bool, "
        "conkey int2[], confkey int2[], conpfeqop oid[], conppeqop oid[], conffeqop oid[], "
        "confdelsetcols int2[], conexclop oid[], conbin pg_node_tree"),
    "pg_attrdef": "oid oid, adrelid oid, adnum int2, adbin pg_node_tree",
    "pg_description": "objoid oid, classoid oid, objsubid int4, description text",
    "pg_shdescription": "objoid oid, classoid oid, description text",
    "pg_am": "oid oid, amname name, amhandler regproc, amtype char",
    "pg_proc": (
        "oid oid, proname name, pronamespace oid, proowner oid, prolang oid, "
        "procost float4, prorows float4, provariadic oid, prosupport regproc, "
        "prokind char, prosecdef bool, proleakproof bool, proisstrict bool, "
        "proretset bool, provolatile char, proparallel char, pronargs int2, "
        "pronargdefaults int2, prorettype oid, proargtypes oidvector, "
        "proallargtypes oid[], proargmodes char[], proargnames text[], "
        "proargdefaults pg_node_tree, protrftypes oid[], prosrc text, probin text, "
        "prosqlbody pg_node_tree, proconfig text[], proacl aclitem[]"),
    "pg_settings": (
        "name text, setting text, unit text, category text, short_desc text, "
        "extra_desc text, context text, vartype text, source text, min_val text, "
        "max_val text, enumvals text[], boot_val text, reset_val text, sourcefile text, "
        "sourceline int4, pending_restart bool"),
    "pg_tables": (
        "schemaname name, tablename name, tableowner name, tablespace name, "
        "hasindexes bool, hasrules bool, hastriggers bool, rowsecurity bool"),
    "pg_views": "schemaname name, viewname name, viewowner name, definition text",
    "pg_policies": (
        "schemaname name, tablename name, policyname name, permissive text, roles name[], "
        "cmd text, qual text, with_check text"),
    "pg_matviews": (
        "schemaname name, matviewname name, matviewowner name, tablespace name, "
        "hasindexes bool, ispopulated bool, definition text"),
    "pg_sequence": (
        "seqrelid oid, seqtypid oid, seqstart int8, seqincrement int8, seqmax int8, "
        "seqmin int8, seqcache int8, seqcycle bool"),
    "pg_collation": (
        "oid oid, collname name, collnamespace oid, collowner oid, collprovider char, "
        "collisdeterministic bool, collencoding int4, collcollate text, collctype text, "
        "colliculocale text, collversion text"),
    "pg_tablespace": "oid oid, spcname name, spcowner oid, spcacl aclitem[], spcoptions text[]",
    "pg_inherits": "inhrelid oid, inhparent oid, inhseqno int4, inhdetachpending bool",
    "pg_policy": (
        "oid oid, polname name, polrelid oid, polcmd char, polpermissive bool, "
        "polroles oid[], polqual pg_node_tree, polwithcheck pg_node_tree"),
    "pg_statistic_ext": (
        "oid oid, stxrelid oid, stxname name, stxnamespace oid, stxowner oid, "
        "stxstattarget int4, stxkeys int2vector, stxkind char[], stxexprs pg_node_tree"),
    "pg_publication": (
        "oid oid, pubname name, pubowner oid, puballtables bool, pubinsert bool, "
        "pubupdate bool, pubdelete bool, pubtruncate bool, pubviaroot bool"),
    "pg_publication_namespace": "oid oid, pnpubid oid, pnnspid oid",
    "pg_publication_rel": (
        "oid oid, prpubid oid, prrelid oid, prqual pg_node_tree, prattrs int2vector"),
    "pg_range": (
        "rngtypid oid, rngsubtype oid, rngmultitypid oid, rngcollation oid, "
        "rngsubopc oid, rngcanonical regproc, rngsubdiff regproc"),
    "pg_enum": "oid oid, enumtypid oid, enumsortorder float4, enumlabel name",
    "pg_extension": (
        "oid oid, extname name, extowner oid, extnamespace oid, extrelocatable bool, "
        "extversion text, extconfig oid[], extcondition text[]"),
    "pg_depend": (
        "classid oid, objid oid, objsubid int4, refclassid oid, refobjid oid, "
        "refobjsubid int4, deptype char"),
    "pg_trigger": (
        "oid oid, tgrelid oid, tgparentid oid, tgname name, tgfoid oid, tgtype int2, "
        "tgenabled char, tgisinternal bool, tgconstrrelid oid, tgconstrindid oid, "
        "tgconstraint oid, tgdeferrable bool, tginitdeferred bool, tgnargs int2, "
        "tgattr int2vector, tgargs bytea, tgqual pg_node_tree, tgoldtable name, "
        "tgnewtable name"),
    "pg_rewrite": (
        "oid oid, rulename name, ev_class oid, ev_type char, ev_enabled char, "
        "is_instead bool, ev_qual pg_node_tree, ev_action pg_node_tree"),
    "pg_event_trigger": (
        "oid oid, evtname name, evtevent name, evtowner oid, evtfoid oid, "
        "evtenabled char, evttags text[]"),
    "pg_conversion": (
        "oid oid, conname name, connamespace oid, conowner oid, conforencoding int4, "
        "contoencoding int4, conproc regproc, condefault bool"),
    "pg_foreign_table": "ftrelid oid, ftserver oid, ftoptions text[]",
    "pg_foreign_server": (
        "oid oid, srvname name, srvowner oid, srvfdw oid, srvtype text, srvversion text, "
        "srvacl aclitem[], srvoptions text[]"),
    "pg_foreign_data_wrapper": (
        "oid oid, fdwname name, fdwowner oid, fdwhandler oid, fdwvalidator oid, "
        "fdwacl aclitem[], fdwoptions text[]"),
    "pg_locks": (
        "locktype text, database oid, relation oid, page int4, tuple int2, "
        "virtualxid text, transactionid xid, classid oid, objid oid, objsubid int2, "
        "virtualtransaction text, pid int4, mode text, granted bool, fastpath bool, "
        "waitstart timestamptz"),
    "pg_opclass": (
        "oid oid, opcmethod oid, opcname name, opcnamespace oid, opcowner oid, "
        "opcfamily oid, opcintype oid, opcdefault bool, opckeytype oid"),
    "pg_language": (
        "oid oid, lanname name, lanowner oid, lanispl bool, lanpltrusted bool, "
        "lanplcallfoid oid, laninline oid, lanvalidator oid, lanacl aclitem[]"),
}


def columns_of(spec: str) -> list[tuple[str, str]]:
    out = []
    for item in spec.split(","):
        name, _, pgtype = item.strip().partition(" ")
        out.append((name, pgtype.strip()))
    return out


COLUMNS: dict[str, list[tuple[str, str]]] = {name: columns_of(s) for name, s in _SPECS.items()}


def _defaults(pgtype: str) -> Any:
    """What a column holds when a row builder does not say: PostgreSQL's usual zero."""
    if pgtype in ("oid", "xid", "int2", "int4", "int8"):
        return 0
    if pgtype == "bool":
        return False
    return None


def make_table(name: str, rows: list[dict[str, Any]],
               columns: list[tuple[str, str]] | None = None) -> pa.Table:
    """`rows` as relation `name`'s columns (or `columns`); a column a row omits takes its
    zero value."""
    columns = COLUMNS[name] if columns is None else columns
    arrays = {
        column: pa.array([row.get(column, _defaults(pgtype)) for row in rows], _ARROW[pgtype])
        for column, pgtype in columns
    }
    return pa.table(arrays)


RowBuilder = Callable[[CatalogSnapshot, "PgSession"], list[dict[str, Any]]]
_ROWS: dict[str, RowBuilder] = {}


def _rows(name: str) -> Callable[[RowBuilder], RowBuilder]:
    def register(fn: RowBuilder) -> RowBuilder:
        _ROWS[name] = fn
        return fn

    return register


register_rows = _rows  # for the modules that fill one relation each (pg_dependencies.py)


def _builder(name: str) -> Callable[[PgSession], pa.Table]:
    def build(session: PgSession) -> pa.Table:
        snap = snapshot(session)
        fn = _ROWS.get(name)
        if fn is None:
            return snap.table(name, lambda: make_table(name, []))
        if name in _PER_SESSION:
            return make_table(name, fn(snap, session))
        return snap.table(name, lambda: make_table(name, fn(snap, session)))

    return build


# Relations whose rows depend on the session, not only on the catalog.
_PER_SESSION = frozenset({"pg_settings", "pg_roles", "pg_authid", "pg_user", "pg_database",
                          "pg_tables", "pg_views", "pg_matviews", "pg_locks"})


@_rows("pg_namespace")
def _namespaces(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"oid": ns.oid, "nspname": ns.name, "nspowner": BOOTSTRAP_SUPERUSER_OID}
            for ns in snap.namespaces]


@_rows("pg_class")
def _classes(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    rows = []
    for rel in snap.relations:
        rows.append({
            "oid": rel.oid, "relname": rel.name, "relnamespace": rel.namespace_oid,
            "relowner": BOOTSTRAP_SUPERUSER_OID,
            "relam": 2 if rel.relkind in ("r", "m") else (403 if rel.relkind == "i" else 0),
            "relfilenode": rel.oid if rel.relkind in ("r", "m", "i", "S") else 0,
            # as a fresh PostgreSQL 15 reports them before any ANALYZE (pgjdbc's
            # getIndexInfo shows them as CARDINALITY and PAGES): a btree index has its
            # metapage and an estimate of 0 rows, a table -1 (never counted)
            "reltuples": 0.0 if rel.relkind == "i" else -1.0,
            "relpages": 1 if rel.relkind == "i" else 0,
            "relhasindex": bool(rel.indexes), "relpersistence": "p",
            "reltype": row_type_oid(rel),
            "relchecks": rel.checks, "relhastriggers": rel.has_triggers,
            "relkind": rel.relkind, "relnatts": len(rel.columns),
            "relispopulated": True, "relreplident": "d" if rel.relkind in "rm" else "n",
            "reltablespace": 0,
        })
    return rows


@_rows("pg_attribute")
def _attributes(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    from laminar_pg.wire import types

    rows = []
    for rel in snap.relations:
        for num, col in enumerate(rel.columns, start=1):
            pg = types.TYPES_BY_OID.get(col.type_oid)
            rows.append({
                "attrelid": rel.oid, "attname": col.name, "atttypid": col.type_oid,
                "attstattarget": -1, "attlen": pg.typlen if pg else -1, "attnum": num,
                "attndims": 1 if pg is not None and pg.element_oid else 0,
                "attcacheoff": -1, "atttypmod": col.typmod,
                "attbyval": pg.typbyval if pg else False,
                "attalign": "i", "attstorage": storage(col.type_oid),
                "attcompression": "", "attnotnull": col.not_null,
                "atthasdef": col.default is not None, "attidentity": "",
                "attgenerated": "", "attislocal": True,
                "attcollation": 100 if col.type_oid in (25, 1042, 1043, 19) else 0,
            })
        if rel.relkind in _HAS_SYSTEM_COLUMNS:
            rows += [{"attrelid": rel.oid, "attname": name, "atttypid": type_oid,
                      "attlen": length, "attnum": num, "attcacheoff": -1, "atttypmod": -1,
                      "attbyval": name != "ctid", "attalign": "s" if name == "ctid" else "i",
                      "attstorage": "p", "attcompression": "", "attnotnull": True,
                      "attidentity": "", "attgenerated": "", "attislocal": True}
                     for name, type_oid, length, num in _SYSTEM_COLUMNS]
    return rows


# The system columns PostgreSQL lists in pg_attribute (attnum < 0) for every relation with
# storage: (name, type, attlen, attnum). Tools that list columns without `attnum > 0`
# (DBeaver) see them as they would in PostgreSQL; laminar_pg does not answer them in
# queries (a table has no ctid here).
_SYSTEM_COLUMNS = [("ctid", 27, 6, -1), ("xmin", 28, 4, -2), ("cmin", 29, 4, -3),
                   ("xmax", 28, 4, -4), ("cmax", 29, 4, -5), ("tableoid", 26, 4, -6)]
_HAS_SYSTEM_COLUMNS = frozenset("rmSf")


@_rows("pg_type")
def _types(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return pg_type_rows() + _row_types(snap)


def _row_types(snap: CatalogSnapshot) -> list[dict[str, Any]]:
    """Every table's, view's, materialized view's and source's row type (typtype 'c') and
    its array type, as PostgreSQL creates them."""
    rows = []
    for rel in snap.relations:
        oid = row_type_oid(rel)
        if not oid:
            continue
        array = derived_oid(ROW_ARRAY_TYPE, rel.oid)
        common = {"typnamespace": rel.namespace_oid, "typowner": BOOTSTRAP_SUPERUSER_OID,
                  "typlen": -1, "typbyval": False, "typisdefined": True, "typdelim": ",",
                  "typmodin": "-", "typmodout": "-", "typanalyze": "-", "typalign": "d",
                  "typstorage": "x", "typtypmod": -1}
        rows.append({**common, "oid": oid, "typname": rel.name, "typtype": "c",
                     "typcategory": "C", "typrelid": rel.oid, "typsubscript": "-",
                     "typarray": array, "typinput": "record_in", "typoutput": "record_out",
                     "typreceive": "record_recv", "typsend": "record_send"})
        rows.append({**common, "oid": array, "typname": "_" + rel.name, "typtype": "b",
                     "typcategory": "A", "typsubscript": "array_subscript_handler",
                     "typelem": oid, "typinput": "array_in", "typoutput": "array_out",
                     "typreceive": "array_recv", "typsend": "array_send"})
    return rows


@_rows("pg_database")
def _databases(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"oid": DATABASE_OID, "datname": session.database or "laminar",
             "datdba": BOOTSTRAP_SUPERUSER_OID, "encoding": 6, "datlocprovider": "c",
             "datallowconn": True, "datconnlimit": -1, "dattablespace": 1663,
             "datcollate": "C", "datctype": "C"}]


def _role(session: PgSession) -> dict[str, Any]:
    return {"oid": BOOTSTRAP_SUPERUSER_OID, "rolname": session.user or "laminar",
            "rolsuper": True, "rolinherit": True, "rolcreaterole": True, "rolcreatedb": True,
            "rolcanlogin": True, "rolreplication": True, "rolbypassrls": True,
            "rolconnlimit": -1}


@_rows("pg_roles")
def _roles(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{**_role(session), "rolpassword": "********"}]


@_rows("pg_authid")
def _authid(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [_role(session)]


@_rows("pg_user")
def _users(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    role = _role(session)
    return [{"usename": role["rolname"], "usesysid": role["oid"], "usecreatedb": True,
             "usesuper": True, "userepl": True, "usebypassrls": True, "passwd": "********"}]


@_rows("pg_index")
def _indexes(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    rows = []
    for index in snap.indexes:
        rows.append({
            "indexrelid": index.oid, "indrelid": index.table_oid,
            "indnatts": len(index.columns), "indnkeyatts": len(index.columns),
            "indisunique": index.unique, "indisprimary": index.primary,
            "indimmediate": True, "indisvalid": True, "indisready": True, "indislive": True,
            "indkey": list(index.columns), "indcollation": [0] * len(index.columns),
            "indclass": [0] * len(index.columns), "indoption": [0] * len(index.columns),
        })
    return rows


@_rows("pg_constraint")
def _constraints(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    rows = []
    for con in snap.constraints:
        rows.append({
            "oid": con.oid, "conname": con.name, "connamespace": con.namespace_oid,
            "contype": con.contype, "convalidated": True, "conrelid": con.table_oid,
            "conindid": con.index_oid, "confupdtype": " ", "confdeltype": " ",
            "confmatchtype": " ", "conislocal": True, "connoinherit": True,
            "conkey": list(con.columns), "conbin": con.check,
            **({"confrelid": con.ref_table_oid, "confkey": list(con.ref_columns),
                "confupdtype": "a", "confdeltype": "a", "confmatchtype": "s"}
               if con.contype == "f" else {}),
        })
    return rows


@_rows("pg_description")
def _descriptions(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"objoid": oid, "classoid": classoid, "objsubid": subid, "description": text}
            for (oid, subid), (classoid, text) in sorted(snap.descriptions.items())]


@_rows("pg_attrdef")
def _attrdefs(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"oid": d.oid, "adrelid": d.table_oid, "adnum": d.attnum, "adbin": d.expression}
            for d in snap.defaults]


@_rows("pg_am")
def _access_methods(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"oid": 2, "amname": "heap", "amhandler": "heap_tableam_handler", "amtype": "t"},
            {"oid": 403, "amname": "btree", "amhandler": "bthandler", "amtype": "i"}]


@_rows("pg_collation")
def _collations(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    base = {"collnamespace": 11, "collowner": BOOTSTRAP_SUPERUSER_OID,
            "collisdeterministic": True}
    return [{**base, "oid": 100, "collname": "default", "collprovider": "d",
             "collencoding": -1},
            {**base, "oid": 950, "collname": "C", "collprovider": "c", "collencoding": -1,
             "collcollate": "C", "collctype": "C"},
            {**base, "oid": 951, "collname": "POSIX", "collprovider": "c",
             "collencoding": -1, "collcollate": "POSIX", "collctype": "POSIX"}]


@_rows("pg_tablespace")
def _tablespaces(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"oid": 1663, "spcname": "pg_default", "spcowner": BOOTSTRAP_SUPERUSER_OID},
            {"oid": 1664, "spcname": "pg_global", "spcowner": BOOTSTRAP_SUPERUSER_OID}]


@_rows("pg_language")
def _languages(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"oid": 12, "lanname": "internal", "lanowner": BOOTSTRAP_SUPERUSER_OID},
            {"oid": 14, "lanname": "sql", "lanowner": BOOTSTRAP_SUPERUSER_OID,
             "lanpltrusted": True}]


@_rows("pg_sequence")
def _sequences(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"seqrelid": rel.oid, "seqtypid": 20, "seqstart": 1, "seqincrement": 1,
             "seqmax": 2**63 - 1, "seqmin": 1, "seqcache": 1}
            for rel in snap.relations if rel.relkind == "S"]


@_rows("pg_settings")
def _settings(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    rows = []
    for key, setting in sorted(settings_module.SETTINGS.items()):
        value = session.settings.values.get(key, setting.default)
        rows.append({
            "name": setting.name, "setting": value, "category": "Ungrouped",
            "short_desc": setting.description or None,
            "context": "internal" if setting.read_only else "user",
            "vartype": "enum" if setting.choices else "string",
            "source": "default" if value == setting.default else "session",
            "enumvals": list(setting.choices) if setting.choices else None,
            "boot_val": setting.default,
            "reset_val": session.settings.reset_values.get(key, setting.default),
        })
    return rows


def _owner(session: PgSession) -> str:
    return session.user or "laminar"


@_rows("pg_tables")
def _pg_tables(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"schemaname": rel.schema, "tablename": rel.name, "tableowner": _owner(session),
             "hasindexes": bool(rel.indexes)}
            for rel in snap.relations if rel.relkind == "r"]


@_rows("pg_views")
def _pg_views(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"schemaname": rel.schema, "viewname": rel.name, "viewowner": _owner(session),
             "definition": rel.definition}
            for rel in snap.relations if rel.relkind == "v"]


@_rows("pg_matviews")
def _pg_matviews(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"schemaname": rel.schema, "matviewname": rel.name,
             "matviewowner": _owner(session), "ispopulated": True,
             "definition": rel.definition}
            for rel in snap.relations if rel.relkind == "m"]


@_rows("pg_foreign_table")
def _foreign_tables(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"ftrelid": rel.oid, "ftserver": snap.server_oid(rel.connector),
             "ftoptions": [f"{k}={v}" for k, v in rel.options]}
            for rel in snap.relations if rel.relkind == "f"]


@_rows("pg_foreign_server")
def _foreign_servers(snap: CatalogSnapshot, session: PgSession) -> list[dict[str, Any]]:
    return [{"oid": oid, "srvname": name, "srvowner": BOOTSTRAP_SUPERUSER_OID}
            for name, oid in sorted(snap.servers.items())]


for _name in _SPECS:
    relation(f"pg_catalog.{_name}")(_builder(_name))


@relation("pg_catalog.pg_cursors")
def pg_cursors(session: PgSession) -> pa.Table:
    cursors = list(session.cursors.values())
    return pa.table(
        {
            "name": pa.array([c.name for c in cursors], pa.string()),
            "statement": pa.array([c.statement for c in cursors], pa.string()),
            "is_holdable": pa.array([c.hold for c in cursors], pa.bool_()),
            "is_binary": pa.array([c.binary for c in cursors], pa.bool_()),
            "is_scrollable": pa.array([False] * len(cursors), pa.bool_()),
            "creation_time": pa.array([c.created for c in cursors], pa.timestamp("us", tz="UTC")),
        }
    )


# information_schema, pg_depend, pg_proc and the pg_stat views are built from the same
# snapshot in modules of their own; importing them registers their relations.
from laminar_pg.session import (  # noqa: E402, F401
    pg_dependencies,
    pg_information_schema,
    pg_procs,
    pg_stat,
)

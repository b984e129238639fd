"""What BI tools and drivers that cannot run here send, run against laminar_pg and PostgreSQL 15.

Metabase (its postgres driver), Grafana (its PostgreSQL data source), Superset (its
PostgreSQL engine spec), DBeaver (its PostgreSQL plugin) and Npgsql (Power BI's driver, its
type loader) need a JVM GUI, a Go server or .NET, none of which runs on this machine. Their
catalog queries were read in their public sources and are written out below as each tool
sends them (the tool's text; `$n` / `%s` where the tool binds a value, which is bound here
too). Every query runs on both servers, which hold the same objects in a schema of their
own, and must give the same result shape: column names, column types, and the rows that
describe this test's objects (the columns that name them: OIDs differ between servers).

Column types are compared after one mapping, the engine's representation of catalog types
(docs/catalog.md): `name`, `"char"`, `regproc`, `pg_node_tree` and
`anyarray` (pg_attribute.attmissingval) are `text` here, `int2vector` / `oidvector` are
`int2[]` / `oid[]`, `name[]`, `"char"[]` and `aclitem[]` are `text[]`, `xid` is `int8`, and
information_schema's varchar domains (character_data, yes_or_no) are `text`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from laminar_pg.testing.postgres import PostgresServer
from laminar_pg.testing.server import LaminarServer

# PostgreSQL type OID -> the OID it is compared as (see the module docstring).
_SAME_TYPE = {19: 25, 18: 25, 24: 25, 194: 25, 2277: 25, 22: 1005, 30: 1028, 1003: 1009,
              1034: 1009, 1002: 1009, 28: 20, 1043: 25}


@dataclass(frozen=True)
class Objects:
    schema: str
    parent: str
    child: str
    view: str

    def ddl(self) -> list[str]:
        s = self.schema
        return [
            f"CREATE SCHEMA {s}",
            f"CREATE TABLE {s}.{self.parent} (id int PRIMARY KEY, name varchar(20) NOT NULL "
            "UNIQUE, score numeric(10,2), seen timestamptz DEFAULT now(), tags text[])",
            f"CREATE INDEX {self.parent}_score ON {s}.{self.parent} (score)",
            f"CREATE TABLE {s}.{self.child} (id serial PRIMARY KEY, parent_id int REFERENCES "
            f"{s}.{self.parent}(id), note text NOT NULL, amount double precision)",
            f"CREATE MATERIALIZED VIEW {s}.{self.view} AS SELECT parent_id, count(*) AS n "
            f"FROM {s}.{self.child} GROUP BY parent_id",
            # tools show comments (Metabase's field-comment, DBeaver's description ...)
            f"COMMENT ON TABLE {s}.{self.parent} IS 'one row per parent'",
            f"COMMENT ON COLUMN {s}.{self.parent}.name IS 'what it is called'",
        ]


@dataclass
class Answer:
    columns: list[tuple[str, int]]
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> list[Any]:
        index = [c for c, _ in self.columns].index(name)
        return [row[index] for row in self.rows]


@dataclass(frozen=True)
class ToolQuery:
    """One query a tool sends. `params` builds the bound values from the server's own
    objects (an OID differs between servers); `rows` picks what must be equal on both:
    by default the rows restricted to `key` columns (every column when `key` is empty)."""

    tool: str
    name: str
    sql: str
    params: Callable[[Objects, psycopg.Connection[Any]], tuple[Any, ...]] = lambda o, c: ()
    key: tuple[str, ...] = ()
    where: Callable[[dict[str, Any], Objects], bool] = lambda row, o: True
    setup: tuple[str, ...] = ()
    same_row_count: bool = True
    id: str = field(default="")


def _oid(conn: psycopg.Connection[Any], sql: str) -> int:
    row = conn.execute(sql).fetchone()
    assert row is not None, sql
    return int(row[0])


def schema_oid(o: Objects, conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return (_oid(conn, f"SELECT oid FROM pg_namespace WHERE nspname = '{o.schema}'"),)


def parent_oid(o: Objects, conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return (_oid(conn, f"SELECT '{o.schema}.{o.parent}'::regclass::oid"),)


def child_oid(o: Objects, conn: psycopg.Connection[Any]) -> tuple[Any, ...]:
    return (_oid(conn, f"SELECT '{o.schema}.{o.child}'::regclass::oid"),)


def in_schema(column: str) -> Callable[[dict[str, Any], Objects], bool]:
    return lambda row, o: row[column] == o.schema


# ------------------------------------------------------------------------------ Metabase
# metabase/src/metabase/driver/postgres.clj (get-tables-sql, describe-fields-sql,
# describe-fks-sql, describe-indexes-sql, enum-types, current-user-table-privileges,
# db-default-timezone), as honeysql renders them for the :ansi dialect; pgjdbc's
# DatabaseMetaData calls are in tests/clients/test_java_metadata.py.

METABASE = [
    ToolQuery("metabase", "default timezone", "show timezone;", key=("TimeZone",),
              where=lambda row, o: False),
    ToolQuery("metabase", "tables", (
        "SELECT \"n\".\"nspname\" AS \"schema\", \"c\".\"relname\" AS \"name\", CASE "
        "\"c\".\"relkind\" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' "
        "THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL "
        "END AS \"type\", \"d\".\"description\" AS \"description\", \"stat\".\"n_live_tup\" AS "
        "\"estimated_row_count\" FROM \"pg_catalog\".\"pg_class\" AS \"c\" INNER JOIN "
        "\"pg_catalog\".\"pg_namespace\" AS \"n\" ON \"c\".\"relnamespace\" = \"n\".\"oid\" "
        "LEFT JOIN \"pg_catalog\".\"pg_description\" AS \"d\" ON (\"c\".\"oid\" = "
        "\"d\".\"objoid\") AND (\"d\".\"objsubid\" = 0) AND (\"d\".\"classoid\" = "
        "'pg_class'::regclass) LEFT JOIN \"pg_stat_user_tables\" AS \"stat\" ON "
        "(\"n\".\"nspname\" = \"stat\".\"schemaname\") AND (\"c\".\"relname\" = "
        "\"stat\".\"relname\") WHERE (\"c\".\"relnamespace\" = \"n\".\"oid\") AND "
        "(\"n\".\"nspname\" !~ '^pg_') AND (\"n\".\"nspname\" <> 'information_schema') AND "
        "c.relkind in ('r', 'p', 'v', 'f', 'm') AND (\"n\".\"nspname\" IN (%s)) ORDER BY "
        "\"type\" ASC, \"schema\" ASC, \"name\" ASC"),
        params=lambda o, c: (o.schema,), key=("schema", "name", "type", "description")),
    ToolQuery("metabase", "fields", (
        "SELECT \"c\".\"column_name\" AS \"name\", CASE WHEN \"c\".\"udt_schema\" IN "
        "('public', 'pg_catalog') THEN FORMAT('%%s', \"c\".\"udt_name\") ELSE "
        "FORMAT('\"%%s\".\"%%s\"', \"c\".\"udt_schema\", \"c\".\"udt_name\") END AS "
        "\"database-type\", \"c\".\"ordinal_position\" - 1 AS \"database-position\", "
        "\"c\".\"table_schema\" AS \"table-schema\", \"c\".\"table_name\" AS \"table-name\", "
        "\"pk\".\"column_name\" IS NOT NULL AS \"pk?\", COL_DESCRIPTION(CAST(CAST(FORMAT("
        "'%%I.%%I', CAST(\"c\".\"table_schema\" AS TEXT), CAST(\"c\".\"table_name\" AS TEXT)) "
        "AS REGCLASS) AS OID), \"c\".\"ordinal_position\") AS \"field-comment\", "
        "((\"column_default\" IS NULL) OR (LOWER(\"column_default\") = 'null')) AND "
        "(\"is_nullable\" = 'NO') AND NOT (((\"column_default\" IS NOT NULL) AND "
        "(\"column_default\" LIKE '%%nextval(%%')) OR (\"is_identity\" <> 'NO')) AS "
        "\"database-required\", ((\"column_default\" IS NOT NULL) AND (\"column_default\" LIKE "
        "'%%nextval(%%')) OR (\"is_identity\" <> 'NO') AS \"database-is-auto-increment\" FROM "
        "\"information_schema\".\"columns\" AS \"c\" LEFT JOIN (SELECT \"tc\".\"table_schema\", "
        "\"tc\".\"table_name\", \"kc\".\"column_name\" FROM "
        "\"information_schema\".\"table_constraints\" AS \"tc\" INNER JOIN "
        "\"information_schema\".\"key_column_usage\" AS \"kc\" ON (\"tc\".\"constraint_name\" "
        "= \"kc\".\"constraint_name\") AND (\"tc\".\"table_schema\" = \"kc\".\"table_schema\") "
        "AND (\"tc\".\"table_name\" = \"kc\".\"table_name\") WHERE \"tc\".\"constraint_type\" "
        "= 'PRIMARY KEY') AS \"pk\" ON (\"c\".\"table_schema\" = \"pk\".\"table_schema\") AND "
        "(\"c\".\"table_name\" = \"pk\".\"table_name\") AND (\"c\".\"column_name\" = "
        "\"pk\".\"column_name\") WHERE c.table_schema !~ '^information_schema|catalog_history|"
        "pg_' AND (\"c\".\"table_schema\" IN (%s)) UNION ALL SELECT \"pa\".\"attname\" AS "
        "\"name\", CASE WHEN \"ptn\".\"nspname\" IN ('public', 'pg_catalog') THEN "
        "FORMAT('%%s', \"pt\".\"typname\") ELSE FORMAT('\"%%s\".\"%%s\"', \"ptn\".\"nspname\", "
        "\"pt\".\"typname\") END AS \"database-type\", \"pa\".\"attnum\" - 1 AS "
        "\"database-position\", \"pn\".\"nspname\" AS \"table-schema\", \"pc\".\"relname\" AS "
        "\"table-name\", FALSE AS \"pk?\", NULL AS \"field-comment\", FALSE AS "
        "\"database-required\", FALSE AS \"database-is-auto-increment\" FROM "
        "\"pg_catalog\".\"pg_class\" AS \"pc\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS "
        "\"pn\" ON \"pn\".\"oid\" = \"pc\".\"relnamespace\" INNER JOIN "
        "\"pg_catalog\".\"pg_attribute\" AS \"pa\" ON \"pa\".\"attrelid\" = \"pc\".\"oid\" "
        "INNER JOIN \"pg_catalog\".\"pg_type\" AS \"pt\" ON \"pt\".\"oid\" = "
        "\"pa\".\"atttypid\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS \"ptn\" ON "
        "\"ptn\".\"oid\" = \"pt\".\"typnamespace\" WHERE (\"pc\".\"relkind\" = 'm') AND "
        "(\"pa\".\"attnum\" >= 1) AND (\"pn\".\"nspname\" IN (%s)) ORDER BY \"table-schema\" "
        "ASC, \"table-name\" ASC, \"database-position\" ASC"),
        params=lambda o, c: (o.schema, o.schema)),
    ToolQuery("metabase", "foreign keys", (
        "SELECT \"fk_ns\".\"nspname\" AS \"fk-table-schema\", \"fk_table\".\"relname\" AS "
        "\"fk-table-name\", \"fk_column\".\"attname\" AS \"fk-column-name\", "
        "\"pk_ns\".\"nspname\" AS \"pk-table-schema\", \"pk_table\".\"relname\" AS "
        "\"pk-table-name\", \"pk_column\".\"attname\" AS \"pk-column-name\" FROM "
        "\"pg_constraint\" AS \"c\" INNER JOIN \"pg_class\" AS \"fk_table\" ON "
        "\"c\".\"conrelid\" = \"fk_table\".\"oid\" INNER JOIN \"pg_namespace\" AS \"fk_ns\" ON "
        "\"c\".\"connamespace\" = \"fk_ns\".\"oid\" INNER JOIN \"pg_attribute\" AS "
        "\"fk_column\" ON \"c\".\"conrelid\" = \"fk_column\".\"attrelid\" INNER JOIN "
        "\"pg_class\" AS \"pk_table\" ON \"c\".\"confrelid\" = \"pk_table\".\"oid\" INNER JOIN "
        "\"pg_namespace\" AS \"pk_ns\" ON \"pk_table\".\"relnamespace\" = \"pk_ns\".\"oid\" "
        "INNER JOIN \"pg_attribute\" AS \"pk_column\" ON \"c\".\"confrelid\" = "
        "\"pk_column\".\"attrelid\" WHERE (fk_ns.nspname !~ '^information_schema|"
        "catalog_history|pg_') AND (\"c\".\"contype\" = 'f'::char) AND "
        "(\"fk_column\".\"attnum\" = ANY(c.conkey)) AND (\"pk_column\".\"attnum\" = "
        "ANY(c.confkey)) AND (\"fk_ns\".\"nspname\" IN (%s)) ORDER BY \"fk-table-schema\" ASC, "
        "\"fk-table-name\" ASC"),
        params=lambda o, c: (o.schema,)),
    ToolQuery("metabase", "indexes", (
        "SELECT \"tmp\".\"table-schema\", \"tmp\".\"table-name\", TRIM(BOTH '\"' FROM "
        "PG_CATALOG.PG_GET_INDEXDEF(\"tmp\".\"ci_oid\", \"tmp\".\"pos\", FALSE)) AS "
        "\"field-name\" FROM (SELECT \"n\".\"nspname\" AS \"table-schema\", \"ct\".\"relname\" "
        "AS \"table-name\", \"ci\".\"oid\" AS \"ci_oid\", "
        "(INFORMATION_SCHEMA._PG_EXPANDARRAY(\"i\".\"indkey\")).\"n\" AS \"pos\" FROM "
        "\"pg_catalog\".\"pg_class\" AS \"ct\" INNER JOIN \"pg_catalog\".\"pg_namespace\" AS "
        "\"n\" ON \"ct\".\"relnamespace\" = \"n\".\"oid\" INNER JOIN \"pg_catalog\".\"pg_index\" "
        "AS \"i\" ON \"ct\".\"oid\" = \"i\".\"indrelid\" INNER JOIN \"pg_catalog\".\"pg_class\" "
        "AS \"ci\" ON \"ci\".\"oid\" = \"i\".\"indexrelid\" WHERE "
        "(PG_CATALOG.PG_GET_EXPR(\"i\".\"indpred\", \"i\".\"indrelid\") IS NULL) AND n.nspname "
        "!~ '^information_schema|catalog_history|pg_' AND (\"n\".\"nspname\" IN (%s))) AS "
        "\"tmp\" WHERE \"tmp\".\"pos\" = 1"),
        params=lambda o, c: (o.schema,)),
    ToolQuery("metabase", "enum types", (
        "SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)")),
    ToolQuery("metabase", "table privileges", "\n".join([
        "with table_privileges as (",
        " select",
        "   NULL as role,",
        "   t.schemaname as schema,",
        "   t.objectname as table,",
        "   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, "
        "'\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',"
        "  'update') as update,",
        "   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, "
        "'\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',"
        "  'select') as select,",
        "   pg_catalog.has_any_column_privilege(current_user, '\"' || replace(t.schemaname, "
        "'\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',"
        "  'insert') as insert,",
        "   pg_catalog.has_table_privilege(     current_user, '\"' || replace(t.schemaname, "
        "'\"', '\"\"') || '\"' || '.' || '\"' || replace(t.objectname, '\"', '\"\"') || '\"',"
        "  'delete') as delete",
        " from (",
        "   select schemaname, tablename as objectname from pg_catalog.pg_tables",
        "   union",
        "   select schemaname, viewname as objectname from pg_catalog.pg_views",
        "   union",
        "   select schemaname, matviewname as objectname from pg_catalog.pg_matviews",
        " ) t",
        " where t.schemaname !~ '^pg_'",
        "   and t.schemaname <> 'information_schema'",
        "   and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')",
        ")",
        "select t.*",
        "from table_privileges t"]),
        where=in_schema("schema"), same_row_count=False),
]

# ------------------------------------------------------------------------------- Grafana
# grafana/public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts:
# getVersion, getTimescaleDBVersion, showTables, getSchema (the query editor's table and
# column pickers), with the search path pointing at the test's schema.

_GRAFANA_SCHEMA_CONSTRAINT = """
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )"""


def _grafana_schema(table: str) -> str:
    part = "'" + table.replace("'", "''") + "'"
    return f"""SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident({part}),1) = 2
        THEN quote_ident(table_schema) = (parse_ident({part}))[1]
          AND quote_ident(table_name) = (parse_ident({part}))[2]
        ELSE quote_ident(table_name) = {part}
          AND {_GRAFANA_SCHEMA_CONSTRAINT}
      END"""


GRAFANA = [
    ToolQuery("grafana", "version",
              "SELECT current_setting('server_version_num')::int/100 as version"),
    ToolQuery("grafana", "timescaledb",
              "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"),
    ToolQuery("grafana", "tables", f"""SELECT
    CASE WHEN {_GRAFANA_SCHEMA_CONSTRAINT}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN {_GRAFANA_SCHEMA_CONSTRAINT} THEN 0 ELSE 1 END, 1""",
              setup=("SET search_path TO {schema}",),
              where=lambda row, o: "." not in row["table"], same_row_count=False),
    ToolQuery("grafana", "columns", "", setup=("SET search_path TO {schema}",)),
]

# ------------------------------------------------------------------------------ Superset
# superset/db_engine_specs/postgres.py: get_catalog_names, get_prequeries (the search
# path), get_cancel_query_id; schema and table lists go through SQLAlchemy's inspector
# (tests/e2e/test_pg_catalog.py).

SUPERSET = [
    ToolQuery("superset", "catalogs", "\nSELECT datname FROM pg_database\nWHERE "
              "datistemplate = false;\n            ", where=lambda row, o: False,
              same_row_count=False),  # other tests create databases on the PostgreSQL
    ToolQuery("superset", "search path", "SHOW search_path",
              setup=('set search_path = "{schema}"',)),
    ToolQuery("superset", "cancel id", "SELECT pg_backend_pid()", where=lambda row, o: False),
]

# ------------------------------------------------------------------------------- DBeaver
# dbeaver/plugins/org.jkiss.dbeaver.ext.postgresql: PostgreDataSource (connect),
# PostgreSchema's TableCache / constraint and index caches, PostgreTableColumn,
# PostgreDatabase (roles, tablespaces, encodings), dependencies.

DBEAVER = [
    ToolQuery("dbeaver", "current schema", "SELECT current_schema(),session_user",
              where=lambda row, o: False),
    # DBeaver sends the SQL:2016 keyword list (~700 words) to learn PostgreSQL's own
    # keywords; the list is shortened here
    ToolQuery("dbeaver", "keywords", "select string_agg(word, ',') from "
              "pg_catalog.pg_get_keywords() where word <> ALL ('{a,abs,absolute,action,ada,"
              "add,admin,after,all,allocate,alter,always,and,any,are,array,as,asc,select,"
              "from,where,zone}'::text[])"),
    ToolQuery("dbeaver", "recovery", "select pg_catalog.pg_is_in_recovery()"),
    ToolQuery("dbeaver", "policies", "select * from pg_catalog.pg_policies where "
              "schemaname=%s and tablename=%s", params=lambda o, c: (o.schema, o.parent)),
    ToolQuery("dbeaver", "database", "SELECT db.oid,db.* FROM pg_catalog.pg_database db "
              "WHERE datname=current_database()", where=lambda row, o: False),
    ToolQuery("dbeaver", "schemas", "SELECT n.oid,n.*,d.description FROM "
              "pg_catalog.pg_namespace n\nLEFT OUTER JOIN pg_catalog.pg_description d ON "
              "d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass\n "
              "ORDER BY nspname", key=("nspname", "description"), where=in_schema("nspname"),
              same_row_count=False),
    ToolQuery("dbeaver", "tables", "SELECT c.oid,c.*,d.description,"
              "pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  "
              "pg_catalog.pg_get_partkeydef(c.oid) as partition_key \nFROM "
              "pg_catalog.pg_class c\nLEFT OUTER JOIN pg_catalog.pg_description d ON "
              "d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass\n"
              "WHERE c.relnamespace=%s AND c.relkind not in ('i','I','c')",
              # relnatts aside: a sequence has no columns here (PostgreSQL's have 3)
              params=schema_oid, key=("relname", "relkind", "relhasindex", "relchecks",
                                      "relpersistence", "description")),
    ToolQuery("dbeaver", "columns", "SELECT c.relname,a.*,"
              "pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,"
              "dsc.description,dep.objid\nFROM pg_catalog.pg_attribute a\nINNER JOIN "
              "pg_catalog.pg_class c ON (a.attrelid=c.oid)\nLEFT OUTER JOIN "
              "pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)\n"
              "LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND "
              "a.attnum = dsc.objsubid)\nLEFT OUTER JOIN pg_depend dep on dep.refobjid = "
              "a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and "
              "dep.classid = dep.refclassid\nWHERE NOT a.attisdropped AND c.relkind not in "
              "('i','I','c') AND c.oid=%s\nORDER BY a.attnum",
              params=child_oid, key=("relname", "attname", "attnum", "atttypmod",
                                     "attnotnull", "atthasdef", "def_value", "attlen",
                                     "attndims", "attidentity", "attgenerated")),
    ToolQuery("dbeaver", "constraints", "SELECT c.oid,c.*,t.relname as tabrelname,"
              "rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "
              "\"substring\"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy\n"
              "FROM pg_catalog.pg_constraint c\nINNER JOIN pg_catalog.pg_class t ON "
              "t.oid=c.conrelid\nLEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid\n"
              "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND "
              "d.objsubid=0 AND d.classoid='pg_constraint'::regclass\nWHERE c.conrelid=%s\n"
              "ORDER BY c.oid", params=child_oid,
              key=("conname", "contype", "conkey", "confkey", "tabrelname", "consrc_copy",
                   "confupdtype", "confdeltype", "confmatchtype", "condeferrable")),
    ToolQuery("dbeaver", "indexes", "SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,"
              "c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,"
              "pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,"
              "pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,"
              "pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,"
              "pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans\nFROM "
              "pg_catalog.pg_index i\nINNER JOIN pg_catalog.pg_class c ON "
              "c.oid=i.indexrelid\nINNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid\n"
              "LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid\n"
              "WHERE i.indrelid=%s ORDER BY c.relname", params=parent_oid,
              key=("relname", "indisunique", "indisprimary", "indnatts", "keys",
                   "tabrelname", "pred_expr", "expr")),
    ToolQuery("dbeaver", "inheritance", "SELECT i.*,c.relnamespace FROM "
              "pg_catalog.pg_inherits i,pg_catalog.pg_class c WHERE i.inhrelid=%s AND "
              "c.oid=i.inhparent ORDER BY i.inhseqno", params=child_oid),
    ToolQuery("dbeaver", "triggers", "SELECT x.oid,x.*,p.pronamespace as func_schema_id,"
              "d.description\nFROM pg_catalog.pg_trigger x\nLEFT OUTER JOIN "
              "pg_catalog.pg_proc p ON p.oid=x.tgfoid\nLEFT OUTER JOIN "
              "pg_catalog.pg_description d ON d.objoid=x.oid AND d.objsubid=0\nWHERE "
              "x.tgrelid=%s AND NOT x.tgisinternal", params=child_oid),
    ToolQuery("dbeaver", "rules", "SELECT r.oid,r.*, pg_get_ruledef(r.oid) AS definition\n"
              "FROM pg_rewrite r\nWHERE r.ev_class=%s AND r.rulename <> '_RETURN'::name",
              params=child_oid),
    ToolQuery("dbeaver", "table sizes", "select c.oid,pg_catalog.pg_total_relation_size(c.oid)"
              " as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size\nFROM "
              "pg_class c\nWHERE c.relnamespace=%s", params=schema_oid, key=("oid",),
              where=lambda row, o: False),
    ToolQuery("dbeaver", "tablespaces", "SELECT t.oid,t.*,pg_tablespace_location(t.oid) loc\n"
              "FROM pg_catalog.pg_tablespace t\nORDER BY t.oid"),
    ToolQuery("dbeaver", "roles", "SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a "
              "\nleft join pg_catalog.pg_shdescription pd on a.oid = pd.objoid\nORDER BY "
              "a.rolname", where=lambda row, o: False, same_row_count=False),
    ToolQuery("dbeaver", "encodings", "SELECT c.contoencoding as encid,"
              "pg_catalog.pg_encoding_to_char(c.contoencoding) as encname\nFROM "
              "pg_catalog.pg_conversion c\nGROUP BY c.contoencoding\nORDER BY 2\n",
              where=lambda row, o: False, same_row_count=False),
    ToolQuery("dbeaver", "dependencies", """SELECT DISTINCT dep.deptype, dep.classid, dep.objid, cl.relkind, attr.attname,pg_get_expr(ad.adbin, ad.adrelid) adefval,
    CASE WHEN cl.relkind IS NOT NULL THEN cl.relkind::text || COALESCE(dep.objsubid::text, '')::text
        WHEN tg.oid IS NOT NULL THEN 'T'::text
        WHEN ty.oid IS NOT NULL THEN 'y'::text
        WHEN ns.oid IS NOT NULL THEN 'n'::text
        WHEN pr.oid IS NOT NULL THEN 'p'::text
        WHEN la.oid IS NOT NULL THEN 'l'::text
        WHEN rw.oid IS NOT NULL THEN 'R'::text
        WHEN co.oid IS NOT NULL THEN 'C'::text || contype::text
        WHEN ad.oid IS NOT NULL THEN 'A'::text
        ELSE ''
    END AS type,
    COALESCE(coc.relname, clrw.relname, tgr.relname) AS ownertable,
    CASE WHEN cl.relname IS NOT NULL AND att.attname IS NOT NULL THEN cl.relname || '.' || att.attname
    ELSE COALESCE(cl.relname, co.conname, pr.proname, tg.tgname, ty.typname, la.lanname, rw.rulename, ns.nspname)
    END AS refname,
    COALESCE(nsc.nspname, nso.nspname, nsp.nspname, nst.nspname, nsrw.nspname, tgrn.nspname) AS nspname
FROM pg_depend dep
LEFT JOIN pg_class cl ON dep.objid=cl.oid
LEFT JOIN pg_attribute att ON dep.objid=att.attrelid AND dep.objsubid=att.attnum
LEFT JOIN pg_namespace nsc ON cl.relnamespace=nsc.oid
LEFT JOIN pg_proc pr ON dep.objid=pr.oid
LEFT JOIN pg_namespace nsp ON pr.pronamespace=nsp.oid
LEFT JOIN pg_trigger tg ON dep.objid=tg.oid
LEFT JOIN pg_class tgr ON tg.tgrelid=tgr.oid
LEFT JOIN pg_namespace tgrn ON tgr.relnamespace=tgrn.oid
LEFT JOIN pg_type ty ON dep.objid=ty.oid
LEFT JOIN pg_namespace nst ON ty.typnamespace=nst.oid
LEFT JOIN pg_constraint co ON dep.objid=co.oid
LEFT JOIN pg_class coc ON co.conrelid=coc.oid
LEFT JOIN pg_namespace nso ON co.connamespace=nso.oid
LEFT JOIN pg_rewrite rw ON dep.objid=rw.oid
LEFT JOIN pg_class clrw ON clrw.oid=rw.ev_class
LEFT JOIN pg_namespace nsrw ON clrw.relnamespace=nsrw.oid
LEFT JOIN pg_language la ON dep.objid=la.oid
LEFT JOIN pg_namespace ns ON dep.objid=ns.oid
LEFT JOIN pg_attrdef ad ON ad.oid=dep.objid
LEFT JOIN pg_attribute attr ON attr.attrelid=ad.adrelid and attr.attnum=ad.adnum
WHERE dep.refobjid=%s
ORDER BY type""", params=parent_oid, key=("deptype", "type", "refname", "nspname"),
              # PostgreSQL's TOAST table ('t0') of the table: laminar_pg has none
              where=lambda row, o: row["type"] != "t0", same_row_count=False),
    ToolQuery("dbeaver", "dependencies of a table a view reads", """SELECT DISTINCT dep.deptype, dep.classid, dep.objid, cl.relkind, attr.attname,pg_get_expr(ad.adbin, ad.adrelid) adefval,
    CASE WHEN cl.relkind IS NOT NULL THEN cl.relkind::text || COALESCE(dep.objsubid::text, '')::text
        WHEN tg.oid IS NOT NULL THEN 'T'::text
        WHEN ty.oid IS NOT NULL THEN 'y'::text
        WHEN ns.oid IS NOT NULL THEN 'n'::text
        WHEN pr.oid IS NOT NULL THEN 'p'::text
        WHEN la.oid IS NOT NULL THEN 'l'::text
        WHEN rw.oid IS NOT NULL THEN 'R'::text
        WHEN co.oid IS NOT NULL THEN 'C'::text || contype::text
        WHEN ad.oid IS NOT NULL THEN 'A'::text
        ELSE ''
    END AS type,
    COALESCE(coc.relname, clrw.relname, tgr.relname) AS ownertable,
    CASE WHEN cl.relname IS NOT NULL AND att.attname IS NOT NULL THEN cl.relname || '.' || att.attname
    ELSE COALESCE(cl.relname, co.conname, pr.proname, tg.tgname, ty.typname, la.lanname, rw.rulename, ns.nspname)
    END AS refname,
    COALESCE(nsc.nspname, nso.nspname, nsp.nspname, nst.nspname, nsrw.nspname, tgrn.nspname) AS nspname
FROM pg_depend dep
LEFT JOIN pg_class cl ON dep.objid=cl.oid
LEFT JOIN pg_attribute att ON dep.objid=att.attrelid AND dep.objsubid=att.attnum
LEFT JOIN pg_namespace nsc ON cl.relnamespace=nsc.oid
LEFT JOIN pg_proc pr ON dep.objid=pr.oid
LEFT JOIN pg_namespace nsp ON pr.pronamespace=nsp.oid
LEFT JOIN pg_trigger tg ON dep.objid=tg.oid
LEFT JOIN pg_class tgr ON tg.tgrelid=tgr.oid
LEFT JOIN pg_namespace tgrn ON tgr.relnamespace=tgrn.oid
LEFT JOIN pg_type ty ON dep.objid=ty.oid
LEFT JOIN pg_namespace nst ON ty.typnamespace=nst.oid
LEFT JOIN pg_constraint co ON dep.objid=co.oid
LEFT JOIN pg_class coc ON co.conrelid=coc.oid
LEFT JOIN pg_namespace nso ON co.connamespace=nso.oid
LEFT JOIN pg_rewrite rw ON dep.objid=rw.oid
LEFT JOIN pg_class clrw ON clrw.oid=rw.ev_class
LEFT JOIN pg_namespace nsrw ON clrw.relnamespace=nsrw.oid
LEFT JOIN pg_language la ON dep.objid=la.oid
LEFT JOIN pg_namespace ns ON dep.objid=ns.oid
LEFT JOIN pg_attrdef ad ON ad.oid=dep.objid
LEFT JOIN pg_attribute attr ON attr.attrelid=ad.adrelid and attr.attnum=ad.adnum
WHERE dep.refobjid=%s
ORDER BY type""", params=child_oid, key=("deptype", "type", "refname", "nspname"),
              # PostgreSQL's TOAST table ('t0') of the table: laminar_pg has none
              where=lambda row, o: row["type"] != "t0", same_row_count=False),
]

# -------------------------------------------------------------------------------- Npgsql
# Npgsql/src/Npgsql/PostgresDatabaseInfo.cs: on the first connection to a database,
# `SELECT version()` and the type loader (GenerateLoadTypesQuery, then the composite
# fields and enum labels queries).

NPGSQL_TYPES = """SELECT ns.nspname, t.oid, t.typname, t.typtype, t.typnotnull, t.elemtypoid
FROM (
    -- Arrays have typtype=b - this subquery identifies them by their typreceive and converts their typtype to a
    -- We first do this for the type (innerest-most subquery), and then for its element type
    -- This also returns the array element, range subtype and domain base type as elemtypoid
    SELECT
        typ.oid, typ.typnamespace, typ.typname, typ.typtype, typ.typrelid, typ.typnotnull, typ.relkind,
        elemtyp.oid AS elemtypoid, elemtyp.typname AS elemtypname, elemcls.relkind AS elemrelkind,
        CASE WHEN elemproc.proname='array_recv' THEN 'a' ELSE elemtyp.typtype END AS elemtyptype
        , typ.typcategory
    FROM (
        SELECT typ.oid, typnamespace, typname, typrelid, typnotnull, relkind, typelem AS elemoid,
            CASE WHEN proc.proname='array_recv' THEN 'a' ELSE typ.typtype END AS typtype,
            CASE
                WHEN proc.proname='array_recv' THEN typ.typelem
                WHEN typ.typtype='r' THEN rngsubtype
                WHEN typ.typtype='m' THEN (SELECT rngtypid FROM pg_range WHERE rngmultitypid = typ.oid)
                WHEN typ.typtype='d' THEN typ.typbasetype
            END AS elemtypoid
            , typ.typcategory
        FROM pg_type AS typ
        LEFT JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
        LEFT JOIN pg_proc AS proc ON proc.oid = typ.typreceive
        LEFT JOIN pg_range ON (pg_range.rngtypid = typ.oid)
    ) AS typ
    LEFT JOIN pg_type AS elemtyp ON elemtyp.oid = elemtypoid
    LEFT JOIN pg_class AS elemcls ON (elemcls.oid = elemtyp.typrelid)
    LEFT JOIN pg_proc AS elemproc ON elemproc.oid = elemtyp.typreceive
) AS t
JOIN pg_namespace AS ns ON (ns.oid = typnamespace)
WHERE
    (
    typtype IN ('b', 'r', 'm', 'e', 'd') OR -- Base, range, multirange, enum, domain
    (typtype = 'c' AND relkind='c') OR -- User-defined free-standing composites (not table composites) by default
    (typtype = 'p' AND typname IN ('record', 'void', 'unknown')) OR -- Some special supported pseudo-types
    (typtype = 'a' AND (  -- Array of...
        elemtyptype IN ('b', 'r', 'm', 'e', 'd') OR -- Array of base, range, multirange, enum, domain
        (elemtyptype = 'p' AND elemtypname IN ('record', 'void')) OR -- Arrays of special supported pseudo-types
        (elemtyptype = 'c' AND elemrelkind='c') -- Array of user-defined free-standing composites (not table composites) by default
    )))
ORDER BY CASE
       WHEN typtype IN ('b', 'e', 'p') THEN 0           -- First base types, enums, pseudo-types
       WHEN typtype = 'c' THEN 1                        -- Composites after (fields loaded later in 2nd pass)
       WHEN typtype = 'r' THEN 2                        -- Ranges after
       WHEN typtype = 'm' THEN 3                        -- Multiranges after
       WHEN typtype = 'd' AND elemtyptype <> 'a' THEN 4 -- Domains over non-arrays after
       WHEN typtype = 'a' THEN 5                        -- Arrays after
       WHEN typtype = 'd' AND elemtyptype = 'a' THEN 6  -- Domains over arrays last
END"""

NPGSQL = [
    ToolQuery("npgsql", "version", "SELECT version()", where=lambda row, o: False),
    # PostgreSQL has more types (geometric, ranges, internal ones): the rows of the types
    # laminar_pg has are compared in test_npgsql_types_cover_ours
    ToolQuery("npgsql", "types", NPGSQL_TYPES, where=lambda row, o: False,
              same_row_count=False),
    ToolQuery("npgsql", "composite fields", """-- Load field definitions for (free-standing) composite types
SELECT typ.oid, att.attname, att.atttypid
FROM pg_type AS typ
JOIN pg_namespace AS ns ON (ns.oid = typ.typnamespace)
JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
JOIN pg_attribute AS att ON (att.attrelid = typ.typrelid)
WHERE
  (typ.typtype = 'c' AND cls.relkind='c') AND
  attnum > 0 AND     -- Don't load system attributes
  NOT attisdropped
ORDER BY typ.oid, att.attnum"""),
    ToolQuery("npgsql", "enum labels", """-- Load enum fields
SELECT pg_type.oid, enumlabel
FROM pg_enum
JOIN pg_type ON pg_type.oid=enumtypid
ORDER BY oid, enumsortorder"""),
]

# ------------------------------------------------------------------------------- DataGrip
# DataGrip is closed source: these are the statements it sends on connect, as a PostgreSQL
# statement log recorded them (DataGrip 2025.2.3, in datafusion-contrib/datafusion-postgres
# issue #165). Its schema browsing goes through pgjdbc (tests/clients/test_java_metadata.py)
# and its own introspection queries, which read `xmin` of catalog rows (not yet here).

DATAGRIP = [
    ToolQuery("datagrip", "version", "select version()", where=lambda row, o: False),
    ToolQuery("datagrip", "database and schemas",
              "select current_database() as a, current_schemas(false) as b",
              where=lambda row, o: False,  # the database's name differs
              setup=("SET extra_float_digits = 3", "SET application_name = ''",
                     "SET application_name = 'DataGrip 2025.2.3'")),
    ToolQuery("datagrip", "isolation", "SHOW TRANSACTION ISOLATION LEVEL"),
    ToolQuery("datagrip", "current names",
              "select current_database(), current_schema(), current_user",
              where=lambda row, o: False),
    # Its introspector's first queries (the same texts recorded in a PostgreSQL statement
    # log by memgres' ClientDbLog5CompareTest); the ones that read `xmin` are not here, nor
    # its startup-time query: `extract(epoch ...)` is double precision here, numeric in
    # PostgreSQL 14+ (the query runs; its column type differs).
    ToolQuery("datagrip", "current txid", """select case
  when pg_catalog.pg_is_in_recovery()
    then null
  else
    (pg_catalog.txid_current() % 4294967296)::varchar::bigint
  end as current_txid""", where=lambda row, o: False),
    ToolQuery("datagrip", "databases", """select N.oid::bigint as id,
       datname as name,
       D.description,
       datistemplate as is_template,
       datallowconn as allow_connections,
       pg_catalog.pg_get_userbyid(N.datdba) as "owner"
from pg_catalog.pg_database N
  left join pg_catalog.pg_shdescription D on N.oid = D.objoid
order by case when datname = pg_catalog.current_database() then -1::bigint else N.oid::bigint end""",
              where=lambda row, o: False, same_row_count=False),  # other tests' databases
    ToolQuery("datagrip", "date style", "show DateStyle"),
    ToolQuery("datagrip", "roles", """select R.oid::bigint as role_id, rolname as role_name,
  rolsuper is_super, rolinherit is_inherit,
  rolcreaterole can_createrole, rolcreatedb can_createdb,
  rolcanlogin can_login, rolreplication /* false */ is_replication,
  rolconnlimit conn_limit, rolvaliduntil valid_until,
  rolbypassrls /* false */ bypass_rls, rolconfig config,
  D.description
from pg_catalog.pg_roles R
  left join pg_catalog.pg_shdescription D on D.objoid = R.oid""",
              where=lambda row, o: False, same_row_count=False),  # PostgreSQL's pg_* roles
    ToolQuery("datagrip", "role members", """select member id, roleid role_id, admin_option
          from pg_catalog.pg_auth_members order by id, roleid::text""",
              where=lambda row, o: False, same_row_count=False),
    ToolQuery("datagrip", "acl", """select T.oid as object_id,
                 T.spcacl as acl
          from pg_catalog.pg_tablespace T
          union all
          select T.oid as object_id,
                 T.datacl as acl
          from pg_catalog.pg_database T""", where=lambda row, o: False, same_row_count=False),
    ToolQuery("datagrip", "superuser", "select usesuper\nfrom pg_user\nwhere usename = "
              "current_user"),
]

# -------------------------------------------------------------------------------- Tableau
# Tableau's PostgreSQL connector talks through pgjdbc (its DatabaseMetaData calls are in
# tests/clients/test_java_metadata.py) or psqlODBC. psqlODBC's own statements (connection.c
# on connect; info.c SQLTables, SQLPrimaryKeys, SQLForeignKeys), as a PostgreSQL-compatible
# server's test records them (gigaspaces OdbcMetadataQueryTest); the table and schema
# names psqlODBC writes in as E'' literals are bound here. Its SQLColumns query reads
# pg_class.relhasoids, which PostgreSQL 12 dropped, so it is not run on either server.

_ODBC_FOREIGN_KEYS = """select\t'laminar'::name as "PKTABLE_CAT",
\tn2.nspname as "PKTABLE_SCHEM",
\tc2.relname as "PKTABLE_NAME",
\ta2.attname as "PKCOLUMN_NAME",
\t'laminar'::name as "FKTABLE_CAT",
\tn1.nspname as "FKTABLE_SCHEM",
\tc1.relname as "FKTABLE_NAME",
\ta1.attname as "FKCOLUMN_NAME",
\ti::int2 as "KEY_SEQ",
\tcase ref.confupdtype
\t\twhen 'c' then 0::int2
\t\twhen 'n' then 2::int2
\t\twhen 'd' then 4::int2
\t\twhen 'r' then 1::int2
\t\telse 3::int2
\tend as "UPDATE_RULE",
\tcase ref.confdeltype
\t\twhen 'c' then 0::int2
\t\twhen 'n' then 2::int2
\t\twhen 'd' then 4::int2
\t\twhen 'r' then 1::int2
\t\telse 3::int2
\tend as "DELETE_RULE",
\tref.conname as "FK_NAME",
\tcn.conname as "PK_NAME",
\tcase
\t\twhen ref.condeferrable then
\t\t\tcase
\t\t\twhen ref.condeferred then 5::int2
\t\t\telse 6::int2
\t\t\tend
\t\telse 7::int2
\tend as "DEFERRABILITY"
 from
 ((((((( (select cn.oid, conrelid, conkey, confrelid, confkey,
\t generate_series(array_lower(conkey, 1), array_upper(conkey, 1)) as i,
\t confupdtype, confdeltype, conname,
\t condeferrable, condeferred
  from pg_catalog.pg_constraint cn,
\tpg_catalog.pg_class c,
\tpg_catalog.pg_namespace n
  where contype = 'f'
   and  conrelid = c.oid
   and  relname = E'child'
   and  n.oid = c.relnamespace
   and  n.nspname = %s
 ) ref
 inner join pg_catalog.pg_class c1
  on c1.oid = ref.conrelid)
 inner join pg_catalog.pg_namespace n1
  on  n1.oid = c1.relnamespace)
 inner join pg_catalog.pg_attribute a1
  on  a1.attrelid = c1.oid
  and  a1.attnum = conkey[i])
 inner join pg_catalog.pg_class c2
  on  c2.oid = ref.confrelid)
 inner join pg_catalog.pg_namespace n2
  on  n2.oid = c2.relnamespace)
 inner join pg_catalog.pg_attribute a2
  on  a2.attrelid = c2.oid
  and  a2.attnum = confkey[i])
 left outer join pg_catalog.pg_constraint cn
  on cn.conrelid = ref.confrelid
  and cn.contype = 'p')
  order by ref.oid, ref.i"""

TABLEAU = [
    ToolQuery("tableau", "odbc large objects",
              "select oid, typbasetype from pg_type where typname = 'lo'"),
    ToolQuery("tableau", "odbc isolation", "show transaction_isolation",
              setup=("SET DateStyle = 'ISO';", "SET extra_float_digits = 2;")),
    ToolQuery("tableau", "odbc identifier length", "show max_identifier_length"),
    ToolQuery("tableau", "odbc nulls", "select NULL, NULL, NULL"),
    ToolQuery("tableau", "odbc tables", (
        "select relname, nspname, relkind from pg_catalog.pg_class c, "
        "pg_catalog.pg_namespace n where relkind in ('r', 'v', 'm', 'f', 'p') and nspname not "
        "in ('pg_catalog', 'information_schema', 'pg_toast', 'pg_temp_1') and n.oid = "
        "relnamespace order by nspname, relname"),
        where=in_schema("nspname"), same_row_count=False),  # other tests' tables
    ToolQuery("tableau", "odbc primary key", (
        "select ta.attname, ia.attnum, ic.relname, n.nspname, tc.relname from "
        "pg_catalog.pg_attribute ta, pg_catalog.pg_attribute ia, pg_catalog.pg_class tc, "
        "pg_catalog.pg_index i, pg_catalog.pg_namespace n, pg_catalog.pg_class ic where "
        "tc.relname = E'parent' AND n.nspname = %s AND tc.oid = i.indrelid AND n.oid = "
        "tc.relnamespace AND i.indisprimary = 't' AND ia.attrelid = i.indexrelid AND "
        "ta.attrelid = i.indrelid AND ta.attnum = i.indkey[ia.attnum-1] AND (NOT "
        "ta.attisdropped) AND (NOT ia.attisdropped) AND ic.oid = i.indexrelid order by "
        "ia.attnum"), params=lambda o, c: (o.schema,)),
    ToolQuery("tableau", "odbc foreign keys", _ODBC_FOREIGN_KEYS,
              params=lambda o, c: (o.schema,)),
]

QUERIES = METABASE + GRAFANA + SUPERSET + DBEAVER + NPGSQL + DATAGRIP + TABLEAU


@pytest.fixture(scope="module")
def objects(server: LaminarServer, postgres: PostgresServer) -> Iterator[Objects]:
    tag = uuid.uuid4().hex[:6]
    objs = Objects(schema=f"bi_{tag}", parent="parent", child="child", view="totals")
    for dsn in (server.dsn, postgres.dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in objs.ddl():
                conn.execute(statement)
    yield objs


def run(dsn: str, query: ToolQuery, objs: Objects) -> Answer:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in query.setup:
            conn.execute(statement.format(schema=objs.schema))
        sql = query.sql or _grafana_schema(objs.parent)
        params = query.params(objs, conn)
        cur = conn.execute(sql, params) if params else conn.execute(sql.replace("%%", "%"))
        assert cur.description is not None
        columns = [(d.name, _SAME_TYPE.get(d.type_code, d.type_code)) for d in cur.description]
        return Answer(columns, list(cur.fetchall()))


def _comparable(value: Any) -> Any:
    """int2vector / oidvector values: PostgreSQL sends their text ('1 2'), the engine's
    lists here are int2[] / oid[] ([1, 2])."""
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return " ".join(map(str, value))
    return value


def _kept(answer: Answer, query: ToolQuery, objs: Objects) -> list[tuple[Any, ...]]:
    names = [c for c, _ in answer.columns]
    keep = list(query.key) or names
    out = []
    for row in answer.rows:
        as_dict = dict(zip(names, row, strict=True))
        if query.where(as_dict, objs):
            out.append(tuple(_comparable(as_dict[k]) for k in keep))
    return sorted(out, key=repr)


@pytest.mark.parametrize("query", QUERIES, ids=[f"{q.tool}: {q.name}" for q in QUERIES])
def test_same_shape_as_postgres(server: LaminarServer, postgres: PostgresServer,
                                objects: Objects, query: ToolQuery) -> None:
    lam = run(server.dsn, query, objects)
    pg = run(postgres.dsn, query, objects)
    assert lam.columns == pg.columns
    if query.same_row_count:
        assert len(lam.rows) == len(pg.rows), (lam.rows, pg.rows)
    assert _kept(lam, query, objects) == _kept(pg, query, objects)


def test_npgsql_types_cover_ours(server: LaminarServer, postgres: PostgresServer,
                                 objects: Objects) -> None:
    """Npgsql's type loader finds every type laminar_pg has, as PostgreSQL describes it:
    arrays as typtype 'a' with their element type, base types as 'b'."""
    query = next(q for q in NPGSQL if q.name == "types")
    lam = run(server.dsn, query, objects)
    pg = run(postgres.dsn, query, objects)
    pg_rows = {row[2]: row for row in pg.rows}
    assert len(lam.rows) >= 40
    for row in lam.rows:
        assert row == pg_rows[row[2]], row
    kinds = dict((row[2], row[3]) for row in lam.rows)
    assert kinds["_int4"] == "a" and kinds["int4"] == "b" and kinds["_jsonb"] == "a"


def test_queries_see_the_objects(server: LaminarServer, objects: Objects) -> None:
    """The row comparisons above are not vacuous: the objects are found."""
    query = next(q for q in METABASE if q.name == "fields")
    answer = run(server.dsn, query, objects)
    assert len(answer.rows) == 11  # 5 + 4 columns of the tables, 2 of the view
    query = next(q for q in DBEAVER if q.name == "indexes")
    assert len(run(server.dsn, query, objects).rows) == 3
    query = next(q for q in TABLEAU if q.name == "odbc foreign keys")
    assert [row[1:4] + row[5:8] for row in run(server.dsn, query, objects).rows] == [
        (objects.schema, "parent", "id", objects.schema, "child", "parent_id")]
    query = next(q for q in TABLEAU if q.name == "odbc primary key")
    assert [row[0] for row in run(server.dsn, query, objects).rows] == ["id"]


# Superset's cancel_query (superset/db_engine_specs/postgres.py) terminates the backend
# whose pid get_cancel_query_id read, comparing pid with a quoted literal.
SUPERSET_CANCEL = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid='{pid}'"


def _signal_from_another_session(dsn: str, function: str) -> tuple[Any, ...]:
    """Session A runs `SELECT pg_sleep(30)`; session B signals it by pid once
    pg_stat_activity shows it active. Returns (B's answer, A's SQLSTATE, A closed?, A
    usable afterwards?, answer and warnings for a pid no session has)."""
    import threading

    target = psycopg.connect(dsn, autocommit=True)
    failure: list[str | None] = []

    def sleep() -> None:
        try:
            target.execute("SELECT pg_sleep(30)")
            failure.append(None)
        except psycopg.Error as exc:
            failure.append(exc.sqlstate)

    pid = target.info.backend_pid
    sleeper = threading.Thread(target=sleep)
    with psycopg.connect(dsn, autocommit=True) as conn:
        sleeper.start()
        waiting = ("SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'"
                   " AND query LIKE '%%pg_sleep%%'")
        while conn.execute(waiting, [pid]).fetchone() != (1,):
            conn.execute("SELECT pg_sleep(0.02)")  # polling the server, not timing a test
        if function == "superset":
            answer = conn.execute(SUPERSET_CANCEL.format(pid=pid)).fetchall()
        else:
            answer = conn.execute(f"SELECT {function}(%s)", [pid]).fetchall()
        sleeper.join(20)
        usable = False
        if not target.closed:
            try:
                usable = target.execute("SELECT 1").fetchall() == [(1,)]
            except psycopg.Error:
                usable = False
        warnings: list[tuple[str | None, str | None]] = []
        conn.add_notice_handler(
            lambda d: warnings.append((d.sqlstate, d.message_primary)))
        name = "pg_terminate_backend" if function == "superset" else function
        missing = conn.execute(f"SELECT {name}(2147483000)").fetchall()
        listed = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        for _ in range(500):  # a terminated backend leaves pg_stat_activity as it exits
            gone = conn.execute(listed, [pid]).fetchall()
            if usable or gone == [(0,)]:
                break
            conn.execute("SELECT pg_sleep(0.01)")
    target.close()
    return answer, failure, usable, missing, warnings, gone


@pytest.mark.parametrize("function", ["pg_cancel_backend", "pg_terminate_backend", "superset"])
def test_signal_another_backend_like_postgres(server: LaminarServer, postgres: PostgresServer,
                                              function: str) -> None:
    """pg_cancel_backend ends the other session's statement (57014) and leaves it usable;
    pg_terminate_backend (and Superset's cancel_query) closes it (FATAL 57P01); a pid no
    session has gives false and a WARNING, as in PostgreSQL 15."""
    ours = _signal_from_another_session(server.dsn, function)
    theirs = _signal_from_another_session(postgres.dsn, function)
    assert ours == theirs
    cancel = function == "pg_cancel_backend"
    assert ours[:3] == ([(True,)], ["57014" if cancel else "57P01"], cancel)
    assert ours[3:] == ([(False,)], [("01000", "PID 2147483000 is not a PostgreSQL backend "
                                                "process")], [(1 if cancel else 0,)])


def test_signal_own_backend_like_postgres(server: LaminarServer, postgres: PostgresServer) -> None:
    """A session that cancels itself gets 57014 and goes on; one that terminates itself
    gets FATAL 57P01 and is closed, as in PostgreSQL 15."""
    found = []
    for dsn in (server.dsn, postgres.dsn):
        conn = psycopg.connect(dsn, autocommit=True)
        codes: list[str | None] = []
        for function in ("pg_cancel_backend", "pg_terminate_backend"):
            try:
                conn.execute(f"SELECT {function}(pg_backend_pid())")
                codes.append(None)
            except psycopg.Error as exc:
                codes.append(exc.sqlstate)
        found.append((codes, conn.closed))
        conn.close()
    assert found[0] == found[1] == (["57014", "57P01"], True)

"""`pg_catalog.pg_stat_activity`: the connected sessions, as `laminar_catalog.sessions` lists
them (the same registry, observability/activity.py), with PostgreSQL 15's columns.

Tools read it to list connections (DBeaver's session manager, pgAdmin's dashboard, Grafana's
and Metabase's health queries) and to find their own backend by `pg_backend_pid()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from laminar_pg.catalog.pg_types import BOOTSTRAP_SUPERUSER_OID
from laminar_pg.observability import activity
from laminar_pg.session.pg_catalog import columns_of, make_table
from laminar_pg.session.pg_model import DATABASE_OID, snapshot
from laminar_pg.session.relations import relation

if TYPE_CHECKING:
    from laminar_pg.session.session import PgSession

PG_STAT_ACTIVITY = columns_of(
    "datid oid, datname name, pid int4, leader_pid int4, usesysid oid, usename name, "
    "application_name text, client_addr inet, client_hostname text, client_port int4, "
    "backend_start timestamptz, xact_start timestamptz, query_start timestamptz, "
    "state_change timestamptz, wait_event_type text, wait_event text, state text, "
    "backend_xid xid, backend_xmin xid, query_id int8, query text, backend_type text")


@relation("pg_catalog.pg_stat_activity")
def pg_stat_activity(session: PgSession) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for other in activity.sessions(session.db):
        rows.append({
            "datid": DATABASE_OID, "datname": other.database, "pid": other.process_id,
            "leader_pid": None, "usesysid": BOOTSTRAP_SUPERUSER_OID, "usename": other.user,
            "application_name": other.get_setting("application_name") or "",
            "client_port": None, "backend_start": other.backend_start,
            "query_start": other.query_start, "state_change": other.query_start,
            "state": activity.state_of(other), "backend_xid": None, "backend_xmin": None,
            "query_id": None, "query": other.current_query or "",
            "backend_type": "client backend",
        })
    return make_table("pg_stat_activity", rows, PG_STAT_ACTIVITY)


PG_STAT_USER_TABLES = columns_of(
    "relid oid, schemaname name, relname name, seq_scan int8, seq_tup_read int8, "
    "idx_scan int8, idx_tup_fetch int8, n_tup_ins int8, n_tup_upd int8, n_tup_del int8, "
    "n_tup_hot_upd int8, n_live_tup int8, n_dead_tup int8, n_mod_since_analyze int8, "
    "n_ins_since_vacuum int8, last_vacuum timestamptz, last_autovacuum timestamptz, "
    "last_analyze timestamptz, last_autoanalyze timestamptz, vacuum_count int8, "
    "autovacuum_count int8, analyze_count int8, autoanalyze_count int8")
_SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "laminar_catalog"})


def _table_stats(session: PgSession, user_only: bool) -> pa.Table:
    """One row per table and materialized view (outside the system schemas when
    `user_only`): Metabase reads n_live_tup as a row estimate. Scans, tuples and vacuums
    are not counted here: NULL, not a made-up zero."""
    snap = snapshot(session)
    schemas = {ns.oid: ns.name for ns in snap.namespaces}
    rows: list[dict[str, Any]] = []
    for rel in snap.relations:
        schema = schemas.get(rel.namespace_oid, "")
        if rel.relkind not in ("r", "m") or (user_only and schema in _SYSTEM_SCHEMAS):
            continue
        row: dict[str, Any] = {name: None for name, _ in PG_STAT_USER_TABLES}
        row.update(relid=rel.oid, schemaname=schema, relname=rel.name)
        rows.append(row)
    return make_table("pg_stat_user_tables", rows, PG_STAT_USER_TABLES)


@relation("pg_catalog.pg_stat_user_tables")
def pg_stat_user_tables(session: PgSession) -> pa.Table:
    return _table_stats(session, user_only=True)


@relation("pg_catalog.pg_stat_all_tables")
def pg_stat_all_tables(session: PgSession) -> pa.Table:
    return _table_stats(session, user_only=False)


PG_STAT_DATABASE = columns_of(
    "datid oid, datname name, numbackends int4, xact_commit int8, xact_rollback int8, "
    "blks_read int8, blks_hit int8, tup_returned int8, tup_fetched int8, tup_inserted int8, "
    "tup_updated int8, tup_deleted int8, conflicts int8, temp_files int8, temp_bytes int8, "
    "deadlocks int8, checksum_failures int8, checksum_last_failure timestamptz, "
    "blk_read_time float8, blk_write_time float8, session_time float8, active_time float8, "
    "idle_in_transaction_time float8, sessions int8, sessions_abandoned int8, "
    "sessions_fatal int8, sessions_killed int8, stats_reset timestamptz")


@relation("pg_catalog.pg_stat_database")
def pg_stat_database(session: PgSession) -> pa.Table:
    """The database, with its connected sessions (numbackends); the other counters are
    not kept: NULL."""
    row: dict[str, Any] = {name: None for name, _ in PG_STAT_DATABASE}
    row.update(datid=DATABASE_OID, datname=session.database or "laminar",
               numbackends=len(activity.sessions(session.db)))
    return make_table("pg_stat_database", [row], PG_STAT_DATABASE)


_KEYWORD_CATEGORIES = {"U": "unreserved", "C": "unreserved (cannot be function or type name)",
                       "T": "reserved (can be function or type name)", "R": "reserved"}


@relation("pg_catalog.pg_get_keywords")
def pg_get_keywords(session: PgSession) -> pa.Table:
    """`FROM pg_get_keywords()` (pg_functions.py points the call here): PostgreSQL 15's
    keywords, which laminar_pg's parser accepts in the same places."""
    from laminar_pg.catalog.pg_keywords import KEYWORDS

    return pa.table({
        "word": pa.array([k[0] for k in KEYWORDS], pa.string()),
        "catcode": pa.array([k[1] for k in KEYWORDS], pa.string()),
        "barelabel": pa.array([k[2] for k in KEYWORDS], pa.bool_()),
        "catdesc": pa.array([_KEYWORD_CATEGORIES[k[1]] for k in KEYWORDS], pa.string()),
        "baredesc": pa.array(["can be bare label" if k[2] else "requires AS"
                              for k in KEYWORDS], pa.string()),
    })

"""Wires the parts together and runs the server until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import ssl
import sys

import structlog

from laminar_pg.config import Config
from laminar_pg.engine.dataflow import count_operators
from laminar_pg.session.database import Database
from laminar_pg.session.session import PgSession
from laminar_pg.uvloop_setup import run
from laminar_pg.wire.connection import Authenticator
from laminar_pg.wire.server import Server

log = structlog.get_logger("laminar_pg")


def make_authenticator(config: Config):  # type: ignore[no-untyped-def]
    if config.auth_method != "scram":
        return lambda user: None
    from laminar_pg.wire.auth import ScramSha256Auth, load_password_file

    assert config.password_file is not None
    try:
        credentials = load_password_file(config.password_file)
    except OSError as exc:
        raise StartupError(
            f'could not read password file "{config.password_file}": {exc.strerror}'
        ) from None
    except ValueError as exc:
        raise StartupError(str(exc)) from None

    def authenticator(user: str) -> Authenticator | None:
        return ScramSha256Auth(user, credentials.get(user))

    return authenticator


async def amain(config: Config) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    stale = config.data_dir / "server.json"
    stale.unlink(missing_ok=True)
    authenticator = make_authenticator(config)
    try:
        server = Server(config, lambda: PgSession(db), authenticator)
    except (OSError, ssl.SSLError) as exc:
        which = "certificate" if config.tls_cert and not config.tls_cert.is_file() else "key"
        name = config.tls_cert if which == "certificate" else config.tls_key
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StartupError(f'could not load server {which} file "{name}": {reason}') from None
    count_operators(config.operator_metrics)
    db = open_database(config)
    try:
        await server.start()
    except OSError as exc:
        db.close()
        raise StartupError(
            f"could not listen on {config.host}:{config.port}: {exc.strerror or exc}"
        ) from None
    try:
        metrics = await start_metrics(config, db)
    except StartupError:
        await server.shutdown()
        db.close()
        raise
    metrics_port = metrics.sockets[0].getsockname()[1] if metrics is not None else None
    server.install_signal_handlers()
    server.write_server_json(metrics_port)
    log.info("server.ready", port=server.port, metrics_port=metrics_port,
             data_dir=str(config.data_dir))
    try:
        await server.wait_stopped()
    finally:
        if metrics is not None:
            metrics.close()
        await server.shutdown()
        stale.unlink(missing_ok=True)
        db.close()
    return 0


async def start_metrics(config: Config, db: Database) -> asyncio.Server | None:
    """`/metrics`, the pipeline page and its JSON on --metrics-port (None: off), on the
    server's host."""
    if config.metrics_port is None:
        return None
    from laminar_pg.observability.http import Endpoints, start_metrics_server
    from laminar_pg.observability.pipeline import explain_document, pipeline_document
    from laminar_pg.observability.prometheus import render

    endpoints = Endpoints(metrics=lambda: render(db), pipeline=lambda: pipeline_document(db),
                          explain=lambda oid: explain_document(db, oid))
    try:
        return await start_metrics_server(config.host, config.metrics_port, endpoints)
    except OSError as exc:
        raise StartupError(
            f"could not listen for metrics on {config.host}:{config.metrics_port}: "
            f"{exc.strerror or exc} (use --metrics-port off or another port)") from None


def open_database(config: Config) -> Database:
    """The data directory, recovered; its problems as one clear line."""
    from laminar_pg.storage.log import LogCorruptionError, LogFormatError

    try:
        return Database(config)
    except LogFormatError as exc:
        raise StartupError(f'data directory "{config.data_dir}": {exc}') from None
    except LogCorruptionError as exc:
        raise StartupError(f'data directory "{config.data_dir}": {exc}') from None
    except Exception as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise StartupError(f'data directory "{config.data_dir}" is in use by another '
                               "laminar-pg server") from None
        raise


def serve(config: Config) -> int:
    from laminar_pg.memory import tune_allocator

    tune_allocator()
    try:
        return int(run(amain(config)))
    except StartupError as exc:
        print(f"laminar-pg: {exc}", file=sys.stderr)
        return 2


class StartupError(Exception):
    """A configuration problem found at start: one clear line, no traceback."""

"""Wires the parts together and runs the server until SIGTERM / SIGINT."""

from __future__ import annotations

import structlog

from laminar_pg.config import Config
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
    credentials = load_password_file(config.password_file)

    def authenticator(user: str) -> Authenticator | None:
        return ScramSha256Auth(user, credentials.get(user))

    return authenticator


async def amain(config: Config) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    stale = config.data_dir / "server.json"
    stale.unlink(missing_ok=True)
    db = Database(config)
    server = Server(config, lambda: PgSession(db), make_authenticator(config))
    await server.start()
    server.install_signal_handlers()
    server.write_server_json(None)
    log.info("server.ready", port=server.port, data_dir=str(config.data_dir))
    try:
        await server.wait_stopped()
    finally:
        await server.shutdown()
        stale.unlink(missing_ok=True)
        db.close()
    return 0


def serve(config: Config) -> int:
    return int(run(amain(config)))

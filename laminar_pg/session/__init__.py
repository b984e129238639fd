"""Sessions: what the wire protocol talks to (laminar_pg.wire.session.Session)."""

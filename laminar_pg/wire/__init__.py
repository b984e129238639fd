"""The PostgreSQL v3 wire protocol: sans-I/O messages, codec, connection state machine,
authentication and types; `server.py` is its only asyncio code."""

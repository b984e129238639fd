"""Incremental operators, one per module (filter, project, window assign, hash aggregate, ...)."""

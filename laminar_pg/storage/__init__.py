"""Durable storage: the change log that is every transaction's commit point."""

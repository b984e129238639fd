"""Catalog objects, system tables and pg_catalog (the tables and catalog issues build it)."""

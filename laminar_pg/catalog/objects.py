"""The catalog of durable objects: schemas, tables, indexes and sequences, with their OIDs.

The embedded engine (DuckDB) holds the objects' definitions; this catalog holds what
the engine does not: a stable OID per object (pg_class.oid, `laminar_catalog.*.id`), a
schema version per table (the change log tags every batch of rows with it), and the
names by which the log refers to objects. It is rebuilt on start by replaying the DDL
records of the change log, so it needs no storage of its own.

A transaction works on a copy (`copy()`); the copy replaces the shared catalog when the
transaction commits, so a rolled-back CREATE leaves no trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

T = TypeVar("T")

FIRST_OID = 16384  # PostgreSQL's FirstNormalObjectId: OIDs below belong to the system

KINDS = ("schema", "table", "index", "sequence", "source", "stream", "materialized view", "sink")


@dataclass(frozen=True, slots=True)
class CatalogObject:
    oid: int
    kind: str  # one of KINDS
    schema: str  # "" for a schema itself
    name: str
    version: int = 1  # a table's schema version: bumped by every ALTER

    @property
    def qualified(self) -> str:
        return self.name if self.kind == "schema" else f"{self.schema}.{self.name}"

    @property
    def key(self) -> str:
        """How the change log names the object: kind and qualified name."""
        return f"{self.kind}:{self.qualified}"


@dataclass(slots=True)
class Catalog:
    objects: dict[int, CatalogObject] = field(default_factory=dict)
    next_oid: int = FIRST_OID
    version: int = 0  # bumped by every committed change: cached plans compare it
    # What the engine was asked about a table's shape (columns, types, declared types,
    # Arrow schema, owned sequences), by (what, oid, table version): a version never
    # changes shape, so entries stay true as long as the version they name exists.
    shapes: dict[tuple[str, int, int], Any] = field(default_factory=dict)
    # COMMENT ON: by (object OID, column name or "" for the object itself). Durable as a
    # DdlOp named COMMENT_OP (session/tables.py), replayed like the other DDL records.
    comments: dict[tuple[int, str], str] = field(default_factory=dict)

    def copy(self) -> Catalog:
        return Catalog(dict(self.objects), self.next_oid, self.version, dict(self.shapes),
                       dict(self.comments))

    def set_comment(self, oid: int, column: str, text: str | None) -> None:
        """COMMENT ON an object (column "") or one of its columns; None (or '', as in
        PostgreSQL's CreateComments) removes the comment."""
        self.version += 1
        if text:
            self.comments[(oid, column)] = text
        else:
            self.comments.pop((oid, column), None)

    def shape(self, what: str, obj: CatalogObject, compute: Callable[[], T]) -> T:
        """The cached `what` of table `obj` at its version, computed once."""
        key = (what, obj.oid, obj.version)
        if key not in self.shapes:
            self.shapes[key] = compute()
        found: T = self.shapes[key]
        return found

    def allocate_oid(self) -> int:
        oid = self.next_oid
        self.next_oid += 1
        return oid

    def find(self, kind: str, schema: str, name: str) -> CatalogObject | None:
        for obj in self.objects.values():
            if obj.kind == kind and obj.schema == schema and obj.name == name:
                return obj
        return None

    def in_schema(self, schema: str) -> list[CatalogObject]:
        return [o for o in self.objects.values() if o.schema == schema and o.kind != "schema"]

    def apply(self, oid: int, key: str | None) -> CatalogObject | None:
        """Record what a DDL did to object `oid`: `key` ("table:public.t") is its name
        afterwards, None when it was dropped. Returns the object as it is now."""
        self.version += 1
        self.next_oid = max(self.next_oid, oid + 1)
        if key is None:
            self.objects.pop(oid, None)
            for found in [k for k in self.comments if k[0] == oid]:
                del self.comments[found]
            return None
        kind, _, qualified = key.partition(":")
        schema, _, name = qualified.rpartition(".")
        old = self.objects.get(oid)
        if old is None:
            obj = CatalogObject(oid, kind, schema, name)
        else:
            obj = replace(old, schema=schema, name=name, version=old.version + 1)
        self.objects[oid] = obj
        return obj

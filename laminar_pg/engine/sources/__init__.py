"""Built-in generator sources (nexmark, datagen): what CREATE SOURCE ... WITH (connector =
'nexmark' | 'datagen') reads. The runtime builds one with `make_generator` and calls
`Generator.read(split, position, max_events)`; see base.py for the contract."""

from laminar_pg.engine.sources.base import Generator, make_generator

__all__ = ["Generator", "make_generator"]

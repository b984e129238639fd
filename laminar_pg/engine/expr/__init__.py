"""The streaming engine's scalar expression language, vectorised over Arrow record batches.

`compile_expr(node, schema)` turns a sqlglot expression (a WHERE condition, a SELECT item,
a CASE, an aggregate's argument) into a `CompiledExpr` with PostgreSQL's result type;
`evaluate(batch)` computes it for every row of a `pa.RecordBatch`.  PostgreSQL's semantics
throughout: three-valued logic, checked integer arithmetic, PostgreSQL's casts, text
forms and SQLSTATEs.  The engine never imports DuckDB; tests compare with it.

Modules: compile (sqlglot -> nodes), nodes / control (the tree, constant folding and
short-circuiting), types (PostgreSQL types as Arrow types, common-type rules), operators,
casts and text_io (conversions, text forms), decimals, functions (math and the name
registry), strings, patterns (LIKE, regular expressions), temporal, to_char, intervals,
kernels (numba).
"""

from laminar_pg.engine.expr.compile import compile_expr, compile_predicate
from laminar_pg.engine.expr.nodes import CompiledExpr
from laminar_pg.engine.expr.types import pg_type_name, sql_type_to_arrow

__all__ = ["CompiledExpr", "compile_expr", "compile_predicate", "pg_type_name", "sql_type_to_arrow"]

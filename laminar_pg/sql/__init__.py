"""SQL front end: the Laminar sqlglot dialect and statement splitting.

`parse_script` / `parse_one_statement` turn query text into `Statement`s whose trees use
sqlglot's expressions plus the utility statements in `laminar_pg.sql.ast`.
"""

from laminar_pg.sql.dialect import Laminar
from laminar_pg.sql.script import Statement, parse_one_statement, parse_script

__all__ = ["Laminar", "Statement", "parse_one_statement", "parse_script"]

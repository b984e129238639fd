"""String functions and operators: ||, LIKE / ILIKE / NOT LIKE with escapes, ~, and the
text functions.  Column expressions are checked against DuckDB; the literal table holds
PostgreSQL 15's answers (checked against a real server when written) where DuckDB's
functions differ (negative positions, lpad truncation, initcap, ...)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from laminar_pg.errors import SqlError
from tests.engine.expr.harness import (
    DATA,
    DuckDB,
    assert_same,
    compiled,
    duckdb_session,
    one,
    sqlstate_of,
    values,
)
from tests.engine.expr.test_casts import Err


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDB]:
    yield from duckdb_session()


POSTGRESQL_ANSWERS: list[tuple[str, str | Err | None]] = [
    ("length('wörld')", "5"),
    ("char_length('')", "0"),
    ("octet_length('wörld')", "6"),
    ("octet_length('\\x00ff'::bytea)", "2"),
    ("length('\\x00ff'::bytea)", "2"),
    ("substring('hello', 2, 3)", "ell"),
    ("substring('hello', 0, 3)", "he"),
    ("substring('hello', -1, 3)", "h"),
    ("substring('hello', -5, 3)", ""),
    ("substring('hello' FROM 3)", "llo"),
    ("substring('hello' FOR 2)", "he"),
    ("substring('hello', 10)", ""),
    ("substring('wörld', 2, 2)", "ör"),
    ("substring('hello', 2, -1)", Err("22011")),
    ("substr('hello', 2)", "ello"),
    ("position('l' IN 'hello')", "3"),
    ("position('' IN 'hello')", "1"),
    ("position('z' IN 'hello')", "0"),
    ("strpos('wörld', 'r')", "3"),
    ("strpos('ééé', 'é')", "1"),
    ("left('hello', 2)", "he"),
    ("left('hello', -2)", "hel"),
    ("left('hello', 0)", ""),
    ("left('hello', 10)", "hello"),
    ("left('wörld', -10)", ""),
    ("right('hello', 2)", "lo"),
    ("right('hello', -2)", "llo"),
    ("right('hello', 0)", ""),
    ("right('wörld', 10)", "wörld"),
    ("trim('  x  ')", "x"),
    ("trim(E'\\t x \\n')", "\t x \n"),
    ("trim(both 'xy' from 'xyhixy')", "hi"),
    ("trim(leading 'x' from 'xxhix')", "hix"),
    ("trim(trailing from '  hi  ')", "  hi"),
    ("btrim('xxhixx', 'x')", "hi"),
    ("ltrim('  hi  ')", "hi  "),
    ("rtrim('hixx', 'x')", "hi"),
    ("ltrim('éaé', 'é')", "aé"),
    ("replace('hello', 'l', 'LL')", "heLLLLo"),
    ("replace('hello', '', 'x')", "hello"),
    ("replace('hello', 'l', '')", "heo"),
    ("replace('aaa', 'aa', 'b')", "ba"),
    ("split_part('a,b,,c', ',', 2)", "b"),
    ("split_part('a,b,,c', ',', 3)", ""),
    ("split_part('a,b,,c', ',', 9)", ""),
    ("split_part('a,b,,c', ',', -1)", "c"),
    ("split_part('a,b,,c', ',', -4)", "a"),
    ("split_part('a,b,,c', ',', -9)", ""),
    ("split_part('a::b', '::', 2)", "b"),
    ("split_part('abc', '', 1)", "abc"),
    ("split_part('abc', '', 2)", ""),
    ("split_part('abc', ',', 0)", Err("22023")),
    ("concat('a', 1, NULL, true, 2.50)", "a1t2.50"),
    ("concat(NULL, NULL)", ""),
    ("concat_ws('-', 'a', NULL, 'b', 1)", "a-b-1"),
    ("concat_ws(NULL, 'a')", None),
    ("concat_ws(',', NULL, NULL)", ""),
    ("concat_ws('', 'a', 'b')", "ab"),
    ("lpad('hi', 5)", "   hi"),
    ("lpad('hi', 5, 'ab')", "abahi"),
    ("lpad('hello', 3)", "hel"),
    ("lpad('hi', 5, '')", "hi"),
    ("lpad('hi', -1)", ""),
    ("rpad('hi', 5, 'xyz')", "hixyz"),
    ("rpad('wörld', 7, 'é')", "wörldéé"),
    ("repeat('ab', 3)", "ababab"),
    ("repeat('ab', 0)", ""),
    ("repeat('ab', -1)", ""),
    ("reverse('wörld')", "dlröw"),
    ("initcap('hello wORLD, o''neil 2nd-place')", "Hello World, O'Neil 2nd-Place"),
    ("initcap('')", ""),
    ("starts_with('hello', 'he')", "true"),
    ("starts_with('hello', '')", "true"),
    ("starts_with('hello', 'hello!')", "false"),
    ("md5('')", "d41d8cd98f00b204e9800998ecf8427e"),
    ("md5('abc')", "900150983cd24fb0d6963f7d28e17f72"),
    ("md5('wörld')", "8a223f8cb0e9065ff43b328b97e8467e"),
    ("md5('\\x00ff'::bytea)", "d07d34efac6328007ad67c7e0a985e00"),
    ("regexp_replace('hello', 'l+', 'L')", "heLo"),
    ("regexp_replace('hello', 'l', 'L', 'g')", "heLLo"),
    ("regexp_replace('hello', '(l)(o)', '\\2\\1')", "helol"),
    ("regexp_replace('Hello', 'h', 'X', 'i')", "Xello"),
    ("regexp_replace('hello', 'L', 'X', 'gi')", "heXXo"),
    ("regexp_replace('hello', 'l', '[\\&]', 'g')", "he[l][l]o"),
    ("regexp_replace('hello', '(', 'x')", Err("2201B")),
    ("'hello' LIKE 'h%'", "true"),
    ("'hello' LIKE '%l_'", "true"),
    ("'hello' LIKE 'h_llo'", "true"),
    ("'hello' LIKE ''", "false"),
    ("'' LIKE '%'", "true"),
    ("'hello' LIKE 'HELLO'", "false"),
    ("'hello' ILIKE 'HELLO'", "true"),
    ("'hello' ILIKE 'h%O'", "true"),
    ("'a%b' LIKE 'a\\%b'", "true"),
    ("'axb' LIKE 'a\\%b'", "false"),
    ("'a%b' LIKE 'a!%b' ESCAPE '!'", "true"),
    ("'a\\b' LIKE 'a\\\\b'", "true"),
    ("'a\\b' LIKE '%\\\\b'", "true"),
    ("'a\\b' LIKE 'a\\b' ESCAPE ''", "true"),
    ("'a_b' LIKE 'a$_b' ESCAPE '$'", "true"),
    ("'ab' LIKE 'a\\'", Err("22025")),
    ("'ab' LIKE 'ab' ESCAPE 'xy'", Err("22025")),
    ("E'a\\nb' LIKE 'a_b'", "true"),
    ("E'a\\nb' LIKE 'a%'", "true"),
    ("'a.b' LIKE 'a.b'", "true"),
    ("'axb' LIKE 'a.b'", "false"),
    ("'(x)' LIKE '(%)'", "true"),
    ("'héllo' LIKE 'h_llo'", "true"),
    ("'hello' NOT LIKE 'h%'", "false"),
    ("'hello' ~ 'l+'", "true"),
    ("'hello' ~* 'HEL'", "true"),
    ("'hello' !~ 'z'", "true"),
    ("'hello' !~* 'H'", "false"),
    ("'hello' ~ '('", Err("2201B")),
    ("'ab' || 'cd'", "abcd"),
    ("'ab' || NULL", None),
    ("'n=' || 1.5", "n=1.5"),
    ("1 || 'x'", "1x"),
    ("true || 'x'", "truex"),
    ("'x' || '\\x41'::bytea", "\\x7841"),
    ("'\\x41'::bytea || '\\x42'::bytea", "\\x4142"),
    ("'2020-01-01'::date || 'x'", "2020-01-01x"),
    ("'b' < 'a'", "false"),
    ("'B' < 'a'", "true"),
    ("'' < 'a'", "true"),
    ("'abc' < 'abd'", "true"),
]


@pytest.mark.parametrize(("sql", "expected"), POSTGRESQL_ANSWERS)
def test_strings_as_postgresql(sql: str, expected: str | Err | None) -> None:
    if isinstance(expected, Err):
        assert sqlstate_of(f"({sql})::text") == expected.sqlstate
    else:
        assert one(f"({sql})::text") == expected


DUCKDB_AGREES = [
    "lower(s)",
    "upper(s)",
    "length(s)",
    "char_length(s)",
    "reverse(s)",
    "s || '!'",
    "s || NULL",
    "'<' || s || '>'",
    "substring(s, 2, 3)",
    "substring(s, 3)",
    "substring(s FROM 2 FOR 1)",
    "substr(s, 1, 1)",
    "substring(s, i2, 2)",
    "strpos(s, 'l')",
    "strpos(s, 'ö')",
    "position('' IN s)",
    "strpos(s, s)",
    "strpos('wörld ÉCOLE x', s)",
    "left(s, 2)",
    "left(s, -1)",
    "right(s, 3)",
    "right(s, -1)",
    "left(s, i4 % 5)",
    "right(s, i2 % 4)",
    "trim(s)",
    "ltrim(s)",
    "rtrim(s)",
    "trim(both 'H' from s)",
    "replace(s, 'l', 'L')",
    "replace(s, ' ', '')",
    "split_part(s, 'l', 2)",
    "split_part(s, ' ', 1)",
    "split_part(s, 'o', -1)",
    "concat(s, i4, NULL)",
    "concat_ws('/', s, i8, NULL)",
    "concat_ws(s, 'a', 'b')",
    "rpad(s, 8, 'xy')",
    "lpad(s, 8, 'ab')",
    "repeat(s, 2)",
    "repeat('x', i2 % 4)",
    "starts_with(s, 'He')",
    "starts_with(s, '')",
    "starts_with(s, s)",
    "md5(s)",
    "regexp_replace(s, 'l', 'L')",
    "regexp_replace(s, 'l', 'L', 'g')",
    "regexp_replace(s, '(o)', '[\\1]', 'g')",
    "s LIKE 'H%'",
    "s LIKE '%l_'",
    "s NOT LIKE '%o%'",
    "s LIKE ''",
    "s LIKE '%'",
    "s LIKE '_'",
    "s ILIKE 'h%'",
    "s NOT ILIKE 'HELLO'",
    "s LIKE 'a\\%b%'",
    "s LIKE 'a!%b%' ESCAPE '!'",
    "s LIKE '%\\\\d'",
    "s LIKE 'a%b\\_c%'",
    "s LIKE s",
    "s LIKE NULL",
    "s ~ 'l+'",
    "s ~* 'HELLO'",
    "s !~ 'o'",
]


def duckdb_spelling(sql: str) -> str:
    """PostgreSQL's LIKE escapes with a backslash by default; DuckDB's needs ESCAPE."""
    if "LIKE" in sql and "ESCAPE" not in sql:
        return sql + " ESCAPE '\\'"
    return sql


@pytest.mark.parametrize("sql", DUCKDB_AGREES)
def test_strings_match_duckdb(sql: str, duck: DuckDB) -> None:
    assert_same(sql, values(sql, DATA), duck.values(duckdb_spelling(sql), DATA))


def test_like_with_a_pattern_per_row_matches_duckdb(duck: DuckDB) -> None:
    batch = pa.record_batch(
        [
            pa.array(["hello", "hello", "a%b", "a_b", "wörld", "", None, "abc", "a\\b", "ab\nc"]),
            pa.array(["h%", "%x%", "a\\%b", "a\\_b", "w_rld", "%", "%", None, "a\\\\b", "ab_c"]),
        ],
        names=["s", "p"],
    )
    for sql in ["s LIKE p", "s NOT LIKE p", "s ILIKE upper(p)", "s LIKE p ESCAPE '#'"]:
        assert_same(sql, values(sql, batch), duck.values(duckdb_spelling(sql), batch))
    assert compiled("s LIKE p", batch).columns() == {0, 1}


def test_trim_trims_spaces_only() -> None:
    # PostgreSQL's default trim character is the space; tabs, newlines and no-break
    # spaces stay (DuckDB trims them all)
    assert one("trim(E'\\t x \\n')") == "\t x \n"
    assert one("trim(E' \\u00a0x ')") == "\u00a0x"


def test_case_mapping_is_unicode() -> None:
    # As PostgreSQL in a UTF-8 locale (a C-locale server maps ASCII letters only)
    assert one("upper('wörld école')") == "WÖRLD ÉCOLE"
    assert one("lower('ÀÉ')") == "àé"
    assert one("'ÉCOLE' ILIKE 'école'") is True
    assert one("initcap('élan vital')") == "Élan Vital"


def test_string_types_and_nullability() -> None:
    assert compiled("length(s)", DATA).type == pa.int32()
    assert compiled("strpos(s, 'x')", DATA).type == pa.int32()
    assert compiled("concat(s, NULL)", DATA).nullable is False
    assert values("concat(NULL, s)", DATA) == ["Hello", "wörld ÉCOLE", "", "", "a%b_c\\d", "  x  "]


@pytest.mark.parametrize(
    ("sql", "sqlstate"),
    [
        ("substring(s, 1, -1)", "22011"),
        ("split_part(s, ',', 0)", "22023"),
        ("s LIKE 'x\\'", "22025"),
        ("repeat('ab', 2147483647)", "54000"),
        ("regexp_replace(s, '(', 'x')", "2201B"),
        ("length(1)", "42883"),
        ("i4 LIKE '1'", "42883"),
        ("replace(s, s, 'x')", "0A000"),
        ("regexp_replace(s, 'a', 'b', 'x')", "0A000"),
    ],
)
def test_string_errors(sql: str, sqlstate: str) -> None:
    assert sqlstate_of(sql, DATA) == sqlstate


def test_non_constant_arguments_that_need_a_constant() -> None:
    with pytest.raises(SqlError, match="must be a constant"):
        values("trim(both s from s)", DATA)

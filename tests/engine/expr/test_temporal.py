"""Dates and times: timestamp / date / time / interval arithmetic, date_trunc, extract /
date_part, to_char, to_timestamp, interval literals.  The literal table holds PostgreSQL
15's answers (session time zone UTC, checked against a real server when written); column
expressions are also checked against DuckDB where the two agree.

extract() and date_part() both return double precision here (PostgreSQL's extract returns
numeric): the table's numeric answers are compared as numbers.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

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


POSTGRESQL_ANSWERS: list[tuple[str, str | Err]] = [
    ("'2020-01-31 10:00'::timestamp + interval '1 month'", "2020-02-29 10:00:00"),
    ("'2020-01-31 10:00'::timestamp + interval '1 month 1 day'", "2020-03-01 10:00:00"),
    ("'2020-03-31'::timestamp - interval '1 month'", "2020-02-29 00:00:00"),
    ("'2024-02-29'::timestamp + interval '1 year'", "2025-02-28 00:00:00"),
    ("'2020-01-31 23:00'::timestamp + interval '2 hours'", "2020-02-01 01:00:00"),
    ("'2020-01-31 10:00'::timestamptz + interval '1 month'", "2020-02-29 10:00:00+00"),
    ("'2020-03-01'::timestamp - '2020-01-31 10:00'::timestamp", "29 days 14:00:00"),
    ("'2020-01-31 10:00'::timestamp - '2020-03-01'::timestamp", "-29 days -14:00:00"),
    ("'2020-01-01'::timestamp - '2020-01-01'::timestamp", "00:00:00"),
    ("'2020-03-01'::timestamptz - '2020-01-31 10:00'::timestamptz", "29 days 14:00:00"),
    ("'2020-03-01'::timestamp - '2020-01-31'::date", "30 days"),
    ("'2020-01-31'::date + 1", "2020-02-01"),
    ("'2020-01-31'::date - 1", "2020-01-30"),
    ("1 + '2020-01-31'::date", "2020-02-01"),
    ("'2020-03-01'::date - '2020-01-31'::date", "30"),
    ("'2020-01-31'::date + interval '1 month'", "2020-02-29 00:00:00"),
    ("'2020-01-31'::date - interval '1 hour'", "2020-01-30 23:00:00"),
    ("'2020-01-31'::date + '12:30'::time", "2020-01-31 12:30:00"),
    ("'23:00'::time + interval '2 hours'", "01:00:00"),
    ("'01:00'::time - interval '2 hours'", "23:00:00"),
    ("'12:00'::time - '10:30'::time", "01:30:00"),
    ("interval '1 day' + interval '2 hours'", "1 day 02:00:00"),
    ("interval '1 mon' - interval '1 day'", "1 mon -1 days"),
    ("interval '1 day 2 hours' * 1.5", "1 day 15:00:00"),
    ("interval '1 mon' * 1.5", "1 mon 15 days"),
    ("interval '1 mon' / 3", "10 days"),
    ("interval '1 hour' * -2", "-02:00:00"),
    ("2 * interval '1 minute'", "00:02:00"),
    ("interval '3 days' / 2", "1 day 12:00:00"),
    ("interval '1 day' / 0", Err("22012")),
    ("-interval '1 mon 2 days 03:00:00'", "-1 mons -2 days -03:00:00"),
    ("interval '1 month' = interval '30 days'", "true"),
    ("interval '1 day' = interval '24 hours'", "true"),
    ("interval '1 year' > interval '360 days'", "false"),
    (
        "date_trunc('microseconds', '2020-01-31 12:34:56.789123'::timestamp)",
        "2020-01-31 12:34:56.789123",
    ),
    (
        "date_trunc('milliseconds', '2020-01-31 12:34:56.789123'::timestamp)",
        "2020-01-31 12:34:56.789",
    ),
    ("date_trunc('second', '2020-01-31 12:34:56.789123'::timestamp)", "2020-01-31 12:34:56"),
    ("date_trunc('minute', '2020-01-31 12:34:56.789123'::timestamp)", "2020-01-31 12:34:00"),
    ("date_trunc('hour', '2020-01-31 12:34:56.789123'::timestamp)", "2020-01-31 12:00:00"),
    ("date_trunc('day', '2020-01-31 12:34:56.789123'::timestamp)", "2020-01-31 00:00:00"),
    ("date_trunc('week', '2020-01-31 12:34:56.789123'::timestamp)", "2020-01-27 00:00:00"),
    ("date_trunc('week', '2020-02-02'::timestamp)", "2020-01-27 00:00:00"),
    ("date_trunc('month', '2020-01-31 12:34:56.789123'::timestamp)", "2020-01-01 00:00:00"),
    ("date_trunc('quarter', '2020-05-31'::timestamp)", "2020-04-01 00:00:00"),
    ("date_trunc('year', '2020-05-31'::timestamp)", "2020-01-01 00:00:00"),
    ("date_trunc('decade', '2029-05-31'::timestamp)", "2020-01-01 00:00:00"),
    ("date_trunc('century', '2000-05-31'::timestamp)", "1901-01-01 00:00:00"),
    ("date_trunc('century', '2001-05-31'::timestamp)", "2001-01-01 00:00:00"),
    ("date_trunc('millennium', '2000-05-31'::timestamp)", "1001-01-01 00:00:00"),
    ("date_trunc('millennium', '2001-05-31'::timestamp)", "2001-01-01 00:00:00"),
    ("date_trunc('HOUR', '2020-01-31 12:34:56'::timestamptz)", "2020-01-31 12:00:00+00"),
    ("date_trunc('month', '2020-01-31'::date)", "2020-01-01 00:00:00+00"),
    ("date_trunc('fortnight', '2020-01-31'::timestamp)", Err("22023")),
    ("extract(year from '2020-01-31 12:34:56.789'::timestamp)", "2020"),
    ("extract(month from '2020-01-31 12:34:56.789'::timestamp)", "1"),
    ("extract(day from '2020-01-31 12:34:56.789'::timestamp)", "31"),
    ("extract(hour from '2020-01-31 12:34:56.789'::timestamp)", "12"),
    ("extract(minute from '2020-01-31 12:34:56.789'::timestamp)", "34"),
    ("extract(second from '2020-01-31 12:34:56.789'::timestamp)", "56.789000"),
    ("extract(milliseconds from '2020-01-31 12:34:56.789'::timestamp)", "56789.000"),
    ("extract(microseconds from '2020-01-31 12:34:56.789'::timestamp)", "56789000"),
    ("extract(epoch from '2020-01-31 12:34:56.789'::timestamp)", "1580474096.789000"),
    ("extract(epoch from '2020-01-31 12:34:56+02'::timestamptz)", "1580466896.000000"),
    ("extract(dow from '2020-02-02'::timestamp)", "0"),
    ("extract(isodow from '2020-02-02'::timestamp)", "7"),
    ("extract(doy from '2020-12-31'::timestamp)", "366"),
    ("extract(week from '2021-01-01'::timestamp)", "53"),
    ("extract(isoyear from '2021-01-01'::date)", "2020"),
    ("extract(quarter from '2020-08-01'::date)", "3"),
    ("extract(decade from '2029-01-01'::timestamp)", "202"),
    ("extract(century from '2000-01-01'::timestamp)", "20"),
    ("extract(century from '2001-01-01'::timestamp)", "21"),
    ("extract(millennium from '2001-01-01'::timestamp)", "3"),
    ("extract(epoch from interval '1 mon 2 days 00:00:03')", "2764803.000000"),
    ("extract(epoch from interval '1 year')", "31557600.000000"),
    ("extract(epoch from interval '-14 mons')", "-36741600.000000"),
    ("extract(minute from interval '-25:01:01')", "-1"),
    ("extract(second from interval '00:00:03.5')", "3.500000"),
    ("extract(day from interval '35 days')", "35"),
    ("extract(month from interval '-14 mons')", "-2"),
    ("extract(year from interval '-14 mons')", "-1"),
    ("extract(quarter from interval '8 mons')", "3"),
    ("extract(hour from '12:34:56'::time)", "12"),
    ("extract(second from '12:34:56.5'::time)", "56.500000"),
    ("extract(epoch from '12:34:56'::time)", "45296.000000"),
    ("extract(year from '12:34:56'::time)", Err("0A000")),
    ("extract(fortnight from '2020-01-01'::timestamp)", Err("22023")),
    ("extract(dow from interval '1 day')", Err("0A000")),
    ("date_part('year', '2020-05-01'::timestamp)", "2020"),
    ("date_part('epoch', '2020-05-01'::date)", "1588291200"),
    (
        "to_char('2020-01-05 08:04:09.123456'::timestamp, 'YYYY-MM-DD HH24:MI:SS')",
        "2020-01-05 08:04:09",
    ),
    (
        "to_char('2020-01-05 08:04:09.123456'::timestamp, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS')",
        "2020-01-05T08:04:09.123",
    ),
    ("to_char('2020-01-05 08:04:09.123456'::timestamp, 'HH12:MI AM')", "08:04 AM"),
    ("to_char('2020-01-05 20:04:09'::timestamp, 'hh12:mi pm')", "08:04 pm"),
    ("to_char('2020-01-05 00:04:09'::timestamp, 'HH12 HH am')", "12 12 am"),
    ("to_char('2020-01-05 12:04:09'::timestamp, 'HH12 A.M. p.m.')", "12 P.M. p.m."),
    ("to_char('2020-01-05 08:04:09'::timestamp, 'Mon DD YYYY')", "Jan 05 2020"),
    (
        "to_char('2020-05-05 08:04:09'::timestamp, 'MON mon Month MONTH month|')",
        "MAY may May       MAY       may      |",
    ),
    ("to_char('2020-05-05 08:04:09'::timestamp, 'FMMonth FMDD')", "May 5"),
    (
        "to_char('2020-01-05 08:04:09'::timestamp, 'Day Dy DAY dy day|')",
        "Sunday    Sun SUNDAY    sun sunday   |",
    ),
    ("to_char('2020-01-05 08:04:09'::timestamp, 'FMDay, FMDD FMMonth')", "Sunday, 5 January"),
    ("to_char('2020-01-05 08:04:09.123456'::timestamp, 'US MS')", "123456 123"),
    (
        "to_char('2020-01-05 08:04:09'::timestamp, 'Q IW DDD D ID YY YYY Y WW CC J')",
        "1 01 005 1 7 20 020 0 01 21 2458854",
    ),
    ("to_char('2021-01-01'::timestamp, 'IYYY-IW')", "2020-53"),
    ("to_char('2020-01-05'::date, 'YYYY/MM/DD')", "2020/01/05"),
    (
        "to_char('2020-01-05 08:04:09'::timestamptz, 'YYYY-MM-DD HH24:MI:SS TZ OF')",
        "2020-01-05 08:04:09 UTC +00",
    ),
    ("to_char('2020-01-05 08:04:09'::timestamp, 'yyyy-mm-dd hh24:mi:ss')", "2020-01-05 08:04:09"),
    ("to_char('2020-01-05 08:04:09'::timestamp, 'SSSS')", "29049"),
    (
        "to_char('2020-01-05 08:04:09'::timestamp, 'text: \"YYYY\" YYYY \\\"x')",
        'text: YYYY 2020 "x',
    ),
    ("to_char('2020-01-05 08:04:09'::timestamp, 'AD BC')", "AD AD"),
    ("to_timestamp(1600000000)", "2020-09-13 12:26:40+00"),
    ("to_timestamp(1.5)", "1970-01-01 00:00:01.5+00"),
    ("to_timestamp(-1)", "1969-12-31 23:59:59+00"),
    ("to_timestamp('NaN'::float8)", Err("22008")),
]


@pytest.mark.parametrize(("sql", "expected"), POSTGRESQL_ANSWERS)
def test_dates_and_times_as_postgresql(sql: str, expected: str | Err) -> None:
    if isinstance(expected, Err):
        assert sqlstate_of(f"({sql})::text") == expected.sqlstate
    elif sql.startswith(("extract", "date_part")):
        assert one(sql) == float(expected)
    else:
        assert one(f"({sql})::text") == expected


DUCKDB_AGREES = [
    "ts + INTERVAL '1 month'",
    "ts - INTERVAL '1 month'",
    "ts + INTERVAL '10' SECOND",
    "ts + iv",
    "ts - iv",
    "d + iv",
    "tz + INTERVAL '1 day 2 hours'",
    "d + 30",
    "d - 1",
    "d - DATE '2000-01-01'",
    "d + tm",
    "ts - INTERVAL '1 year'",
    "iv + iv",
    "iv - INTERVAL '1 day'",
    "date_trunc('hour', ts)",
    "date_trunc('day', ts)",
    "date_trunc('week', ts)",
    "date_trunc('month', ts)",
    "date_trunc('quarter', ts)",
    "date_trunc('year', ts)",
    "date_trunc('minute', tz)",
    "date_trunc('second', ts)",
    "date_trunc('millisecond', ts)",
    "date_trunc('decade', ts)",
    "extract(year FROM ts)",
    "extract(month FROM ts)",
    "extract(day FROM ts)",
    "extract(hour FROM ts)",
    "extract(minute FROM ts)",
    "extract(epoch FROM ts)",
    "extract(epoch FROM tz)",
    "extract(dow FROM ts)",
    "extract(isodow FROM ts)",
    "extract(doy FROM ts)",
    "extract(week FROM ts)",
    "extract(isoyear FROM ts)",
    "extract(quarter FROM d)",
    "extract(microseconds FROM ts)",
    "extract(hour FROM tm)",
    "date_part('year', d)",
    "extract(day FROM iv)",
    "extract(epoch FROM tm)",
    "ts < d",
    "tz >= ts",
    "d = ts",
    "ts BETWEEN '2000-01-01' AND '2020-12-31'",
    "tm < '12:00'",
]


@pytest.mark.parametrize("sql", DUCKDB_AGREES)
def test_dates_and_times_match_duckdb(sql: str, duck: DuckDB) -> None:
    assert_same(sql, values(sql, DATA), duck.values(sql, DATA))


@pytest.mark.parametrize(
    ("sql", "arrow_type"),
    [
        ("ts + iv", pa.timestamp("us")),
        ("tz - iv", pa.timestamp("us", tz="UTC")),
        ("d + iv", pa.timestamp("us")),
        ("d + 1", pa.date32()),
        ("d - d", pa.int32()),
        ("ts - ts", pa.month_day_nano_interval()),
        ("tz - ts", pa.month_day_nano_interval()),
        ("tm - tm", pa.month_day_nano_interval()),
        ("iv * 2", pa.month_day_nano_interval()),
        ("date_trunc('day', ts)", pa.timestamp("us")),
        ("date_trunc('day', tz)", pa.timestamp("us", tz="UTC")),
        ("date_trunc('day', d)", pa.timestamp("us", tz="UTC")),
        ("extract(year FROM ts)", pa.float64()),
        ("to_char(ts, 'YYYY')", pa.string()),
        ("to_timestamp(i4)", pa.timestamp("us", tz="UTC")),
    ],
)
def test_result_types(sql: str, arrow_type: pa.DataType) -> None:
    assert compiled(sql, DATA).type == arrow_type


def test_timestamp_differences_are_days_and_time() -> None:
    # PostgreSQL's timestamp - timestamp is justified into days and time, never months
    assert values("ts - TIMESTAMP '2020-01-01'", DATA.slice(0, 3)) == [
        pa.MonthDayNano([0, 30, 45_296_789_000_000]),
        pa.MonthDayNano([0, -7305, -1_000_000_000]),
        pa.MonthDayNano([0, 1520, 0]),
    ]


def test_month_arithmetic_clamps_the_day() -> None:
    assert values("d + INTERVAL '1 month'", DATA) == [
        datetime.datetime(2020, 2, 29),
        datetime.datetime(2000, 1, 31),
        datetime.datetime(2024, 3, 29),
        None,
        datetime.datetime(1970, 2, 1),
        datetime.datetime(2000, 4, 1),
    ]


def test_extract_seconds_keeps_the_fraction() -> None:
    # DuckDB's second is an integer; PostgreSQL's has the fraction
    assert values("extract(second FROM ts)", DATA) == [56.789, 59.0, 0.0, None, 0.0, 8.123456]
    assert values("extract(milliseconds FROM ts)", DATA) == [
        56789.0,
        59000.0,
        0.0,
        None,
        0.0,
        8123.456,
    ]


def test_interval_columns() -> None:
    assert values("extract(epoch FROM iv)", DATA) == [
        2764803.0,
        -36741600.0,
        -79200.0,
        None,
        0.0,
        2933939.0,
    ]
    assert values("extract(hour FROM iv)", DATA) == [0.0, 0.0, 2.0, None, 0.0, -25.0]
    assert values("-iv", DATA)[1] == pa.MonthDayNano([14, 0, 0])
    assert values("iv * 1.5", DATA)[0] == pa.MonthDayNano([1, 18, 4_500_000_000])
    assert values("iv / 2", DATA)[5] == pa.MonthDayNano(
        [0, 17, -1_830_500_000_000]
    )  # 17 days -00:30:30.5


def test_to_char_of_columns() -> None:
    assert values("to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US')", DATA) == [
        "2020-01-31 12:34:56.789000",
        "1999-12-31 23:59:59.000000",
        "2024-02-29 00:00:00.000000",
        None,
        "1970-01-01 00:00:00.000000",
        "2000-06-15 06:07:08.123456",
    ]
    assert values("to_char(d, 'FMDay FMDD FMMonth YYYY')", DATA) == [
        "Friday 31 January 2020",
        "Friday 31 December 1999",
        "Thursday 29 February 2024",
        None,
        "Thursday 1 January 1970",
        "Wednesday 1 March 2000",
    ]
    assert values("to_char(tz, 'HH12:MI am TZ')", DATA) == [
        "12:34 pm UTC",
        None,
        "02:30 am UTC",
        None,
        "12:00 am UTC",
        "03:14 am UTC",
    ]


@pytest.mark.parametrize(
    ("sql", "sqlstate"),
    [
        ("date_trunc('fortnight', ts)", "22023"),
        ("extract(fortnight FROM ts)", "22023"),
        ("extract(year FROM tm)", "0A000"),
        ("date_trunc('da' || 'y', ts)", "0A000"),
        ("to_char(ts, 'RM')", "0A000"),
        ("to_char(ts, 'DDth')", "0A000"),
        ("to_char(iv, 'HH')", "0A000"),
        ("date_trunc('day', '2020-01-01')", "42725"),
        ("iv / 0", "22012"),
        ("to_timestamp('NaN'::float8)", "22008"),
        ("d + i8", "42883"),
        ("ts + d", "42883"),
        ("ts AT TIME ZONE 'Europe/Paris'", "0A000"),
    ],
)
def test_temporal_errors(sql: str, sqlstate: str) -> None:
    assert sqlstate_of(sql, DATA) == sqlstate


def test_at_time_zone_utc() -> None:
    assert compiled("ts AT TIME ZONE 'UTC'", DATA).type == pa.timestamp("us", tz="UTC")
    assert compiled("tz AT TIME ZONE 'UTC'", DATA).type == pa.timestamp("us")
    assert values("(tz AT TIME ZONE 'UTC')::text", DATA)[0] == "2020-01-31 12:34:56"


@pytest.mark.parametrize("ordered", [True, False])
def test_to_char_of_many_rows_formats_each_row(ordered: bool) -> None:
    """A long column is formatted once per distinct day / hour / minute ... it holds; each
    row still gets its own text: the same as formatting it in short slices, in order of
    arrival or not, across midnight, before 1970 and with NULLs."""
    rng = np.random.default_rng(7)
    base = int(datetime.datetime(1969, 12, 31, 22).timestamp()) * 1_000_000
    micros = base + np.cumsum(rng.integers(0, 90_000_000, 4000))  # ~1.5 min apart
    if not ordered:
        rng.shuffle(micros)
    stamps = pa.array(micros, pa.timestamp("us"))
    mask = pa.array(rng.random(4000) < 0.05)
    batch = pa.record_batch({"ts": pc.if_else(mask, pa.scalar(None, stamps.type), stamps)})
    for template in ("YYYY-MM-DD", "HH24:MI", "HH12 am Dy", "YYYY-MM-DD HH24:MI:SS.MS",
                     "SSSS", "J IW", "US"):
        expr = compiled(f"to_char(ts, '{template}')", batch)
        whole = expr.evaluate(batch).to_pylist()
        sliced = [v for start in range(0, 4000, 50)
                  for v in expr.evaluate(batch.slice(start, 50)).to_pylist()]
        assert whole == sliced, template
        assert sum(v is None for v in whole) == mask.true_count

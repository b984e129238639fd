'use strict';
// node-postgres (pg 8.23.1) with its default pg-types parsers: dump what the driver hands
// the application for each query, so tests/clients/test_node_types.py can compare
// laminar_pg with a real PostgreSQL 15 (same script, same queries, both servers).
//
// Usage: node types_dump.js HOST PORT USER DATABASE TABLE
// Prints one JSON object: query name -> {fields: [[name, dataTypeID]], rows: [...]} or
// {error: "SQLSTATE message"}. Values the parsers produce are tagged where JSON would lose
// their type: Date -> {date: ISO string}, Buffer -> {bytes: hex}, interval objects keep
// their fields.

const pg = require('pg');

const [host, port, user, database, table] = process.argv.slice(2);

function tagged(value) {
  if (value instanceof Date) {
    return { date: Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString() };
  }
  if (Buffer.isBuffer(value)) {
    return { bytes: value.toString('hex') };
  }
  if (Array.isArray(value)) {
    return value.map(tagged);
  }
  if (value !== null && typeof value === 'object') {
    const out = { type: value.constructor && value.constructor.name === 'PostgresInterval' ? 'interval' : 'object' };
    for (const key of Object.keys(value).sort()) {
      out[key] = tagged(value[key]);
    }
    return out;
  }
  return value;
}

const queries = {
  'int and text arrays': "SELECT ARRAY[1, 2, NULL]::int4[] AS i4, ARRAY[1, 9007199254740993]::int8[] AS i8, " +
    "ARRAY['a', 'b c', NULL, '\"q\"', ''] ::text[] AS t, ARRAY[]::int4[] AS empty, ARRAY[true, false]::bool[] AS b",
  'float and numeric arrays': 'SELECT ARRAY[1.5, -2.25]::float8[] AS f8, ARRAY[1.5]::float4[] AS f4, ' +
    "ARRAY[12345.678, 0.1]::numeric[] AS num, ARRAY[1, 2]::int2[] AS i2",
  'timestamp arrays': "SELECT ARRAY[TIMESTAMP '2024-01-02 03:04:05.678', NULL]::timestamp[] AS ts, " +
    "ARRAY['2024-01-02 03:04:05+02'::timestamptz] AS tstz, ARRAY[DATE '2024-02-29'] AS d",
  'jsonb and json': "SELECT '{\"a\": [1, 2.5, \"x\"], \"b\": null, \"c\": {\"d\": true}}'::jsonb AS jb, " +
    "'[1, \"two\"]'::json AS j, '\"s\"'::jsonb AS s, '3'::jsonb AS n, " +
    "ARRAY['{\"k\": 1}'::jsonb, '[2]'::jsonb] AS jb_array, '{1,2}'::jsonb[] AS jb_cast_array",
  'timestamps': "SELECT TIMESTAMP '2024-01-02 03:04:05.678901' AS ts, " +
    "TIMESTAMPTZ '2024-06-30 23:59:59.5+00' AS tstz, DATE '1999-12-31' AS d, TIME '12:34:56' AS t, " +
    "TIMESTAMP '1970-01-01 00:00:00' AS epoch",
  'numeric and integers': 'SELECT 12345678901234567890.123456789::numeric AS big, 0.1::numeric AS small, ' +
    "(-5)::numeric(10,2) AS neg, 42::int2 AS i2, 42::int4 AS i4, 42::int8 AS i8, 1.5::float4 AS f4, " +
    "2.5::float8 AS f8, 'NaN'::float8 AS nan",
  'interval, bytea, uuid, bool': "SELECT INTERVAL '1 day 02:03:04' AS iv, '\\x00ff10'::bytea AS by, " +
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, true AS b, NULL::text AS nothing",
  'table columns': `SELECT * FROM ${table} ORDER BY id`,
  'parameters': {
    text: 'SELECT $1::int4[] AS a, $2::jsonb AS j, $3::timestamptz AS ts, $4::numeric AS n, $5::text[] AS t',
    values: [[1, 2, 3], { k: [1, 'v'] }, new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), '123.450', ['x', 'y z']],
  },
};

async function main() {
  const client = new pg.Client({ host, port: Number(port), user, database });
  await client.connect();
  const out = {};
  for (const [name, query] of Object.entries(queries)) {
    try {
      const res = await client.query(query);
      out[name] = {
        fields: res.fields.map((f) => [f.name, f.dataTypeID]),
        rows: res.rows.map((row) => res.fields.map((f) => tagged(row[f.name]))),
      };
    } catch (e) {
      out[name] = { error: `${e.code} ${e.message}` };
    }
  }
  await client.end();
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
}

main().catch((e) => {
  process.stderr.write(`fatal: ${e.stack}\n`);
  process.exit(2);
});

'use strict';
// node-postgres (pg 8.23.1) against a running laminar_pg server.
//
// Usage: node client_test.js [host] [port]   (or LAMINAR_HOST / LAMINAR_PORT)
// Plain node, no test framework: every check throws on failure, and the process exits 0
// only when all of them pass (non-zero with the failing check and its values otherwise).
// Run by tests/clients/test_node.py against the shared pytest `server` fixture.

const assert = require('node:assert/strict');
const pg = require('pg');

const host = process.argv[2] || process.env.LAMINAR_HOST || '127.0.0.1';
const port = Number(process.argv[3] || process.env.LAMINAR_PORT || 5432);
const config = { host, port, user: 'laminar', database: 'laminar' };

const checks = [];
function check(name, fn) {
  checks.push({ name, fn });
}

check('simple query', async (client) => {
  const res = await client.query("SELECT 1 AS one, 'two' AS two");
  assert.deepEqual(res.rows, [{ one: 1, two: 'two' }]);
  assert.deepEqual(res.fields.map((f) => f.name), ['one', 'two']);
  assert.equal(res.rowCount, 1);
  assert.equal(res.command, 'SELECT');
});

check('parameterised query (extended protocol)', async (client) => {
  const res = await client.query('SELECT $1::int4 + $2::int4 AS s', [2, 3]);
  assert.deepEqual(res.rows, [{ s: 5 }]);
  const text = await client.query('SELECT $1::text || $2::text AS t, $3::int4 IS NULL AS n', ['a', 'é', null]);
  assert.deepEqual(text.rows, [{ t: 'aé', n: true }]);
});

check('named prepared statement executed twice', async (client) => {
  const first = await client.query({ name: 'p', text: 'SELECT $1::int8 * 2 AS d', values: [21] });
  assert.deepEqual(first.rows, [{ d: '42' }]); // int8 is a string in node-postgres
  const second = await client.query({ name: 'p', text: 'SELECT $1::int8 * 2 AS d', values: [50] });
  assert.deepEqual(second.rows, [{ d: '100' }]);
});

check('multi-row generate_series (10k rows)', async (client) => {
  const res = await client.query('SELECT x::int4 AS x, (x * 2)::int4 AS y FROM generate_series(1, 10000) g(x)');
  assert.equal(res.rowCount, 10000);
  assert.equal(res.rows.length, 10000);
  res.rows.forEach((row, i) => {
    if (row.x !== i + 1 || row.y !== 2 * (i + 1)) {
      throw new Error(`row ${i}: ${JSON.stringify(row)}`);
    }
  });
});

check('generate_series(int4, int4) yields int4', async (client) => {
  // PostgreSQL: generate_series(int4, int4) RETURNS SETOF int4 (OID 23), so pg hands out numbers.
  const res = await client.query('SELECT x, x * 2 AS y FROM generate_series(1, 3) g(x)');
  assert.deepEqual(res.fields.map((f) => f.dataTypeID), [23, 23]);
  assert.deepEqual(res.rows, [{ x: 1, y: 2 }, { x: 2, y: 4 }, { x: 3, y: 6 }]);
});

check('int8 / numeric / bool / text / timestamp / json values', async (client) => {
  const res = await client.query(
    "SELECT 9007199254740993::int8 AS i8, 12345.678::numeric AS num, true AS b, false AS f, " +
      "'héllo'::text AS t, TIMESTAMP '2024-01-02 03:04:05.678' AS ts, " +
      "'{\"a\": [1, 2], \"b\": null}'::json AS j, NULL::int4 AS n"
  );
  assert.equal(res.rows.length, 1);
  const row = res.rows[0];
  assert.equal(row.i8, '9007199254740993');
  assert.equal(row.num, '12345.678');
  assert.equal(row.b, true);
  assert.equal(row.f, false);
  assert.equal(row.t, 'héllo');
  // node-postgres parses `timestamp without time zone` as local time.
  assert.ok(row.ts instanceof Date, `timestamp is ${typeof row.ts}`);
  assert.equal(row.ts.getTime(), new Date(2024, 0, 2, 3, 4, 5, 678).getTime());
  assert.deepEqual(row.j, { a: [1, 2], b: null });
  assert.equal(row.n, null);
  const types = Object.fromEntries(res.fields.map((f) => [f.name, f.dataTypeID]));
  assert.deepEqual(types, { i8: 20, num: 1700, b: 16, f: 16, t: 25, ts: 1114, j: 114, n: 23 });
});

check('error carries SQLSTATE, then the connection still works', async (client) => {
  await assert.rejects(client.query('SELECT 1/0'), (err) => {
    assert.equal(err.code, '22012');
    assert.match(err.message, /division by zero/);
    assert.equal(err.severity, 'ERROR');
    return true;
  });
  await assert.rejects(client.query('SELECT $1::int4 / 0', [1]), (err) => err.code === '22012');
  await assert.rejects(client.query('SELEC 1'), (err) => err.code === '42601');
  const res = await client.query('SELECT 7 AS ok');
  assert.deepEqual(res.rows, [{ ok: 7 }]);
});

check('BEGIN / COMMIT and ROLLBACK after an error', async (client) => {
  await client.query('BEGIN');
  const res = await client.query('SELECT $1::int4 AS v', [1]);
  assert.deepEqual(res.rows, [{ v: 1 }]);
  const commit = await client.query('COMMIT');
  assert.equal(commit.command, 'COMMIT');
  await client.query('BEGIN');
  await assert.rejects(client.query('SELECT 1/0'), (err) => err.code === '22012');
  await assert.rejects(client.query('SELECT 1'), (err) => err.code === '25P02');
  const rollback = await client.query('ROLLBACK');
  assert.equal(rollback.command, 'ROLLBACK');
  assert.deepEqual((await client.query('SELECT 2 AS v')).rows, [{ v: 2 }]);
});

check('pg.Pool with 10 concurrent queries', async () => {
  const pool = new pg.Pool({ ...config, max: 10 });
  try {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        pool.query('SELECT $1::int4 * 10 AS v, count(*)::int4 AS c FROM generate_series(1, $2::int4) g(x)', [i, 100 + i])
      )
    );
    results.forEach((res, i) => assert.deepEqual(res.rows, [{ v: i * 10, c: 100 + i }]));
    assert.ok(pool.totalCount > 1, `pool opened ${pool.totalCount} connection(s)`);
  } finally {
    await pool.end();
  }
});

async function main() {
  const client = new pg.Client(config);
  await client.connect();
  let failed = 0;
  try {
    for (const { name, fn } of checks) {
      const start = Date.now();
      try {
        await fn(client);
        console.log(`ok   ${name} (${Date.now() - start} ms)`);
      } catch (err) {
        failed += 1;
        console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
      }
    }
  } finally {
    await client.end();
  }
  if (failed) {
    console.log(`${failed} of ${checks.length} checks failed`);
    process.exit(1);
  }
  console.log(`all ${checks.length} checks passed`);
}

main().catch((err) => {
  console.error(`FAIL connection: ${err && err.stack ? err.stack : err}`);
  process.exit(2);
});

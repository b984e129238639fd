"""Table benchmark: loading and reading durable tables, laminar_pg side by side with PostgreSQL 15.

Same client (psycopg 3), same machine, one connection per measurement. PostgreSQL and
laminar_pg take turns (PG, laminar, PG, laminar, ...) so that drift in the machine's load hits
both; the table gives medians, the median of the per-round ratios laminar/PostgreSQL and the
min-max of those ratios (as bench/wire.py does).

    python -m bench.tables                    # from the repository root
    laminar-pg bench tables --only point_lookup_simple --rounds 3 --json /tmp/t.json

The rows (`--rows`, default 1,000,000) are one realistic order-ish table, generated once,
before anything is timed, with a fixed seed:

    id    bigint          1..N in order
    name  text            "customer 123456 Smith": 16-26 characters, no quoting needed
    price numeric(10,2)   0.01 .. 9999.99
    ts    timestamp       one year from 2024-01-01, whole seconds

Measurements:
- copy_from / copy_from_csv / copy_from_pk: `COPY t FROM STDIN` (text, CSV; and text into a
  table with a PRIMARY KEY) of all rows into a table created just before each round (and
  dropped after it), written through `cursor.copy()` in 1 MiB chunks; timed from the COPY statement to
  the acknowledged commit (autocommit: CommandComplete is the commit). rows/s.
- insert_multirow: `INSERT INTO t VALUES (...), ...` of 1,000 rows per statement, literal SQL
  over the simple protocol, each statement its own (autocommit) transaction, `--insert-rows`
  (default 100,000) rows per round into a fresh table. rows/s.
- point_lookup_simple / point_lookup_prepared: `SELECT * FROM t WHERE id = <random id>` on a
  table with `id bigint PRIMARY KEY` holding all rows (loaded by COPY once per server, before
  the first lookup round), simple protocol with the id as a literal (`prepare=False`), or a
  server-side prepared statement with an int8 parameter (`prepare=True`). ops/s over
  `--seconds` (default 3) after a warm-up.

A fresh laminar_pg server is started for each measurement (one PostgreSQL for the whole
run), so that what one measurement leaves behind (memory, log size) does not weigh on the
next; each round creates its table under a new name and drops it afterwards.

Every measurement checks its answer (row counts and sums after loading; whole rows for a
sample of lookups) outside the timing. PostgreSQL runs with `fsync=off`
(laminar_pg.testing.postgres); laminar_pg syncs its change log on every commit.

Index report: `EXPLAIN [ANALYZE] SELECT * FROM t WHERE id = 5` is tried on laminar_pg, and DuckDB (the
engine inside laminar_pg) is asked directly, in this process, how it plans and how fast it
runs that lookup on a 1M-row table with a PRIMARY KEY: the floor for laminar_pg's lookup.

`--profile DIR` (needs py-spy: .venv/bin/py-spy or on PATH) records the laminar_pg server
with `py-spy record --threads -f raw` during each laminar_pg run, writes the collapsed stacks
to DIR/<measurement>-<round>.txt and prints the functions with the largest inclusive share.
"""

# No `from __future__ import annotations`: `laminar-pg bench` loads this file by path without
# registering it in sys.modules, and dataclasses then cannot resolve string annotations.
import argparse
import collections
import dataclasses
import datetime
import decimal
import itertools
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if not __package__:  # run by path (`python bench/tables.py`, `laminar-pg bench tables`)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import psycopg
from psycopg.types.numeric import Int8

from bench import harness
from bench.harness import Figures, Measurement, Target, expect, rate
from laminar_pg.testing.postgres import start_postgres
from laminar_pg.testing.server import LaminarServer

WARMUP_SECONDS = 0.5
CHUNK_BYTES = 1 << 20
INSERT_BATCH = 1_000
VERIFY_LOOKUPS = 200
SEED = 20261124
EPOCH = datetime.datetime(2024, 1, 1)
SURNAMES = ("Smith", "Jones", "Garcia", "Müller", "Rossi", "Nakamura", "Okafor", "Larsen",
            "Dubois", "Kowalski", "Silva", "Novak")  # fmt: skip
TABLE_DDL = "(id bigint{pk}, name text, price numeric(10,2), ts timestamp)"
LOOKUP_TABLE = "bench_lookup"


@dataclass(frozen=True)
class Settings:
    """What the command line asked for."""

    rounds: int = 5
    rows: int = 1_000_000
    insert_rows: int = 100_000
    seconds: float = 3.0
    warmup: float = WARMUP_SECONDS


class Dataset:
    """The rows, generated once: as Python values (to check answers), as COPY text and CSV
    chunks, and as multi-row INSERT statements."""

    def __init__(self, rows: int, insert_rows: int) -> None:
        rng = random.Random(SEED)
        self.rows = rows
        names: list[str] = []
        cents: list[int] = []
        seconds: list[int] = []
        year = 366 * 86_400
        for i in range(1, rows + 1):
            names.append(f"customer {i} {SURNAMES[rng.randrange(len(SURNAMES))]}")
            cents.append(rng.randint(1, 999_999))
            seconds.append(rng.randrange(year))
        self.names = names
        self.cents = cents
        self.seconds = seconds
        self.id_sum = rows * (rows + 1) // 2
        self.cents_sum = sum(cents)
        text_lines = [
            f"{i}\t{n}\t{c // 100}.{c % 100:02d}\t{EPOCH + datetime.timedelta(seconds=s)}\n"
            for i, (n, c, s) in enumerate(zip(names, cents, seconds, strict=True), start=1)
        ]
        self.text_chunks = _chunks(text_lines)
        self.csv_chunks = _chunks([line.replace("\t", ",") for line in text_lines])
        n_insert = min(insert_rows, rows)
        self.insert_rows = n_insert
        self.insert_id_sum = n_insert * (n_insert + 1) // 2
        self.insert_statements: list[str] = []
        for start in range(0, n_insert, INSERT_BATCH):
            values = ", ".join(
                f"({i}, '{names[i - 1]}', {cents[i - 1] // 100}.{cents[i - 1] % 100:02d}, "
                f"'{EPOCH + datetime.timedelta(seconds=seconds[i - 1])}')"
                for i in range(start + 1, min(start + INSERT_BATCH, n_insert) + 1)
            )
            self.insert_statements.append("INSERT INTO {table} VALUES " + values)

    def row(self, i: int) -> tuple[int, str, decimal.Decimal, datetime.datetime]:
        """Row `id = i` as psycopg returns it."""
        c = self.cents[i - 1]
        return (i, self.names[i - 1], decimal.Decimal(c).scaleb(-2),
                EPOCH + datetime.timedelta(seconds=self.seconds[i - 1]))  # fmt: skip


def _chunks(lines: list[str]) -> list[bytes]:
    """Join lines into chunks of about CHUNK_BYTES, split on line boundaries."""
    out: list[bytes] = []
    part: list[str] = []
    size = 0
    for line in lines:
        part.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            out.append("".join(part).encode())
            part, size = [], 0
    if part:
        out.append("".join(part).encode())
    return out


# A workload: `run(target, settings, data)` returns units (rows or ops) per second.
Run = Callable[[Target, Settings, Dataset], float]


def _connect(target: Target) -> psycopg.Connection[Any]:
    return psycopg.connect(target.dsn, autocommit=True)


# --------------------------------------------------------------------------- loading


_table_numbers = itertools.count(1)


def _fresh_table(cur: psycopg.Cursor[Any], prefix: str, primary_key: bool) -> str:
    """CREATE a new table and return its name. Each call uses a new name, so that a DROP
    TABLE that failed to drop (laminar_pg had such a bug, see docs/benchmarks.md "Tables")
    cannot turn into a "relation already exists" error."""
    table = f"{prefix}_{next(_table_numbers)}"
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} " + TABLE_DDL.format(pk=" PRIMARY KEY" if primary_key else ""))
    return table


def _copy_in(cur: psycopg.Cursor[Any], table: str, chunks: Sequence[bytes], csv: bool) -> float:
    """COPY the chunks into `table`; the seconds from the statement to CommandComplete."""
    sql = f"COPY {table} FROM STDIN" + (" (FORMAT csv)" if csv else "")
    start = time.perf_counter()
    with cur.copy(sql) as copy:
        for chunk in chunks:
            copy.write(chunk)
    return time.perf_counter() - start


def _check_loaded(cur: psycopg.Cursor[Any], table: str, rows: int, id_sum: int,
                  cents_sum: int | None) -> None:  # fmt: skip
    got = cur.execute(f"SELECT count(*), sum(id), sum(price) FROM {table}", prepare=False).fetchone()
    assert got is not None
    want_cents = decimal.Decimal(cents_sum).scaleb(-2) if cents_sum is not None else got[2]
    expect(f"{table} count, sum(id), sum(price)", (got[0], int(got[1]), got[2]),
            (rows, id_sum, want_cents))  # fmt: skip


def _copy_measurement(csv: bool, primary_key: bool) -> Run:
    def run(target: Target, settings: Settings, data: Dataset) -> float:
        with _connect(target) as conn, conn.cursor() as cur:
            table = _fresh_table(cur, "bench_copy", primary_key)
            elapsed = _copy_in(cur, table, data.csv_chunks if csv else data.text_chunks, csv)
            _check_loaded(cur, table, data.rows, data.id_sum, data.cents_sum)
            cur.execute(f"DROP TABLE {table}")
        return data.rows / elapsed

    return run


def _insert_multirow(target: Target, settings: Settings, data: Dataset) -> float:
    """Multi-row INSERTs of 1,000 literal rows, simple protocol, one transaction each."""
    with _connect(target) as conn, conn.cursor() as cur:
        table = _fresh_table(cur, "bench_insert", primary_key=False)
        statements = [s.replace("{table}", table, 1) for s in data.insert_statements]
        start = time.perf_counter()
        for sql in statements:
            cur.execute(sql, prepare=False)
        elapsed = time.perf_counter() - start
        _check_loaded(cur, table, data.insert_rows, data.insert_id_sum,
                      sum(data.cents[: data.insert_rows]))  # fmt: skip
        cur.execute(f"DROP TABLE {table}")
    return data.insert_rows / elapsed


# --------------------------------------------------------------------------- point lookups

# (label, port, pid) -> (table, COPY seconds)
_loaded_lookup: dict[tuple[str, int, int], tuple[str, float]] = {}


def _ensure_lookup_table(target: Target, data: Dataset) -> str:
    """Create and COPY-load the PRIMARY KEY table once per server."""
    key = (target.label, target.port, target.pid)
    if key in _loaded_lookup:
        return _loaded_lookup[key][0]
    with _connect(target) as conn, conn.cursor() as cur:
        table = _fresh_table(cur, LOOKUP_TABLE, primary_key=True)
        elapsed = _copy_in(cur, table, data.text_chunks, csv=False)
        _check_loaded(cur, table, data.rows, data.id_sum, data.cents_sum)
        if target.label == "postgres":
            cur.execute(f"VACUUM ANALYZE {table}")
    _loaded_lookup[key] = (table, elapsed)
    print(f"  loaded {table} ({data.rows:,} rows, PRIMARY KEY) on {target.label} in "
          f"{elapsed:.2f} s", file=sys.stderr, flush=True)  # fmt: skip
    return table


def _lookup_measurement(prepared: bool) -> Run:
    def run(target: Target, settings: Settings, data: Dataset) -> float:
        table = _ensure_lookup_table(target, data)
        rng = random.Random(SEED + 1)
        ids = [rng.randint(1, data.rows) for _ in range(1 << 16)]
        with _connect(target) as conn, conn.cursor() as cur:
            if prepared:
                sql = f"SELECT * FROM {table} WHERE id = %s"

                def lookup(i: int) -> Any:
                    return cur.execute(sql, (Int8(i),), prepare=True).fetchone()
            else:

                def lookup(i: int) -> Any:
                    return cur.execute(f"SELECT * FROM {table} WHERE id = {i}",
                                       prepare=False).fetchone()  # fmt: skip

            for i in [1, data.rows, *ids[:VERIFY_LOOKUPS]]:
                expect(f"{target.label} lookup id = {i}", lookup(i), data.row(i))
            expect(f"{target.label} lookup of a missing id", lookup(data.rows + 1), None)
            n = 0

            def op() -> int:
                nonlocal n
                i = ids[n & 0xFFFF]
                n += 1
                row = lookup(i)
                if row is None or row[0] != i:
                    raise RuntimeError(f"{target.label} lookup id = {i} returned {row!r}")
                return 1

            return rate(op, settings)

    return run


def laminar_explain(target: Target) -> str:
    """What laminar_pg says to `EXPLAIN SELECT * FROM t WHERE id = 5` (or its error), on a
    small table with the same columns and key."""
    table = "bench_explain"
    out = []
    with _connect(target) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} " + TABLE_DDL.format(pk=" PRIMARY KEY"))
        cur.execute(f"INSERT INTO {table} SELECT g, 'x', 1.5, '2024-01-01' "
                    "FROM generate_series(1, 1000) g")  # fmt: skip
        for explain in ("EXPLAIN", "EXPLAIN ANALYZE"):
            sql = f"{explain} SELECT * FROM {table} WHERE id = 5"
            try:
                rows = cur.execute(sql, prepare=False).fetchall()
            except psycopg.Error as exc:
                state = exc.diag.sqlstate or "?"
                out.append(f"`{sql}` -> ERROR {state}: {str(exc).splitlines()[0]}")
                continue
            text = "\n".join(str(r[-1]) for r in rows)
            kind = [line.strip(" │|") for line in text.splitlines() if "Type:" in line]
            out.append(f"`{sql}` -> " + (", ".join(kind) if kind else "\n" + text))
    return "\n".join(out)


def duckdb_lookup_report(rows: int, runs: int = 1000) -> dict[str, Any]:
    """DuckDB in-process: plan and median time of one PRIMARY KEY lookup on `rows` rows."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, price DECIMAL(10,2), "
                "ts TIMESTAMP)")  # fmt: skip
    con.execute(
        "INSERT INTO t SELECT i, 'customer ' || i || ' Smith', (hash(i) % 999999 + 1) / 100, "
        f"TIMESTAMP '2024-01-01' + to_seconds(hash(i) % 31622400) FROM range(1, {rows + 1}) r(i)"
    )
    con.execute("CREATE TABLE t_nopk AS SELECT * FROM t")
    plan = con.execute("EXPLAIN SELECT * FROM t WHERE id = 5").fetchall()[0][1]
    analyzed = con.execute("EXPLAIN ANALYZE SELECT * FROM t WHERE id = 5").fetchall()[0][1]

    def scan_type(text: str) -> str:
        for line in text.splitlines():
            if "Type:" in line:
                return line.split("Type:", 1)[1].strip(" │|")
        return "?"

    rng = random.Random(SEED + 2)

    def median_us(fn: Callable[[int], object]) -> float:
        times = []
        for _ in range(runs):
            i = rng.randint(1, rows)
            start = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e6

    expect("duckdb lookup", con.execute("SELECT id FROM t WHERE id = 5").fetchall(), [(5,)])
    con.execute("PREPARE p AS SELECT * FROM t WHERE id = $1")
    return {
        "explain_scan_type": scan_type(plan),
        "explain_analyze_scan_type": scan_type(analyzed),
        "literal_fetchall_us": median_us(
            lambda i: con.execute(f"SELECT * FROM t WHERE id = {i}").fetchall()),
        "param_fetchall_us": median_us(
            lambda i: con.execute("SELECT * FROM t WHERE id = $1", [i]).fetchall()),
        "prepared_execute_fetchall_us": median_us(
            lambda i: con.execute(f"EXECUTE p({i})").fetchall()),
        "literal_arrow_us": median_us(
            lambda i: con.sql(f"SELECT * FROM t WHERE id = {i}").to_arrow_table()),
        "no_pk_literal_fetchall_us": median_us(
            lambda i: con.execute(f"SELECT * FROM t_nopk WHERE id = {i}").fetchall()),
        "runs": runs,
        "rows": rows,
        "duckdb": duckdb.__version__,
    }  # fmt: skip


MEASUREMENTS: tuple[Measurement[Run], ...] = (
    Measurement("copy_from", "rows/s", "COPY t FROM STDIN, text, no key",
                _copy_measurement(csv=False, primary_key=False)),
    Measurement("copy_from_csv", "rows/s", "COPY t FROM STDIN (FORMAT csv), no key",
                _copy_measurement(csv=True, primary_key=False)),
    Measurement("copy_from_pk", "rows/s", "COPY t FROM STDIN, text, id PRIMARY KEY",
                _copy_measurement(csv=False, primary_key=True)),
    Measurement("insert_multirow", "rows/s", "INSERT ... VALUES 1,000 rows/stmt, simple, autocommit",
                _insert_multirow),
    Measurement("point_lookup_simple", "ops/s", "SELECT * WHERE id = literal, simple protocol",
                _lookup_measurement(prepared=False)),
    Measurement("point_lookup_prepared", "ops/s", "SELECT * WHERE id = $1, prepared, int8 param",
                _lookup_measurement(prepared=True)),
)  # fmt: skip


# --------------------------------------------------------------------------- profiling


def find_py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    if local.is_file():
        return str(local)
    return shutil.which("py-spy")


@contextmanager
def _profiled(py_spy: str | None, pid: int, out: Path | None) -> Iterator[None]:
    """Record `pid` with py-spy (raw collapsed stacks, all threads) for the block's duration."""
    if py_spy is None or out is None:
        yield
        return
    proc = subprocess.Popen(
        [py_spy, "record", "-p", str(pid), "--threads", "-r", "200", "-f", "raw", "-o", str(out),
         "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(0.5)  # let py-spy attach before the workload starts
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_FRAME = re.compile(r"(.*?) \((?:.*/)?([^/:]+)(?::\d+)?\)$")  # "func (dir/file.py:12)"


_BORING = frozenset({"threading.py", "thread.py", "runners.py", "<frozen runpy>", "__main__.py",
                     "cli.py", "uvloop_setup.py", "main.py"})  # fmt: skip


def summarize_profile(path: Path, top: int = 12) -> list[str]:
    """Per thread: its share of all samples, then the functions ("func (file.py)") with the
    largest inclusive share of all samples, start-up frames left out."""
    if not path.exists():
        return []
    threads: collections.Counter[str] = collections.Counter()
    inclusive: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1] if frames[0].startswith("thread") else "?"
        threads[thread] += count
        seen: set[str] = set()
        for frame in frames[1:]:
            match = _FRAME.match(frame)
            if match is None or match[2] in _BORING:
                continue
            name = f"{match[1]} ({match[2]})"
            if name not in seen:
                seen.add(name)
                inclusive[thread][name] += count
    lines = []
    for thread, n in threads.most_common():
        lines.append(f"{100.0 * n / total:5.1f}%  thread {thread}")
        lines.extend(f"    {100.0 * c / total:5.1f}%  {name}"
                     for name, c in inclusive[thread].most_common(top))  # fmt: skip
    return lines


# --------------------------------------------------------------------------- running


def _measure(figures: Figures[Run], targets: tuple[Target, Target], settings: Settings,
             data: Dataset, profile_dir: Path | None, py_spy: str | None) -> None:  # fmt: skip
    """Interleaved rounds: PostgreSQL then laminar_pg, `settings.rounds` times."""
    postgres, laminar = targets
    m = figures.measurement
    for i in range(1, settings.rounds + 1):
        figures.postgres.append(m.run(postgres, settings, data))
        if m.name.startswith("point_lookup"):
            _ensure_lookup_table(laminar, data)  # not inside the profile
        out = profile_dir / f"{m.name}-{i}.txt" if profile_dir is not None else None
        with _profiled(py_spy, laminar.pid, out):
            figures.laminar.append(m.run(laminar, settings, data))
        harness.print_round(figures, i, settings.rounds, width=21)
        if out is not None and i == 1:
            for line in summarize_profile(out):
                print(f"      {line}", file=sys.stderr)


def format_index_report(explain: str | None, duck: dict[str, Any] | None) -> str:
    lines = []
    if explain is not None:
        lines.append(f"laminar_pg: {explain}")
    if duck is not None:
        lines.append(
            f"DuckDB {duck['duckdb']} in-process, {duck['rows']:,} rows, id BIGINT PRIMARY KEY: "
            f"EXPLAIN shows '{duck['explain_scan_type']}', EXPLAIN ANALYZE shows "
            f"'{duck['explain_analyze_scan_type']}'; median of {duck['runs']} lookups: "
            f"literal + fetchall {duck['literal_fetchall_us']:.0f} us, "
            f"$1 param + fetchall {duck['param_fetchall_us']:.0f} us, "
            f"EXECUTE prepared + fetchall {duck['prepared_execute_fetchall_us']:.0f} us, "
            f"literal + Arrow table {duck['literal_arrow_us']:.0f} us; "
            f"same table without the key {duck['no_pk_literal_fetchall_us']:.0f} us"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="laminar-pg bench tables",
        description="COPY FROM, multi-row INSERT and point lookups: laminar_pg vs PostgreSQL 15.",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="rows per COPY and in the lookup table (default 1,000,000)")
    parser.add_argument("--insert-rows", type=int, default=100_000,
                        help="rows per round of insert_multirow (default 100,000)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="timed wall time per lookup round per server (default 3)")
    parser.add_argument("--warmup", type=float, default=WARMUP_SECONDS,
                        help=f"lookup warm-up wall time (default {WARMUP_SECONDS})")
    harness.add_only_argument(parser, MEASUREMENTS)
    parser.add_argument("--no-index-report", action="store_true",
                        help="skip the EXPLAIN / in-process DuckDB lookup report")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record laminar_pg with py-spy during its runs, stacks into DIR")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    return parser  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.rounds < 1 or args.rows < 1 or args.insert_rows < 1 or args.seconds <= 0
            or args.warmup < 0):  # fmt: skip
        parser.error("--rounds, --rows, --insert-rows and --seconds must be positive, --warmup >= 0")
    settings = Settings(args.rounds, args.rows, args.insert_rows, args.seconds, args.warmup)
    selected = harness.selected(args.only, MEASUREMENTS, parser)
    py_spy = None
    if args.profile is not None:
        py_spy = find_py_spy()
        if py_spy is None:
            parser.error("--profile needs py-spy (pip install py-spy into this environment)")
        args.profile.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    machine = harness.machine_description(
        {"psycopg": psycopg.__version__, "duckdb": duckdb.__version__}
    )
    results = [Figures(m) for m in selected]
    explain: str | None = None
    duck: dict[str, Any] | None = None
    harness.print_machine(machine)
    t0 = time.perf_counter()
    data = Dataset(settings.rows, settings.insert_rows)
    print(f"data: {settings.rows:,} rows generated in {time.perf_counter() - t0:.1f} s "
          f"({sum(map(len, data.text_chunks)) / 1e6:.1f} MB as COPY text)",
          file=sys.stderr, flush=True)  # fmt: skip
    with harness.stop_on_interrupt() as run:
        with ExitStack() as stack:
            pg = stack.enter_context(start_postgres())
            postgres = harness.postgres_target(pg)
            print(f"PostgreSQL 15 on :{pg.port}", file=sys.stderr, flush=True)
            for figures in results:
                # A fresh laminar_pg per measurement: one measurement's leftovers (memory, log)
                # do not weigh on the next.
                with LaminarServer() as lam:  # runs `serve --workers 1`
                    laminar = harness.laminar_target(lam)
                    print(f"{figures.measurement.name}: laminar_pg pid {lam.pid} on :{lam.port}",
                          file=sys.stderr, flush=True)  # fmt: skip
                    _measure(figures, (postgres, laminar), settings, data, args.profile, py_spy)
            if not args.no_index_report:
                with LaminarServer() as lam:
                    explain = laminar_explain(harness.laminar_target(lam))
        if not args.no_index_report:
            duck = duckdb_lookup_report(settings.rows)
    print()
    print(harness.format_table(results))
    print()
    if explain is not None or duck is not None:
        print(format_index_report(explain, duck))
        print()
    if run.interrupted:
        print("(interrupted: medians over the rounds that finished)")
    print(f"{settings.rounds} interleaved rounds; COPY of {settings.rows:,} rows; multi-row INSERT "
          f"of {settings.insert_rows:,} rows; lookups {settings.seconds:g} s per server per round "
          f"(after {settings.warmup:g} s warm-up) on {settings.rows:,} rows; "
          f"{machine['cpus']} CPUs; {started:%Y-%m-%d %H:%M} UTC")  # fmt: skip
    if args.json is not None:
        harness.write_json(
            args.json,
            started=started,
            machine=machine,
            settings=dataclasses.asdict(settings),
            interrupted=run.interrupted,
            results=results,
            laminar_explain=explain,
            duckdb_lookup=duck,
            lookup_table_load_seconds=[
                {"server": k[0], "pid": k[2], "seconds": v[1]} for k, v in _loaded_lookup.items()
            ],
        )
    return 130 if run.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())

// pgjdbc (Debian's postgresql.jar, 42.5) against a running laminar_pg server.
//
// Usage: java -cp <classes>:/usr/share/java/postgresql.jar ClientTest <jdbc-url>
// No test framework: each check prints `ok NAME` or `FAIL NAME: ...`; the exit code is 0
// only when every check passed (1 when some failed, 2 when the connection itself failed).
// Compiled and run by tests/clients/test_java.py against the shared pytest `server` fixture.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

public class ClientTest {
    interface Check {
        void run(Connection conn) throws Exception;
    }

    static final class CheckFailed extends RuntimeException {
        CheckFailed(String message) {
            super(message);
        }
    }

    static void expect(boolean ok, String what) {
        if (!ok) {
            throw new CheckFailed(what);
        }
    }

    static void expectEqual(Object expected, Object actual, String what) {
        if (!Objects.equals(expected, actual)) {
            throw new CheckFailed(what + ": expected <" + expected + "> but got <" + actual + ">");
        }
    }

    static void statementQuery(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement();
                ResultSet rs = st.executeQuery("SELECT 1 AS one, 'two' AS two, 2.5::float8 AS f")) {
            expect(rs.next(), "one row");
            expectEqual(1, rs.getInt("one"), "one");
            expectEqual("two", rs.getString(2), "two");
            expectEqual(2.5, rs.getDouble("f"), "f");
            expect(!rs.next(), "exactly one row");
        }
    }

    static void preparedStatementParameters(Connection conn) throws SQLException {
        String sql = "SELECT ?::int4 + 1 AS i, ?::text AS t, ?::int8 * 2 AS l, ?::numeric AS n, "
                + "?::timestamp AS ts, ?::bool AS b";
        Timestamp ts = Timestamp.valueOf("2024-01-02 03:04:05.678901");
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
            // prepareThreshold defaults to 5: later executions use a named server-side statement.
            for (int i = 0; i < 10; i++) {
                ps.setInt(1, i);
                ps.setString(2, "héllo " + i);
                ps.setLong(3, 1L << 40);
                ps.setBigDecimal(4, new BigDecimal("12345.6789"));
                ps.setTimestamp(5, ts);
                ps.setBoolean(6, i % 2 == 0);
                try (ResultSet rs = ps.executeQuery()) {
                    expect(rs.next(), "row of execution " + i);
                    expectEqual(i + 1, rs.getInt("i"), "i (execution " + i + ")");
                    expectEqual("héllo " + i, rs.getString("t"), "t (execution " + i + ")");
                    expectEqual(1L << 41, rs.getLong("l"), "l (execution " + i + ")");
                    expectEqual(new BigDecimal("12345.6789"), rs.getBigDecimal("n"), "n (execution " + i + ")");
                    expectEqual(ts, rs.getTimestamp("ts"), "ts (execution " + i + ")");
                    expectEqual(i % 2 == 0, rs.getBoolean("b"), "b (execution " + i + ")");
                    expect(!rs.next(), "one row (execution " + i + ")");
                }
            }
            expect(ps.unwrap(org.postgresql.PGStatement.class).isUseServerPrepare(),
                    "pgjdbc switched to a server-side prepared statement");
        }
    }

    static void resultSetMetaData(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement();
                ResultSet rs = st.executeQuery(
                        "SELECT 1::int4 AS a, 2::int8 AS b, 'x'::text AS c, true AS d, "
                                + "1.5::numeric AS e, DATE '2024-02-29' AS f, NULL::int4 AS g")) {
            ResultSetMetaData md = rs.getMetaData();
            expectEqual(7, md.getColumnCount(), "column count");
            List<String> names = new ArrayList<>();
            List<Integer> types = new ArrayList<>();
            List<String> typeNames = new ArrayList<>();
            for (int i = 1; i <= md.getColumnCount(); i++) {
                names.add(md.getColumnLabel(i));
                types.add(md.getColumnType(i));
                typeNames.add(md.getColumnTypeName(i));
            }
            expectEqual(Arrays.asList("a", "b", "c", "d", "e", "f", "g"), names, "column names");
            expectEqual(Arrays.asList(Types.INTEGER, Types.BIGINT, Types.VARCHAR, Types.BIT,
                    Types.NUMERIC, Types.DATE, Types.INTEGER), types, "column types");
            expectEqual(Arrays.asList("int4", "int8", "text", "bool", "numeric", "date", "int4"),
                    typeNames, "column type names");
            expect(rs.next(), "one row");
            expectEqual(java.sql.Date.valueOf("2024-02-29"), rs.getDate("f"), "f");
            expectEqual(0, rs.getInt("g"), "g as int");
            expect(rs.wasNull(), "g was NULL");
            expectEqual(null, rs.getObject("g"), "g as object");
        }
    }

    static void fetchSizeCursor(Connection conn) throws SQLException {
        // autocommit off + fetch size: pgjdbc sends Execute(max_rows=100) and expects
        // PortalSuspended until the portal is exhausted.
        conn.setAutoCommit(false);
        try (Statement st = conn.createStatement()) {
            st.setFetchSize(100);
            try (ResultSet rs = st.executeQuery("SELECT x::int4 AS x FROM generate_series(1, 1000) g(x)")) {
                int expected = 1;
                while (rs.next()) {
                    expectEqual(expected, rs.getInt(1), "row " + expected);
                    expected++;
                }
                expectEqual(1001, expected, "rows seen + 1");
            }
            conn.commit();
        } finally {
            conn.setAutoCommit(true);
        }
    }

    static void errorThenMoreQueries(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement()) {
            try {
                st.executeQuery("SELECT 1/0");
                throw new CheckFailed("SELECT 1/0 did not fail");
            } catch (SQLException e) {
                expectEqual("22012", e.getSQLState(), "SQLSTATE of 1/0 (" + e.getMessage() + ")");
            }
            try (PreparedStatement ps = conn.prepareStatement("SELECT ?::int4 / 0")) {
                ps.setInt(1, 1);
                ps.executeQuery();
                throw new CheckFailed("SELECT ?/0 did not fail");
            } catch (SQLException e) {
                expectEqual("22012", e.getSQLState(), "SQLSTATE of ?/0 (" + e.getMessage() + ")");
            }
            try (ResultSet rs = st.executeQuery("SELECT 42")) {
                expect(rs.next(), "row after error");
                expectEqual(42, rs.getInt(1), "value after error");
            }
        }
        // And in a transaction: the error aborts it, ROLLBACK recovers.
        conn.setAutoCommit(false);
        try (Statement st = conn.createStatement()) {
            try {
                st.executeQuery("SELECT 1/0");
                throw new CheckFailed("SELECT 1/0 did not fail in a transaction");
            } catch (SQLException e) {
                expectEqual("22012", e.getSQLState(), "SQLSTATE in transaction");
            }
            conn.rollback();
            try (ResultSet rs = st.executeQuery("SELECT 43")) {
                expect(rs.next(), "row after rollback");
                expectEqual(43, rs.getInt(1), "value after rollback");
            }
            conn.commit();
        } finally {
            conn.setAutoCommit(true);
        }
    }

    static void serverSettings(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement();
                ResultSet rs = st.executeQuery("SHOW extra_float_digits")) {
            expect(rs.next(), "SHOW row");
            expectEqual("3", rs.getString(1), "extra_float_digits set by pgjdbc at startup");
        }
        expectEqual("PostgreSQL", conn.getMetaData().getDatabaseProductName(), "product name");
        expectEqual(15, conn.getMetaData().getDatabaseMajorVersion(), "major version");
    }

    public static void main(String[] args) {
        String url = args.length > 0 ? args[0] : "jdbc:postgresql://127.0.0.1:5432/laminar?user=laminar";
        List<String> names = List.of(
                "connect and startup settings", "Statement query", "PreparedStatement parameters x10",
                "ResultSetMetaData", "fetch-size cursor", "error then more queries");
        List<Check> checks = List.of(
                ClientTest::serverSettings, ClientTest::statementQuery,
                ClientTest::preparedStatementParameters, ClientTest::resultSetMetaData,
                ClientTest::fetchSizeCursor, ClientTest::errorThenMoreQueries);
        int failed = 0;
        try (Connection conn = DriverManager.getConnection(url)) {
            for (int i = 0; i < checks.size(); i++) {
                long start = System.nanoTime();
                try {
                    checks.get(i).run(conn);
                    System.out.println("ok   " + names.get(i) + " (" + (System.nanoTime() - start) / 1_000_000 + " ms)");
                } catch (Exception e) {
                    failed++;
                    String detail = e instanceof SQLException
                            ? "SQLSTATE " + ((SQLException) e).getSQLState() + ": " + e
                            : e.toString();
                    System.out.println("FAIL " + names.get(i) + ": " + detail);
                    if (!(e instanceof CheckFailed)) {
                        e.printStackTrace(System.out);
                    }
                    if (!conn.getAutoCommit()) {
                        conn.rollback();
                        conn.setAutoCommit(true);
                    }
                }
            }
        } catch (SQLException e) {
            System.out.println("FAIL connection: SQLSTATE " + e.getSQLState() + ": " + e);
            e.printStackTrace(System.out);
            System.exit(2);
        }
        if (failed > 0) {
            System.out.println(failed + " of " + checks.size() + " checks failed");
            System.exit(1);
        }
        System.out.println("all " + checks.size() + " checks passed");
    }
}

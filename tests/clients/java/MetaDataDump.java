// pgjdbc DatabaseMetaData (Debian's postgresql.jar, 42.5): dump what each call returns.
//
// Usage: java -cp <classes>:/usr/share/java/postgresql.jar MetaDataDump <jdbc-url> <parent> <child>
// Run by tests/clients/test_java_metadata.py once against laminar_pg and once against a real
// PostgreSQL 15 that hold the same tables (<parent>, referenced by <child>); the test compares
// the two dumps. For each call it prints
//   @call NAME
//   @columns label:jdbcType:typeName<TAB>...
//   row values separated by TABs (\N for NULL; TABs and newlines in a value escaped)
//   @error SQLSTATE message          (instead of @columns/rows when the call failed)
// and the exit code is 0 (2 when the connection itself failed).

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

public class MetaDataDump {
    interface Call {
        ResultSet run(DatabaseMetaData md) throws SQLException;
    }

    static String escape(String value) {
        if (value == null) {
            return "\\N";
        }
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n");
    }

    static void dump(Connection conn, String name, Call call) {
        System.out.println("@call " + name);
        try (ResultSet rs = call.run(conn.getMetaData())) {
            ResultSetMetaData meta = rs.getMetaData();
            List<String> columns = new ArrayList<>();
            for (int i = 1; i <= meta.getColumnCount(); i++) {
                columns.add(meta.getColumnLabel(i) + ":" + meta.getColumnType(i) + ":" + meta.getColumnTypeName(i));
            }
            System.out.println("@columns " + String.join("\t", columns));
            while (rs.next()) {
                List<String> values = new ArrayList<>();
                for (int i = 1; i <= meta.getColumnCount(); i++) {
                    values.add(escape(rs.getString(i)));
                }
                System.out.println(String.join("\t", values));
            }
        } catch (SQLException e) {
            System.out.println("@error " + e.getSQLState() + " " + escape(e.getMessage()));
            try {
                if (!conn.getAutoCommit()) {
                    conn.rollback();
                }
            } catch (SQLException ignored) {
                // the next call reports its own failure
            }
        }
    }

    public static void main(String[] args) {
        String url = args[0];
        String parent = args[1];
        String child = args[2];
        String pattern = parent.substring(0, parent.lastIndexOf('_') + 1) + "%";
        try (Connection conn = DriverManager.getConnection(url)) {
            dump(conn, "getTables", md -> md.getTables(null, "public", pattern, null));
            dump(conn, "getTables TABLE", md -> md.getTables(null, null, pattern, new String[] {"TABLE"}));
            dump(conn, "getTableTypes", md -> md.getTableTypes());
            dump(conn, "getColumns", md -> md.getColumns(null, "public", pattern, "%"));
            dump(conn, "getPrimaryKeys", md -> md.getPrimaryKeys(null, "public", parent));
            dump(conn, "getPrimaryKeys child", md -> md.getPrimaryKeys(null, null, child));
            dump(conn, "getTypeInfo", md -> md.getTypeInfo());
            dump(conn, "getSchemas", md -> md.getSchemas());
            dump(conn, "getSchemas pattern", md -> md.getSchemas(null, "pub%"));
            dump(conn, "getCatalogs", md -> md.getCatalogs());
            dump(conn, "getIndexInfo", md -> md.getIndexInfo(null, "public", parent, false, false));
            dump(conn, "getIndexInfo unique", md -> md.getIndexInfo(null, "public", child, true, true));
            dump(conn, "getImportedKeys", md -> md.getImportedKeys(null, "public", child));
            dump(conn, "getExportedKeys", md -> md.getExportedKeys(null, "public", parent));
            dump(conn, "getCrossReference", md -> md.getCrossReference(null, "public", parent, null, "public", child));
            dump(conn, "getBestRowIdentifier", md -> md.getBestRowIdentifier(null, "public", parent, DatabaseMetaData.bestRowSession, true));
            dump(conn, "getProcedures", md -> md.getProcedures(null, "public", pattern));
            dump(conn, "getFunctions", md -> md.getFunctions(null, "public", pattern));
            dump(conn, "getUDTs", md -> md.getUDTs(null, "public", pattern, null));
            dump(conn, "getColumnPrivileges", md -> md.getColumnPrivileges(null, "public", parent, "%"));
            System.out.println("@call getDatabaseProductName");
            System.out.println("@columns value:12:text");
            System.out.println(escape(conn.getMetaData().getDatabaseProductName()));
        } catch (SQLException e) {
            System.out.println("@fatal " + e.getSQLState() + " " + escape(e.getMessage()));
            e.printStackTrace(System.out);
            System.exit(2);
        }
    }
}

// What the real-component tests do to a running HBase from inside its container, through the
// real HBase client and the container's own hbase-site.xml (first on the class path):
//
//   put TABLE ROW FAMILY QUALIFIER VALUE    one cell, written through the region server (WAL
//                                           and memstore: flushed only by a clean stop)
//   put-short TABLE ROW FAMILY QUALIFIER N  the same with a 2-byte value (Pinpoint's service
//                                           type codes, Bytes#toBytes(short))
//   get TABLE ROW FAMILY QUALIFIER          prints the value, or "missing"
//   stop-region-server                      Admin#stopRegionServer on the only region server: in
//                                           standalone mode its thread ends, the master lives on
//
// Not part of the image: compiled by the tests against the same HBase jars and run with
// `docker exec ... java -cp <conf>:/opt/hbase/lib/*:...:/probe HBaseProbe ...`.

import java.nio.charset.StandardCharsets;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hbase.HBaseConfiguration;
import org.apache.hadoop.hbase.ServerName;
import org.apache.hadoop.hbase.TableName;
import org.apache.hadoop.hbase.client.Admin;
import org.apache.hadoop.hbase.client.Connection;
import org.apache.hadoop.hbase.client.ConnectionFactory;
import org.apache.hadoop.hbase.client.Get;
import org.apache.hadoop.hbase.client.Put;
import org.apache.hadoop.hbase.client.Result;
import org.apache.hadoop.hbase.client.Table;
import org.apache.hadoop.hbase.util.Bytes;

public final class HBaseProbe {
    private HBaseProbe() {
    }

    public static void main(String[] args) throws Exception {
        Configuration conf = HBaseConfiguration.create();
        conf.setInt("hbase.client.retries.number", 3);
        int status = 0;
        try (Connection connection = ConnectionFactory.createConnection(conf)) {
            switch (args[0]) {
                case "put" -> {
                    try (Table table = connection.getTable(TableName.valueOf(args[1]))) {
                        table.put(new Put(Bytes.toBytes(args[2])).addColumn(Bytes.toBytes(args[3]), Bytes.toBytes(args[4]),
                                Bytes.toBytes(args[5])));
                    }
                    System.out.println("probe: put " + args[1] + "/" + args[2]);
                }
                case "put-short" -> {
                    try (Table table = connection.getTable(TableName.valueOf(args[1]))) {
                        table.put(new Put(Bytes.toBytes(args[2])).addColumn(Bytes.toBytes(args[3]), Bytes.toBytes(args[4]),
                                Bytes.toBytes(Short.parseShort(args[5]))));
                    }
                    System.out.println("probe: put " + args[1] + "/" + args[2]);
                }
                case "get" -> {
                    try (Table table = connection.getTable(TableName.valueOf(args[1]))) {
                        Result result = table.get(new Get(Bytes.toBytes(args[2])));
                        byte[] value = result.getValue(Bytes.toBytes(args[3]), Bytes.toBytes(args[4]));
                        System.out.println("probe: " + (value == null ? "missing" : "value " + new String(value, StandardCharsets.UTF_8)));
                    }
                }
                case "stop-region-server" -> {
                    try (Admin admin = connection.getAdmin()) {
                        for (ServerName server : admin.getRegionServers()) {
                            admin.stopRegionServer(server.getAddress().toString());
                            System.out.println("probe: stopped region server " + server);
                        }
                    }
                }
                default -> {
                    System.err.println("probe: unknown command " + args[0]);
                    status = 64;
                }
            }
        }
        System.exit(status);
    }
}

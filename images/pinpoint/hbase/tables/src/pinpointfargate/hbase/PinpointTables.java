package pinpointfargate.hbase;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hbase.HBaseConfiguration;
import org.apache.hadoop.hbase.TableName;
import org.apache.hadoop.hbase.client.Admin;
import org.apache.hadoop.hbase.client.ColumnFamilyDescriptor;
import org.apache.hadoop.hbase.client.ColumnFamilyDescriptorBuilder;
import org.apache.hadoop.hbase.client.Connection;
import org.apache.hadoop.hbase.client.ConnectionFactory;
import org.apache.hadoop.hbase.client.TableDescriptor;
import org.apache.hadoop.hbase.zookeeper.ZKConfig;

/**
 * The Pinpoint tables of one HBase, for pinpoint-supervisor (run through pinpoint-hbase).
 *
 * <pre>
 *   tables bootstrap [-Dkey=value ...]   wait until the master is initialized, create each missing
 *                                       table, bring existing tables to the list's TTLs
 *   tables flush [-Dkey=value ...]       flush every table (before a cluster shutdown)
 *   tables describe [-Dkey=value ...]    one line per table family: regions, TTL, versions
 * </pre>
 *
 * <p>bootstrap reads its inputs from the environment: PINPOINT_TABLES_DDL (the rendered table
 * list), PINPOINT_MASTER_WAIT_SECONDS, PINPOINT_HBASE_POLL_SECONDS (default 2) and, optionally,
 * PINPOINT_BOOTSTRAP_STATUS_FILE. Every step prints a line "pinpoint-bootstrap:&lt;what&gt;"; the
 * latest also replaces the status file (by rename, so a kill never leaves it half written), which
 * the supervisor reads as the reason of a failed attempt. Exit status: 0 every table exists with
 * its TTLs; 2 the table list is invalid; 3 the master did not become initialized in time; 4 a
 * create or TTL change failed (the supervisor retries while its boot budget lasts).
 *
 * <p>Readiness is Admin#listNamespaceDescriptors: the master serves it through
 * HMaster#getNamespaces -> checkInitialized(), PleaseHoldException until initialization is
 * complete, like createTable; listTableNames is not enough, it answers as soon as the RPC
 * services run (HBase branch-2.6 HMaster.java, MasterRpcServices.java).
 *
 * <p>-Dkey=value arguments override hbase-site.xml (the bootstrap role names an external
 * ZooKeeper quorum this way).
 */
public final class PinpointTables {
  private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

  private PinpointTables() {}

  public static void main(String[] args) {
    if (args.length == 0 || !Set.of("bootstrap", "flush", "describe").contains(args[0])) {
      System.err.println("usage: tables bootstrap|flush|describe [-Dkey=value ...]");
      System.exit(64);
    }
    Configuration conf = HBaseConfiguration.create();
    // Short ZooKeeper retries (default 30 x 1 s, ReadOnlyZKClient): the bootstrap's own loop
    // retries until its deadline and reports why after each attempt.
    conf.setInt("zookeeper.recovery.retry", 3);
    for (String override : Arrays.copyOfRange(args, 1, args.length)) {
      String[] pair = override.startsWith("-D") ? override.substring(2).split("=", 2) : new String[0];
      if (pair.length != 2 || pair[0].isEmpty()) {
        System.err.println("tables: expected -Dkey=value, got '" + override + "'");
        System.exit(64);
      }
      conf.set(pair[0], pair[1]);
    }
    int status;
    try {
      status = switch (args[0]) {
        case "bootstrap" -> new Bootstrap(conf).run();
        case "flush" -> flush(conf);
        default -> describe(conf);
      };
    } catch (Exception e) {
      System.err.println("tables " + args[0] + " failed: " + reason(e));
      status = 1;
    }
    // HBase's client threads are not all daemons: leave without waiting for them.
    System.exit(status);
  }

  /**
   * One line of why: the innermost cause (the client wraps the reason in layers), and for a
   * RetriesExhaustedException, whose first line is only "Failed after attempts=N, exceptions:",
   * the last attempt's exception, which the message lists on the lines below.
   */
  static String reason(Throwable error) {
    Throwable innermost = error;
    while (innermost.getCause() != null && innermost.getCause() != innermost) {
      innermost = innermost.getCause();
    }
    List<String> lines = innermost.getMessage() == null ? List.of() : innermost.getMessage().strip().lines().toList();
    String message = lines.isEmpty() ? "" : lines.get(0);
    if (message.endsWith("exceptions:") && lines.size() > 1) {
      // "<timestamp>, <RpcRetryingCaller...>, <exception class>: <message>"
      String last = lines.get(lines.size() - 1).strip();
      int exception = last.indexOf(", ", last.indexOf(", ") + 2);
      message = message + " last: " + (exception > 0 ? last.substring(exception + 2) : last);
    }
    return innermost.getClass().getName() + (message.isEmpty() ? "" : ": " + message);
  }

  private static int flush(Configuration conf) throws IOException {
    try (Connection connection = ConnectionFactory.createConnection(conf);
        Admin admin = connection.getAdmin()) {
      for (TableName table : admin.listTableNames()) {
        admin.flush(table);
        OUT.println("pinpoint-flushed:" + table.getNameAsString());
      }
    }
    return 0;
  }

  private static int describe(Configuration conf) throws IOException {
    try (Connection connection = ConnectionFactory.createConnection(conf);
        Admin admin = connection.getAdmin()) {
      for (TableName table : admin.listTableNames()) {
        int regions = admin.getRegions(table).size();
        for (ColumnFamilyDescriptor family : admin.getDescriptor(table).getColumnFamilies()) {
          OUT.printf(
              "%s:%s regions=%d ttl=%d versions=%d encoding=%s%n",
              table.getNameAsString(),
              family.getNameAsString(),
              regions,
              family.getTimeToLive(),
              family.getMaxVersions(),
              family.getDataBlockEncoding());
        }
      }
    }
    return 0;
  }

  /** The bootstrap: its inputs and its status reports. */
  private static final class Bootstrap {
    private final Configuration conf;
    private final Path statusFile;

    Bootstrap(Configuration conf) {
      this.conf = conf;
      String status = System.getenv("PINPOINT_BOOTSTRAP_STATUS_FILE");
      this.statusFile = status == null || status.isEmpty() ? null : Path.of(status);
    }

    int run() throws IOException, InterruptedException {
      List<TableSpec> tables;
      try {
        tables = TableSpec.read(Path.of(requiredEnv("PINPOINT_TABLES_DDL")));
      } catch (IllegalArgumentException e) {
        report("invalid " + e.getMessage());
        return 2;
      }
      Instant deadline = Instant.now().plusSeconds(Long.parseLong(requiredEnv("PINPOINT_MASTER_WAIT_SECONDS")));
      Duration poll = Duration.ofMillis((long) (1000 * Double.parseDouble(envOr("PINPOINT_HBASE_POLL_SECONDS", "2"))));
      report("connecting to ZooKeeper " + ZKConfig.getZKQuorumServersString(conf) + " (znode "
          + conf.get("zookeeper.znode.parent", "/hbase") + ")");
      Connection connection = null;
      try {
        Admin admin = null;
        for (int attempt = 1; ; attempt++) {
          // The connection is made once ZooKeeper answers: making it looks up the cluster id
          // with ZooKeeper's full retries first.
          String problem = Quorum.problem(conf);
          if (problem == null) {
            try {
              if (connection == null) {
                connection = ConnectionFactory.createConnection(conf);
                admin = connection.getAdmin();
              }
              admin.listNamespaceDescriptors();
              break;
            } catch (IOException e) {
              problem = reason(e);
            }
          }
          if (!Instant.now().isBefore(deadline)) {
            report("timeout master not initialized: " + problem);
            return 3;
          }
          report("waiting attempt " + attempt + ": " + problem);
          Thread.sleep(poll.toMillis());
        }
        report("initialized");
        Admin ready = admin;
        Set<TableName> existing = new HashSet<>(Arrays.asList(ready.listTableNames()));
        int created = 0;
        int changed = 0;
        for (TableSpec table : tables) {
          if (!existing.contains(table.tableName())) {
            String step = "create " + table.name();
            report("creating " + table.name());
            if (!attempt(step, () -> ready.createTable(table.descriptor(), table.splits()))) {
              return 4;
            }
            report("created " + table.name());
            created++;
            continue;
          }
          TableDescriptor current = ready.getDescriptor(table.tableName());
          for (TableSpec.FamilySpec family : table.families()) {
            ColumnFamilyDescriptor have = current.getColumnFamily(family.descriptor().getName());
            if (have == null) {
              // A partial schema (e.g. a family added upstream later): complete it.
              report("adding family " + table.name() + ":" + family.name());
              if (!attempt("add family " + table.name() + ":" + family.name(),
                  () -> ready.addColumnFamily(table.tableName(), family.descriptor()))) {
                return 4;
              }
              changed++;
            } else if (have.getTimeToLive() != family.ttlSeconds()) {
              // Only the TTL follows the settings (hbase_ttl_days); everything else of an
              // existing family is left as it is.
              String what = table.name() + ":" + family.name() + " ttl " + have.getTimeToLive() + " -> "
                  + family.ttlSeconds();
              report("changing " + what);
              ColumnFamilyDescriptor wanted =
                  ColumnFamilyDescriptorBuilder.newBuilder(have).setTimeToLive(family.ttlSeconds()).build();
              if (!attempt("change " + what, () -> ready.modifyColumnFamily(table.tableName(), wanted))) {
                return 4;
              }
              report("changed " + what);
              changed++;
            }
          }
        }
        if (created == 0 && changed == 0) {
          report("nothing-missing all Pinpoint tables exist with their TTLs");
        }
        report("done created " + created + " table(s), changed " + changed + " famil" + (changed == 1 ? "y" : "ies"));
        return 0;
      } finally {
        if (connection != null) {
          connection.close();
        }
      }
    }

    private interface Step {
      void run() throws IOException;
    }

    /** Runs one DDL step; a failure (e.g. another bootstrap created the table meanwhile) is reported. */
    private boolean attempt(String what, Step step) throws IOException {
      try {
        step.run();
        return true;
      } catch (IOException e) {
        report(what + " failed: " + reason(e));
        return false;
      }
    }

    private void report(String line) throws IOException {
      OUT.println("pinpoint-bootstrap:" + line);
      if (statusFile != null) {
        Path temporary = statusFile.resolveSibling(statusFile.getFileName() + ".tmp");
        Files.writeString(temporary, line, StandardCharsets.UTF_8);
        Files.move(temporary, statusFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      }
    }

    private static String requiredEnv(String name) {
      String value = System.getenv(name);
      if (value == null || value.isEmpty()) {
        throw new IllegalStateException(name + " is not set");
      }
      return value;
    }

    private static String envOr(String name, String fallback) {
      String value = System.getenv(name);
      return value == null || value.isEmpty() ? fallback : value;
    }
  }
}

// Stand-in for HBase 2.6's server and client JVMs inside the image integration test; run by the
// stand-in bin/hbase with the JVM options the real bin/hbase would assemble, so the JVM itself
// checks them (-Xms above -Xmx is refused). Faithful where pinpoint-supervisor depends on HBase
// (each rule read in HBase branch-2.6, github.com/Apache9/hbase):
//   master start    HMasterCommandLine/LocalHBaseCluster: one JVM; its info server serves /jmx
//                   (bean Hadoop:service=HBase,name=Master,sub=Server, numRegionServers) on
//                   127.0.0.1:${pinpoint.hbase.master.info.port}; `list` answers after 2 s,
//                   the master is initialized after 5 s; the region server "thread" dies when
//                   <data>/standin-regionserver.dead appears, while the JVM lives on; ZooKeeper
//                   (MiniZooKeeperCluster) writes a snapshot into zookeeper/zookeeper_0 per start.
//   master stop     refused (exit 1, hint on stderr) without --shutDownCluster; with it the
//                   cluster shuts down and `master start` exits 0.
//   shell -n FILE   bootstrap-tables.rb and flush-all.rb by their documented contract; list_namespace
//                   and create throw PleaseHoldException before initialization; NUMREGIONS <= 1
//                   and TTLs above a Java int are refused (admin.rb, HColumnDescriptor).
//   org.apache.zookeeper.server.PurgeTxnLog DIR -n N   keeps the newest N (>= 3) snapshots.
// State lives in the data directory (-Dpinpoint.hbase.data.dir), so it survives restarts on a
// mounted volume; standin-ddl.log gets one line per event for the test to read.

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

public final class StandinHBase {
    private static final long SERVICES_AFTER_MS = 2000;
    private static final long INITIALIZED_AFTER_MS = 5000;
    private static Path data;

    private StandinHBase() {
    }

    public static void main(String[] args) throws Exception {
        String dir = System.getProperty("pinpoint.hbase.data.dir");
        if (dir == null) {
            System.err.println("stand-in hbase: -Dpinpoint.hbase.data.dir missing from HBASE_OPTS");
            System.exit(2);
        }
        data = Path.of(dir);
        Files.createDirectories(data.resolve("standin-tables"));
        String command = String.join(" ", args);
        if (command.equals("master start")) {
            System.exit(masterStart());
        } else if (command.startsWith("master stop")) {
            System.exit(masterStop(command.contains("--shutDownCluster")));
        } else if (args.length > 0 && args[0].equals("shell")) {
            System.exit(shell(args));
        } else if (args.length > 0 && args[0].equals("org.apache.zookeeper.server.PurgeTxnLog")) {
            System.exit(purge(args));
        }
        System.err.println("stand-in hbase: unsupported: " + command);
        System.exit(2);
    }

    static void note(String line) throws IOException {
        Files.writeString(data.resolve("standin-ddl.log"), System.currentTimeMillis() / 1000 + " " + line + "\n",
                StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    static String jvmArgs() {
        return String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments());
    }

    static long sinceStart() throws IOException {
        Path started = data.resolve("standin-master.started");
        if (!Files.exists(started) || Files.exists(data.resolve("standin-master.down"))) {
            return -1;
        }
        return System.currentTimeMillis() - Long.parseLong(Files.readString(started).trim());
    }

    static boolean servicesStarted() throws IOException {
        return sinceStart() >= SERVICES_AFTER_MS;
    }

    static boolean initialized() throws IOException {
        return sinceStart() >= INITIALIZED_AFTER_MS;
    }

    static int liveRegionServers() throws IOException {
        return servicesStarted() && !Files.exists(data.resolve("standin-regionserver.dead")) ? 1 : 0;
    }

    static int masterStart() throws Exception {
        Files.deleteIfExists(data.resolve("standin-master.stop"));
        Files.deleteIfExists(data.resolve("standin-master.down"));
        Files.deleteIfExists(data.resolve("standin-regionserver.dead"));
        Files.writeString(data.resolve("standin-master.started"), Long.toString(System.currentTimeMillis()));
        note("master-start jvm=" + jvmArgs());
        Path zk = data.resolve("zookeeper/zookeeper_0/version-2");
        Files.createDirectories(zk);
        long zxid;
        try (Stream<Path> snapshots = Files.list(zk)) {
            zxid = 1 + 2 * snapshots.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("snapshot."))
                    .mapToLong(n -> Long.parseLong(n.substring(9), 16)).max().orElse(0);
        }
        Files.writeString(zk.resolve("snapshot." + Long.toHexString(zxid)), "snapshot");
        int port = Integer.getInteger("pinpoint.hbase.master.info.port", 16010);
        HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0);
        http.createContext("/jmx", exchange -> {
            String query = exchange.getRequestURI().getQuery();
            boolean bean = query != null && query.equals("qry=Hadoop:service=HBase,name=Master,sub=Server");
            int live = liveRegionServers();
            byte[] body = (bean ? "{\n  \"beans\" : [ {\n    \"name\" : \"Hadoop:service=HBase,name=Master,sub=Server\",\n"
                    + "    \"numRegionServers\" : " + live + ",\n    \"numDeadRegionServers\" : " + (1 - live) + "\n  } ]\n}"
                    : "{ \"beans\" : [ ] }").getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        http.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                note("master-sigterm");
            } catch (IOException ignored) {
                // best effort
            }
        }));
        System.out.println("stand-in HMaster started (data " + data + ", info port " + port + ")");
        boolean reported = false;
        while (!Files.exists(data.resolve("standin-master.stop"))) {
            if (!reported && servicesStarted() && liveRegionServers() == 0) {
                System.out.println("stand-in HRegionServer aborted; HMaster still running");
                note("regionserver-aborted");
                reported = true;
            }
            Thread.sleep(200);
        }
        Thread.sleep(500); // regions close (and flush) during the cluster shutdown
        Files.writeString(data.resolve("standin-master.down"), "");
        note("master-exit");
        System.out.println("stand-in HMaster: cluster shutdown complete");
        Runtime.getRuntime().halt(0); // skip the SIGTERM hook: this is the clean path
        return 0;
    }

    static int masterStop(boolean shutDownCluster) throws IOException {
        if (!shutDownCluster) {
            note("master-stop-refused");
            System.err.println("To shutdown the master run hbase-daemon.sh stop master or send a kill signal to the "
                    + "HMaster pid, and to stop HBase Cluster run \"stop-hbase.sh\" or \"hbase master stop "
                    + "--shutDownCluster\"");
            return 1;
        }
        note("master-stop jvm=" + jvmArgs());
        if (!servicesStarted()) {
            System.out.println("ERROR Master not running");
            return 1;
        }
        Files.writeString(data.resolve("standin-master.stop"), "");
        return 0;
    }

    static final class ShellError extends Exception {
        ShellError(String message) {
            super(message);
        }
    }

    static List<String> list() throws IOException, ShellError {
        if (!servicesStarted()) {
            throw new ShellError("org.apache.hadoop.hbase.ipc.ServerNotRunningYetException: Server is not running yet");
        }
        List<String> tables = new ArrayList<>();
        try (Stream<Path> files = Files.list(data.resolve("standin-tables"))) {
            files.forEach(p -> tables.add(p.getFileName().toString()));
        }
        return tables;
    }

    static void checkInitialized() throws IOException, ShellError {
        list();
        if (!initialized()) {
            throw new ShellError("org.apache.hadoop.hbase.PleaseHoldException: Master is initializing");
        }
    }

    static void create(String statement) throws IOException, ShellError {
        Matcher name = Pattern.compile("^create '([^']+)'").matcher(statement);
        if (!name.find()) {
            return;
        }
        Matcher ttl = Pattern.compile("TTL => (\\d+)").matcher(statement);
        while (ttl.find()) {
            if (Long.parseLong(ttl.group(1)) > Integer.MAX_VALUE) {
                throw new ShellError("RangeError: TTL " + ttl.group(1) + " does not fit a Java int");
            }
        }
        Matcher regions = Pattern.compile("NUMREGIONS => (\\d+)").matcher(statement);
        if (regions.find() && Integer.parseInt(regions.group(1)) <= 1) {
            throw new ShellError("ArgumentError: Number of regions must be greater than 1");
        }
        try {
            checkInitialized();
        } catch (ShellError e) {
            note("create-refused " + name.group(1));
            throw e;
        }
        Path table = data.resolve("standin-tables").resolve(name.group(1));
        if (Files.exists(table)) {
            throw new ShellError("Table already exists: " + name.group(1) + "!");
        }
        Files.writeString(table, statement);
        note("create " + name.group(1));
    }

    static int shell(String[] args) throws Exception {
        String script = args[args.length - 1];
        note("shell " + Path.of(script).getFileName() + " jvm=" + jvmArgs());
        try {
            if (script.endsWith("/bootstrap-tables.rb")) {
                return bootstrap();
            }
            if (script.endsWith("/flush-all.rb")) {
                List<String> tables = list();
                if (liveRegionServers() == 0) {
                    note("flush-hangs");
                    Thread.sleep(Long.MAX_VALUE);
                }
                note("flush " + tables.size());
                tables.forEach(t -> System.out.println("pinpoint-flushed:" + t));
                return 0;
            }
            for (String line : Files.readAllLines(Path.of(script))) {
                create(line);
            }
            return 0;
        } catch (ShellError e) {
            System.out.println("ERROR: " + e.getMessage());
            return 1;
        }
    }

    // The contract of images/pinpoint/hbase/bootstrap-tables.rb.
    static int bootstrap() throws Exception {
        List<String> statements = Files.readAllLines(Path.of(System.getenv("PINPOINT_TABLES_DDL")));
        long deadline = System.currentTimeMillis() + 1000L * Long.parseLong(System.getenv("PINPOINT_MASTER_WAIT_SECONDS"));
        long poll = (long) (1000 * Double.parseDouble(System.getenv().getOrDefault("PINPOINT_HBASE_POLL_SECONDS", "2")));
        for (int attempt = 1; ; attempt++) {
            try {
                checkInitialized();
                break;
            } catch (ShellError e) {
                if (System.currentTimeMillis() >= deadline) {
                    System.out.println("pinpoint-bootstrap:timeout master not initialized: " + e.getMessage());
                    return 3;
                }
                System.out.println("pinpoint-bootstrap:waiting attempt " + attempt + ": " + e.getMessage());
                Thread.sleep(poll);
            }
        }
        System.out.println("pinpoint-bootstrap:initialized");
        List<String> existing = list();
        int created = 0;
        for (String statement : statements) {
            Matcher name = Pattern.compile("^create '([^']+)'").matcher(statement);
            if (name.find() && !existing.contains(name.group(1))) {
                create(statement);
                System.out.println("pinpoint-bootstrap:created " + name.group(1));
                created++;
            }
        }
        if (created == 0) {
            System.out.println("pinpoint-bootstrap:nothing-missing all Pinpoint tables exist");
        }
        System.out.println("pinpoint-bootstrap:done created " + created + " table(s)");
        return 0;
    }

    static int purge(String[] args) throws IOException {
        if (args.length != 4 || !args[2].equals("-n") || !Files.isDirectory(Path.of(args[1]))
                || Integer.parseInt(args[3]) < 3) {
            System.out.println("Usage:\nPurgeTxnLog dataLogDir [snapDir] -n count");
            return 1;
        }
        Path dir = Path.of(args[1]).resolve("version-2");
        List<Path> snapshots;
        try (Stream<Path> files = Files.list(dir)) {
            snapshots = files.filter(p -> p.getFileName().toString().startsWith("snapshot."))
                    .sorted(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring(9), 16)))
                    .toList();
        }
        int keep = Integer.parseInt(args[3]);
        for (Path old : snapshots.subList(0, Math.max(0, snapshots.size() - keep))) {
            System.out.println("Removing file: " + old);
            Files.delete(old);
        }
        note("zookeeper-purge kept " + Math.min(keep, snapshots.size()) + " of " + snapshots.size());
        return 0;
    }
}

// Stand-in for HBase 2.6's server and client JVMs inside the image integration tests; run by the
// stand-in bin/hbase with the JVM options and the class path (HBASE_CONF_DIR first) the real
// bin/hbase would assemble, so the JVM itself checks the options (-Xms above -Xmx is refused) and
// hbase-site.xml comes from the role's conf directory. Faithful where pinpoint-supervisor and
// Pinpoint depend on HBase (each rule read in HBase branch-2.6, github.com/Apache9/hbase):
//
//   configuration   hbase-site.xml from the class path, ${name} expanded from system properties
//                   (Hadoop Configuration); `hbase shell -Dkey=value` overrides it and wants
//                   exactly one '=' (jar-bootstrap.rb).
//   master start    one JVM (HMasterCommandLine/LocalHBaseCluster) that really listens:
//                   ZooKeeper on hbase.zookeeper.property.clientPortAddress (MiniZooKeeperCluster,
//                   default loopback) : clientPort; master RPC 16000 on hbase.master.ipc.address
//                   and region server RPC 16020 on hbase.regionserver.ipc.address (RSRpcServices:
//                   default the host name, which must resolve); the info server's /jmx (bean
//                   Hadoop:service=HBase,name=Master,sub=Server, numRegionServers) on
//                   hbase.master.info.bindAddress : ${pinpoint.hbase.master.info.port}. In
//                   ZooKeeper, <zookeeper.znode.parent>/master holds hbase.master.hostname:16000
//                   and /meta-region-server hbase.unsafe.regionserver.hostname:16020 (DNS#getHostname).
//                   Standalone mode refuses a quorum of more than one server. `list` answers
//                   after 2 s, the master is initialized after 5 s; the region server "thread" dies
//                   when <data>/standin-regionserver.dead appears, while the JVM lives on;
//                   ZooKeeper writes a snapshot into zookeeper/zookeeper_0 per start.
//   clients         shell and `master stop` find the master as an HBase client does: each entry
//                   of hbase.zookeeper.quorum in turn (an entry keeps its port, others get
//                   clientPort: ZKConfig#buildZKQuorumServerString), <parent>/master there, then
//                   the master's advertised host:port, resolved and connected from THIS JVM.
//   master stop     refused (exit 1, hint on stderr) without --shutDownCluster; with it the
//                   cluster shuts down and `master start` exits 0.
//   shell -n FILE   bootstrap-tables.rb and flush-all.rb by their documented contract; list_namespace
//                   and create throw PleaseHoldException before initialization; NUMREGIONS <= 1
//                   and TTLs above a Java int are refused (admin.rb, HColumnDescriptor).
//   org.apache.zookeeper.server.PurgeTxnLog DIR -n N   keeps the newest N (>= 3) snapshots.
//
// The wire protocol between stand-ins is one text line each way (not ZooKeeper's or HBase's);
// what is real is who listens where, under which name, and who can reach whom. The server keeps
// its state (tables) in its data directory (-Dpinpoint.hbase.data.dir) and notes every event in
// <data>/standin-ddl.log ("<epoch s> <event> [detail]"), requests with the caller's address.

import com.sun.net.httpserver.HttpServer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

public final class StandinHBase {
    private static final long SERVICES_AFTER_MS = 2000;
    private static final long INITIALIZED_AFTER_MS = 5000;
    private static final int MASTER_PORT = 16000;
    private static final int REGIONSERVER_PORT = 16020;
    private static Path data;
    private static volatile boolean stopRequested;
    private static long startedAt = -1;

    private StandinHBase() {
    }

    public static void main(String[] args) throws Exception {
        String dir = System.getProperty("pinpoint.hbase.data.dir");
        if (dir == null) {
            System.err.println("stand-in hbase: -Dpinpoint.hbase.data.dir missing from HBASE_OPTS");
            System.exit(2);
        }
        data = Path.of(dir);
        Files.createDirectories(data);
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

    static synchronized void note(String line) throws IOException {
        Files.writeString(data.resolve("standin-ddl.log"), System.currentTimeMillis() / 1000 + " " + line + "\n",
                StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    static String jvmArgs() {
        return String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments());
    }

    // --- configuration ----------------------------------------------------------------------

    static Map<String, String> configuration(Map<String, String> overrides) throws Exception {
        Map<String, String> conf = new HashMap<>(Map.of(
                "hbase.zookeeper.quorum", "localhost",
                "hbase.zookeeper.property.clientPort", "2181",
                "hbase.zookeeper.property.clientPortAddress", "localhost",
                "zookeeper.znode.parent", "/hbase",
                "hbase.master.info.bindAddress", "0.0.0.0"));
        var site = StandinHBase.class.getClassLoader().getResource("hbase-site.xml");
        if (site != null) {
            NodeList properties = DocumentBuilderFactory.newInstance().newDocumentBuilder()
                    .parse(site.openStream()).getElementsByTagName("property");
            Pattern variable = Pattern.compile("\\$\\{([^}]+)}");
            for (int i = 0; i < properties.getLength(); i++) {
                Element property = (Element) properties.item(i);
                String value = property.getElementsByTagName("value").item(0).getTextContent().trim();
                Matcher matcher = variable.matcher(value);
                StringBuilder expanded = new StringBuilder();
                while (matcher.find()) {
                    String replacement = System.getProperty(matcher.group(1), matcher.group(0));
                    matcher.appendReplacement(expanded, Matcher.quoteReplacement(replacement));
                }
                matcher.appendTail(expanded);
                conf.put(property.getElementsByTagName("name").item(0).getTextContent().trim(), expanded.toString());
            }
        }
        conf.putAll(overrides);
        return conf;
    }

    static String hostname(Map<String, String> conf, String key) throws UnknownHostException {
        String configured = conf.get(key);
        return configured == null || configured.isEmpty() ? InetAddress.getLocalHost().getHostName() : configured;
    }

    // --- the server ------------------------------------------------------------------------

    static long sinceStart() {
        return startedAt < 0 ? -1 : System.currentTimeMillis() - startedAt;
    }

    static boolean servicesStarted() {
        return sinceStart() >= SERVICES_AFTER_MS;
    }

    static boolean initialized() {
        return sinceStart() >= INITIALIZED_AFTER_MS;
    }

    static int liveRegionServers() {
        return servicesStarted() && !Files.exists(data.resolve("standin-regionserver.dead")) ? 1 : 0;
    }

    // listen ADDRESS PORT: one line in, one line out per connection, answered by handler.
    static void listen(String what, String address, int port, Function<String, String> handler) throws IOException {
        ServerSocket server = new ServerSocket();
        server.setReuseAddress(true);
        server.bind(new InetSocketAddress(InetAddress.getByName(address), port));
        Thread acceptor = new Thread(() -> {
            while (true) {
                try {
                    Socket socket = server.accept();
                    Thread worker = new Thread(() -> serve(what, socket, handler));
                    worker.setDaemon(true);
                    worker.start();
                } catch (IOException e) {
                    return;
                }
            }
        }, what);
        acceptor.setDaemon(true);
        acceptor.start();
    }

    static void serve(String what, Socket socket, Function<String, String> handler) {
        try (socket;
             BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter out = new PrintWriter(socket.getOutputStream(), true, StandardCharsets.UTF_8)) {
            String request = in.readLine();
            if (request == null) {
                return;
            }
            note(what + " " + socket.getInetAddress().getHostAddress() + " " + request.split(" ", 2)[0]
                    + (what.equals("zk") ? " " + request.split(" ", 2)[1] : ""));
            String answer = handler.apply(request);
            if (answer != null) {
                out.println(answer);
            }
        } catch (IOException e) {
            // a client that went away
        }
    }

    static int masterStart() throws Exception {
        Map<String, String> conf = configuration(Map.of());
        String[] quorum = conf.get("hbase.zookeeper.quorum").split(",");
        if (quorum.length > 1) {
            System.err.println("Could not start ZK with " + quorum.length + " ZK servers in local mode deployment.");
            return 1;
        }
        int zkPort = Integer.parseInt(quorum[0].contains(":") ? quorum[0].split(":")[1]
                : conf.get("hbase.zookeeper.property.clientPort"));
        String masterHost = hostname(conf, "hbase.master.hostname");
        String regionServerHost = hostname(conf, "hbase.unsafe.regionserver.hostname");
        for (String host : new String[] {masterHost, regionServerHost}) {
            try {
                InetAddress.getByName(host); // RSRpcServices: "Failed resolve of" an unresolvable name
            } catch (UnknownHostException e) {
                System.err.println("java.lang.IllegalArgumentException: Failed resolve of " + host + "/<unresolved>");
                return 1;
            }
        }
        String znode = conf.get("zookeeper.znode.parent");
        Files.createDirectories(data.resolve("standin-tables"));
        Files.deleteIfExists(data.resolve("standin-regionserver.dead"));
        startedAt = System.currentTimeMillis();
        String zkAddress = conf.get("hbase.zookeeper.property.clientPortAddress");
        String masterAddress = conf.getOrDefault("hbase.master.ipc.address", masterHost);
        String regionServerAddress = conf.getOrDefault("hbase.regionserver.ipc.address", regionServerHost);
        String infoAddress = conf.get("hbase.master.info.bindAddress");
        int infoPort = Integer.parseInt(conf.getOrDefault("hbase.master.info.port", "16010"));
        note("master-start jvm=" + jvmArgs());
        note("master-listen zookeeper=" + zkAddress + ":" + zkPort + " master=" + masterAddress + ":" + MASTER_PORT
                + " regionserver=" + regionServerAddress + ":" + REGIONSERVER_PORT + " info=" + infoAddress + ":" + infoPort
                + " advertised=" + masterHost + "," + regionServerHost + " znode=" + znode);
        Path zk = data.resolve("zookeeper/zookeeper_0/version-2");
        Files.createDirectories(zk);
        long zxid;
        try (Stream<Path> snapshots = Files.list(zk)) {
            zxid = 1 + 2 * snapshots.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("snapshot."))
                    .mapToLong(n -> Long.parseLong(n.substring(9), 16)).max().orElse(0);
        }
        Files.writeString(zk.resolve("snapshot." + Long.toHexString(zxid)), "snapshot");

        listen("zk", zkAddress, zkPort, request -> {
            String path = request.substring(4);
            if (path.equals(znode + "/master")) {
                return "ok " + masterHost + ":" + MASTER_PORT;
            }
            if (path.equals(znode + "/meta-region-server") && liveRegionServers() > 0) {
                return "ok " + regionServerHost + ":" + REGIONSERVER_PORT;
            }
            return "nonode " + path;
        });
        listen("master-rpc", masterAddress, MASTER_PORT, StandinHBase::masterRequest);
        listen("rs-rpc", regionServerAddress, REGIONSERVER_PORT,
                request -> liveRegionServers() > 0 ? "ok pong" : "err RegionServerStoppedException");
        HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getByName(infoAddress), infoPort), 0);
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
        System.out.println("stand-in HMaster started (data " + data + "; ZooKeeper " + zkAddress + ":" + zkPort
                + ", master " + masterHost + ":" + MASTER_PORT + ", info port " + infoPort + ")");
        boolean reported = false;
        while (!stopRequested) {
            if (!reported && servicesStarted() && liveRegionServers() == 0) {
                System.out.println("stand-in HRegionServer aborted; HMaster still running");
                note("regionserver-aborted");
                reported = true;
            }
            Thread.sleep(200);
        }
        Thread.sleep(500); // regions close (and flush) during the cluster shutdown
        note("master-exit");
        System.out.println("stand-in HMaster: cluster shutdown complete");
        Runtime.getRuntime().halt(0); // skip the SIGTERM hook: this is the clean path
        return 0;
    }

    // One master RPC: "<command> [argument]" -> "ok [result]" or "err <exception>".
    static String masterRequest(String request) {
        String[] parts = request.split(" ", 2);
        try {
            if (!servicesStarted()) {
                return "err org.apache.hadoop.hbase.ipc.ServerNotRunningYetException: Server is not running yet";
            }
            switch (parts[0]) {
                case "list":
                    return "ok " + String.join(",", tables());
                case "list_namespace":
                    return initialized() ? "ok default,hbase"
                            : "err org.apache.hadoop.hbase.PleaseHoldException: Master is initializing";
                case "create":
                    return create(parts[1]);
                case "flush":
                    if (liveRegionServers() == 0) {
                        note("flush-hangs"); // the client retries against regions nobody serves
                        Thread.sleep(Long.MAX_VALUE);
                    }
                    note("flush " + tables().size());
                    return "ok " + String.join(",", tables());
                case "shutdown":
                    note("master-shutdown-requested");
                    stopRequested = true;
                    return "ok";
                default:
                    return "err unknown request " + parts[0];
            }
        } catch (IOException | InterruptedException e) {
            return "err " + e;
        }
    }

    static List<String> tables() throws IOException {
        List<String> tables = new ArrayList<>();
        try (Stream<Path> files = Files.list(data.resolve("standin-tables"))) {
            files.forEach(p -> tables.add(p.getFileName().toString()));
        }
        return tables;
    }

    static synchronized String create(String statement) throws IOException {
        Matcher name = Pattern.compile("^create '([^']+)'").matcher(statement);
        if (!name.find()) {
            return "err ArgumentError: not a create statement";
        }
        if (!initialized()) {
            note("create-refused " + name.group(1));
            return "err org.apache.hadoop.hbase.PleaseHoldException: Master is initializing";
        }
        Path table = data.resolve("standin-tables").resolve(name.group(1));
        if (Files.exists(table)) {
            return "err org.apache.hadoop.hbase.TableExistsException: " + name.group(1);
        }
        Files.writeString(table, statement);
        note("create " + name.group(1));
        return "ok";
    }

    // --- the clients -------------------------------------------------------------------------

    static final class ShellError extends Exception {
        ShellError(String message) {
            super(message);
        }
    }

    // ZKConfig#buildZKQuorumServerString: an entry keeps its own port, the others get clientPort.
    static List<String> quorum(Map<String, String> conf) {
        List<String> entries = new ArrayList<>();
        for (String entry : conf.get("hbase.zookeeper.quorum").split(",")) {
            if (!entry.isBlank()) {
                String trimmed = entry.trim();
                entries.add(trimmed.contains(":") ? trimmed : trimmed + ":" + conf.get("hbase.zookeeper.property.clientPort"));
            }
        }
        return entries;
    }

    private static String clientAddress = "";
    private static boolean connectionReported;

    static String exchange(String hostPort, String request) throws IOException {
        int colon = hostPort.lastIndexOf(':');
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1))), 2000);
            clientAddress = socket.getLocalAddress().getHostAddress();
            socket.setSoTimeout(0);
            PrintWriter out = new PrintWriter(socket.getOutputStream(), true, StandardCharsets.UTF_8);
            BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            out.println(request);
            String answer = in.readLine();
            if (answer == null) {
                throw new IOException("connection closed by " + hostPort);
            }
            return answer;
        }
    }

    // The master's host:port from <parent>/master at the first quorum entry that answers.
    static String findMaster(Map<String, String> conf) throws ShellError {
        String znode = conf.get("zookeeper.znode.parent");
        List<String> entries = quorum(conf);
        for (String entry : entries) {
            String answer;
            try {
                answer = exchange(entry, "get " + znode + "/master");
            } catch (IOException | RuntimeException e) { // refused, timed out, unresolvable
                continue; // the next quorum member
            }
            if (answer.startsWith("ok ")) {
                if (!connectionReported) { // once per client JVM, with the address it came from
                    System.out.println("stand-in hbase client: ZooKeeper " + entry + " (znode " + znode + ") from "
                            + clientAddress + ", master " + answer.substring(3));
                    connectionReported = true;
                }
                return answer.substring(3);
            }
            throw new ShellError("org.apache.zookeeper.KeeperException$NoNodeException: KeeperErrorCode = NoNode for "
                    + znode + "/master");
        }
        throw new ShellError("org.apache.zookeeper.KeeperException$ConnectionLossException: KeeperErrorCode = "
                + "ConnectionLoss for " + znode + "/master (quorum " + String.join(",", entries) + ")");
    }

    static String call(Map<String, String> conf, String request) throws ShellError {
        String master = findMaster(conf);
        String answer;
        try {
            answer = exchange(master, request);
        } catch (IOException | RuntimeException e) {
            throw new ShellError("org.apache.hadoop.hbase.MasterNotRunningException: " + master + ": " + e.getMessage());
        }
        if (answer.startsWith("err ")) {
            throw new ShellError(answer.substring(4));
        }
        return answer.length() > 3 ? answer.substring(3) : "";
    }

    static int masterStop(boolean shutDownCluster) throws Exception {
        if (!shutDownCluster) {
            note("master-stop-refused");
            System.err.println("To shutdown the master run hbase-daemon.sh stop master or send a kill signal to the "
                    + "HMaster pid, and to stop HBase Cluster run \"stop-hbase.sh\" or \"hbase master stop "
                    + "--shutDownCluster\"");
            return 1;
        }
        note("master-stop jvm=" + jvmArgs());
        try {
            call(configuration(Map.of()), "shutdown");
            return 0;
        } catch (ShellError e) {
            System.out.println("ERROR " + e.getMessage());
            return 1;
        }
    }

    static int shell(String[] args) throws Exception {
        Map<String, String> overrides = new HashMap<>();
        for (String arg : args) {
            if (arg.startsWith("-D") && arg.contains("=")) {
                String[] pair = arg.substring(2).split("=");
                if (pair.length != 2) {
                    System.out.println("ERROR: Expected parameter " + List.of(pair) + " in key=value format");
                    return 1;
                }
                overrides.put(pair[0], pair[1]);
            }
        }
        Map<String, String> conf = configuration(overrides);
        String script = args[args.length - 1];
        note("shell " + Path.of(script).getFileName() + " jvm=" + jvmArgs());
        try {
            if (script.endsWith("/bootstrap-tables.rb")) {
                return bootstrap(conf);
            }
            if (script.endsWith("/flush-all.rb")) {
                for (String table : call(conf, "flush").split(",")) {
                    System.out.println("pinpoint-flushed:" + table);
                }
                return 0;
            }
            for (String line : Files.readAllLines(Path.of(script))) {
                if (line.startsWith("create '")) {
                    call(conf, "create " + line);
                }
            }
            return 0;
        } catch (ShellError e) {
            System.out.println("ERROR: " + e.getMessage());
            return 1;
        }
    }

    // The contract of images/pinpoint/hbase/bootstrap-tables.rb.
    static int bootstrap(Map<String, String> conf) throws Exception {
        List<String> statements = Files.readAllLines(Path.of(System.getenv("PINPOINT_TABLES_DDL")));
        long deadline = System.currentTimeMillis() + 1000L * Long.parseLong(System.getenv("PINPOINT_MASTER_WAIT_SECONDS"));
        long poll = (long) (1000 * Double.parseDouble(System.getenv().getOrDefault("PINPOINT_HBASE_POLL_SECONDS", "2")));
        String statusFile = System.getenv("PINPOINT_BOOTSTRAP_STATUS_FILE");
        Function<String, Void> report = line -> {
            System.out.println("pinpoint-bootstrap:" + line);
            if (statusFile != null) {
                try {
                    // replaced by a rename, as the script does: a kill never leaves it empty
                    Path tmp = Path.of(statusFile + ".tmp");
                    Files.writeString(tmp, line);
                    Files.move(tmp, Path.of(statusFile), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException ignored) {
                    // the supervisor then reports the exit status alone
                }
            }
            return null;
        };
        for (int attempt = 1; ; attempt++) {
            try {
                call(conf, "list_namespace");
                break;
            } catch (ShellError e) {
                if (System.currentTimeMillis() >= deadline) {
                    report.apply("timeout master not initialized: " + e.getMessage());
                    return 3;
                }
                report.apply("waiting attempt " + attempt + ": " + e.getMessage());
                Thread.sleep(poll);
            }
        }
        report.apply("initialized");
        String listed = call(conf, "list");
        List<String> existing = listed.isEmpty() ? List.of() : List.of(listed.split(","));
        int created = 0;
        for (String statement : statements) {
            Matcher name = Pattern.compile("^create '([^']+)'").matcher(statement);
            if (name.find() && !existing.contains(name.group(1))) {
                report.apply("creating " + name.group(1));
                try {
                    call(conf, "create " + statement);
                } catch (ShellError e) {
                    report.apply("create " + name.group(1) + " failed: " + e.getMessage());
                    return 4;
                }
                report.apply("created " + name.group(1));
                created++;
            }
        }
        if (created == 0) {
            report.apply("nothing-missing all Pinpoint tables exist");
        }
        report.apply("done created " + created + " table(s)");
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

// Stand-in for the Pinpoint 3.1 collector and web exec jars, for the image integration tests.
//
// JDK-only. It reads the same system properties the real servers read (v3.1.0 sources), so the
// test proves pinpoint-supervisor passes them: with collector.receiver.grpc.*.bindaddress.port
// set it acts as the collector (TCP listeners on the three gRPC ports on all interfaces; HTTP on
// server.port bound to server.address, answering /serverTime with JSON), otherwise as the web
// UI (HTTP on server.port: /api-public/serverTime JSON, /api/configuration's switches, every other
// path the index.html fallback with 200; actuator /monitor/l7check on management.server.port bound to
// management.server.address). Without -Dlogging.config it writes logs/pinpoint-<role>.log in
// the working directory, as the stock log4j2-spring.xml does. It refuses to start with realtime
// (Redis) enabled, like a misconfigured server. The web reports whether admin.password came
// from the environment (ADMIN_PASSWORD, Spring's relaxed binding) without printing it.
//
// HBase, as the real servers find it and check it: hbase.client.host becomes
// hbase.zookeeper.quorum, hbase.client.port the clientPort and hbase.client.znode the parent
// znode (commons-server HbaseClientConfiguration, v3.1.0), with the client settings of the
// collector's hbase-root.properties (retries 4, RPC and operation timeouts 10 s). Before any
// port listens, like v3.1.0's HbaseVersionCheckBean (commons-hbase: an InitializingBean calling
// Admin#getClusterMetrics, whose failure ends the Spring context before the web server starts),
// it asks the HBase for its cluster metrics through the REAL HBase client: the image's own
// jars under $HBASE_HOME/lib, loaded at run time. It prints
//   standin <role> reached HBase <version>: ZooKeeper <quorum> (znode <parent>), <n> live region server(s)
// or, when that fails, "Application run failed: ..." with the client's reason and exits 1.

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

public final class StandinPinpoint {
    private StandinPinpoint() {
    }

    public static void main(String[] args) throws Exception {
        require("pinpoint.modules.realtime.enabled", "false");
        boolean collector = System.getProperty("collector.receiver.grpc.agent.bindaddress.port") != null;
        String role = collector ? "collector" : "web";
        if (!property("hbase.client.host").equals(property("pinpoint.zookeeper.address"))) {
            System.err.println("standin: hbase.client.host and pinpoint.zookeeper.address differ");
            System.exit(2);
        }
        checkHBase(role);
        if (collector) {
            for (String kind : new String[] {"agent", "stat", "span"}) {
                listen(kind, Integer.parseInt(property("collector.receiver.grpc." + kind + ".bindaddress.port")));
            }
        }
        int httpPort = Integer.parseInt(property("server.port"));
        String address = System.getProperty("server.address", "0.0.0.0");
        HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getByName(address), httpPort), 0);
        String jsonPath = collector ? "/serverTime" : "/api-public/serverTime";
        http.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            boolean json = path.equals(jsonPath) || path.equals("/api/serverTime");
            boolean configuration = !collector && path.equals("/api/configuration");
            int status = json || configuration || !collector ? 200 : 404;
            String text = json ? "{\"currentServerTime\":" + System.currentTimeMillis() + "}"
                    : configuration ? configuration()
                    : collector ? "not found" : "<!doctype html><html>index.html</html>";
            byte[] body = text.getBytes(StandardCharsets.UTF_8);
            // As Spring MVC labels them (the real web 3.0.1: application/json, text/html for the UI).
            exchange.getResponseHeaders().set("Content-Type",
                    json || configuration ? "application/json" : "text/html;charset=UTF-8");
            exchange.sendResponseHeaders(status, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        http.start();
        String managementPort = System.getProperty("management.server.port");
        if (managementPort != null) {
            HttpServer management = HttpServer.create(new InetSocketAddress(
                    InetAddress.getByName(System.getProperty("management.server.address", "0.0.0.0")),
                    Integer.parseInt(managementPort)), 0);
            management.createContext("/monitor/l7check", exchange -> {
                byte[] body = "{\"status\":\"UP\"}".getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            });
            management.start();
        }
        if (System.getProperty("logging.config") == null) {
            Path logs = Path.of(System.getProperty("logging.file.path", "logs"));
            Files.createDirectories(logs);
            Files.writeString(logs.resolve("pinpoint-" + role + ".log"), "stock log4j2-spring.xml file appender\n");
        }
        if (!collector) {
            String password = System.getenv("ADMIN_PASSWORD");
            System.out.println("standin web admin.password from environment: "
                    + (password == null ? "unset" : "sha256 " + HexFormat.of().formatHex(
                            MessageDigest.getInstance("SHA-256").digest(password.getBytes(StandardCharsets.UTF_8)))));
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> System.out.println("standin " + role + " stopping")));
        System.out.printf("standin %s started: http %d, max heap %d MB%n",
                role, httpPort, Runtime.getRuntime().maxMemory() / (1024 * 1024));
        Thread.currentThread().join();
    }

    // GET /api/configuration, the switches the image sets (v3.1.0 web: ConfigPropertiesExporter
    // reads config.sendUsage / config.editUserInfo, default true in pinpoint-web-root.properties;
    // the realtime exporter sets both active-thread switches from pinpoint.modules.realtime.enabled;
    // webhookEnable exists only while pinpoint.modules.web.webhook, true in application.yml,
    // installs the webhook module). The real web 3.0.1 answers the same (tests/real).
    private static String configuration() {
        boolean realtime = Boolean.parseBoolean(System.getProperty("pinpoint.modules.realtime.enabled", "false"));
        StringBuilder json = new StringBuilder("{");
        if (Boolean.parseBoolean(System.getProperty("pinpoint.modules.web.webhook", "true"))) {
            json.append("\"webhookEnable\":true,");
        }
        json.append("\"sendUsage\":").append(System.getProperty("config.sendUsage", "true"))
                .append(",\"editUserInfo\":").append(System.getProperty("config.editUserInfo", "true"))
                .append(",\"showActiveThread\":").append(realtime)
                .append(",\"showActiveThreadDump\":").append(realtime).append('}');
        return json.toString();
    }

    private static String property(String name) {
        String value = System.getProperty(name);
        if (value == null) {
            System.err.println("standin: missing -D" + name);
            System.exit(2);
        }
        return value;
    }

    private static void require(String name, String expected) {
        if (!expected.equals(System.getProperty(name))) {
            System.err.println("standin: -D" + name + " must be " + expected + ", got " + System.getProperty(name));
            System.exit(2);
        }
    }

    private static void checkHBase(String role) throws Exception {
        String quorum = property("hbase.client.host");
        String znode = System.getProperty("hbase.client.znode", "/hbase");
        Path home = Path.of(System.getenv().getOrDefault("HBASE_HOME", "/opt/hbase"));
        List<URL> jars = new ArrayList<>();
        for (Path dir : List.of(home.resolve("lib"), home.resolve("lib/client-facing-thirdparty"))) {
            try (var files = Files.list(dir)) {
                for (Path jar : files.filter(f -> f.toString().endsWith(".jar")).sorted().toList()) {
                    jars.add(jar.toUri().toURL());
                }
            }
        }
        ClassLoader hbase = new URLClassLoader(jars.toArray(new URL[0]), StandinPinpoint.class.getClassLoader());
        Thread.currentThread().setContextClassLoader(hbase);
        Class<?> configurationType = hbase.loadClass("org.apache.hadoop.conf.Configuration");
        Object conf = hbase.loadClass("org.apache.hadoop.hbase.HBaseConfiguration").getMethod("create").invoke(null);
        Method set = configurationType.getMethod("set", String.class, String.class);
        set.invoke(conf, "hbase.zookeeper.quorum", quorum);
        set.invoke(conf, "hbase.zookeeper.property.clientPort", System.getProperty("hbase.client.port", "2181"));
        set.invoke(conf, "zookeeper.znode.parent", znode);
        // collector/src/main/resources/hbase-root.properties (v3.1.0)
        set.invoke(conf, "hbase.client.retries.number", "4");
        set.invoke(conf, "hbase.rpc.timeout", "10000");
        set.invoke(conf, "hbase.client.operation.timeout", "10000");
        set.invoke(conf, "hbase.client.meta.operation.timeout", "10000");
        try {
            Object connection = hbase.loadClass("org.apache.hadoop.hbase.client.ConnectionFactory")
                    .getMethod("createConnection", configurationType).invoke(null, conf);
            Object admin = hbase.loadClass("org.apache.hadoop.hbase.client.Connection").getMethod("getAdmin").invoke(connection);
            Object metrics = hbase.loadClass("org.apache.hadoop.hbase.client.Admin").getMethod("getClusterMetrics").invoke(admin);
            Class<?> metricsType = hbase.loadClass("org.apache.hadoop.hbase.ClusterMetrics");
            String version = (String) metricsType.getMethod("getHBaseVersion").invoke(metrics);
            int servers = ((java.util.Map<?, ?>) metricsType.getMethod("getLiveServerMetrics").invoke(metrics)).size();
            // The servers' warm-up (hbase.client.warmup.enable) locates regions: a read of
            // hbase:meta goes to the region server at the name it registered in ZooKeeper.
            Class<?> tableName = hbase.loadClass("org.apache.hadoop.hbase.TableName");
            Class<?> tableType = hbase.loadClass("org.apache.hadoop.hbase.client.Table");
            Class<?> scanType = hbase.loadClass("org.apache.hadoop.hbase.client.Scan");
            Object meta = hbase.loadClass("org.apache.hadoop.hbase.client.Connection").getMethod("getTable", tableName)
                    .invoke(connection, tableName.getField("META_TABLE_NAME").get(null));
            Object scan = scanType.getConstructor().newInstance();
            scanType.getMethod("setLimit", int.class).invoke(scan, 1);
            Object scanner = tableType.getMethod("getScanner", scanType).invoke(meta, scan);
            Object row = hbase.loadClass("org.apache.hadoop.hbase.client.ResultScanner").getMethod("next").invoke(scanner);
            System.out.println("standin " + role + " reached HBase " + version + ": ZooKeeper " + quorum + " (znode " + znode
                    + "), " + servers + " live region server(s), hbase:meta read" + (row == null ? " (empty)" : ""));
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            String message = cause.getMessage() == null ? "" : ": " + cause.getMessage().strip().lines().findFirst().orElse("");
            System.out.println("standin " + role + ": Application run failed: HbaseVersionCheckBean: "
                    + cause.getClass().getName() + message);
            System.exit(1);
        }
    }

    // Accepts and closes connections: enough for "the port listens" checks.
    private static void listen(String kind, int port) throws IOException {
        ServerSocket server = new ServerSocket(port);
        Thread thread = new Thread(() -> {
            while (true) {
                try (Socket ignored = server.accept()) {
                    // nothing to serve
                } catch (IOException e) {
                    return;
                }
            }
        }, "listen-" + kind);
        thread.setDaemon(true);
        thread.start();
        System.out.println("standin collector listening for " + kind + " on " + port);
    }
}

// Stand-in for the Pinpoint 3.1 collector and web exec jars, for the image integration tests.
//
// JDK-only. It reads the same system properties the real servers read (v3.1.0 sources), so the
// test proves pinpoint-supervisor passes them: with collector.receiver.grpc.*.bindaddress.port
// set it acts as the collector (TCP listeners on the three gRPC ports on all interfaces; HTTP on
// server.port bound to server.address, answering /serverTime with JSON), otherwise as the web
// UI (HTTP on server.port: /api-public/serverTime JSON, every other path the index.html
// fallback with 200; actuator /monitor/l7check on management.server.port bound to
// management.server.address). Without -Dlogging.config it writes logs/pinpoint-<role>.log in
// the working directory, as the stock log4j2-spring.xml does. It refuses to start with realtime
// (Redis) enabled, like a misconfigured server. The web reports whether admin.password came
// from the environment (ADMIN_PASSWORD, Spring's relaxed binding) without printing it.
//
// HBase, as the real servers find it: hbase.client.host becomes hbase.zookeeper.quorum,
// hbase.client.port the clientPort and hbase.client.znode the parent znode (commons-server
// HbaseClientConfiguration, v3.1.0); the HBase client keeps an entry's own port and gives the
// others clientPort (ZKConfig#buildZKQuorumServerString, 2.5/2.6). In the background, like the
// servers' connection warm-up, it asks each quorum entry in turn for <parent>/master and
// <parent>/meta-region-server, then connects to the region server at the name it advertised
// (StandinHBase's one-line protocol), retrying every second; it prints
//   standin <role> reached HBase: ZooKeeper <entry> (znode <parent>), master <host:port>, meta on <host:port>
// once it got there, and what failed while it did not.

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
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
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
        Thread hbase = new Thread(() -> reachHBase(role), "hbase-warmup");
        hbase.setDaemon(true);
        hbase.start();
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
            int status = json || !collector ? 200 : 404;
            byte[] body = (json ? "{\"currentServerTime\":" + System.currentTimeMillis() + "}"
                    : collector ? "not found" : "<!doctype html><html>index.html</html>").getBytes(StandardCharsets.UTF_8);
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

    // The HBase client's view: entries with their own port kept, others given clientPort.
    private static List<String> quorum() {
        List<String> entries = new ArrayList<>();
        for (String entry : property("hbase.client.host").split(",")) {
            if (!entry.isBlank()) {
                String trimmed = entry.trim();
                entries.add(trimmed.contains(":") ? trimmed : trimmed + ":" + System.getProperty("hbase.client.port", "2181"));
            }
        }
        return entries;
    }

    private static String exchange(String hostPort, String request) throws IOException {
        int colon = hostPort.lastIndexOf(':');
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1))), 2000);
            socket.setSoTimeout(5000);
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

    private static void reachHBase(String role) {
        String znode = System.getProperty("hbase.client.znode", "/hbase");
        String lastProblem = "";
        while (true) {
            String problem;
            try {
                problem = tryHBase(role, znode);
            } catch (RuntimeException e) {
                problem = e.toString();
            }
            if (problem == null) {
                return;
            }
            if (!problem.equals(lastProblem)) {
                System.out.println("standin " + role + " cannot reach HBase yet: " + problem);
                lastProblem = problem;
            }
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    // null when HBase was reached, else why not.
    private static String tryHBase(String role, String znode) {
        List<String> entries = quorum();
        for (String entry : entries) {
            String master;
            String meta;
            try {
                master = exchange(entry, "get " + znode + "/master");
                meta = exchange(entry, "get " + znode + "/meta-region-server");
            } catch (IOException | RuntimeException e) { // refused, timed out, unresolvable
                continue; // the next quorum member
            }
            if (!master.startsWith("ok ") || !meta.startsWith("ok ")) {
                return "KeeperErrorCode = NoNode for " + znode + "/master at " + entry;
            }
            String regionServer = meta.substring(3);
            try {
                String pong = exchange(regionServer, "ping");
                if (!pong.startsWith("ok")) {
                    return "region server " + regionServer + ": " + pong;
                }
            } catch (IOException | RuntimeException e) {
                return "region server " + regionServer + " (advertised in ZooKeeper): " + e;
            }
            System.out.println("standin " + role + " reached HBase: ZooKeeper " + entry + " (znode " + znode + "), master "
                    + master.substring(3) + ", meta on " + regionServer);
            return null;
        }
        return "KeeperErrorCode = ConnectionLoss for " + znode + "/master (quorum " + String.join(",", entries) + ")";
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

// Stand-in for the Pinpoint 3.1 collector and web exec jars, for the image integration test.
//
// JDK-only. It reads the same system properties the real servers read, so the test proves
// pinpoint-supervisor passes them: with collector.receiver.grpc.*.bindaddress.port set it
// acts as the collector (TCP listeners on the three gRPC ports plus HTTP on server.port),
// otherwise as the web UI (HTTP on server.port). HTTP answers 200 on /serverTime and
// /api-public/serverTime, 404 elsewhere. It refuses to start without the loopback
// ZooKeeper address and with realtime (Redis) enabled, like a misconfigured real server.

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

public final class StandinPinpoint {
    private StandinPinpoint() {
    }

    public static void main(String[] args) throws Exception {
        require("pinpoint.zookeeper.address", "127.0.0.1");
        require("hbase.client.host", "127.0.0.1");
        require("pinpoint.modules.realtime.enabled", "false");
        boolean collector = System.getProperty("collector.receiver.grpc.agent.bindaddress.port") != null;
        String role = collector ? "collector" : "web";
        if (collector) {
            for (String kind : new String[] {"agent", "stat", "span"}) {
                listen(kind, Integer.parseInt(property("collector.receiver.grpc." + kind + ".bindaddress.port")));
            }
        }
        int httpPort = Integer.parseInt(property("server.port"));
        HttpServer http = HttpServer.create(new InetSocketAddress(httpPort), 0);
        http.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            boolean known = path.equals("/serverTime") || path.equals("/api-public/serverTime");
            byte[] body = (known ? "{\"currentServerTime\":" + System.currentTimeMillis() + "}" : "not found")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(known ? 200 : 404, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        http.start();
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

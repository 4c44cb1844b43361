import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;

/**
 * The sample service: a JDK-only HTTP server (no framework, nothing to download) that the
 * Pinpoint agent can trace. GET / answers "ok"; GET /hello answers with the agent identity the
 * JVM was started with, which shows at a glance whether the entrypoint enabled the agent.
 * SIGTERM (ECS stopping the task) stops the server through a shutdown hook.
 */
public final class SampleApp {
    private SampleApp() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/", exchange -> respond(exchange, "ok\n"));
        server.createContext("/hello", exchange -> respond(exchange,
                "hello from " + System.getProperty("pinpoint.applicationName", "an app without the agent")
                        + " (agentId " + System.getProperty("pinpoint.agentId", "-") + ")\n"));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("sample-app: stopping");
            server.stop(2);
            stopped.countDown();
        }));
        server.start();
        System.out.println("sample-app: listening on " + port
                + " agentId=" + System.getProperty("pinpoint.agentId", "-"));
        stopped.await();
    }

    private static void respond(HttpExchange exchange, String text) throws IOException {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(200, bytes.length);
        try (OutputStream body = exchange.getResponseBody()) {
            body.write(bytes);
        }
    }
}

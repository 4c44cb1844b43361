// Counts the TCP connections made to 127.0.0.1:PORT inside a container for SECONDS, then prints
// "probe: connections N". The real-component tests run it where the web's default MySQL pool
// would connect (Pinpoint 3.0.1/3.1.0 datasource/profiles/release/jdbc.properties:
// jdbc:mysql://localhost:13306/pinpoint): a pool that retries in the background shows up here.
//
//   java -cp /tmp/probe PortCounter 13306 30

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;

public final class PortCounter {
    private PortCounter() {
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        long deadline = System.currentTimeMillis() + 1000L * Integer.parseInt(args[1]);
        int connections = 0;
        try (ServerSocket server = new ServerSocket()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            server.setSoTimeout(200);
            while (System.currentTimeMillis() < deadline) {
                try (Socket ignored = server.accept()) {
                    connections++;
                } catch (SocketTimeoutException e) {
                    // keep counting until the deadline
                }
            }
        }
        System.out.println("probe: connections " + connections);
    }
}

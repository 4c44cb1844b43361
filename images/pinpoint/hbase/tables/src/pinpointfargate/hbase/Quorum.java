package pinpointfargate.hbase;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hbase.zookeeper.ZKConfig;

/**
 * Whether any member of the configured ZooKeeper quorum takes connections, and if none does,
 * why, in one line.
 *
 * <p>The HBase client only says "ConnectionLoss" after its ZooKeeper retries (30 by default,
 * ReadOnlyZKClient), which can outlast a whole boot budget; the reason it hides (a name that
 * does not resolve, a refused or unanswered port) is in ZooKeeper's log only. Asked first, the
 * table tool reports the real reason within seconds, and creates its HBase connection only once
 * ZooKeeper answers.
 */
final class Quorum {
  private static final int CONNECT_TIMEOUT_MILLIS = 2000;

  private Quorum() {}

  /** null when a member of the quorum accepts a TCP connection, else why none does. */
  static String problem(Configuration conf) {
    // host:port entries as the HBase client builds them (an entry keeps its own port, the others
    // get hbase.zookeeper.property.clientPort: ZKConfig#buildZKQuorumServerString).
    String servers = ZKConfig.getZKQuorumServersString(conf);
    List<String> problems = new ArrayList<>();
    for (String server : servers.split(",")) {
      int colon = server.lastIndexOf(':');
      String host = server.substring(0, colon);
      int port = Integer.parseInt(server.substring(colon + 1));
      try (Socket socket = new Socket()) {
        socket.connect(new InetSocketAddress(InetAddress.getByName(host), port), CONNECT_TIMEOUT_MILLIS);
        return null;
      } catch (UnknownHostException e) {
        problems.add(host + " does not resolve");
      } catch (IOException e) {
        problems.add(server + ": " + e.getMessage());
      }
    }
    return "ZooKeeper quorum " + servers + " unreachable (" + String.join("; ", problems) + ")";
  }
}

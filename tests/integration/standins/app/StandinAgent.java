import java.io.File;
import java.io.FileReader;
import java.io.IOException;
import java.io.Reader;
import java.lang.instrument.Instrumentation;
import java.util.Properties;

/**
 * Stand-in for pinpoint-bootstrap.jar: a premain agent that reports where it was loaded from,
 * the identity options it was given, and the collector the bundle's config files name (root
 * config, then the active profile's file on top, then -D options, with ${key} placeholders
 * resolved against the result, as Pinpoint reads them).
 */
public final class StandinAgent {
    private StandinAgent() {
    }

    public static void premain(String args, Instrumentation instrumentation) throws IOException {
        File jar = new File(StandinAgent.class.getProtectionDomain().getCodeSource().getLocation().getPath());
        File home = jar.getParentFile();
        Properties config = new Properties();
        load(config, new File(home, "pinpoint-root.config"));
        String profile = System.getProperty("pinpoint.profiler.profiles.active",
                config.getProperty("pinpoint.profiler.profiles.active", "release"));
        load(config, new File(home, "profiles/" + profile + "/pinpoint.config"));
        config.putAll(System.getProperties());
        System.out.println("standin-agent: loaded " + jar.getPath()
                + " agentId=" + System.getProperty("pinpoint.agentId")
                + " applicationName=" + System.getProperty("pinpoint.applicationName")
                + " container=" + System.getProperty("pinpoint.container")
                + " collector=" + resolve(config, "profiler.transport.grpc.span.collector.ip")
                + ":" + resolve(config, "profiler.transport.grpc.span.collector.port"));
    }

    private static String resolve(Properties config, String key) {
        String value = config.getProperty(key);
        for (int depth = 0; value != null && value.startsWith("${") && value.endsWith("}") && depth < 10; depth++) {
            value = config.getProperty(value.substring(2, value.length() - 1));
        }
        return value;
    }

    private static void load(Properties properties, File file) throws IOException {
        try (Reader reader = new FileReader(file)) {
            properties.load(reader);
        }
    }
}

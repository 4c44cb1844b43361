package pinpointfargate.hbase;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.hbase.TableName;
import org.apache.hadoop.hbase.client.ColumnFamilyDescriptor;
import org.apache.hadoop.hbase.client.ColumnFamilyDescriptorBuilder;
import org.apache.hadoop.hbase.client.TableDescriptor;
import org.apache.hadoop.hbase.client.TableDescriptorBuilder;
import org.apache.hadoop.hbase.io.encoding.DataBlockEncoding;
import org.apache.hadoop.hbase.util.Bytes;
import org.apache.hadoop.hbase.util.RegionSplitter;

/**
 * One Pinpoint table as a `create` statement of the (rendered) table list declares it.
 *
 * <p>The list keeps HBase shell syntax so it stays comparable with upstream's
 * hbase/scripts/hbase-create.hbase (pinpoint-apm/pinpoint v3.1.0). This reads the subset that
 * list uses, with the shell's meaning (hbase-shell admin.rb {@code create} and {@code hcd},
 * branch-2.6): a family hash {@code NAME, TTL, VERSIONS, DATA_BLOCK_ENCODING}; a table hash with
 * {@code SPLITS => ["\x01...", ...]} (Bytes#toBytesBinary) or {@code NUMREGIONS => n, SPLITALGO =>
 * 'UniformSplit'} (RegionSplitter, n > 1). Anything else is refused with the line, so the list can
 * never say more than what is applied.
 */
record TableSpec(String name, List<FamilySpec> families, byte[][] splits) {

  record FamilySpec(String name, int ttlSeconds, Integer maxVersions, DataBlockEncoding encoding) {
    ColumnFamilyDescriptor descriptor() {
      ColumnFamilyDescriptorBuilder builder = ColumnFamilyDescriptorBuilder.newBuilder(Bytes.toBytes(name));
      builder.setTimeToLive(ttlSeconds);
      if (maxVersions != null) {
        builder.setMaxVersions(maxVersions);
      }
      if (encoding != null) {
        builder.setDataBlockEncoding(encoding);
      }
      return builder.build();
    }
  }

  private static final Pattern CREATE = Pattern.compile("^create '([A-Za-z0-9_.-]+)',\\s*(.+)$");
  private static final Pattern HASH = Pattern.compile("\\{([^{}]*)\\}");
  // key => value, where value is 'string', "string", an integer or a ["...", ...] list.
  private static final Pattern PAIR =
      Pattern.compile("\\s*([A-Z_]+)\\s*=>\\s*('[^']*'|\"[^\"]*\"|-?[0-9]+|\\[[^\\]]*\\])\\s*(,|$)");
  private static final Pattern LIST_ITEM = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"");

  TableName tableName() {
    return TableName.valueOf(name);
  }

  TableDescriptor descriptor() {
    TableDescriptorBuilder builder = TableDescriptorBuilder.newBuilder(tableName());
    families.forEach(family -> builder.setColumnFamily(family.descriptor()));
    return builder.build();
  }

  static List<TableSpec> read(Path file) throws IOException {
    List<TableSpec> tables = new ArrayList<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      String statement = line.strip();
      if (statement.startsWith("create '")) {
        tables.add(parse(statement));
      }
    }
    if (tables.isEmpty()) {
      throw new IllegalArgumentException(file + " holds no `create '<table>', ...` statement");
    }
    return tables;
  }

  static TableSpec parse(String statement) {
    Matcher create = CREATE.matcher(statement);
    if (!create.matches()) {
      throw refused(statement, "not `create '<table>', {...}, ...`");
    }
    String name = create.group(1);
    List<FamilySpec> families = new ArrayList<>();
    byte[][] splits = null;
    Matcher hash = HASH.matcher(create.group(2));
    int end = 0;
    while (hash.find()) {
      if (!create.group(2).substring(end, hash.start()).matches("[\\s,]*")) {
        throw refused(statement, "unexpected text between {...} groups");
      }
      end = hash.end();
      Map<String, String> pairs = pairs(statement, hash.group(1));
      if (pairs.containsKey("NAME")) {
        families.add(family(statement, pairs));
      } else if (splits != null) {
        throw refused(statement, "more than one split specification");
      } else {
        splits = splits(statement, pairs);
      }
    }
    if (!create.group(2).substring(end).isBlank()) {
      throw refused(statement, "unexpected text after the last {...} group");
    }
    if (families.isEmpty()) {
      throw refused(statement, "a table needs at least one column family (NAME => ...)");
    }
    return new TableSpec(name, List.copyOf(families), splits);
  }

  private static Map<String, String> pairs(String statement, String body) {
    Map<String, String> pairs = new LinkedHashMap<>();
    Matcher pair = PAIR.matcher(body);
    int end = 0;
    while (end < body.length() && pair.find(end) && pair.start() == end) {
      if (pairs.put(pair.group(1), pair.group(2)) != null) {
        throw refused(statement, pair.group(1) + " given twice");
      }
      end = pair.end();
    }
    if (!body.substring(end).isBlank()) {
      throw refused(statement, "cannot read `" + body.substring(end).strip() + "`");
    }
    return pairs;
  }

  private static FamilySpec family(String statement, Map<String, String> pairs) {
    String name = unquote(statement, pairs.remove("NAME"));
    String ttl = pairs.remove("TTL");
    if (ttl == null) {
      throw refused(statement, "family " + name + " has no TTL (every Pinpoint table sets one)");
    }
    long seconds = Long.parseLong(ttl);
    if (seconds < 1 || seconds > Integer.MAX_VALUE) {
      // HColumnDescriptor#setTimeToLive(int): HBase stores a TTL as a Java int.
      throw refused(statement, "TTL " + ttl + " of family " + name + " is not within 1.." + Integer.MAX_VALUE);
    }
    String versions = pairs.remove("VERSIONS");
    String encoding = pairs.remove("DATA_BLOCK_ENCODING");
    if (!pairs.isEmpty()) {
      throw refused(statement, "unsupported family attribute(s) " + pairs.keySet());
    }
    return new FamilySpec(
        name,
        (int) seconds,
        versions == null ? null : Integer.valueOf(versions),
        encoding == null ? null : DataBlockEncoding.valueOf(unquote(statement, encoding)));
  }

  private static byte[][] splits(String statement, Map<String, String> pairs) {
    if (pairs.containsKey("SPLITS") && pairs.size() == 1) {
      List<byte[]> keys = new ArrayList<>();
      Matcher item = LIST_ITEM.matcher(pairs.get("SPLITS"));
      while (item.find()) {
        keys.add(Bytes.toBytesBinary(item.group(1)));
      }
      if (keys.isEmpty()) {
        throw refused(statement, "SPLITS is empty");
      }
      return keys.toArray(new byte[0][]);
    }
    if (pairs.keySet().equals(java.util.Set.of("NUMREGIONS", "SPLITALGO"))) {
      int regions = Integer.parseInt(pairs.get("NUMREGIONS"));
      if (regions <= 1) {
        // The shell's own check (admin.rb): one region is no pre-split.
        throw refused(statement, "Number of regions must be greater than 1, got " + regions);
      }
      String algorithm = unquote(statement, pairs.get("SPLITALGO"));
      if (!algorithm.equals("UniformSplit")) {
        throw refused(statement, "SPLITALGO " + algorithm + " (only UniformSplit is used)");
      }
      return new RegionSplitter.UniformSplit().split(regions);
    }
    throw refused(statement, "unsupported table attribute(s) " + pairs.keySet());
  }

  private static String unquote(String statement, String value) {
    if (value.length() >= 2 && value.charAt(0) == '\'' && value.endsWith("'")) {
      return value.substring(1, value.length() - 1);
    }
    throw refused(statement, "expected a 'quoted' name, got " + value);
  }

  private static IllegalArgumentException refused(String statement, String why) {
    String head = statement.length() > 60 ? statement.substring(0, 60) + "..." : statement;
    return new IllegalArgumentException("table list: " + why + " in: " + head);
  }
}

# shellcheck shell=bash
# Replaces the distribution's hbase-env.sh on purpose: pinpoint-supervisor passes heap and
# JVM options through HBASE_HEAPSIZE, HBASE_OFFHEAPSIZE, HBASE_OPTS (what every hbase command
# needs, -XX:+UseG1GC included) and HBASE_MASTER_OPTS (the master only); older templates
# carried GC flags (CMS) that a Java 17 JVM refuses to start with. HBase runs in the
# foreground under the supervisor, so no pid files, ssh or daemon log files are involved.
export HBASE_MANAGES_ZK=true
export HBASE_LOG_DIR="${HBASE_LOG_DIR:-/tmp/pinpoint/hbase-logs}"
export HBASE_PID_DIR="${HBASE_PID_DIR:-/tmp/pinpoint/hbase-pids}"

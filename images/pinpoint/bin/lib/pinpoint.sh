# shellcheck shell=bash
# pinpoint-supervisor: the Pinpoint collector and web JVMs (roles all-in-one, collector, web).
# Sourced by pinpoint-supervisor.

# pinpoint_hbase_opts: where the servers find HBase. Pinpoint 3.1.0 reads hbase.client.host
# (-> hbase.zookeeper.quorum), hbase.client.port (-> hbase.zookeeper.property.clientPort) and
# hbase.client.znode (-> zookeeper.znode.parent) in commons-server HbaseClientConfiguration;
# the release profile's hbase.properties defaults the host to ${pinpoint.zookeeper.address},
# which nothing else reads in 3.1.0, so both are set alike.
#   all-in-one:    the container's own ZooKeeper on loopback.
#   collector/web: PINPOINT_HBASE_ZOOKEEPER_QUORUM as given (each entry keeps its port: see
#                  parse_quorum) and PINPOINT_HBASE_ZNODE_PARENT.
pinpoint_hbase_opts() {
    if [[ $PINPOINT_ROLE == all-in-one ]]; then
        printf '%s\n' -Dpinpoint.zookeeper.address=127.0.0.1 -Dhbase.client.host=127.0.0.1 -Dhbase.client.port=2181
        return
    fi
    printf '%s\n' \
        "-Dpinpoint.zookeeper.address=${PINPOINT_HBASE_ZOOKEEPER_QUORUM}" \
        "-Dhbase.client.host=${PINPOINT_HBASE_ZOOKEEPER_QUORUM}" \
        "-Dhbase.client.port=${QUORUM_DEFAULT_PORT}" \
        "-Dhbase.client.znode=${PINPOINT_HBASE_ZNODE_PARENT}"
}

# Options both Pinpoint servers need: where HBase is; realtime (active thread count) off — in
# 3.x it needs Redis, which this image does not run; logs to the console only (the stock
# log4j2-spring.xml also writes ${logging.file.path:-logs}/pinpoint-*.log with 100 GB files in
# the release profile; Spring Boot's logging.config replaces it).
pinpoint_common_opts() {
    printf '%s\n' \
        -XX:+ExitOnOutOfMemoryError \
        -Dspring.profiles.active=release \
        -Dlogging.config="${PINPOINT_LOG_CONFIG}"
    pinpoint_hbase_opts
    printf '%s\n' -Dpinpoint.modules.realtime.enabled=false
}

# The collector's gRPC receivers keep their default bind address 0.0.0.0 (collector.receiver.
# grpc.*.bindaddress.ip); its HTTP port (serverTime, actuator under /monitor) is loopback only.
start_collector() {
    local -a opts
    mapfile -t opts < <(pinpoint_common_opts)
    # shellcheck disable=SC2086  # extra options are split on purpose
    start collector java -Xms"${COLLECTOR_HEAP_MB}m" -Xmx"${COLLECTOR_HEAP_MB}m" "${opts[@]}" \
        -Dserver.port="${PINPOINT_COLLECTOR_HTTP_PORT}" \
        -Dserver.address=127.0.0.1 \
        -Dcollector.receiver.grpc.agent.bindaddress.port="${PINPOINT_COLLECTOR_AGENT_PORT}" \
        -Dcollector.receiver.grpc.stat.bindaddress.port="${PINPOINT_COLLECTOR_STAT_PORT}" \
        -Dcollector.receiver.grpc.span.bindaddress.port="${PINPOINT_COLLECTOR_SPAN_PORT}" \
        ${PINPOINT_COLLECTOR_JAVA_OPTS} -jar "$PINPOINT_COLLECTOR_JAR"
}

# The web UI listens on all interfaces (the load balancer's target); its management port
# (actuator: env, heapdump, loggers) on loopback only. No usage data to Google Analytics.
start_web() {
    local -a opts
    mapfile -t opts < <(pinpoint_common_opts)
    if [[ -z $WEB_ADMIN_PASSWORD ]]; then
        WEB_ADMIN_PASSWORD=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
        log "PINPOINT_WEB_ADMIN_PASSWORD is not set: generated a random admin password for this run (not logged)"
    fi
    # Exported only while the web JVM is forked, so it is the only child that has it.
    export ADMIN_PASSWORD="$WEB_ADMIN_PASSWORD"
    # shellcheck disable=SC2086  # extra options are split on purpose
    start web java -Xms"${WEB_HEAP_MB}m" -Xmx"${WEB_HEAP_MB}m" "${opts[@]}" \
        -Dserver.port="${PINPOINT_WEB_PORT}" \
        -Dmanagement.server.port="${PINPOINT_WEB_MANAGEMENT_PORT}" \
        -Dmanagement.server.address=127.0.0.1 \
        -Dconfig.sendUsage=false \
        ${PINPOINT_WEB_JAVA_OPTS} -jar "$PINPOINT_WEB_JAR"
    export -n ADMIN_PASSWORD
    unset ADMIN_PASSWORD
}

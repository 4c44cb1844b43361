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
# Neither server waits for HBase: their Spring context connects at start-up (v3.1.0
# commons-hbase: the HBase client's ZooKeeper lookups, then AsyncConnectionFactoryBean's 10 s
# timeout; HbaseVersionCheckBean asks the cluster for its version) and, when HBase is
# unreachable, fails; CollectorApp/WebApp#main log "could not launch app." and return, so the
# JVM exits with status 0. The real web 3.0.1 (same code) against a quorum with nothing
# listening: 30 ZooKeeper retries (~33 s), the 10 s timeout, exit 53-76 s after its start. The
# supervisor reports the exit with the root cause (lib/process.sh, exit_reason).
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
# -XX:MaxDirectMemorySize caps the Netty buffers of the gRPC receivers and the HBase client
# (lib/memory.sh). No MySQL datasource: v3.1.0 CollectorApp imports the datasource module's
# MainDataSourceConfiguration, a Hikari pool (datasource/jdbc-root.properties: minimum-idle 30,
# initialization-fail-timeout -1, release URL localhost:13306) that nothing in the collector
# uses and that would retry MySQL in the background for ever; it is
# @ConditionalOnProperty(pinpoint.modules.datasource.main-datasource, havingValue "main",
# matchIfMissing true), so any other value leaves it out.
start_collector() {
    local -a opts
    mapfile -t opts < <(pinpoint_common_opts)
    # shellcheck disable=SC2086  # extra options are split on purpose
    start collector java -Xms"${COLLECTOR_HEAP_MB}m" -Xmx"${COLLECTOR_HEAP_MB}m" \
        -XX:MaxDirectMemorySize="${COLLECTOR_DIRECT_MB}m" "${opts[@]}" \
        -Dpinpoint.modules.datasource.main-datasource=none \
        -Dserver.port="${PINPOINT_COLLECTOR_HTTP_PORT}" \
        -Dserver.address=127.0.0.1 \
        -Dcollector.receiver.grpc.agent.bindaddress.port="${PINPOINT_COLLECTOR_AGENT_PORT}" \
        -Dcollector.receiver.grpc.stat.bindaddress.port="${PINPOINT_COLLECTOR_STAT_PORT}" \
        -Dcollector.receiver.grpc.span.bindaddress.port="${PINPOINT_COLLECTOR_SPAN_PORT}" \
        ${PINPOINT_COLLECTOR_JAVA_OPTS} -jar "$PINPOINT_COLLECTOR_JAR"
}

# pinpoint_web_feature_opts: the web's switches for what this image has no backend for, and
# its error pages (each read in pinpoint-apm/pinpoint v3.1.0; a -D system property outranks
# application.yml and the @PropertySource pinpoint-web-root.properties):
#   pinpoint.modules.web.webhook=false   application.yml sets it true; WebhookFacadeModule (and
#       with it WebhookModule's MySQL DAOs, WebhookAlarmController and WebhookPropertiesExporter,
#       the only source of "webhookEnable" in GET /api/configuration) is @ConditionalOnProperty
#       on it, so the key disappears and the UI hides webhooks.
#   config.editUserInfo=false            pinpoint-web-root.properties sets it true;
#       ConfigPropertiesExporter exports it as "editUserInfo" (the UI's user editing: MySQL).
#   config.show.activeThread=false, config.show.activeThreadDump=false
#       pinpoint-web-root.properties sets both true; ConfigProperties reads (and logs) them, but
#       the "showActiveThread*" keys of /api/configuration come from RealtimeConfig, i.e. from
#       pinpoint.modules.realtime.enabled (false above). Set so that every switch agrees.
#   config.enable.activeThreadDump=false pinpoint-web-root.properties sets it true;
#       ActiveThreadDumpController then answers with a reason instead of calling the (empty,
#       realtime off) thread dump service.
#   spring.datasource.hikari.minimum-idle=0
#       The web needs its main datasource bean (user, group, alarm and webhook DAOs), but
#       jdbc-root.properties keeps 30 idle connections to a MySQL that is not there, with
#       initialization-fail-timeout -1: Hikari's housekeeper retries in the background for
#       ever. With 0 it connects only while a request waits for a connection. (No
#       spring.meta-datasource: only the batch imports MetaDataSourceConfiguration.)
#   server.error.include-stacktrace=never
#       application.yml sets "always": Spring Boot's error attributes and the web's
#       CustomExceptionHandler (web/problem) then put the stack trace in every error response.
pinpoint_web_feature_opts() {
    printf '%s\n' \
        -Dpinpoint.modules.web.webhook=false \
        -Dconfig.editUserInfo=false \
        -Dconfig.show.activeThread=false \
        -Dconfig.show.activeThreadDump=false \
        -Dconfig.enable.activeThreadDump=false \
        -Dspring.datasource.hikari.minimum-idle=0 \
        -Dserver.error.include-stacktrace=never
}

# The web UI listens on all interfaces (the load balancer's target); its management port
# (actuator: env, heapdump, loggers) on loopback only. No usage data to Google Analytics.
# -XX:MaxDirectMemorySize caps the HBase client's Netty buffers and NIO's (lib/memory.sh).
start_web() {
    local -a opts features
    mapfile -t opts < <(pinpoint_common_opts)
    mapfile -t features < <(pinpoint_web_feature_opts)
    if [[ -z $WEB_ADMIN_PASSWORD ]]; then
        WEB_ADMIN_PASSWORD=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
        log "PINPOINT_WEB_ADMIN_PASSWORD is not set: generated a random admin password for this run (not logged)"
    fi
    # Exported only while the web JVM is forked, so it is the only child that has it.
    export ADMIN_PASSWORD="$WEB_ADMIN_PASSWORD"
    # shellcheck disable=SC2086  # extra options are split on purpose
    start web java -Xms"${WEB_HEAP_MB}m" -Xmx"${WEB_HEAP_MB}m" \
        -XX:MaxDirectMemorySize="${WEB_DIRECT_MB}m" "${opts[@]}" "${features[@]}" \
        -Dserver.port="${PINPOINT_WEB_PORT}" \
        -Dmanagement.server.port="${PINPOINT_WEB_MANAGEMENT_PORT}" \
        -Dmanagement.server.address=127.0.0.1 \
        -Dconfig.sendUsage=false \
        ${PINPOINT_WEB_JAVA_OPTS} -jar "$PINPOINT_WEB_JAR"
    export -n ADMIN_PASSWORD
    unset ADMIN_PASSWORD
}

# shellcheck shell=bash
# pinpoint-supervisor: HBase — the standalone server (roles all-in-one and hbase) and the
# Pinpoint tables (roles all-in-one and bootstrap). Sourced by pinpoint-supervisor.

# ---------------------------------------------------------------------------------------------
# Environment of every `hbase` command
# ---------------------------------------------------------------------------------------------
# Every HBase JVM starts through pinpoint-hbase (bin/pinpoint-hbase: HBase's own classes, the
# way bin/hbase launches them). HBASE_OPTS reaches EVERY one (master, table tool, master stop,
# PurgeTxnLog), so it holds only what all of them need: G1 and the properties hbase-site.xml
# expands. Options meant for the master JVM go in HBASE_MASTER_OPTS (`master start` only).
#
# HBASE_CONF_DIR (first on the class path) selects the role's hbase-site.xml:
# conf/ (all-in-one: every socket on loopback; bootstrap: a client, pointed elsewhere by -D
# options) or conf-network/ (role hbase: reachable by other containers).
export_hbase_environment() {
    export HBASE_DATA_DIR
    if [[ $PINPOINT_ROLE == hbase ]]; then
        export HBASE_CONF_DIR="${HBASE_HOME}/conf-network"
    else
        export HBASE_CONF_DIR="${HBASE_HOME}/conf"
    fi
    # hbase.log.dir: nothing is logged to files (log4j2-hbase.xml), but HBase reads the property.
    export HBASE_LOG_DIR="${PINPOINT_RUN_DIR}/hbase-logs"
    HBASE_OPTS="-XX:+UseG1GC -Dpinpoint.hbase.data.dir=${HBASE_DATA_DIR}"
    HBASE_OPTS+=" -Dpinpoint.hbase.master.info.port=${PINPOINT_HBASE_MASTER_INFO_PORT}"
    [[ $PINPOINT_ROLE != hbase ]] || HBASE_OPTS+=" -Dpinpoint.hbase.hostname=${PINPOINT_HBASE_ADVERTISED_HOSTNAME}"
    export HBASE_OPTS
    unset HBASE_MASTER_OPTS HBASE_OFFHEAPSIZE HBASE_HEAPSIZE
    mkdir -p "$HBASE_LOG_DIR"
}

# run_hbase_client TIMEOUT ARGS...: one short-lived `pinpoint-hbase ...` client JVM, bounded.
run_hbase_client() {
    local limit=$1
    shift
    HBASE_HEAPSIZE="${HBASE_CLIENT_HEAP_MB}m" run_bounded "$limit" pinpoint-hbase "$@"
}

# ---------------------------------------------------------------------------------------------
# The standalone server (master, region server and ZooKeeper in one JVM)
# ---------------------------------------------------------------------------------------------
# The embedded ZooKeeper of standalone HBase is a MiniZooKeeperCluster: it never runs
# ZooKeeper's DatadirCleanupManager, so hbase.zookeeper.property.autopurge.* has no effect
# (HBase 2.6 MiniZooKeeperCluster.java vs HQuorumPeer.java). It writes one snapshot per start,
# which adds up on a persistent (EFS) data dir: purge with ZooKeeper's own tool before HBase
# starts, keeping the newest PINPOINT_ZOOKEEPER_SNAPSHOTS_KEPT snapshots and the logs they need.
purge_zookeeper() {
    # MiniZooKeeperCluster keeps its data in <hbase.zookeeper.property.dataDir>/zookeeper_0.
    local zk_dir="${HBASE_DATA_DIR}/zookeeper/zookeeper_0"
    [[ -d $zk_dir ]] || return 0
    log "purging old ZooKeeper snapshots in ${zk_dir} (keeping ${PINPOINT_ZOOKEEPER_SNAPSHOTS_KEPT})"
    run_hbase_client 60 zookeeper-purge "$zk_dir" -n "$PINPOINT_ZOOKEEPER_SNAPSHOTS_KEPT" \
        > >(sed -u 's/^/[zookeeper-purge] /') 2>&1 ||
        log "ZooKeeper purge failed; continuing (it only reclaims disk space)"
}

start_hbase() {
    # HBASE_HEAPSIZE becomes -Xmx and HBASE_OFFHEAPSIZE -XX:MaxDirectMemorySize (pinpoint-hbase);
    # -Xms pins the heap so the container's memory use does not creep up to the limit later.
    # shellcheck disable=SC2097,SC2098  # the assignments are meant for the child only
    HBASE_HEAPSIZE="${HBASE_HEAP_MB}m" HBASE_OFFHEAPSIZE="${HBASE_OFFHEAP_MB}m" \
        HBASE_MASTER_OPTS="-Xms${HBASE_HEAP_MB}m -XX:+ExitOnOutOfMemoryError ${PINPOINT_HBASE_JAVA_OPTS}" \
        start hbase pinpoint-hbase master start
}

# hbase_serving: the master's info server (JMX on loopback) reports a live region server. In
# standalone mode the region server is a thread of the master's JVM that can abort while the
# JVM lives on; the master then drops it from ServerManager's online servers.
hbase_serving() {
    "$PINPOINT_HEALTHCHECK" hbase
}

# stop_hbase FLUSH: flush every table (FLUSH=flush), ask for a cluster shutdown (regions close,
# and so flush, cleanly; the master and its ZooKeeper exit), escalate to SIGTERM (HBase's
# shutdown hook) and SIGKILL only if that overruns its budget. `master stop` WITHOUT
# --shutDownCluster only prints a hint and exits 1 in HBase 2.x (HMasterCommandLine.java;
# bin/stop-hbase.sh passes it); with it, Admin#shutdown.
stop_hbase() {
    local flush=$1 started=$SECONDS
    alive hbase || return 0
    if [[ $flush == flush ]]; then
        log "flushing all HBase tables"
        if run_hbase_client "$HBASE_FLUSH_TIMEOUT_SECONDS" tables flush \
            > >(sed -u 's/^/[hbase-flush] /') 2>&1; then
            log "flush complete"
        else
            log "flush failed or timed out after ${HBASE_FLUSH_TIMEOUT_SECONDS}s; stopping HBase anyway (the WAL is replayed on the next start)"
        fi
    else
        log "skipping the flush: HBase has no live region server to flush"
    fi
    alive hbase || return 0
    log "stopping HBase (master stop --shutDownCluster)"
    # One budget for asking and for waiting: the deadline starts before the request.
    local deadline=$((SECONDS + HBASE_SHUTDOWN_TIMEOUT_SECONDS))
    run_hbase_client "$HBASE_SHUTDOWN_TIMEOUT_SECONDS" master stop --shutDownCluster \
        > >(sed -u 's/^/[hbase-stop] /') 2>&1 || log "master stop --shutDownCluster failed or timed out"
    while alive hbase && ((SECONDS < deadline)); do
        pause "$PINPOINT_POLL_SECONDS"
    done
    if ! alive hbase; then
        reap hbase
        log "HBase stopped cleanly (cluster shutdown) with status ${REAPED_STATUS} after $((SECONDS - started))s"
        return 0
    fi
    log "HBase did not stop within ${HBASE_SHUTDOWN_TIMEOUT_SECONDS}s of the shutdown request; sending SIGTERM"
    stop_processes "$HBASE_KILL_GRACE_SECONDS" hbase
}

# ---------------------------------------------------------------------------------------------
# Pinpoint tables
# ---------------------------------------------------------------------------------------------
# Variables the table list may reference, as ${NAME:-default}; any other ${...} is an error so
# a typo cannot silently become a literal in DDL.
readonly TABLE_VARIABLE_PATTERN='\$\{(PINPOINT_TTL_[A-Z_]+_SECONDS|PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS):-([0-9]+)\}'

# render_create_statement LINE: print LINE with its ${VAR:-default} placeholders filled in.
render_create_statement() {
    local line=$1 placeholder name value
    while [[ $line =~ $TABLE_VARIABLE_PATTERN ]]; do
        # Copy the match first: the validation below runs its own =~ and resets BASH_REMATCH.
        placeholder=${BASH_REMATCH[0]}
        name=${BASH_REMATCH[1]}
        value=${!name:-${BASH_REMATCH[2]}}
        if [[ $name == PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS ]]; then
            require_split_regions "$name" "$value"
        else
            require_ttl "$name" "$value"
        fi
        line=${line/"$placeholder"/$value}
    done
    # shellcheck disable=SC2016  # a literal "${" is what is being looked for
    [[ $line != *'${'* ]] || die "unsupported placeholder in ${PINPOINT_TABLES_FILE}: ${line%%,*}"
    printf '%s\n' "$line"
}

# render_tables: every `create` statement of the table list, placeholders filled in, into
# RENDERED_TABLES_FILE (at validation, so a bad TTL or region count fails before anything starts).
render_tables() {
    local line
    while IFS= read -r line; do
        if [[ $line == "create '"* ]]; then
            render_create_statement "$line"
        fi
    done <"$PINPOINT_TABLES_FILE" >"$RENDERED_TABLES_FILE"
}

# hbase_location_options: the table tool's -D overrides naming the HBase to bootstrap. None for
# the all-in-one (its hbase-site.xml names the local ZooKeeper); for the bootstrap role the
# external quorum (ZKConfig keeps each entry's own port, see parse_quorum).
hbase_location_options() {
    [[ $PINPOINT_ROLE == bootstrap ]] || return 0
    printf '%s\n' \
        "-Dhbase.zookeeper.quorum=${PINPOINT_HBASE_ZOOKEEPER_QUORUM}" \
        "-Dhbase.zookeeper.property.clientPort=${QUORUM_DEFAULT_PORT}" \
        "-Dzookeeper.znode.parent=${PINPOINT_HBASE_ZNODE_PARENT}"
}

# bootstrap_tables: ONE table tool process (`pinpoint-hbase tables bootstrap`, hbase/tables)
# waits until the master is initialized, creates the missing tables and brings existing ones to
# the list's TTLs. A failed run (e.g. it could not reach ZooKeeper yet) is repeated while the
# boot budget lasts. Returns 1 when the budget ran out, with the last reason in
# BOOTSTRAP_FAILURE: the newest thing any attempt reported, because the final attempt is often
# killed at the deadline (status 124) before its JVM got far, and "reported nothing" says less
# than the attempt before it did.
BOOTSTRAP_FAILURE=""
bootstrap_tables() {
    local attempt=1 left status reported last_report="" silent=""
    local status_file="${PINPOINT_RUN_DIR}/bootstrap.status"
    local -a location
    mapfile -t location < <(hbase_location_options)
    while true; do
        left=$(boot_seconds_left)
        if ((left <= 0)); then
            local last="${last_report}${last_report:+${silent:+; then }}${silent}"
            # shellcheck disable=SC2034  # read by pinpoint-supervisor
            BOOTSTRAP_FAILURE="waiting for the HBase master to be initialized and the tables to exist${last:+ (last: ${last})}"
            return 1
        fi
        status=0
        rm -f "$status_file"
        PINPOINT_TABLES_DDL="$RENDERED_TABLES_FILE" PINPOINT_BOOTSTRAP_STATUS_FILE="$status_file" \
            PINPOINT_MASTER_WAIT_SECONDS="$left" PINPOINT_HBASE_POLL_SECONDS="$PINPOINT_HBASE_POLL_SECONDS" \
            run_hbase_client "$left" tables bootstrap "${location[@]}" -Dhbase.client.retries.number=3 \
            > >(sed -u 's/^/[hbase-bootstrap] /') 2>&1 || status=$?
        check_children
        if ((status == 0)); then
            log "HBase master initialized; every Pinpoint table exists"
            return 0
        fi
        # What the tool last reported (it replaces the file atomically before every step).
        reported=$(tr '\n' ' ' <"$status_file" 2>/dev/null) || reported=""
        reported=${reported% }
        if [[ -n $reported ]]; then
            last_report=$reported
            silent=""
        else
            reported="the table tool exited with status ${status} before it reported anything"
            silent=$reported
        fi
        log "table bootstrap attempt ${attempt} failed with status ${status} (${reported}); retrying"
        attempt=$((attempt + 1))
        pause "$PINPOINT_HBASE_POLL_SECONDS"
        check_children
    done
}

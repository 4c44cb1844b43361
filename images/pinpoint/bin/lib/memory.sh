# shellcheck shell=bash
# pinpoint-supervisor: memory sizing. Every JVM the role runs gets an explicit heap, derived
# from the container's memory limit (images/pinpoint/README.md "Memory sizing").

# Heap shares of the limit, percent, per role (rows: the JVMs each role runs). What is left
# covers the capped direct memory (below), metaspace, threads and code cache, and the
# short-lived HBase client JVMs (pinpoint-hbase tables / master stop).
#
#   role        hbase heap   collector heap   web heap   minimum memory
#   all-in-one  40 %         20 %             15 %       2048 MB
#   hbase       50 %         -                -          2048 MB
#   collector   -            50 %             -          1024 MB (gRPC Netty buffers: off heap)
#   web         -            -                60 %       1024 MB
#   bootstrap   -            -                -           512 MB (one HBase client JVM)
declare -A HBASE_HEAP_PERCENT=([all-in-one]=40 [hbase]=50)
declare -A COLLECTOR_HEAP_PERCENT=([all-in-one]=20 [collector]=50)
declare -A WEB_HEAP_PERCENT=([all-in-one]=15 [web]=60)
# Collector and web direct memory (-XX:MaxDirectMemorySize; without it a JVM allows as much
# direct memory as heap, so the three JVMs together could outgrow the container and be
# OOM-killed, HBase unflushed). Both allocate it through Netty, which on Java 17 goes through
# ByteBuffer.allocateDirect and so stays within the cap: the collector's gRPC receivers
# (v3.1.0 pinpoint-collector-grpc-root.properties: 1 MB flow-control window, 4 MB messages per
# stream) and, in both, the HBase client's RPC (release hbase.properties: nativeAsync). A share
# of the limit per role, within a floor and a ceiling:
#
#   role        collector direct      web direct
#   all-in-one  5 %                   2 %
#   collector   20 %                  -
#   web         -                     10 %
#   within      128-1024 MB           64-512 MB
declare -A COLLECTOR_DIRECT_PERCENT=([all-in-one]=5 [collector]=20)
declare -A WEB_DIRECT_PERCENT=([all-in-one]=2 [web]=10)
readonly COLLECTOR_DIRECT_MIN_MB=128 COLLECTOR_DIRECT_MAX_MB=1024
readonly WEB_DIRECT_MIN_MB=64 WEB_DIRECT_MAX_MB=512
declare -A MIN_CONTAINER_MEMORY_MB=([all-in-one]=2048 [hbase]=2048 [collector]=1024 [web]=1024 [bootstrap]=512)
# HBase direct memory (-XX:MaxDirectMemorySize via HBASE_OFFHEAPSIZE): 5 % of the limit within
# 256-1024 MB. Without a cap the JVM allows as much direct memory as heap.
readonly HBASE_OFFHEAP_PERCENT=5 HBASE_OFFHEAP_MIN_MB=256 HBASE_OFFHEAP_MAX_MB=1024

# role_runs COMPONENT: whether this role runs COMPONENT (hbase, collector, web, or client: the
# short-lived HBase client JVMs of the table bootstrap, the flush and the stop request).
role_runs() {
    case "${PINPOINT_ROLE}:$1" in
    all-in-one:* | hbase:hbase | hbase:client | collector:collector | web:web | bootstrap:client) return 0 ;;
    *) return 1 ;;
    esac
}

MEMORY_MB=0
MEMORY_SOURCE=""

# Sets MEMORY_MB/MEMORY_SOURCE: override, cgroup v2, cgroup v1, else the machine's RAM.
detect_memory() {
    local bytes=""
    if [[ -n $CONTAINER_MEMORY_MB ]]; then
        require_positive_int CONTAINER_MEMORY_MB "$CONTAINER_MEMORY_MB"
        MEMORY_MB=$CONTAINER_MEMORY_MB
        MEMORY_SOURCE="CONTAINER_MEMORY_MB"
        return
    fi
    if [[ -r /sys/fs/cgroup/memory.max ]]; then
        bytes=$(</sys/fs/cgroup/memory.max)
        MEMORY_SOURCE="cgroup v2 memory.max"
    elif [[ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
        bytes=$(</sys/fs/cgroup/memory/memory.limit_in_bytes)
        MEMORY_SOURCE="cgroup v1 memory.limit_in_bytes"
    fi
    # "max" (v2) or a page-rounded 2^63 (v1) mean "no limit": size from the machine instead.
    if [[ $bytes =~ ^[0-9]+$ ]] && ((${#bytes} < 16)); then
        MEMORY_MB=$((bytes / 1024 / 1024))
        return
    fi
    MEMORY_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
    MEMORY_SOURCE="/proc/meminfo (no cgroup limit)"
}

# The computed sizes (MB); pinpoint-supervisor read the pinned ones (*_OVERRIDE) first.
HBASE_HEAP_MB=0
HBASE_OFFHEAP_MB=0
COLLECTOR_HEAP_MB=0
COLLECTOR_DIRECT_MB=0
WEB_HEAP_MB=0
WEB_DIRECT_MB=0

# share_mb PERCENT MIN MAX: PERCENT of the memory limit, raised to MIN, lowered to MAX.
share_mb() {
    local mb=$((MEMORY_MB * $1 / 100))
    ((mb >= $2)) || mb=$2
    ((mb <= $3)) || mb=$3
    printf '%s\n' "$mb"
}

# size_heaps: every JVM's heap (and direct memory cap) from the limit; refuses sizes whose peak
# does not fit. The short-lived HBase client JVMs run while collector and web do not (the table
# bootstrap before they start, the flush and the stop request after they stopped), so the peak
# counts the larger of the two, not both.
size_heaps() {
    detect_memory
    local minimum=${MIN_CONTAINER_MEMORY_MB[$PINPOINT_ROLE]}
    ((MEMORY_MB >= minimum)) ||
        die "container memory ${MEMORY_MB} MB (${MEMORY_SOURCE}) is below the ${minimum} MB the ${PINPOINT_ROLE} role needs"
    local hbase=0 servers=0 client=0 summary=() parts=()
    if role_runs hbase; then
        HBASE_HEAP_MB="${HBASE_HEAP_MB_OVERRIDE:-$((MEMORY_MB * ${HBASE_HEAP_PERCENT[$PINPOINT_ROLE]} / 100))}"
        local offheap=$((MEMORY_MB * HBASE_OFFHEAP_PERCENT / 100))
        ((offheap >= HBASE_OFFHEAP_MIN_MB)) || offheap=$HBASE_OFFHEAP_MIN_MB
        ((offheap <= HBASE_OFFHEAP_MAX_MB)) || offheap=$HBASE_OFFHEAP_MAX_MB
        HBASE_OFFHEAP_MB="${HBASE_OFFHEAP_MB_OVERRIDE:-$offheap}"
        require_positive_int HBASE_HEAP_MB "$HBASE_HEAP_MB"
        require_positive_int HBASE_OFFHEAP_MB "$HBASE_OFFHEAP_MB"
        hbase=$((HBASE_HEAP_MB + HBASE_OFFHEAP_MB))
        summary+=("hbase ${HBASE_HEAP_MB} MB (+${HBASE_OFFHEAP_MB} MB direct)")
        parts+=("hbase ${HBASE_HEAP_MB} + ${HBASE_OFFHEAP_MB} direct")
    fi
    if role_runs collector; then
        COLLECTOR_HEAP_MB="${COLLECTOR_HEAP_MB_OVERRIDE:-$((MEMORY_MB * ${COLLECTOR_HEAP_PERCENT[$PINPOINT_ROLE]} / 100))}"
        COLLECTOR_DIRECT_MB="${COLLECTOR_DIRECT_MB_OVERRIDE:-$(share_mb "${COLLECTOR_DIRECT_PERCENT[$PINPOINT_ROLE]}" \
            "$COLLECTOR_DIRECT_MIN_MB" "$COLLECTOR_DIRECT_MAX_MB")}"
        require_positive_int COLLECTOR_HEAP_MB "$COLLECTOR_HEAP_MB"
        require_positive_int COLLECTOR_DIRECT_MB "$COLLECTOR_DIRECT_MB"
        servers=$((servers + COLLECTOR_HEAP_MB + COLLECTOR_DIRECT_MB))
        summary+=("collector ${COLLECTOR_HEAP_MB} MB (+${COLLECTOR_DIRECT_MB} MB direct)")
        parts+=("collector ${COLLECTOR_HEAP_MB} + ${COLLECTOR_DIRECT_MB} direct")
    fi
    if role_runs web; then
        WEB_HEAP_MB="${WEB_HEAP_MB_OVERRIDE:-$((MEMORY_MB * ${WEB_HEAP_PERCENT[$PINPOINT_ROLE]} / 100))}"
        WEB_DIRECT_MB="${WEB_DIRECT_MB_OVERRIDE:-$(share_mb "${WEB_DIRECT_PERCENT[$PINPOINT_ROLE]}" \
            "$WEB_DIRECT_MIN_MB" "$WEB_DIRECT_MAX_MB")}"
        require_positive_int WEB_HEAP_MB "$WEB_HEAP_MB"
        require_positive_int WEB_DIRECT_MB "$WEB_DIRECT_MB"
        servers=$((servers + WEB_HEAP_MB + WEB_DIRECT_MB))
        summary+=("web ${WEB_HEAP_MB} MB (+${WEB_DIRECT_MB} MB direct)")
        parts+=("web ${WEB_HEAP_MB} + ${WEB_DIRECT_MB} direct")
    fi
    if role_runs client; then
        client=$HBASE_CLIENT_HEAP_MB
        parts+=("hbase client ${HBASE_CLIENT_HEAP_MB}")
        [[ $PINPOINT_ROLE != bootstrap ]] || summary+=("hbase client ${HBASE_CLIENT_HEAP_MB} MB")
    fi
    local peak=$((hbase + (servers > client ? servers : client))) joined note=""
    ((servers == 0 || client == 0)) || note="; the hbase client runs only while collector and web do not"
    joined=$(printf '%s, ' "${parts[@]}")
    ((peak < MEMORY_MB)) ||
        die "heaps and direct memory (${joined%, } MB${note}) peak at ${peak} MB and do not fit in ${MEMORY_MB} MB"
    joined=$(printf '%s, ' "${summary[@]}")
    log "memory limit ${MEMORY_MB} MB (${MEMORY_SOURCE}); heaps: ${joined%, }"
}

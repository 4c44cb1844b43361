# shellcheck shell=bash
# pinpoint-supervisor: memory sizing. Every JVM the role runs gets an explicit heap, derived
# from the container's memory limit (images/pinpoint/README.md "Memory sizing").

# Heap shares of the limit, percent, per role (rows: the JVMs each role runs). What is left
# covers HBase's capped direct memory, metaspace, threads and code cache, the collector's and
# web's Netty buffers and the short-lived HBase client JVMs (pinpoint-hbase tables / master stop).
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
WEB_HEAP_MB=0

size_heaps() {
    detect_memory
    local minimum=${MIN_CONTAINER_MEMORY_MB[$PINPOINT_ROLE]}
    ((MEMORY_MB >= minimum)) ||
        die "container memory ${MEMORY_MB} MB (${MEMORY_SOURCE}) is below the ${minimum} MB the ${PINPOINT_ROLE} role needs"
    local total=0 summary=() parts=()
    if role_runs hbase; then
        HBASE_HEAP_MB="${HBASE_HEAP_MB_OVERRIDE:-$((MEMORY_MB * ${HBASE_HEAP_PERCENT[$PINPOINT_ROLE]} / 100))}"
        local offheap=$((MEMORY_MB * HBASE_OFFHEAP_PERCENT / 100))
        ((offheap >= HBASE_OFFHEAP_MIN_MB)) || offheap=$HBASE_OFFHEAP_MIN_MB
        ((offheap <= HBASE_OFFHEAP_MAX_MB)) || offheap=$HBASE_OFFHEAP_MAX_MB
        HBASE_OFFHEAP_MB="${HBASE_OFFHEAP_MB_OVERRIDE:-$offheap}"
        require_positive_int HBASE_HEAP_MB "$HBASE_HEAP_MB"
        require_positive_int HBASE_OFFHEAP_MB "$HBASE_OFFHEAP_MB"
        total=$((total + HBASE_HEAP_MB + HBASE_OFFHEAP_MB))
        summary+=("hbase ${HBASE_HEAP_MB} MB (+${HBASE_OFFHEAP_MB} MB direct)")
        parts+=("hbase ${HBASE_HEAP_MB} + hbase direct ${HBASE_OFFHEAP_MB}")
    fi
    if role_runs collector; then
        COLLECTOR_HEAP_MB="${COLLECTOR_HEAP_MB_OVERRIDE:-$((MEMORY_MB * ${COLLECTOR_HEAP_PERCENT[$PINPOINT_ROLE]} / 100))}"
        require_positive_int COLLECTOR_HEAP_MB "$COLLECTOR_HEAP_MB"
        total=$((total + COLLECTOR_HEAP_MB))
        summary+=("collector ${COLLECTOR_HEAP_MB} MB")
        parts+=("collector ${COLLECTOR_HEAP_MB}")
    fi
    if role_runs web; then
        WEB_HEAP_MB="${WEB_HEAP_MB_OVERRIDE:-$((MEMORY_MB * ${WEB_HEAP_PERCENT[$PINPOINT_ROLE]} / 100))}"
        require_positive_int WEB_HEAP_MB "$WEB_HEAP_MB"
        total=$((total + WEB_HEAP_MB))
        summary+=("web ${WEB_HEAP_MB} MB")
        parts+=("web ${WEB_HEAP_MB}")
    fi
    if role_runs client; then
        total=$((total + HBASE_CLIENT_HEAP_MB))
        parts+=("client ${HBASE_CLIENT_HEAP_MB}")
        [[ $PINPOINT_ROLE != bootstrap ]] || summary+=("hbase client ${HBASE_CLIENT_HEAP_MB} MB")
    fi
    local joined
    joined=$(printf '%s + ' "${parts[@]}")
    ((total < MEMORY_MB)) || die "heaps (${joined% + } MB) do not fit in ${MEMORY_MB} MB"
    joined=$(printf '%s, ' "${summary[@]}")
    log "memory limit ${MEMORY_MB} MB (${MEMORY_SOURCE}); heaps: ${joined%, }"
}

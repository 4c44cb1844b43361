# shellcheck shell=bash
# pinpoint-supervisor: validation of the environment. Every check fails with one line naming
# the variable, the bad value and what is allowed (die, from pinpoint-supervisor).

# HBase stores a TTL as a Java int (HColumnDescriptor#setTimeToLive(int), HBase 2.6).
readonly MAX_TTL_SECONDS=2147483647

require_positive_int() { # name value
    [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, got '$2'"
    ((${#2} <= 12)) || die "$1 is too large, got '$2'"
}

require_port() { # name value
    require_positive_int "$1" "$2"
    (($2 <= 65535)) || die "$1 must be a TCP port (1-65535), got '$2'"
}

# require_seconds NAME VALUE MAX: a positive duration in seconds with up to 3 decimals, <= MAX
# (an integer). Used for poll intervals, which `sleep` takes as decimals.
require_seconds() {
    local name=$1 value=$2 max=$3 millis=0
    if [[ $value =~ ^([0-9]{1,6})(\.([0-9]{1,3}))?$ ]]; then
        local fraction="${BASH_REMATCH[3]}000"
        millis=$((10#${BASH_REMATCH[1]} * 1000 + 10#${fraction:0:3}))
    fi
    ((millis > 0)) || die "$name must be a positive number of seconds (up to 3 decimals, e.g. 0.5), got '$value'"
    ((millis <= max * 1000)) || die "$name must be at most ${max} seconds, got '$value'"
}

# require_ttl NAME VALUE: a positive number of seconds that fits HBase's int TTL.
require_ttl() {
    require_positive_int "$1" "$2"
    (($2 <= MAX_TTL_SECONDS)) ||
        die "$1 must be at most ${MAX_TTL_SECONDS} seconds (HBase stores a TTL as a Java int), got '$2'"
}

# require_split_regions NAME VALUE: HBase's shell, whose syntax the table list keeps, refuses
# NUMREGIONS <= 1, and so does the table tool (admin.rb#create:
# "Number of regions must be greater than 1").
require_split_regions() {
    require_positive_int "$1" "$2"
    (($2 >= 2)) || die "$1 must be at least 2 (HBase refuses NUMREGIONS <= 1), got '$2'"
}

# require_distinct_ports WHAT NAME...: each named port variable is a valid port, all differ.
require_distinct_ports() {
    local what=$1 name
    shift
    local -A seen=()
    for name in "$@"; do
        require_port "$name" "${!name}"
        if [[ -n ${seen[${!name}]:-} ]]; then
            die "${what} ports must differ: ${seen[${!name}]} and ${name} are both ${!name}"
        fi
        seen[${!name}]=$name
    done
}

require_readable() { # what path
    [[ -r $2 ]] || die "$1 $2 is missing"
}

# A DNS name or IPv4 address: letters, digits, dots and hyphens (RFC 1123 labels): nothing the
# -Dkey=value overrides of the table tool could misread.
readonly HOSTNAME_PATTERN='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*'

require_hostname() { # name value
    if [[ ! $2 =~ ^${HOSTNAME_PATTERN}$ ]] || ((${#2} > 253)); then
        die "$1 must be a DNS name or IPv4 address (letters, digits, '.', '-'), got '$2'"
    fi
}

# parse_quorum: validate PINPOINT_HBASE_ZOOKEEPER_QUORUM ("host:port[,host:port]...") and
# set QUORUM_DEFAULT_PORT to the first entry's port.
#
# Every entry keeps its own port: Pinpoint 3.1.0 copies hbase.client.host into
# hbase.zookeeper.quorum and hbase.client.port into hbase.zookeeper.property.clientPort
# (commons-server HbaseClientConfiguration#hbaseConfiguration), and the HBase client (2.5 and
# 2.6 ZKConfig#buildZKQuorumServerString) appends clientPort only to entries WITHOUT a port.
# So zk1:2181,zk2:2182 works as given; every entry must carry its port here, so the default
# port never decides anything.
QUORUM_DEFAULT_PORT=""
parse_quorum() {
    local quorum=$PINPOINT_HBASE_ZOOKEEPER_QUORUM entry port
    local allowed="comma-separated host:port entries, e.g. zk1.example.com:2181,zk2.example.com:2181"
    [[ -n $quorum ]] ||
        die "PINPOINT_HBASE_ZOOKEEPER_QUORUM is required for role ${PINPOINT_ROLE}: ${allowed}"
    local entry_pattern="${HOSTNAME_PATTERN}:[0-9]{1,5}"
    [[ $quorum =~ ^${entry_pattern}(,${entry_pattern})*$ ]] ||
        die "PINPOINT_HBASE_ZOOKEEPER_QUORUM must be ${allowed} (no spaces, no scheme), got '${quorum}'"
    local -a entries
    IFS=',' read -r -a entries <<<"$quorum"
    for entry in "${entries[@]}"; do
        port=${entry##*:}
        if [[ ! $port =~ ^[1-9][0-9]*$ ]] || ((port > 65535)); then
            die "PINPOINT_HBASE_ZOOKEEPER_QUORUM entry '${entry}' has no valid port (1-65535)"
        fi
    done
    # shellcheck disable=SC2034  # read by lib/pinpoint.sh and lib/hbase.sh
    QUORUM_DEFAULT_PORT=${entries[0]##*:}
}

# require_znode NAME VALUE: an absolute ZooKeeper path (ZooKeeper's PathUtils#validatePath:
# no empty, "." or ".." segment, no trailing slash), in the characters HBase deployments use.
require_znode() {
    local name=$1 value=$2 segment
    [[ $value =~ ^(/[A-Za-z0-9_.-]+)+$ ]] ||
        die "$name must be an absolute ZooKeeper path like /hbase (letters, digits, '_', '.', '-'), got '$value'"
    local -a segments
    IFS='/' read -r -a segments <<<"${value#/}"
    for segment in "${segments[@]}"; do
        [[ $segment != . && $segment != .. ]] || die "$name must not contain '.' or '..' segments, got '$value'"
    done
}

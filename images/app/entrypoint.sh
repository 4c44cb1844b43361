#!/bin/sh
# Starts the application JVM, with the Pinpoint agent when it is configured and present.
#
#   APM_OPTS empty                 -> java $JAVA_OPTS -jar /app/app.jar
#   APM_OPTS set, agent jar there  -> java -javaagent:<resolved jar> <APM_OPTS> [-Dpinpoint.agentId=<task>] $JAVA_OPTS -jar ...
#   APM_OPTS set, agent jar absent -> a warning, then the plain start (APM_REQUIRED=true: exit 1)
#
# The agent jar is the -javaagent: path in APM_OPTS, else APM_FILE. It is resolved through
# symlinks once, here: the EFS distributor switches <mount>/current atomically to a new
# versioned directory, and a JVM must never load its bootstrap jar from one version and its
# plugins from the next. Old versions are kept, so the resolved path stays valid.
#
# Pinpoint needs an agentId unique per JVM (<= 24 chars of a-z A-Z 0-9 . _ -). Unless APM_OPTS
# sets -Dpinpoint.agentId, it is derived from the ECS task id (task metadata endpoint v4), or
# from the host name outside ECS. Options are split on whitespace and never globbed; quotes are
# not interpreted (use JDK_JAVA_OPTIONS for a value holding spaces).
set -eu
set -f

APP_JAR="${APP_JAR:-/app/app.jar}"
METADATA_TIMEOUT_SECONDS=2

log() {
    printf 'app-entrypoint: %s\n' "$*" >&2
}

# The ECS task id (32 hex chars on Fargate), or nothing when not on ECS or not reachable.
ecs_task_id() {
    uri="${ECS_CONTAINER_METADATA_URI_V4:-}"
    [ -n "$uri" ] || return 0
    if command -v curl >/dev/null 2>&1; then
        body=$(curl -fsS --max-time "$METADATA_TIMEOUT_SECONDS" "$uri/task" 2>/dev/null) || body=""
    elif command -v wget >/dev/null 2>&1; then
        body=$(wget -q -T "$METADATA_TIMEOUT_SECONDS" -O - "$uri/task" 2>/dev/null) || body=""
    else
        log "neither curl nor wget in the image: cannot read the ECS task id, using the host name"
        return 0
    fi
    arn=$(printf '%s' "$body" | sed -n 's/.*"TaskARN"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1)
    # arn:aws:ecs:<region>:<account>:task/<cluster>/<task id>
    printf '%s' "${arn##*/}"
}

# A Pinpoint agentId: allowed characters only, at most 24 of them.
derive_agent_id() {
    id=$(ecs_task_id)
    if [ -z "$id" ]; then
        host=$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null || echo unknown)
        id="${host%%.*}"
    fi
    printf '%s' "$id" | tr -c 'a-zA-Z0-9._-' '-' | cut -c 1-24
}

start_plain() {
    # shellcheck disable=SC2086 # JAVA_OPTS is a whitespace-separated option list by contract.
    exec java ${JAVA_OPTS:-} -jar "$APP_JAR" "$@"
}

if [ -z "$(printf '%s' "${APM_OPTS:-}" | tr -d '[:space:]')" ]; then
    start_plain "$@"
fi

agent_jar=""
options=""
has_agent_id=false
for option in $APM_OPTS; do
    case "$option" in
        -javaagent:*) agent_jar="${option#-javaagent:}" ;;
        -Dpinpoint.agentId=*) has_agent_id=true; options="$options $option" ;;
        *) options="$options $option" ;;
    esac
done
[ -n "$agent_jar" ] || agent_jar="${APM_FILE:-}"

if [ -z "$agent_jar" ] || [ ! -f "$agent_jar" ]; then
    reason="Pinpoint agent jar '${agent_jar}' not found (APM_OPTS has no -javaagent: and APM_FILE is empty, or the agent volume is not mounted)"
    if [ "${APM_REQUIRED:-false}" = "true" ]; then
        log "$reason; APM_REQUIRED=true, not starting"
        exit 1
    fi
    log "$reason; starting WITHOUT the agent"
    start_plain "$@"
fi

resolved=$(readlink -f "$agent_jar")
if [ "$has_agent_id" = false ]; then
    options="$options -Dpinpoint.agentId=$(derive_agent_id)"
fi
log "starting with the Pinpoint agent $resolved"
# shellcheck disable=SC2086 # option lists, split on whitespace by contract.
exec java "-javaagent:$resolved" $options ${JAVA_OPTS:-} -jar "$APP_JAR" "$@"

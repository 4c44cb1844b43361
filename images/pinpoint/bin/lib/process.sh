# shellcheck shell=bash
# pinpoint-supervisor: its children. Each runs in the background with "[name] "-prefixed output;
# helper commands (HBase table tool, master stop) run bounded and polled, so a signal or a dying
# child is noticed while they run. Sourced by pinpoint-supervisor; uses log and
# PINPOINT_POLL_SECONDS from it.

declare -A PIDS=() # name -> pid of the running child
STOP_REQUESTED=""  # set by the signal trap
SHUTTING_DOWN=""
REAPED_STATUS=0

on_signal() {
    # Only record the request: the main flow notices it at its next poll.
    STOP_REQUESTED="$1"
}

# start NAME COMMAND...: run a child with "[NAME] " prefixed output, remember its pid.
start() {
    local name=$1
    shift
    log "starting ${name}: $*"
    # sed -u: line-buffered, so interleaved processes stay line-atomic in the log stream.
    "$@" > >(sed -u "s/^/[${name}] /") 2>&1 &
    PIDS[$name]=$!
}

alive() { # name
    local pid=${PIDS[$1]:-}
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# Interruptible sleep: a trapped signal ends `wait` at once, unlike a foreground sleep.
pause() {
    sleep "$1" &
    wait $! 2>/dev/null || true
}

# reap NAME: collect a dead child's exit status into REAPED_STATUS and forget the child.
# (Not a $(...) function: a subshell cannot wait for this shell's children.)
reap() {
    REAPED_STATUS=0
    wait "${PIDS[$1]}" 2>/dev/null || REAPED_STATUS=$?
    unset "PIDS[$1]"
}

# children_alive: every started child still runs.
children_alive() {
    local name
    for name in "${!PIDS[@]}"; do
        alive "$name" || return 1
    done
}

# run_bounded TIMEOUT COMMAND...: run a helper command under `timeout`, in the background and
# polled, so that a SIGTERM is handled at once (bash runs traps only between foreground
# commands, but interrupts `wait`) and a child that dies meanwhile (HBase crashing while the
# table bootstrap waits for it) is noticed. Either aborts the helper unless we are already
# shutting down.
run_bounded() {
    local limit=$1 status=0
    shift
    timeout --kill-after=5 "$limit" "$@" &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [[ -z $SHUTTING_DOWN ]] && { [[ -n $STOP_REQUESTED ]] || ! children_alive; }; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
        pause "$PINPOINT_POLL_SECONDS"
    done
    wait "$pid" 2>/dev/null || status=$?
    return "$status"
}

# stop_processes TIMEOUT NAME...: SIGTERM the named children together, SIGKILL what is left.
# Names that never started (another role) are skipped.
stop_processes() {
    local timeout=$1 name deadline
    shift
    for name in "$@"; do
        if alive "$name"; then
            log "stopping ${name} (SIGTERM)"
            kill -TERM "${PIDS[$name]}" 2>/dev/null || true
        fi
    done
    deadline=$((SECONDS + timeout))
    for name in "$@"; do
        while alive "$name" && ((SECONDS < deadline)); do
            pause "$PINPOINT_POLL_SECONDS"
        done
        if alive "$name"; then
            log "${name} did not stop within ${timeout}s; killing it"
            kill -KILL "${PIDS[$name]}" 2>/dev/null || true
        fi
        if [[ -n ${PIDS[$name]:-} ]]; then
            reap "$name"
            log "${name} exited with status ${REAPED_STATUS}"
        fi
    done
}

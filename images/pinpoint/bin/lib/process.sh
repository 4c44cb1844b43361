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

# Why a child exited, as far as its output says: a copy of the output goes through this awk
# program, which writes the child's last error to <run dir>/<name>.exit-reason when the output
# ends. The last error is the last event at level ERROR (the console layouts of collector, web
# and HBase: "MM-dd HH:mm:ss.SSS [thread] LEVEL logger : msg") or the JVM's own last word
# ("Error: Unable to access jarfile ...", "Exception in thread ...", "Terminating due to
# java.lang.OutOfMemoryError: ..."), read from the exception it carries: the deepest "Caused
# by:" and the innermost "Error creating bean with name '...'". A Pinpoint server whose Spring
# context fails logs "Application run failed", then "could not launch app." (CollectorApp/
# WebApp#main), both with the whole nested exception, and its ERROR lines alone say nothing:
# the real web 3.0.1 with HBase unreachable gives "creating bean 'hbaseAsyncConnection':
# java.util.concurrent.TimeoutException". (A copy, not the filter that prefixes the lines:
# mawk, the awk of Debian and Ubuntu, reads a pipe in blocks and would hold lines back.)
# shellcheck disable=SC2016  # an awk program: $0 and the like are awk's
readonly EXIT_REASON_FILTER='
/^[0-9][0-9]-[0-9][0-9] [0-9:.]+ / { in_error = 0 }
/ ERROR |^Error|^Exception in thread|^Terminating due to/ { error = $0; cause = ""; bean = ""; in_error = 1; next }
!in_error || /^[ \t]/ { next }
/^Caused by: / { cause = substr($0, 12) }
cause == "" { cause = $0 }
match($0, "Error creating bean with name \047[^\047]+\047") { bean = substr($0, RSTART + 30, RLENGTH - 30) }
END {
    reason = error
    if (cause != "") {
        reason = cause
        if (bean != "" && index(cause, "Error creating bean") == 0) reason = "creating bean " bean ": " cause
    }
    if (length(reason) > 300) reason = substr(reason, 1, 297) "..."
    printf "%s", reason > file
}'

# start NAME COMMAND...: run a child with "[NAME] " prefixed output, remember its pid.
start() {
    local name=$1 reason="${PINPOINT_RUN_DIR}/${1}.exit-reason"
    shift
    log "starting ${name}: $*"
    rm -f "$reason"
    # sed -u: line-buffered, so interleaved processes stay line-atomic in the log stream.
    # tee -p: should the reason filter die, the output still flows (no SIGPIPE to the child).
    "$@" > >(tee -p >(awk -v file="$reason" "$EXIT_REASON_FILTER") | sed -u "s/^/[${name}] /") 2>&1 &
    PIDS[$name]=$!
}

# exit_reason NAME: " (last error: <what>)" for a child that exited, from its output
# (EXIT_REASON_FILTER), or nothing when it logged no error. The filter writes it when the child's
# output ends, which may be a moment after the child was reaped: wait for it briefly.
exit_reason() {
    local file="${PINPOINT_RUN_DIR}/${1}.exit-reason" tries=20
    while [[ ! -e $file ]] && ((tries-- > 0)); do
        sleep 0.1
    done
    [[ ! -s $file ]] || printf ' (last error: %s)' "$(<"$file")"
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

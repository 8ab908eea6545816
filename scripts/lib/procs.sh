# shellcheck shell=bash
# Background processes started by scripts/up, tracked by pid files.
# Source this file; do not execute it. Needs scripts/lib/services.sh first.

if [[ -n "${_ATTEND_PROCS_SH:-}" ]]; then return 0; fi
_ATTEND_PROCS_SH=1

ATTEND_RUN_DIR="${ATTEND_RUN_DIR:-$ATTEND_ROOT/.run}"

# Start order (carrier-sim first: voice-gateway calls it) and ports.
ATTEND_SERVICES_ORDER=(carrier-sim booking-service reminder-scheduler voice-gateway sms-service)
# shellcheck disable=SC2034  # used by the scripts that source this file
declare -A ATTEND_PORTS=(
    [booking-service]=8080
    [reminder-scheduler]=8081
    [voice-gateway]=8082
    [sms-service]=8083
    [carrier-sim]=8090
)

# pid_is NAME PID: PID is alive and runs the binary NAME (guards against pid reuse).
pid_is() {
    local name=$1 pid=$2 exe
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # argv[0], or the executable (" (deleted)" once cargo build replaced it)
    exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n1) || return 1
    [[ "$(basename -- "$exe")" == "$name" ]] && return 0
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [[ "$(basename -- "${exe% (deleted)}")" == "$name" ]]
}

# stop_service NAME: stop the process recorded in .run/pids/NAME.pid, if any.
# SIGTERM (graceful shutdown), then SIGKILL after ATTEND_STOP_TIMEOUT seconds.
stop_service() {
    local name=$1 pidfile="$ATTEND_RUN_DIR/pids/$1.pid" pid
    [[ -f "$pidfile" ]] || return 0
    pid=$(<"$pidfile")
    if pid_is "$name" "$pid"; then
        say "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + ${ATTEND_STOP_TIMEOUT:-15}))
        while kill -0 "$pid" 2>/dev/null; do
            if ((SECONDS >= deadline)); then
                warn "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
    fi
    rm -f "$pidfile"
}

stop_all_services() {
    local name i
    # reverse start order
    for ((i = ${#ATTEND_SERVICES_ORDER[@]} - 1; i >= 0; i--)); do
        name=${ATTEND_SERVICES_ORDER[i]}
        stop_service "$name"
    done
    # pid files of binaries no longer in the list
    local f
    for f in "$ATTEND_RUN_DIR"/pids/*.pid; do
        [[ -e "$f" ]] || continue
        stop_service "$(basename "$f" .pid)"
    done
}

# http_status URL: print the HTTP status code (000 when nothing answers).
http_status() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1" 2>/dev/null || true
}

# wait_ready NAME PORT PID SECONDS: poll GET /readyz until 200; fail early if the process dies.
wait_ready() {
    local name=$1 port=$2 pid=$3 secs=$4
    local deadline=$((SECONDS + secs)) code
    while :; do
        code=$(http_status "http://127.0.0.1:$port/readyz")
        if [[ "$code" == 200 ]]; then
            say "$name is ready on http://127.0.0.1:$port"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            fail "$name (pid $pid) exited during start-up; last log lines:"
            tail -n 30 "$ATTEND_RUN_DIR/logs/$name.log" >&2 || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            fail "$name not ready after ${secs}s (GET /readyz -> $code); last log lines:"
            tail -n 30 "$ATTEND_RUN_DIR/logs/$name.log" >&2 || true
            return 1
        fi
        sleep 0.5
    done
}

# shellcheck shell=bash
# Shared plumbing of the benchmark parts in scripts/bench.d/ (run one with
# `scripts/bench --only NAME`, or all with `scripts/bench`). Source this file; do not execute it.
#
#   bench_init PART            paths, the machine-wide lock, Postgres and RabbitMQ, clean-up trap
#   bench_database NAME        a fresh database, dropped on exit; prints its URL
#   bench_start NAME PORT [VAR=VALUE...]
#                              start target/release/NAME on 127.0.0.1:PORT against the bench
#                              database and broker prefix, wait for /readyz; stopped on exit,
#                              and its peak RSS is recorded (item 7) just before it is stopped
#   bench_start_stack [VAR=VALUE...]
#                              carrier-sim, booking-service, reminder-scheduler, voice-gateway
#                              and sms-service on the BENCH_PORTS, wired to each other
#   bench_result ITEM LABEL VALUE UNIT [TARGET]
#                              one row of the final table; TARGET is "<= N" or ">= N"
#   bench_cpu_busy             percent of the CPU busy over the next 3 s
#   bench_quick                true in --quick mode
#
# Variables after bench_init: ATTEND_ROOT, BIN_DIR (release binaries), BENCH_DIR (logs and
# results), BENCH_RESULTS (the TSV the table is printed from), BENCH_PART, BENCH_AMQP_URL,
# BENCH_AMQP_PREFIX, BENCH_ADMIN_TOKEN, BENCH_DATABASE_URL (after bench_database).
# BENCH_BIN_DIR, when set, is where the release binaries are read from.
#
# The results file has one tab-separated row per figure:
#   item  label  value  unit  target  met
# where met is yes, no or - (no target). attend-bench writes the same rows (--results FILE).

if [[ -n "${_ATTEND_BENCH_SH:-}" ]]; then return 0; fi
_ATTEND_BENCH_SH=1

ATTEND_ROOT="${ATTEND_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# shellcheck source=SCRIPTDIR/services.sh
source "$ATTEND_ROOT/scripts/lib/services.sh"

# Ports of the benchmarked services: away from scripts/up's (8080-8090), so a running demo
# does not collide with a benchmark.
# shellcheck disable=SC2034  # used by the parts
declare -A BENCH_PORTS=(
    [booking-service]=18080
    [reminder-scheduler]=18081
    [voice-gateway]=18082
    [sms-service]=18083
    [carrier-sim]=18090
)

_bench_pids=()
_bench_names=()
_bench_databases=()

bench_quick() { [[ "${BENCH_QUICK:-0}" == 1 ]]; }

# bench_init PART
bench_init() {
    BENCH_PART=$1
    cd "$ATTEND_ROOT" || return 1
    local target_dir="${CARGO_TARGET_DIR:-$ATTEND_ROOT/target}"
    [[ "$target_dir" == /* ]] || target_dir="$ATTEND_ROOT/$target_dir"
    BIN_DIR="${BENCH_BIN_DIR:-$target_dir/release}"
    BENCH_DIR="${BENCH_DIR:-$target_dir/bench}"
    mkdir -p "$BENCH_DIR"
    BENCH_RESULTS="${BENCH_RESULTS:-$BENCH_DIR/results-$PART_STAMP.tsv}"
    BENCH_AMQP_URL="${AMQP_URL:-amqp://guest:guest@$ATTEND_AMQP_HOST:$ATTEND_AMQP_PORT/%2f}"
    BENCH_AMQP_PREFIX="bench.$$."
    BENCH_ADMIN_TOKEN="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    export BENCH_DIR BENCH_RESULTS BIN_DIR BENCH_AMQP_URL BENCH_AMQP_PREFIX BENCH_ADMIN_TOKEN

    # One benchmark at a time on this machine: they share ports and would measure each other.
    if [[ -z "${BENCH_LOCK_HELD:-}" ]]; then
        exec 9>"/tmp/attend-bench.lock"
        flock -n 9 || { fail "another benchmark is running (lock /tmp/attend-bench.lock)"; exit 1; }
        export BENCH_LOCK_HELD=1
    fi

    ensure_postgres || exit 1
    ensure_rabbitmq || exit 1
    command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
    trap _bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
PART_STAMP=$(date -u +%Y%m%dT%H%M%SZ)

# bench_database NAME: drop and create NAME; dropped again on exit. Prints the URL.
bench_database() {
    local name=$1
    [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || { fail "bad database name '$name'"; return 1; }
    pg_admin_sql "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    pg_admin_sql "CREATE DATABASE $name" >/dev/null
    _bench_databases+=("$name")
    BENCH_DATABASE_URL="postgres://postgres:postgres@$ATTEND_PG_HOST:$ATTEND_PG_PORT/$name"
    export BENCH_DATABASE_URL
    printf '%s\n' "$BENCH_DATABASE_URL"
}

# bench_start NAME PORT [VAR=VALUE...]
bench_start() {
    local name=$1 port=$2
    shift 2
    [[ -x "$BIN_DIR/$name" ]] || { fail "binary $BIN_DIR/$name not found (build with scripts/bench, or cargo build --release)"; return 1; }
    if tcp_open 127.0.0.1 "$port"; then
        fail "port $port (for $name) is already in use"
        return 1
    fi
    local log="$BENCH_DIR/$name.log"
    [[ -f "$log" ]] && mv -f "$log" "$log.prev"
    env DATABASE_URL="${BENCH_DATABASE_URL:?bench_database first}" \
        AMQP_URL="$BENCH_AMQP_URL" \
        AMQP_PREFIX="$BENCH_AMQP_PREFIX" \
        HTTP_HOST=127.0.0.1 \
        HTTP_PORT="$port" \
        ADMIN_TOKEN="$BENCH_ADMIN_TOKEN" \
        DB_POOL_SIZE="${DB_POOL_SIZE:-8}" \
        LOG_FORMAT=json \
        RUST_LOG="${RUST_LOG:-warn}" \
        "$@" \
        setsid "$BIN_DIR/$name" </dev/null >>"$log" 2>&1 &
    local pid=$!
    _bench_pids+=("$pid")
    _bench_names+=("$name")
    local deadline=$((SECONDS + 60)) code
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz" 2>/dev/null || true)
        [[ "$code" == 200 ]] && break
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            fail "$name did not become ready on port $port; last lines of $log:" || true
            tail -n 30 "$log" >&2 || true
            return 1
        fi
        sleep 0.2
    done
    say "$name is ready on http://127.0.0.1:$port (pid $pid, log ${log#"$ATTEND_ROOT"/})"
}

# bench_pid NAME: the pid of a service this part started.
bench_pid() {
    local i
    for i in "${!_bench_names[@]}"; do
        [[ "${_bench_names[i]}" == "$1" ]] && { printf '%s\n' "${_bench_pids[i]}"; return 0; }
    done
    return 1
}

# bench_start_stack [VAR=VALUE...]: the whole system, wired as scripts/up wires it, on the
# BENCH_PORTS. Extra variables go to every service.
bench_start_stack() {
    local sim="http://127.0.0.1:${BENCH_PORTS[carrier-sim]}"
    local voice="http://127.0.0.1:${BENCH_PORTS[voice-gateway]}"
    local sms="http://127.0.0.1:${BENCH_PORTS[sms-service]}"
    bench_start carrier-sim "${BENCH_PORTS[carrier-sim]}" \
        SIM_FLOWROUTE_INBOUND_URL="$sms/sms/flowroute/inbound?token=${SMS_INBOUND_SECRET:-sim-sms-inbound-secret}" \
        SIM_TWILIO_INBOUND_URL="$sms/sms/twilio/inbound" "$@" || return 1
    bench_start booking-service "${BENCH_PORTS[booking-service]}" "$@" || return 1
    bench_start reminder-scheduler "${BENCH_PORTS[reminder-scheduler]}" "$@" || return 1
    bench_start voice-gateway "${BENCH_PORTS[voice-gateway]}" \
        PUBLIC_URL="$voice" VOBIZ_API_URL="$sim/api/v1" "$@" || return 1
    bench_start sms-service "${BENCH_PORTS[sms-service]}" \
        PUBLIC_URL="$sms" \
        FLOWROUTE_API_URL="$sim/flowroute/v2.1" \
        TWILIO_API_URL="$sim/twilio/2010-04-01" "$@" || return 1
}

# bench_result ITEM LABEL VALUE UNIT [TARGET]: TARGET is "<= N" or ">= N" (or empty).
bench_result() {
    local item=$1 label=$2 value=$3 unit=$4 target=${5:-} met=-
    if [[ -n "$target" && "$value" =~ ^-?[0-9.]+$ ]]; then
        met=$(awk -v v="$value" -v t="$target" 'BEGIN {
            split(t, p, " "); n = p[2] + 0
            if (p[1] == "<=") print (v + 0 <= n ? "yes" : "no")
            else if (p[1] == ">=") print (v + 0 >= n ? "yes" : "no")
            else print "-" }')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$item" "$label" "$value" "$unit" "$target" "$met" >>"$BENCH_RESULTS"
}

# bench_record_rss NAME PID: item 7, the peak resident set (VmHWM) of a running process.
bench_record_rss() {
    local name=$1 pid=$2 kb
    kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return 0
    [[ -n "$kb" ]] || return 0
    bench_result 7 "$name peak RSS ($BENCH_PART)" "$(awk -v k="$kb" 'BEGIN {printf "%.1f", k / 1024}')" MiB "<= 64"
}

# bench_cpu_busy: percent of all CPUs busy over the next 3 s.
bench_cpu_busy() {
    local a b total=0 idle i
    read -r -a a </proc/stat
    sleep 3
    read -r -a b </proc/stat
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    if ((total > 0)); then echo $((100 * (total - idle) / total)); else echo 0; fi
}

_bench_cleanup() {
    local status=$? i pid name
    trap - EXIT INT TERM
    # Peak memory first, while the processes still exist; then stop them, newest first.
    for i in "${!_bench_pids[@]}"; do
        pid=${_bench_pids[i]}
        kill -0 "$pid" 2>/dev/null && bench_record_rss "${_bench_names[i]}" "$pid"
    done
    for ((i = ${#_bench_pids[@]} - 1; i >= 0; i--)); do
        pid=${_bench_pids[i]} name=${_bench_names[i]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        local deadline=$((SECONDS + 20))
        while kill -0 "$pid" 2>/dev/null; do
            if ((SECONDS >= deadline)); then
                warn "$name ignored SIGTERM; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
    done
    for name in "${_bench_databases[@]}"; do
        pg_admin_sql "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null || warn "could not drop database $name"
    done
    _bench_delete_broker_objects
    exit "$status"
}

# Deletes the queues and exchanges named with this part's prefix.
_bench_delete_broker_objects() {
    rabbit_running || return 0
    local queue exchange list="" queue_list="" prefix=$BENCH_AMQP_PREFIX
    local -a queues exchanges ours=()
    # Read the lists first: rabbitmqctl reads stdin, so it cannot run inside a read loop.
    mapfile -t queues < <(rmqctl -s list_queues name </dev/null 2>/dev/null || true)
    mapfile -t exchanges < <(rmqctl -s list_exchanges name </dev/null 2>/dev/null || true)
    for queue in "${queues[@]}"; do
        [[ "$queue" == "$prefix"* ]] || continue
        if [[ "$queue" =~ ^[A-Za-z0-9_.-]+$ ]]; then
            ours+=("$queue")
            queue_list+="${queue_list:+,}<<\"$queue\">>"
        else
            rmqctl -q delete_queue "$queue" </dev/null >/dev/null 2>&1 || warn "could not delete queue $queue"
        fi
    done
    # Every rabbitmqctl call starts an Erlang VM (about 0.8 s here), and an end-to-end part
    # leaves two dozen queues: one call deletes them all, and one call per queue is the
    # fallback where the broker's internals differ.
    if [[ -n "$queue_list" ]] && ! rmqctl -q eval "[case rabbit_amqqueue:lookup(rabbit_misc:r(<<\"/\">>, queue, N)) of {ok, Q} -> rabbit_amqqueue:delete(Q, false, false, <<\"bench\">>); _ -> ok end || N <- [$queue_list]], ok." </dev/null >/dev/null 2>&1; then
        for queue in "${ours[@]}"; do
            rmqctl -q delete_queue "$queue" </dev/null >/dev/null 2>&1 || warn "could not delete queue $queue"
        done
    fi
    for exchange in "${exchanges[@]}"; do
        [[ "$exchange" == "$prefix"* && "$exchange" =~ ^[A-Za-z0-9_.-]+$ ]] || continue
        list+="${list:+,}<<\"$exchange\">>"
    done
    if [[ -n "$list" ]]; then
        rmqctl -q eval "[rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, N), false, <<\"bench\">>) || N <- [$list]], ok." </dev/null >/dev/null 2>&1 ||
            warn "could not delete the exchanges $list"
    fi
}

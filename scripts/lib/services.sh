# shellcheck shell=bash
# Backing services for Attend: PostgreSQL and RabbitMQ.
#
# Source this file; do not execute it. It defines:
#   ensure_postgres              Postgres answers on $ATTEND_PG_HOST:$ATTEND_PG_PORT
#   ensure_rabbitmq              RabbitMQ answers on $ATTEND_AMQP_HOST:$ATTEND_AMQP_PORT
#   ensure_database NAME         database NAME exists (created if missing)
#   ensure_pg_max_connections N  max_connections >= N (may restart a local cluster once)
#   drop_test_databases, rmqctl, pg_admin_sql, attend_compose  (helpers)
#
# Every ensure_* function is idempotent and returns at once when the service
# already runs. Otherwise, in this order:
#   1. a Docker engine answers (`docker info`)  -> docker compose up -d --wait <svc>
#   2. the Debian packages (installed with apt-get if missing, root only) -> started
# ATTEND_SERVICES=auto|docker|local forces the choice (default auto).
# Progress goes to stderr as one line per step, prefixed "==>".

if [[ -n "${_ATTEND_SERVICES_SH:-}" ]]; then return 0; fi
_ATTEND_SERVICES_SH=1

ATTEND_ROOT="${ATTEND_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
ATTEND_SERVICES="${ATTEND_SERVICES:-auto}"
ATTEND_PG_HOST="${ATTEND_PG_HOST:-127.0.0.1}"
ATTEND_PG_PORT="${ATTEND_PG_PORT:-5432}"
ATTEND_AMQP_HOST="${ATTEND_AMQP_HOST:-127.0.0.1}"
ATTEND_AMQP_PORT="${ATTEND_AMQP_PORT:-5672}"
# Superuser URL used to create/drop databases. The password works with both
# trust (ignored) and scram (set on a fresh cluster below) authentication.
ATTEND_PG_ADMIN_URL="${ATTEND_PG_ADMIN_URL:-${TEST_DATABASE_URL:-postgres://postgres:postgres@${ATTEND_PG_HOST}:${ATTEND_PG_PORT}/postgres}}"

# ---------------------------------------------------------------- messages

say() { printf '==> %s\n' "$*" >&2; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
fail() {
    printf '==> ERROR: %s\n' "$*" >&2
    return 1
}

# ---------------------------------------------------------------- probes

# tcp_open HOST PORT: true when something accepts TCP connections there.
tcp_open() {
    # shellcheck disable=SC2016  # expanded by the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

pg_running() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -t 2 -h "$ATTEND_PG_HOST" -p "$ATTEND_PG_PORT"
    else
        tcp_open "$ATTEND_PG_HOST" "$ATTEND_PG_PORT"
    fi
}

rabbit_running() {
    tcp_open "$ATTEND_AMQP_HOST" "$ATTEND_AMQP_PORT"
}

# rabbit_answers_amqp: the broker answers the AMQP 0-9-1 protocol header within 5 s. A broker
# can accept TCP yet never answer (a stall, see docs/operations.md), and then every test
# would hang until its timeout.
rabbit_answers_amqp() {
    local first
    first=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf "AMQP\x00\x00\x09\x01" >&3 && head -c 1 <&3 | od -An -tx1' \
        "$ATTEND_AMQP_HOST" "$ATTEND_AMQP_PORT" 2>/dev/null) || return 1
    [[ -n "${first// /}" ]]
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND once a second.
wait_for() {
    local secs=$1 what=$2
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            fail "$what did not come up within ${secs}s"
            return 1
        fi
        sleep 1
    done
}

# ---------------------------------------------------------------- docker

_attend_docker_ok=""
docker_available() {
    if [[ -z "$_attend_docker_ok" ]]; then
        _attend_docker_ok=no
        if command -v docker >/dev/null 2>&1 &&
            timeout 15 docker info >/dev/null 2>&1; then
            _attend_docker_ok=yes
        fi
    fi
    [[ "$_attend_docker_ok" == yes ]]
}

# attend_compose ARGS...: docker compose (v2 plugin, or v1 docker-compose) on the repo's file.
attend_compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -f "$ATTEND_ROOT/docker-compose.yml" "$@"
    elif command -v docker-compose >/dev/null 2>&1; then
        docker-compose -f "$ATTEND_ROOT/docker-compose.yml" "$@"
    else
        fail "a Docker engine runs but neither 'docker compose' nor 'docker-compose' is installed"
    fi
}

compose_up() {
    say "starting $* with docker compose"
    attend_compose up -d --wait "$@" ||
        fail "docker compose up $* failed (see: docker compose logs $*)"
}

# select_mode: sets ATTEND_MODE to "docker" (compose) or "local" (Debian packages).
select_mode() {
    case "$ATTEND_SERVICES" in
    docker)
        docker_available || { fail "ATTEND_SERVICES=docker but 'docker info' fails (no Docker engine runs)"; return 1; }
        ATTEND_MODE=docker
        ;;
    local) ATTEND_MODE=local ;;
    auto) if docker_available; then ATTEND_MODE=docker; else ATTEND_MODE=local; fi ;;
    *) fail "ATTEND_SERVICES must be auto, docker or local (got '$ATTEND_SERVICES')"; return 1 ;;
    esac
}

# ---------------------------------------------------------------- apt

_attend_apt_updated=""
apt_install() {
    if [[ $EUID -ne 0 ]]; then
        fail "need to install $* (Debian packages) but not running as root; run as root or install them yourself"
        return 1
    fi
    command -v apt-get >/dev/null 2>&1 ||
        { fail "need to install $* but apt-get is missing (not Debian/Ubuntu); install them yourself"; return 1; }
    if [[ -z "$_attend_apt_updated" ]]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || { fail "apt-get update failed"; return 1; }
        _attend_apt_updated=1
    fi
    say "installing $* (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 </dev/null ||
        fail "apt-get install $* failed"
}

# ---------------------------------------------------------------- postgres

# Newest server major version with a cluster config (/etc/postgresql), else
# the newest installed server binary (/usr/lib/postgresql/<ver>/bin/postgres).
pg_local_version() {
    local v
    v=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    if [[ -z "$v" ]]; then
        v=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n1)
        v=${v#/usr/lib/postgresql/}
        v=${v%%/*}
    fi
    printf '%s' "$v"
}

# pg_admin_sql SQL: run SQL as the superuser, print unaligned tuples.
# Tries the admin URL over TCP, then peer auth on the local socket (root only),
# then `docker compose exec` when Postgres runs in compose.
pg_admin_sql() {
    local sql=$1
    if command -v psql >/dev/null 2>&1; then
        if psql "$ATTEND_PG_ADMIN_URL" -X -v ON_ERROR_STOP=1 -qAtc "$sql" 2>/dev/null; then
            return 0
        fi
        if [[ $EUID -eq 0 ]] && id postgres >/dev/null 2>&1 && [[ -d /var/run/postgresql ]]; then
            # shellcheck disable=SC2016
            su postgres -s /bin/bash -c 'cd / && psql -X -v ON_ERROR_STOP=1 -p "$1" -qAtc "$2"' _ "$ATTEND_PG_PORT" "$sql" && return 0
        fi
        # show the real error
        psql "$ATTEND_PG_ADMIN_URL" -X -v ON_ERROR_STOP=1 -qAtc "$sql"
        return
    fi
    if docker_available && [[ -n "$(attend_compose ps -q postgres 2>/dev/null)" ]]; then
        attend_compose exec -T postgres psql -U postgres -X -v ON_ERROR_STOP=1 -qAtc "$sql"
        return
    fi
    apt_install postgresql-client || return 1
    psql "$ATTEND_PG_ADMIN_URL" -X -v ON_ERROR_STOP=1 -qAtc "$sql"
}

_pg_local_start() {
    local ver
    ver=$(pg_local_version)
    if [[ -z "$ver" || ! -x "/usr/lib/postgresql/$ver/bin/postgres" ]] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
        apt_install postgresql || return 1
        ver=$(pg_local_version)
        [[ -n "$ver" ]] || { fail "postgresql installed but no server version found under /usr/lib/postgresql"; return 1; }
    fi
    if [[ ! -f "/etc/postgresql/$ver/main/postgresql.conf" ]]; then
        [[ $EUID -eq 0 ]] || { fail "Postgres cluster $ver/main does not exist and creating it needs root"; return 1; }
        say "creating Postgres cluster $ver main"
        local out
        out=$(pg_createcluster "$ver" main 2>&1) || { printf '%s\n' "$out" >&2; fail "pg_createcluster $ver main failed"; return 1; }
    fi
    say "starting Postgres $ver main"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 ||
        pg_running || { fail "pg_ctlcluster $ver main start failed (see /var/log/postgresql/postgresql-$ver-main.log)"; return 1; }
    wait_for 60 "Postgres on $ATTEND_PG_HOST:$ATTEND_PG_PORT" pg_running || return 1
    # Debian's pg_hba uses scram on 127.0.0.1: give the postgres role the
    # password from the default URLs unless that URL already works.
    if ! psql "$ATTEND_PG_ADMIN_URL" -X -qAtc 'select 1' >/dev/null 2>&1; then
        [[ $EUID -eq 0 ]] || { fail "cannot log in with $ATTEND_PG_ADMIN_URL and setting the password needs root"; return 1; }
        say "setting the postgres role's password to 'postgres'"
        su postgres -s /bin/bash -c "cd / && psql -X -p $ATTEND_PG_PORT -qc \"ALTER ROLE postgres PASSWORD 'postgres'\"" >&2 ||
            { fail "could not set the postgres role's password"; return 1; }
    fi
}

ensure_postgres() {
    if pg_running; then
        say "Postgres is running on $ATTEND_PG_HOST:$ATTEND_PG_PORT"
        return 0
    fi
    select_mode || return 1
    if [[ "$ATTEND_MODE" == docker ]]; then
        compose_up postgres || return 1
        wait_for 60 "Postgres on $ATTEND_PG_HOST:$ATTEND_PG_PORT" pg_running || return 1
    else
        _pg_local_start || return 1
    fi
    say "Postgres is ready on $ATTEND_PG_HOST:$ATTEND_PG_PORT"
}

# ensure_database NAME
ensure_database() {
    local name=${1:?ensure_database needs a database name}
    [[ "$name" =~ ^[A-Za-z0-9_]+$ ]] || { fail "refusing odd database name '$name'"; return 1; }
    local exists
    exists=$(pg_admin_sql "SELECT 1 FROM pg_database WHERE datname = '$name'") ||
        { fail "cannot query Postgres as superuser ($ATTEND_PG_ADMIN_URL)"; return 1; }
    if [[ "$exists" == 1 ]]; then
        say "database $name exists"
        return 0
    fi
    say "creating database $name"
    pg_admin_sql "CREATE DATABASE \"$name\"" >/dev/null ||
        [[ "$(pg_admin_sql "SELECT 1 FROM pg_database WHERE datname = '$name'")" == 1 ]] ||
        { fail "could not create database $name"; return 1; }
}

# ensure_pg_max_connections [N]: tests start several services per test, each
# with a small pool; the default 100 connections is too few. Raises the
# setting with ALTER SYSTEM and restarts a local Debian cluster (once: only
# when the current value is lower). ATTEND_PG_MAX_CONNECTIONS=0 skips this.
ensure_pg_max_connections() {
    local want=${1:-${ATTEND_PG_MAX_CONNECTIONS:-300}}
    [[ "$want" =~ ^[0-9]+$ ]] || { fail "max_connections must be a number, got '$want'"; return 1; }
    ((want > 0)) || return 0
    local cur
    cur=$(pg_admin_sql 'SHOW max_connections') || { warn "cannot read max_connections; leaving it"; return 0; }
    if ((cur >= want)); then
        return 0
    fi
    say "raising Postgres max_connections from $cur to $want"
    pg_admin_sql "ALTER SYSTEM SET max_connections = $want" >/dev/null ||
        { warn "ALTER SYSTEM failed; tests may run out of connections"; return 0; }
    local ver
    ver=$(pg_local_version)
    if [[ $EUID -eq 0 && -n "$ver" ]] && command -v pg_lsclusters >/dev/null 2>&1 &&
        pg_lsclusters -h 2>/dev/null | awk -v v="$ver" -v p="$ATTEND_PG_PORT" '$1==v && $2=="main" && $3==p && $4 ~ /online/ {f=1} END {exit !f}'; then
        say "restarting Postgres $ver main to apply max_connections"
        pg_ctlcluster --skip-systemctl-redirect "$ver" main restart >&2 ||
            { fail "pg_ctlcluster $ver main restart failed"; return 1; }
        wait_for 60 "Postgres on $ATTEND_PG_HOST:$ATTEND_PG_PORT" pg_running || return 1
    elif docker_available && [[ -n "$(attend_compose ps -q postgres 2>/dev/null)" ]]; then
        say "restarting the compose postgres container to apply max_connections"
        attend_compose restart postgres >&2 || { fail "docker compose restart postgres failed"; return 1; }
        wait_for 60 "Postgres on $ATTEND_PG_HOST:$ATTEND_PG_PORT" pg_running || return 1
    else
        warn "max_connections = $want takes effect after a Postgres restart (not managed here); tests may run out of connections"
    fi
}

# ---------------------------------------------------------------- rabbitmq

# rmqctl ARGS...: rabbitmqctl on this machine, or inside the compose container.
rmqctl() {
    if command -v rabbitmqctl >/dev/null 2>&1; then
        rabbitmqctl "$@"
    elif docker_available && [[ -n "$(attend_compose ps -q rabbitmq 2>/dev/null)" ]]; then
        attend_compose exec -T rabbitmq rabbitmqctl "$@"
    else
        fail "rabbitmqctl not found (RabbitMQ is neither installed here nor running in compose)"
    fi
}

_rabbit_local_start() {
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        apt_install rabbitmq-server || return 1
        # The package's postinst may already have started it.
        if rabbit_running; then return 0; fi
    fi
    say "starting RabbitMQ (rabbitmq-server -detached)"
    rabbitmq-server -detached >&2 || true
    local deadline=$((SECONDS + 120))
    until timeout 30 rabbitmqctl -q await_startup --timeout 25 >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            fail "RabbitMQ did not start within 120s (see /var/log/rabbitmq/)"
            return 1
        fi
        sleep 2
    done
    wait_for 30 "RabbitMQ on $ATTEND_AMQP_HOST:$ATTEND_AMQP_PORT" rabbit_running
}

# rabbit_stalled: RabbitMQ accepts connections but has not answered the AMQP handshake for a
# whole minute. A broker that is only busy (a test suite declaring hundreds of quorum queues on
# a loaded machine) can take longer than one probe's five seconds; killing it then would lose
# every queue in flight, so one slow answer is never enough.
rabbit_stalled() {
    local deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)); do
        rabbit_answers_amqp && return 1
        sleep 5
    done
    ! rabbit_answers_amqp
}

ensure_rabbitmq() {
    if rabbit_running && ! rabbit_answers_amqp && rabbit_stalled; then
        if [[ $EUID -eq 0 ]] && pgrep -u rabbitmq beam.smp >/dev/null 2>&1; then
            warn "RabbitMQ on $ATTEND_AMQP_HOST:$ATTEND_AMQP_PORT accepts connections but does not answer AMQP; restarting it (docs/operations.md)"
            pkill -KILL -u rabbitmq beam.smp || true
            wait_for 30 "the stalled RabbitMQ to exit" bash -c '! pgrep -u rabbitmq beam.smp >/dev/null'
        else
            fail "RabbitMQ on $ATTEND_AMQP_HOST:$ATTEND_AMQP_PORT accepts connections but does not answer AMQP; restart it (docs/operations.md)"
            return 1
        fi
    fi
    if rabbit_running; then
        say "RabbitMQ is running on $ATTEND_AMQP_HOST:$ATTEND_AMQP_PORT"
        return 0
    fi
    select_mode || return 1
    if [[ "$ATTEND_MODE" == docker ]]; then
        compose_up rabbitmq || return 1
        wait_for 60 "RabbitMQ on $ATTEND_AMQP_HOST:$ATTEND_AMQP_PORT" rabbit_running || return 1
    else
        _rabbit_local_start || return 1
    fi
    if ! wait_for 60 "RabbitMQ to answer AMQP" rabbit_answers_amqp; then
        fail "RabbitMQ accepts connections but does not answer AMQP even after a restart; see docs/operations.md (moving its mnesia directory aside clears it)"
        return 1
    fi
    say "RabbitMQ is ready on $ATTEND_AMQP_HOST:$ATTEND_AMQP_PORT"
}

# ---------------------------------------------------------------- .env

# load_dotenv [FILE]: export KEY=VALUE lines from FILE (default .env at the
# repo root). Variables already set in the environment win over the file.
load_dotenv() {
    local file=${1:-$ATTEND_ROOT/.env} line key
    [[ -f "$file" ]] || return 0
    say "reading $file (variables already set in the environment win)"
    while IFS= read -r line || [[ -n "$line" ]]; do
        line=${line#"${line%%[![:space:]]*}"}
        [[ -z "$line" || "$line" == \#* ]] && continue
        line=${line#export }
        key=${line%%=*}
        [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ && "$line" == *=* ]] || continue
        [[ -n "${!key+x}" ]] && continue
        eval "export $line"
    done <"$file"
}

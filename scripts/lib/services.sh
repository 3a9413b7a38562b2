# shellcheck shell=bash
# Reusable pieces for scripts that need the local stand-ins of the services shape:
# moto (S3/Kinesis emulator) in a repo-local venv, and the machine's PostgreSQL.
#
# Source it, then call the fp_* functions. Anything started is recorded in FP_STARTED_PIDS /
# FP_PG_STARTED_CLUSTER so fp_stop_services (meant for an EXIT trap) stops exactly that.

FP_STARTED_PIDS=${FP_STARTED_PIDS:-}
FP_PG_STARTED_CLUSTER=${FP_PG_STARTED_CLUSTER:-}

fp_log() {
    printf '==> %s\n' "$*" >&2
}

fp_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# fp_free_port: print a TCP port nobody is listening on right now.
fp_free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# fp_wait_for_port HOST PORT [SECONDS]: wait until HOST:PORT accepts TCP connections.
fp_wait_for_port() {
    local host=$1 port=$2 seconds=${3:-30} i
    for ((i = 0; i < seconds * 10; i++)); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# fp_wait_for_http URL [SECONDS]: wait until URL answers HTTP (any status).
fp_wait_for_http() {
    local url=$1 seconds=${2:-30} i
    for ((i = 0; i < seconds * 10; i++)); do
        if curl -s -o /dev/null --max-time 1 "$url"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# fp_ensure_venv ROOT: ROOT/.venv with moto's server installed (only installs if missing).
fp_ensure_venv() {
    local root=$1
    local venv="$root/.venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        fp_log "creating $venv"
        python3 -m venv "$venv"
    fi
    if [[ ! -x "$venv/bin/moto_server" ]]; then
        fp_log "installing moto[server] into $venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]'
    fi
}

# fp_start_moto ROOT LOGDIR: start moto_server on 127.0.0.1 and a free port; sets FP_MOTO_URL
# and FP_MOTO_PID and records the PID for fp_stop_services.
fp_start_moto() {
    local root=$1 logdir=$2 port
    port=$(fp_free_port)
    mkdir -p "$logdir"
    fp_log "starting moto on 127.0.0.1:$port (log: $logdir/moto.log)"
    "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$logdir/moto.log" 2>&1 &
    FP_MOTO_PID=$!
    FP_STARTED_PIDS="$FP_STARTED_PIDS $FP_MOTO_PID"
    FP_MOTO_URL="http://127.0.0.1:$port"
    if ! fp_wait_for_http "$FP_MOTO_URL/" 60; then
        tail -n 20 "$logdir/moto.log" >&2 || true
        fp_die "moto did not answer on $FP_MOTO_URL"
    fi
    export FP_MOTO_URL FP_MOTO_PID
}

# fp_create_bucket ENDPOINT BUCKET: create an S3 bucket on moto (it does not auto-create).
fp_create_bucket() {
    local endpoint=$1 bucket=$2
    fp_log "creating bucket $bucket on $endpoint"
    curl -fsS -o /dev/null -X PUT "$endpoint/$bucket" ||
        fp_die "could not create bucket $bucket on $endpoint"
}

# fp_ensure_postgres [DATABASE]: make sure PostgreSQL answers on 127.0.0.1:5432, starting the
# installed cluster if it is stopped, and that DATABASE (default: test) exists.
fp_ensure_postgres() {
    local database=${1:-test} version
    command -v pg_isready >/dev/null || fp_die "PostgreSQL client tools (pg_isready) not installed"
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        command -v pg_ctlcluster >/dev/null ||
            fp_die "PostgreSQL is not answering on 127.0.0.1:5432 and pg_ctlcluster is missing"
        version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
        [[ -n "$version" ]] || fp_die "no PostgreSQL cluster under /etc/postgresql"
        fp_log "starting PostgreSQL $version/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
        FP_PG_STARTED_CLUSTER="$version"
        local i
        for ((i = 0; i < 300; i++)); do
            pg_isready -q -h 127.0.0.1 -p 5432 && break
            sleep 0.1
        done
        pg_isready -q -h 127.0.0.1 -p 5432 || fp_die "PostgreSQL did not come up on 127.0.0.1:5432"
    fi
    fp_log "PostgreSQL answers on 127.0.0.1:5432"
    if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1; then
        fp_log "creating database $database"
        psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE \"$database\"" >/dev/null
    fi
}

# fp_stop_services: stop everything this shell started (for `trap fp_stop_services EXIT`).
fp_stop_services() {
    local pid
    for pid in $FP_STARTED_PIDS; do
        if kill -0 "$pid" 2>/dev/null; then
            fp_log "stopping pid $pid"
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    FP_STARTED_PIDS=
    if [[ -n "$FP_PG_STARTED_CLUSTER" ]]; then
        fp_log "stopping PostgreSQL $FP_PG_STARTED_CLUSTER/main (started by this script)"
        pg_ctlcluster --skip-systemctl-redirect "$FP_PG_STARTED_CLUSTER" main stop || true
        FP_PG_STARTED_CLUSTER=
    fi
}

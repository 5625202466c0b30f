#!/bin/sh
# bench/compare.sh: tern, Prosody and ejabberd side by side, one at a time, on loopback,
# with the same load generator (tern-bench), the same accounts (same SCRAM salt and
# iteration count), the same TLS setting and the archive on where the server has one.
#
#   bench/compare.sh [--quick] [--runs N] [--servers "tern prosody ejabberd"] [--archive off]
#
# `make bench` installs what is missing (Debian: prosody, ejabberd, erlang-luerl for
# ejabberd's account import, lua-unbound), builds the release binaries and runs this.
# Results: bench/results/<date>.json (one JSON object per scenario run, with the server,
# the run number and tern's commit) and bench/results/<date>.md (medians, ratios).
#
# Scenarios per run (sizes below; --quick shrinks them and does 1 run):
#   idle-plain  IDLE sessions without TLS, held HOLD s, on a fresh server: server RSS and
#               KB per session
#   idle-tls    the same over STARTTLS (again on a fresh server)
#   chat        PAIRS pairs, RATE msgs/s in total for CHAT_S s, STARTTLS: latency, CPU
#   login       LOGINS logins, CONC in flight, STARTTLS + SCRAM-SHA-1: logins/s
# and once per server:
#   ramp        (fresh server) the rate from RAMP_START, x1.5 every RAMP_STEP s, until
#               p99 > 100 ms or a message is lost: the highest rate that held.
#
# Each server listens on 127.0.0.1 only, with TLS offered but not required (so that the
# same server serves the plain idle run), no rate limits or traffic shapers, the message
# archive on (--archive off: off for all three), and is stopped before the next starts.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$root/build}
BENCH=$BUILD/tern-bench
servers="tern prosody ejabberd"
runs=3
archive=on
IDLE=1000 HOLD=10 PAIRS=200 RATE=2000 CHAT_S=20 LOGINS=500 CONC=50
RAMP_START=250 RAMP_STEP=4 RAMP_STEPS=14

while [ $# -gt 0 ]; do
    case $1 in
    --quick)
        runs=1 IDLE=300 HOLD=3 PAIRS=50 RATE=1000 CHAT_S=5 LOGINS=200
        RAMP_STEP=2 RAMP_STEPS=12
        shift ;;
    --runs) runs=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --archive) archive=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 1 ;;
    esac
done

DOMAIN=localhost PREFIX=u PASSWORD=bench SALT=tern-bench-shared-salt ITER=4096
PORT_TERN=15222 PORT_PROSODY=15322 PORT_EJABBERD=15422
NUSERS=$IDLE
[ $((2 * PAIRS)) -gt "$NUSERS" ] && NUSERS=$((2 * PAIRS))
[ "$LOGINS" -gt "$NUSERS" ] && NUSERS=$LOGINS

stamp=$(date -u +%Y-%m-%dT%H%MZ)
results=$root/bench/results
json=$results/$stamp.json
md=$results/$stamp.md
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit+changes"
fi
work=$(mktemp -d /tmp/tern-compare.XXXXXX)
chmod 755 "$work"
mkdir -p "$results"
: > "$json"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

[ -x "$BENCH" ] || { echo "compare.sh: $BENCH missing: run 'make bench'" >&2; exit 1; }

# ---- accounts ---------------------------------------------------------------------------
python3 "$root/bench/mkusers.py" "$NUSERS" "$PREFIX" "$PASSWORD" "$SALT" "$ITER" "$DOMAIN" \
    "$work/users"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=$DOMAIN" -addext "subjectAltName=DNS:$DOMAIN" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# ---- servers ----------------------------------------------------------------------------
PID= PORT= STOP=
epmd_before=$(pgrep -x epmd || true)

# the marked archive lines of a peer's config stay only with --archive on
archive_filter() {
    if [ "$archive" = on ]; then cat; else sed '/archive$/d'; fi
}

port_free() {
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" \
            2>/dev/null; then
        echo "compare.sh: something already listens on 127.0.0.1:$1; stop it first" >&2
        exit 1
    fi
}

wait_port() {
    i=0
    while ! python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" \
            2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 300 ] || { echo "compare.sh: nothing listens on $1 after 30 s" >&2; return 1; }
        sleep 0.1
    done
}

start_tern() {
    d=$work/tern
    rm -rf "$d"
    mkdir -p "$d/data"
    printf 'domain = %s\ndata_dir = %s\n' "$DOMAIN" "$d/data" > "$d/tern.conf"
    cp "$work/cert.pem" "$d/data/cert.pem"
    cp "$work/key.pem" "$d/data/key.pem"
    chmod 600 "$d/data/key.pem"
    port_free $PORT_TERN
    a=true
    [ "$archive" = on ] || a=false
    set -- -c "$d/tern.conf" -o c2s.bind=127.0.0.1 -o c2s.port=$PORT_TERN -o c2s.tls_port=0 \
        -o c2s.require_tls=false -o log.level=warn -o auth.scram_iterations=$ITER \
        -o archive.enabled=$a -o limits.max_conns_per_ip=100000 \
        -o limits.conn_rate_per_ip=0 -o limits.max_unauth=1000000 -o limits.stanza_rate=0 \
        -o limits.read_rate=0
    "$BUILD/ternctl" "$@" user import --salt "$SALT" "$work/users/tern-users.txt"
    "$BUILD/ternd" "$@" > "$d/ternd.log" 2>&1 &
    PID=$! PORT=$PORT_TERN STOP="kill -TERM $PID"
    wait_port $PORT
}

start_prosody() {
    d=$work/prosody
    rm -rf "$d"
    mkdir -p "$d/certs"
    cp -r "$work/users/prosody" "$d/data"
    cp "$work/cert.pem" "$d/certs/$DOMAIN.crt"
    cp "$work/key.pem" "$d/certs/$DOMAIN.key"
    port_free $PORT_PROSODY
    sed "s|@DIR@|$d|g; s|@PORT@|$PORT_PROSODY|g; s|@DOMAIN@|$DOMAIN|g; s|@TLS@|false|g" \
        "$root/bench/prosody.cfg.lua.in" | archive_filter > "$d/prosody.cfg.lua"
    prosody --config "$d/prosody.cfg.lua" -F > "$d/stdout.log" 2>&1 &
    PID=$! PORT=$PORT_PROSODY STOP="kill -TERM $PID"
    wait_port $PORT
}

# ejabberd runs as its own user (setpriv keeps this shell's descriptor limit, where su
# would reset it to 1024); its node name is ours alone, and its files are in $work.
ejctl() {
    d=$work/ejabberd
    (cd "$d" && HOME=/var/lib/ejabberd setpriv --reuid=ejabberd --regid=ejabberd \
        --init-groups ejabberdctl --config-dir "$d" --config "$d/ejabberd.yml" \
        --ctl-config "$d/ejabberdctl.cfg" --logs "$d/logs" --spool "$d/spool" \
        --node tbench@localhost "$@")
}

start_ejabberd() {
    d=$work/ejabberd
    rm -rf "$d"
    mkdir -p "$d/certs" "$d/logs" "$d/spool"
    cat "$work/cert.pem" "$work/key.pem" > "$d/certs/server.pem"
    port_free $PORT_EJABBERD
    sed "s|@DIR@|$d|g; s|@PORT@|$PORT_EJABBERD|g; s|@DOMAIN@|$DOMAIN|g; s|@TLS@|false|g" \
        "$root/bench/ejabberd.yml.in" | archive_filter > "$d/ejabberd.yml"
    printf 'ERL_MAX_PORTS=65536\nERL_PROCESSES=1000000\n' > "$d/ejabberdctl.cfg"
    cp /etc/ejabberd/inetrc "$d/inetrc" 2>/dev/null ||
        echo '{lookup,["file","native"]}.' > "$d/inetrc"
    cp -r "$work/users/prosody" "$d/prosody-data"
    chown -R ejabberd:ejabberd "$d"
    ejctl start
    ejctl started
    ejctl import_prosody "$d/prosody-data"
    n=$(ejctl registered_users "$DOMAIN" | wc -l)
    [ "$n" -ge "$NUSERS" ] || { echo "compare.sh: ejabberd has $n accounts" >&2; return 1; }
    PID=$(pgrep -f "beam.smp.*tbench@localhost" | head -n 1)
    PORT=$PORT_EJABBERD STOP="ejctl stop"
    wait_port $PORT
}

stop_server() {
    [ -n "$STOP" ] || return 0
    $STOP > /dev/null 2>&1 || true
    i=0
    while kill -0 "$PID" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$PID" 2>/dev/null || true
    PID= STOP=
}

cleanup() {
    stop_server
    # epmd comes with ejabberd's first start: stop it only if this script started it
    if [ -z "$epmd_before" ]; then
        for p in $(pgrep -x epmd || true); do kill "$p" 2>/dev/null || true; done
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- runs -------------------------------------------------------------------------------
# bench SERVER RUN SCENARIO-NAME tern-bench-args...: runs it, keeps its JSON line.
bench() {
    srv=$1 run=$2 name=$3
    shift 3
    log "$srv run $run: $name"
    out=$("$BENCH" --port "$PORT" --domain "$DOMAIN" --prefix "$PREFIX" --password "$PASSWORD" \
        --pid "$PID" --label "$srv" "$@") || true
    printf '%s\n' "$out" | grep -v '^{' | sed 's/^/    /' >&2
    line=$(printf '%s\n' "$out" | grep '^{' | tail -n 1)
    [ -n "$line" ] || line='{"error":"no result"}'
    printf '{"server":"%s","run":%s,"name":"%s","commit":"%s","date":"%s","archive":"%s",%s}\n' \
        "$srv" "$run" "$name" "$commit" "$stamp" "$archive" "\"bench\":$line" >> "$json"
    sleep 1
}

# Every idle run starts on a fresh server: memory freed by earlier sessions is kept by
# the allocator and would hide the cost of new ones. login runs before chat, and ramp on a
# fresh server, so that no scenario pays for a backlog an earlier one left. Each start has
# new, empty data.
for srv in $servers; do
    r=1
    while [ $r -le "$runs" ]; do
        log "starting $srv (run $r of $runs)"
        "start_$srv"
        log "$srv is pid $PID on port $PORT"
        bench "$srv" $r idle-plain --no-tls --count "$IDLE" --concurrency "$CONC" \
            --seconds "$HOLD" idle
        stop_server
        "start_$srv"
        bench "$srv" $r idle-tls --count "$IDLE" --concurrency "$CONC" --seconds "$HOLD" idle
        bench "$srv" $r login --count "$LOGINS" --concurrency "$CONC" login
        bench "$srv" $r chat --pairs "$PAIRS" --concurrency "$CONC" --rate "$RATE" \
            --seconds "$CHAT_S" chat
        stop_server
        r=$((r + 1))
    done
    "start_$srv"
    bench "$srv" 1 ramp --pairs "$PAIRS" --concurrency "$CONC" --rate "$RAMP_START" \
        --step "$RAMP_STEP" --steps "$RAMP_STEPS" ramp
    stop_server
done

python3 "$root/bench/report.py" "$json" > "$md"
log "results: $json"
log "table:   $md"
cat "$md"

#!/usr/bin/env bash
# Real OTLP receivers for the tracing-insights-otlp end-to-end tests, installed from PyPI into
# venvs cached under .venv-receivers/ (gitignored) and started on 127.0.0.1 only.
#
#   scripts/receivers.sh install [ddapm|phoenix|all]   # needs PyPI; idempotent (a stamp per venv)
#   scripts/receivers.sh start   [ddapm|phoenix|all]   # offline; waits until ready, writes the env file
#   scripts/receivers.sh stop                          # stops what start started (by process group)
#   scripts/receivers.sh env                           # prints the export lines of what is running
#   scripts/receivers.sh run [ddapm|phoenix|all] -- CMD...   # start, run CMD with the env vars, stop
#
# Env vars the tests read (layers/otlp/tests/receivers.rs):
#   TI_DDAPM_URL      OTLP/HTTP base of ddapm-test-agent (also its read-back API: /test/session/*)
#   TI_PHOENIX_URL    OTLP/HTTP base of Arize Phoenix (also its REST API: /v1/projects/...)
#   TI_DDAPM_GRPC_URL, TI_PHOENIX_GRPC_URL   their OTLP/gRPC addresses (feature `grpc` tests)
#
# Ports (none is a default OTLP port, so nothing else on the machine is disturbed):
#   ddapm-test-agent: agent 18126, OTLP/HTTP 14318, OTLP/gRPC 14317 (all 127.0.0.1)
#   Phoenix:          HTTP 16006 on 127.0.0.1; its gRPC port is hard-coded to bind [::] whatever
#                     PHOENIX_HOST says, so it is pinned to 14327, away from 4317.
# Override with TI_DDAPM_PORT / TI_DDAPM_OTLP_HTTP_PORT / TI_DDAPM_OTLP_GRPC_PORT /
# TI_PHOENIX_PORT / TI_PHOENIX_GRPC_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENVS=${TI_RECEIVERS_VENVS:-$ROOT/.venv-receivers}
RUN=${TI_RECEIVERS_RUN:-$ROOT/target/receivers}
PYTHON=${PYTHON:-python3}

DDAPM_PKGS=(ddapm-test-agent==1.69.1)
PHOENIX_PKGS=(arize-phoenix==20.26.1)

DDAPM_PORT=${TI_DDAPM_PORT:-18126}
DDAPM_HTTP=${TI_DDAPM_OTLP_HTTP_PORT:-14318}
DDAPM_GRPC=${TI_DDAPM_OTLP_GRPC_PORT:-14317}
PHOENIX_PORT=${TI_PHOENIX_PORT:-16006}
PHOENIX_GRPC=${TI_PHOENIX_GRPC_PORT:-14327}

log() { echo "[receivers] $*" >&2; }

which_ones() {
    case "${1:-all}" in
        all) echo "ddapm phoenix" ;;
        ddapm | phoenix) echo "$1" ;;
        *)
            log "unknown receiver '$1' (ddapm, phoenix or all)"
            exit 2
            ;;
    esac
}

install_one() {
    local name=$1
    shift
    local venv=$VENVS/$name stamp="$VENVS/$name/.installed" want="$*"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "$name: already installed ($want)"
        return
    fi
    local t0=$SECONDS
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    echo "$want" >"$stamp"
    log "$name: installed in $((SECONDS - t0)) s ($(du -sm "$venv" | cut -f1) MB)"
}

install() {
    for r in $(which_ones "${1:-all}"); do
        case $r in
            ddapm) install_one ddapm "${DDAPM_PKGS[@]}" ;;
            phoenix) install_one phoenix "${PHOENIX_PKGS[@]}" ;;
        esac
    done
}

# wait_ready NAME URL SECONDS
wait_ready() {
    local name=$1 url=$2 limit=$3 t0
    t0=$(date +%s.%N)
    for _ in $(seq 1 $((limit * 10))); do
        if "$PYTHON" - "$url" <<'EOF' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1).read()
EOF
            log "$name: ready in $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s"
            return 0
        fi
        if ! kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
            log "$name: exited; log follows"
            tail -n 40 "$RUN/$name.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    log "$name: not ready after ${limit} s; log follows"
    tail -n 40 "$RUN/$name.log" >&2 || true
    return 1
}

start_one() {
    local name=$1
    mkdir -p "$RUN"
    if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
        log "$name: already running (pid $(cat "$RUN/$name.pid"))"
        return
    fi
    if [ ! -f "$VENVS/$name/.installed" ]; then
        log "$name: not installed; run: scripts/receivers.sh install $name"
        return 1
    fi
    case $name in
        ddapm)
            setsid "$VENVS/ddapm/bin/ddapm-test-agent" --host 127.0.0.1 --port "$DDAPM_PORT" \
                --otlp-http-port "$DDAPM_HTTP" --otlp-grpc-port "$DDAPM_GRPC" \
                >"$RUN/ddapm.log" 2>&1 </dev/null &
            echo $! >"$RUN/ddapm.pid"
            wait_ready ddapm "http://127.0.0.1:$DDAPM_HTTP/test/session/traces" 60
            printf 'export TI_DDAPM_URL=http://127.0.0.1:%s\nexport TI_DDAPM_GRPC_URL=http://127.0.0.1:%s\n' \
                "$DDAPM_HTTP" "$DDAPM_GRPC" >"$RUN/ddapm.env"
            ;;
        phoenix)
            rm -rf "$RUN/phoenix-work"
            mkdir -p "$RUN/phoenix-work"
            PHOENIX_WORKING_DIR="$RUN/phoenix-work" PHOENIX_HOST=127.0.0.1 \
                PHOENIX_PORT="$PHOENIX_PORT" PHOENIX_GRPC_PORT="$PHOENIX_GRPC" \
                PHOENIX_TELEMETRY_ENABLED=false PHOENIX_ALLOW_EXTERNAL_RESOURCES=false \
                PHOENIX_DISABLE_AGENT_ASSISTANT=true PHOENIX_AGENTS_DISABLE_BASH=true \
                setsid "$VENVS/phoenix/bin/phoenix" serve \
                >"$RUN/phoenix.log" 2>&1 </dev/null &
            echo $! >"$RUN/phoenix.pid"
            wait_ready phoenix "http://127.0.0.1:$PHOENIX_PORT/healthz" 120
            printf 'export TI_PHOENIX_URL=http://127.0.0.1:%s\nexport TI_PHOENIX_GRPC_URL=http://127.0.0.1:%s\n' \
                "$PHOENIX_PORT" "$PHOENIX_GRPC" >"$RUN/phoenix.env"
            ;;
    esac
}

start() {
    for r in $(which_ones "${1:-all}"); do
        start_one "$r"
    done
    env_lines
}

stop() {
    local quiet=${1:-}
    for name in ddapm phoenix; do
        local pidfile=$RUN/$name.pid
        [ -f "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile")
        # setsid made the receiver a process-group leader: stop the whole group (Phoenix and
        # its workers), and only that group.
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM -- "-$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -KILL -- "-$pid" 2>/dev/null || true
            [ -n "$quiet" ] || log "$name: stopped"
        fi
        rm -f "$pidfile" "$RUN/$name.env"
    done
}

env_lines() {
    cat "$RUN"/*.env 2>/dev/null || true
}

cmd=${1:-}
shift || true
case $cmd in
    install) install "${1:-all}" ;;
    start) start "${1:-all}" ;;
    stop) stop ;;
    env) env_lines ;;
    run)
        which=all
        if [ "${1:-}" != "--" ] && [ -n "${1:-}" ]; then
            which=$1
            shift
        fi
        [ "${1:-}" = "--" ] && shift
        # Quiet: the command's own summary (a test runner's) stays the last thing printed.
        trap 'stop quiet' EXIT
        start "$which" >/dev/null
        # The tests fail (instead of skipping) when a receiver started here is missing.
        export TI_REQUIRE_RECEIVERS
        TI_REQUIRE_RECEIVERS="$(which_ones "$which")"
        # shellcheck disable=SC1090
        for f in "$RUN"/*.env; do [ -f "$f" ] && . "$f"; done
        "$@"
        ;;
    *)
        sed -n '2,20p' "$0" >&2
        exit 2
        ;;
esac

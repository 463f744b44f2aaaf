#!/usr/bin/env bash
# Our stacks beside the peers, in one run, as one table of ratios (BENCHMARKS.md keeps the
# latest). Not part of .ci/run: it installs valgrind, takes about 15 minutes on 2 cores once
# built, and its wall-clock parts depend on what else the machine runs.
#
#   scripts/bench-peers.sh            # everything
#   QUICK=1 scripts/bench-peers.sh    # instruction counts only (about 4 minutes once built)
#   PARTS="throughput" TP_SECS=2 TP_ROUNDS=1 scripts/bench-peers.sh   # a part, shorter
#
# PARTS: any of counts, throughput, criterion (default all three). TP_SECS (8), TP_ROUNDS (3),
# RSS_REQUESTS (250000 = 1M spans), RUNGS and TP_RUNGS (the ladder-count rungs). BENCH_TREE
# names the tree in the table's header (default `git rev-parse --short HEAD`); BENCH_OUT the
# directory for the raw files.
#
# What it measures (the workload: benches/src/lib.rs `request()`, a root span with three
# nested children, four fields each, one event):
# - callgrind instructions per request on the request's thread (counted inside `request`
#   only) and over all threads (the exporters' workers and the loopback sinks included),
#   (Ir(1000 requests) - Ir(0)) / 1000 after one warm-up request; the process exits after
#   flushing (all threads) or without counting the flush (request thread);
# - allocations per request on the request's thread (calls to malloc/calloc/realloc/
#   posix_memalign in the same callgrind run's file for the main thread);
# - where the time goes: inclusive instructions per request by function (callgrind_annotate,
#   run(1000) - run(0)) in $out/annotate.all.<rung>.txt and annotate.app.full.txt;
# - export throughput (`export-throughput`): 8 s flat out, the producer on the main thread,
#   every exporter with its default queue, posting to a loopback sink that gunzips and
#   decodes what it receives (OTLP with prost; App Insights envelopes with serde_json,
#   Request/RemoteDependency counted as spans); ours and the peer interleaved, three rounds,
#   median; wire bytes per span (body bytes received / spans decoded);
# - spans lost when paced at 60 % of our own flat-out rate (8 s, default queues);
# - peak RSS (/usr/bin/time) of 1M spans flat out with the defaults;
# - the criterion ladder (wall clock and thread CPU time, a short run).
# Everything talks only to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
out=${BENCH_OUT:-target/bench-peers}
mkdir -p "$out"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need valgrind || ! need callgrind_annotate || ! [ -x /usr/bin/time ]; then
    echo "installing valgrind and time (apt-get)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind time >/dev/null
fi
need python3 || { echo "python3 is needed for the table" >&2; exit 1; }

if [ -n "${QUICK:-}" ]; then parts=${PARTS:-counts}; else parts=${PARTS:-counts throughput criterion}; fi
has() { case " $parts " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
tree=${BENCH_TREE:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M')

cargo build --release -q -p tracing-insights-benches --bins
# Copies, so that a build by someone else in the same target dir cannot swap them mid-run.
mkdir -p "$out/bin"
cp "${CARGO_TARGET_DIR:-target}/release/ladder-count" "${CARGO_TARGET_DIR:-target}/release/export-throughput" "$out/bin/"
bin=$out/bin/ladder-count
tp=$out/bin/export-throughput

# count RUNG MODE -> "instructions allocations" per request (MODE: app | all)
count() {
    local rung=$1 mode=$2 n args=()
    local suffix=
    # Request thread: collect inside `request` only, one file per thread (callgrind counts
    # calls on every thread even where it collects no instructions); thread 1 is main.
    [ "$mode" = app ] && args=(--collect-atstart=no --toggle-collect='tracing_insights_benches::request' \
        --separate-threads=yes) && suffix=-01
    for n in 0 1000; do
        rm -f "$out/cg.$mode.$rung.$n"*
        valgrind --tool=callgrind "${args[@]}" --callgrind-out-file="$out/cg.$mode.$rung.$n" \
            "$bin" "$rung" "$n" >"$out/log.$mode.$rung.$n" 2>&1 ||
            { echo "valgrind $rung $n failed: see $out/log.$mode.$rung.$n" >&2; return 1; }
    done
    # Where the time goes: inclusive instructions per request by function, (Ir(1000) - Ir(0))
    # / 1000 (start-up and shutdown cancel out), all threads of every all-threads rung and the
    # request thread of the full stack.
    if [ "$mode" = all ] || [ "$rung" = full ]; then
        python3 benches/callgrind_diff.py "$out/cg.$mode.$rung.0$suffix" "$out/cg.$mode.$rung.1000$suffix" \
            >"$out/annotate.$mode.$rung.txt" || true
    fi
    python3 - "$out/cg.$mode.$rung.0$suffix" "$out/cg.$mode.$rung.1000$suffix" <<'PY'
import re, subprocess, sys
ALLOC = ("malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc")
def read(path):
    # Instructions from the `totals:` line; allocations as the calls into the allocator's
    # entry points that callgrind_annotate lists under each of them.
    total = next(int(l.split()[1]) for l in open(path, errors="replace") if l.startswith("totals:"))
    out = subprocess.run(["callgrind_annotate", "--tree=caller", path],
                         capture_output=True, text=True).stdout
    allocs, pending = 0, []
    for line in out.splitlines():
        m = re.search(r"\s<\s.*\((\d[\d,]*)x\)", line)
        if m:
            pending.append(int(m.group(1).replace(",", "")))
            continue
        m = re.search(r"\s\*\s+\S*:(\w+) \[", line)
        if m and m.group(1) in ALLOC:
            allocs += sum(pending)
        pending = []
    return total, allocs
(t0, a0), (t1, a1) = read(sys.argv[1]), read(sys.argv[2])
print((t1 - t0) // 1000, round((a1 - a0) / 1000, 1) + 0.0)
PY
}

: >"$out/counts.txt"
if has counts; then
    rungs=${RUNGS:-"none full_disabled registry correlation correlation_shared correlation+json_layer otel otel_batch appinsights otel_appinsights otlp otel_otlp otel_otlp_async appinsights+otlp full"}
    # The export-throughput sides (defaults, gzip, the peers' reqwest client; queues 65,536):
    # all threads only (their request-thread work is that of appinsights, otlp, otel_*).
    tp_rungs=${TP_RUNGS:-"tp.appinsights tp.otel_appinsights tp.otlp_gzip tp.otel_otlp_gzip"}
    for r in $rungs $tp_rungs; do
        app_ir=- app_alloc=- all_ir=-
        case $r in tp.*) ;; *) read -r app_ir app_alloc < <(count "$r" app) ;; esac
        case $r in appinsights|otel_appinsights|otlp|otel_otlp|otel_otlp_async|full|tp.*) read -r all_ir _ < <(count "$r" all) ;; esac
        echo "$r $app_ir $app_alloc $all_ir" | tee -a "$out/counts.txt" >&2
    done
fi

: >"$out/throughput.txt"
if has throughput; then
    secs=${TP_SECS:-8}
    rounds=${TP_ROUNDS:-3}
    # run_tp LABEL SIDE ARGS...: one export-throughput process, its line and peak RSS.
    run_tp() {
        local label=$1; shift
        # The exporters' own diagnostics (drops under overload) go to tp.LABEL.err.
        /usr/bin/time -f "rss_kib=%M" -o "$out/time.$label" "$tp" "$@" >"$out/tp.$label" 2>"$out/tp.$label.err" ||
            echo "export-throughput $* failed: see $out/tp.$label.err" >&2
        echo "label=$label $(tr '\n' ' ' <"$out/tp.$label") $(cat "$out/time.$label")" |
            tee -a "$out/throughput.txt" >&2
    }
    pairs="appinsights:otel_appinsights otlp_gzip:otel_otlp_gzip otlp:otel_otlp"
    # Flat out, interleaved: ours then the peer, the order swapped every other round.
    for round in $(seq "$rounds"); do
        for pair in $pairs; do
            ours=${pair%%:*} peer=${pair##*:}
            if [ $((round % 2)) = 1 ]; then order="$ours $peer"; else order="$peer $ours"; fi
            for side in $order; do run_tp "flat.$side.$round" "$side" secs "$secs"; done
        done
    done
    # Paced at 60 % of the spans per second our exporter delivered flat out (median), in
    # requests per second, for both sides of each pair.
    for pair in appinsights:otel_appinsights otlp_gzip:otel_otlp_gzip; do
        ours=${pair%%:*} peer=${pair##*:}
        rate=$(python3 - "$out/throughput.txt" "$ours" <<'PY'
import re, statistics, sys
v = [float(m.group(1)) for l in open(sys.argv[1]) if l.startswith(f"label=flat.{sys.argv[2]}.")
     for m in [re.search(r"window_spans_per_s=([0-9.]+)", l)] if m]
print(round(statistics.median(v) * 0.6 / 4, 1) if v else 1000)
PY
)
        for side in "$ours" "$peer"; do run_tp "paced.$side" "$side" secs "$secs" "$rate"; done
    done
    # 1M spans flat out with the defaults: peak RSS.
    for side in appinsights otel_appinsights otlp_gzip otel_otlp_gzip; do
        run_tp "rss.$side" "$side" requests "${RSS_REQUESTS:-250000}"
    done
fi

if has criterion; then
    # The criterion ladder, short (about 3 minutes).
    cargo bench -q -p tracing-insights-benches --bench ladder -- --warm-up-time 1 \
        --measurement-time 2 '/(correlation|correlation\+json_layer|otel|otel_batch|otlp|otel_otlp|appinsights|otel_appinsights|full)$' \
        >"$out/criterion.txt" 2>&1 || true
else
    : >"$out/criterion.txt"
fi

elapsed=$(( $(date +%s) - start ))
{
    echo "**Run:** $started UTC, ${elapsed} s, tree \`$tree\`; $(nproc) vCPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
    echo "\`$(rustc -V 2>/dev/null)\`, \`$(valgrind --version 2>/dev/null)\`; load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Command: \`${QUICK:+QUICK=1 }${PARTS:+PARTS=\"$PARTS\" }${TP_SECS:+TP_SECS=$TP_SECS }${TP_ROUNDS:+TP_ROUNDS=$TP_ROUNDS }scripts/bench-peers.sh\`."
    echo
    python3 benches/bench_peers_table.py "$out/counts.txt" "$out/throughput.txt" "$out/criterion.txt"
} | tee "$out/latest.md"

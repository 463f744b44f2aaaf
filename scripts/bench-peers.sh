#!/usr/bin/env bash
# Our stacks beside the peers, in one run, as one table of ratios (BENCHMARKS.md keeps the
# latest). Not part of .ci/run: it installs valgrind, takes 10-20 minutes on 2 cores, and its
# wall-clock parts depend on what else the machine runs.
#
#   scripts/bench-peers.sh            # everything
#   QUICK=1 scripts/bench-peers.sh    # instruction counts only (about 3 minutes once built)
#
# What it measures (the workload: benches/src/lib.rs `request()`, a root span with three
# nested children, four fields each, one event):
# - callgrind instructions per request on the request's thread (counted inside `request`
#   only) and over all threads (the exporters' workers and the loopback sinks included),
#   (Ir(1000 requests) - Ir(0)) / 1000 after one warm-up request;
# - allocations per request on the request's thread (calls to malloc/calloc/realloc/
#   posix_memalign in the same callgrind run's file for the main thread);
# - OTLP export to a decoding loopback sink, flat out and paced at 60 % of our flat-out rate
#   (spans received per second, spans lost), and the peak RSS of each run;
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

cargo build --release -q -p tracing-insights-benches --bins
bin=${CARGO_TARGET_DIR:-target}/release/ladder-count
tp=${CARGO_TARGET_DIR:-target}/release/export-throughput

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

rungs="none full_disabled registry correlation correlation+json_layer otel otel_batch appinsights otel_appinsights otlp otel_otlp full"
: >"$out/counts.txt"
for r in $rungs; do
    read -r app_ir app_alloc < <(count "$r" app)
    all_ir=-
    case $r in appinsights|otel_appinsights|otlp|otel_otlp|full) read -r all_ir _ < <(count "$r" all) ;; esac
    echo "$r $app_ir $app_alloc $all_ir" | tee -a "$out/counts.txt" >&2
done

: >"$out/throughput.txt"
if [ -z "${QUICK:-}" ]; then
    # Flat out with a queue large enough that nothing is dropped, then paced at 60 % of our
    # own flat-out rate with the default queue; peak RSS of each process.
    run_tp() {
        local label=$1; shift
        /usr/bin/time -f "rss_kib %M" -o "$out/time.$label" "$tp" "$@" >"$out/tp.$label" 2>&1
        echo "$label $(tr '\n' ' ' <"$out/tp.$label") $(cat "$out/time.$label")" >>"$out/throughput.txt"
    }
    for side in otlp otel_otlp; do
        run_tp "$side.flat" "$side" 50000 262144
        # 1M spans flat out with the default queue (2048): peak RSS with the defaults.
        run_tp "$side.flat_default" "$side" 250000
    done
    # 60 % of the spans per second our exporter delivered flat out, in requests per second.
    rate=$(python3 - "$out/tp.otlp.flat" <<'PY'
import re, sys
m = re.search(r"([0-9]+) spans received/s", open(sys.argv[1]).read())
print(int(int(m.group(1)) * 0.6 / 4))
PY
)
    for side in otlp otel_otlp; do run_tp "$side.paced" "$side" $((rate * 8)) 2048 "$rate"; done
    # The criterion ladder, short (about 3 minutes).
    cargo bench -q -p tracing-insights-benches --bench ladder -- --warm-up-time 1 \
        --measurement-time 2 '/(correlation|correlation\+json_layer|otel|otel_batch|otlp|otel_otlp|appinsights|otel_appinsights|full)$' \
        >"$out/criterion.txt" 2>&1 || true
fi

python3 - "$out/counts.txt" "$out/throughput.txt" "$(( $(date +%s) - start ))" "$out/criterion.txt" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    r, ir, al, allir = line.split()
    rows[r] = (int(ir), float(al), None if allir == "-" else int(allir))
def ratio(a, b, i=0):
    x, y = rows.get(a), rows.get(b)
    if not x or not y or x[i] is None or y[i] is None or not y[i]:
        return None
    return x[i], y[i], x[i] / y[i]
print("| what | ours | peer | ratio | target |")
print("|---|---:|---:|---:|---|")
def line(what, r, target=""):
    if r:
        print(f"| {what} | {r[0]:,} | {r[1]:,} | {r[2]:.2f}x | {target} |")
line("correlation alone vs `tracing-opentelemetry` (no-op batch exporter), request thread, instructions", ratio("correlation", "otel_batch"))
line("correlation + JSON line, request thread, instructions (vs `otel_batch`)", ratio("correlation+json_layer", "otel_batch"))
line("OTLP layer vs `tracing-opentelemetry` + `opentelemetry-otlp`, request thread", ratio("otlp", "otel_otlp"))
line("App Insights layer vs `tracing-opentelemetry` + `opentelemetry-application-insights`, request thread", ratio("appinsights", "otel_appinsights"))
line("**full stack** (correlation + JSON + App Insights + OTLP) vs `tracing-opentelemetry` + `opentelemetry-otlp`, request thread", ratio("full", "otel_otlp"), "<= 0.90x")
c, peer = rows.get("correlation"), rows.get("otel_otlp")
if c and peer:
    for r in ("appinsights", "otlp"):
        if r in rows:
            d = rows[r][0] - c[0]
            print(f"| {r} added to correlation, request thread | {d:,} | {peer[0]:,} | {d / peer[0]:.2f}x | <= 0.10x |")
    if "full" in rows:
        f = rows["full"]
        print(f"| allocations per request, request thread, full stack | {f[1]:g} | {peer[1]:g} | {f[1] / peer[1]:.2f}x | <= 1.00x |")
line("OTLP, all threads (export included)", ratio("otlp", "otel_otlp", 2))
line("App Insights, all threads (export included)", ratio("appinsights", "otel_appinsights", 2))
line("full stack, all threads vs `otel_otlp`", ratio("full", "otel_otlp", 2))
n, d = rows.get("none"), rows.get("full_disabled")
if n and d:
    print(f"| disabled path: full stack under a global WARN filter vs no subscriber, request thread | {d[0]:,} instr., {d[1]:g} alloc. | {n[0]:,} instr., {n[1]:g} alloc. | {d[0] / n[0]:.2f}x | 0 allocations |")
tp = {}
for l in open(sys.argv[2]):
    label = l.split()[0]
    got = re.search(r"([0-9]+) spans received/s", l)
    rss = re.search(r"rss_kib ([0-9]+)", l)
    pct = re.search(r"sink: ([0-9]+) spans \(([0-9.]+) %\)", l)
    tp[label] = (int(got.group(1)) if got else None, int(rss.group(1)) if rss else None,
                 float(pct.group(2)) if pct else None)
def tpline(what, a, b, i, fmt, target=""):
    x, y = tp.get(a), tp.get(b)
    if x and y and x[i] and y[i]:
        print(f"| {what} | {fmt(x[i])} | {fmt(y[i])} | {x[i] / y[i]:.2f}x | {target} |")
tpline("OTLP (uncompressed) export, spans/s at a decoding sink, flat out", "otlp.flat", "otel_otlp.flat", 0, lambda v: f"{v:,}", ">= 2x (gzip)")
tpline("peak RSS (KiB), 1M spans flat out, default queue", "otlp.flat_default", "otel_otlp.flat_default", 1, lambda v: f"{v:,}", "<= 16 MiB")
tpline("spans delivered flat out with the default queue (%)", "otlp.flat_default", "otel_otlp.flat_default", 2, lambda v: f"{v:.1f}")
for side in ("otlp", "otel_otlp"):
    x = tp.get(side + ".paced")
    if x and x[2] is not None:
        print(f"| {side}: spans delivered when paced at 60 % of our flat-out export rate, default queue | {x[2]:.2f} % | | | 100 % |")
crit = {}
try:
    text = open(sys.argv[4]).read()
except OSError:
    text = ""
UNIT = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
for m in re.finditer(r"(request(?:_cpu)?/[\w+]+)\s+time:\s+\[\S+ \S+ (\S+) (\S+)", text):
    crit[m.group(1)] = float(m.group(2)) * UNIT.get(m.group(3), float("nan"))
for group, what in (("request", "wall clock"), ("request_cpu", "thread CPU time")):
    for ours, peer in (("full", "otel_otlp"), ("otlp", "otel_otlp"), ("appinsights", "otel_appinsights"),
                       ("correlation", "otel_batch")):
        a, b = crit.get(f"{group}/{ours}"), crit.get(f"{group}/{peer}")
        if a and b:
            print(f"| criterion {what}: `{ours}` vs `{peer}` (µs per request, one short run) | {a:.2f} | {b:.2f} | {a / b:.2f}x | |")
print(f"\n(run took {sys.argv[3]} s)")
PY

#!/usr/bin/env python3
"""The table of ratios of scripts/bench-peers.sh, as Markdown.

    python3 benches/bench_peers_table.py COUNTS THROUGHPUT CRITERION

COUNTS: lines `rung app_instructions app_allocations all_instructions|-` (per request);
THROUGHPUT: lines of `key=value` pairs from `export-throughput`, each with `label=` (`flat.SIDE.ROUND`,
`paced.SIDE`, `rss.SIDE`) and `rss_kib=`; CRITERION: criterion's output of the short ladder run.
Any of them may be empty: its rows are left out.
"""
import re
import statistics
import sys

rows = {}
for line in open(sys.argv[1]):
    r, ir, al, allir = line.split()
    rows[r] = (None if ir == "-" else int(ir), None if al == "-" else float(al),
               None if allir == "-" else int(allir))

tp = {}
for line in open(sys.argv[2]):
    kv = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
    if "label" in kv:
        tp[kv["label"]] = kv


def verdict(value, target):
    """`met` / `missed` for a target like `<= 0.90x`, `>= 3x`, `<= 16 MiB`, `0 %`."""
    if value is None or not target:
        return ""
    m = re.match(r"(<=|>=) ([0-9.]+)", target)
    if m:
        ok = value <= float(m.group(2)) if m.group(1) == "<=" else value >= float(m.group(2))
    else:
        ok = value == 0
    return "met" if ok else "**missed**"


print("| what | ours | peer | ratio | target | |")
print("|---|---:|---:|---:|---|---|")


def line(what, ours, peer, ratio, target="", value=None, fmt="{:,}"):
    value = ratio if value is None else value
    print(f"| {what} | {fmt.format(ours)} | {fmt.format(peer)} | "
          f"{'' if ratio is None else f'{ratio:.2f}x'} | {target} | {verdict(value, target)} |")


def count(what, a, b, i=0, target=""):
    x, y = rows.get(a), rows.get(b)
    if x and y and x[i] is not None and y[i]:
        line(what, x[i], y[i], x[i] / y[i], target)


count("correlation alone vs `tracing-opentelemetry` (no-op batch exporter), request thread, instructions",
      "correlation", "otel_batch")
count("correlation + JSON line vs `otel_batch`, request thread, instructions", "correlation+json_layer", "otel_batch")
count("OTLP layer vs `tracing-opentelemetry` + `opentelemetry-otlp`, request thread", "otlp", "otel_otlp")
count("App Insights layer vs `tracing-opentelemetry` + `opentelemetry-application-insights`, request thread",
      "appinsights", "otel_appinsights")
count("**full stack** (correlation + JSON + App Insights + OTLP) vs `tracing-opentelemetry` + `opentelemetry-otlp`, request thread",
      "full", "otel_otlp", target="<= 0.90x")
count("full stack vs `tracing-opentelemetry` + `opentelemetry-otlp` in the async (tokio) batch processor, request thread",
      "full", "otel_otlp_async")
count("peer: async (tokio) batch processor vs the thread-based one, request thread", "otel_otlp_async", "otel_otlp")
c, peer = rows.get("correlation"), rows.get("otel_otlp")
if c and peer:
    for r in ("appinsights", "otlp"):
        if r in rows:
            d = rows[r][0] - c[0]
            line(f"{r} added to correlation, request thread", d, peer[0], d / peer[0], "<= 0.10x")
    # The decomposition: what the shared records cost once some exporter asks for them
    # (`correlation_shared`: correlation + a layer that only asks), what each exporter adds
    # beyond them, and what a second exporter adds to a stack that has one already.
    cs = rows.get("correlation_shared")
    if cs:
        d = cs[0] - c[0]
        line("shared span and event records, once any exporter asks, added to correlation", d, peer[0], d / peer[0])
        for r in ("appinsights", "otlp"):
            if r in rows:
                d = rows[r][0] - cs[0]
                line(f"{r}'s own callbacks and hand-off, beyond the shared records", d, peer[0], d / peer[0])
    both = rows.get("appinsights+otlp")
    if both:
        for r, other in (("appinsights", "otlp"), ("otlp", "appinsights")):
            if r in rows:
                d = both[0] - rows[r][0]
                line(f"second exporter: {other} added to correlation + {r}", d, peer[0], d / peer[0])
    if "full" in rows:
        f = rows["full"]
        line("allocations per request, request thread, full stack", f[1], peer[1], f[1] / peer[1],
             "<= 1.00x", fmt="{:g}")
count("OTLP, all threads (export included)", "otlp", "otel_otlp", 2)
count("App Insights, all threads (export included)", "appinsights", "otel_appinsights", 2)
count("peer OTLP: async (tokio) vs thread-based batch processor, all threads", "otel_otlp_async", "otel_otlp", 2)
count("full stack, all threads vs `otel_otlp`", "full", "otel_otlp", 2)
# The export work alone, per span: all threads of the throughput sides minus the request
# thread of the rung with the same layers (the request thread does not depend on the queue,
# the compression or the HTTP client).
for ours, ours_app, peer, peer_app, what in (
    ("tp.appinsights", "appinsights", "tp.otel_appinsights", "otel_appinsights", "App Insights (defaults, gzip)"),
    ("tp.otlp_gzip", "otlp", "tp.otel_otlp_gzip", "otel_otlp", "OTLP gzip"),
):
    x, xa, y, ya = rows.get(ours), rows.get(ours_app), rows.get(peer), rows.get(peer_app)
    if x and xa and y and ya and x[2] and y[2] and xa[0] and ya[0]:
        a, b = (x[2] - xa[0]) / 4, (y[2] - ya[0]) / 4
        line(f"{what}: export instructions per span off the request thread (`{ours}` all threads minus "
             f"`{ours_app}` request thread; the peer on its reqwest client)",
             round(a), round(b), a / b, fmt="{:,}")
n, d = rows.get("none"), rows.get("full_disabled")
if n and d:
    print(f"| disabled path: full stack under a global WARN filter vs no subscriber, request thread | "
          f"{d[0]:,} instr., {d[1]:g} alloc. | {n[0]:,} instr., {n[1]:g} alloc. | {d[0] / n[0]:.2f}x | "
          f"0 allocations | {verdict(d[1], '0')} |")


def flat(side, key):
    return [float(v[key]) for k, v in tp.items() if k.startswith(f"flat.{side}.") and key in v]


def med(side, key):
    v = flat(side, key)
    return statistics.median(v) if v else None


def rounds(ours, peer, key):
    """Per-round ratios (ours / peer of the same round), for the spread."""
    out = []
    for k, v in tp.items():
        m = re.match(rf"flat\.{ours}\.(\d+)$", k)
        p = tp.get(f"flat.{peer}.{m.group(1)}") if m else None
        if m and p and float(p[key]):
            out.append(float(v[key]) / float(p[key]))
    return out


for ours, peer, what, target in (
    ("appinsights", "otel_appinsights", "App Insights export vs `opentelemetry-application-insights`", ">= 3x"),
    ("otlp_gzip", "otel_otlp_gzip", "OTLP gzip export vs `opentelemetry-otlp` gzip", ">= 2x"),
    ("otlp", "otel_otlp", "OTLP uncompressed export vs `opentelemetry-otlp` uncompressed", ""),
):
    a, b = med(ours, "window_spans_per_s"), med(peer, "window_spans_per_s")
    if a and b:
        spread = rounds(ours, peer, "window_spans_per_s")
        sp = f" (rounds {min(spread):.2f}-{max(spread):.2f}x)" if spread else ""
        n = len(flat(ours, "window_spans_per_s"))
        line(f"{what}, spans/s decoded at the sink, flat out, default queues, median of {n}{sp}",
             round(a), round(b), a / b, target)
for ours, peer, what in (
    ("appinsights", "otel_appinsights", "App Insights (gzip)"),
    ("otlp_gzip", "otel_otlp_gzip", "OTLP gzip"),
    ("otlp", "otel_otlp", "OTLP uncompressed"),
):
    a, b = med(ours, "bytes_per_span"), med(peer, "bytes_per_span")
    if a and b:
        line(f"wire bytes per span, {what} (body bytes / spans decoded, flat out)", a, b, a / b,
             "<= 1.00x" if ours != "otlp" else "", fmt="{:.1f}")
for ours, peer, what in (("appinsights", "otel_appinsights", "App Insights"), ("otlp_gzip", "otel_otlp_gzip", "OTLP gzip")):
    x, y = tp.get(f"paced.{ours}"), tp.get(f"paced.{peer}")
    if x and y:
        lx, ly = 100 - float(x["received_pct"]), 100 - float(y["received_pct"])
        rate = float(x["offered"]) / float(x["made_secs"])
        print(f"| {what}: spans lost paced at 60 % of our flat-out rate ({rate:,.0f} spans/s offered, "
              f"default queues) | {max(lx, 0):.2f} % | {max(ly, 0):.2f} % | | 0 % (ours) | "
              f"{verdict(round(max(lx, 0), 6), '0')} |")
for ours, peer, what in (("appinsights", "otel_appinsights", "App Insights"), ("otlp_gzip", "otel_otlp_gzip", "OTLP (gzip)")):
    x, y = tp.get(f"rss.{ours}"), tp.get(f"rss.{peer}")
    if x and y and "rss_kib" in x and "rss_kib" in y:
        a, b = int(x["rss_kib"]) / 1024, int(y["rss_kib"]) / 1024
        print(f"| {what}: peak RSS (MiB), {int(x['offered']):,} spans flat out, defaults "
              f"(delivered {float(x['received_pct']):.1f} % / {float(y['received_pct']):.1f} %) | "
              f"{a:.1f} | {b:.1f} | {a / b:.2f}x | <= 16 MiB (ours) | {verdict(a, '<= 16')} |")

crit = {}
try:
    text = open(sys.argv[3]).read()
except (OSError, IndexError):
    text = ""
UNIT = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
for m in re.finditer(r"(request(?:_cpu)?/[\w+]+)\s+time:\s+\[\S+ \S+ (\S+) (\S+)", text):
    crit[m.group(1)] = float(m.group(2)) * UNIT.get(m.group(3), float("nan"))
for group, what in (("request", "wall clock"), ("request_cpu", "thread CPU time")):
    for ours, peer in (("full", "otel_otlp"), ("otlp", "otel_otlp"), ("appinsights", "otel_appinsights"),
                       ("correlation", "otel_batch")):
        a, b = crit.get(f"{group}/{ours}"), crit.get(f"{group}/{peer}")
        if a and b:
            line(f"criterion {what}: `{ours}` vs `{peer}` (µs per request, one short run)", a, b, a / b,
                 fmt="{:.2f}")

#!/usr/bin/env python3
"""Summarise runs of the `ladder` bench as the Markdown tables in BENCHMARKS.md.

    python3 benches/summarize.py [CRITERION_DIR ...]

Each CRITERION_DIR is criterion's output directory of one run (`target/criterion` by
default, or the `CRITERION_HOME` the run was given; criterion overwrites `new/` on every
run, so keep one directory per run). For each group (`request`: wall-clock time,
`request_cpu`: the thread's CPU time) and each rung: the median over runs of criterion's
per-run median time per request, the min-max of those per-run medians, and ratios to the
tracing-opentelemetry rungs.
"""
import json
import os
import statistics
import sys

RUNGS = [
    "none",
    "registry",
    "correlation",
    "correlation+json",
    "correlation+json_layer",
    "fmt_json",
    "otel",
    "otel_lean",
    "otel_batch",
    "appinsights",
    "otel_appinsights",
    "live",
    "live_subscribed",
    "otlp",
    "otel_otlp",
]
# The exporter rungs (issues 4, 7, 8) and what each is compared with.
PAIRS = [
    ("appinsights", "otel_appinsights"),
    ("otlp", "otel_otlp"),
    ("live", "correlation"),
    ("live_subscribed", "correlation"),
]
GROUPS = ["request", "request_cpu"]


def median_ns(run_dir, group, rung):
    path = os.path.join(run_dir, group, rung, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        return None


def fmt_ns(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"


def table(runs, group):
    per = {}
    for r in RUNGS:
        values = [v for v in (median_ns(d, group, r) for d in runs) if v is not None]
        if values:
            per[r] = values
    pairs_table(runs, group, per)
    if "otel" not in per or "correlation" not in per:
        return
    mid = {r: statistics.median(v) for r, v in per.items()}
    n = max(len(v) for v in per.values())
    print(f"### `{group}` ({n} run(s); median over runs of criterion's median)\n")
    print("| rung | per request | min - max over runs | / `otel` | / `otel_lean` |")
    print("|---|---:|---:|---:|---:|")
    for r in per:
        lean = f"{mid[r] / mid['otel_lean']:.2f}" if "otel_lean" in mid else "-"
        print(
            f"| `{r}` | {fmt_ns(mid[r])} | {fmt_ns(min(per[r]))} - {fmt_ns(max(per[r]))} "
            f"| {mid[r] / mid['otel']:.2f} | {lean} |"
        )
    base = mid.get("registry")
    if base is not None:
        print("\nIncrement over `registry` (each layer's own cost):\n")
        for r in ("correlation", "otel", "otel_lean", "otel_batch"):
            if r in mid:
                print(f"- `{r}`: {fmt_ns(mid[r] - base)}")
        inc = mid["correlation"] - base
        line = f"- `correlation` increment / `otel` increment: {inc / (mid['otel'] - base):.2f}"
        if "otel_lean" in mid:
            line += f"; / `otel_lean` increment: {inc / (mid['otel_lean'] - base):.2f}"
        print(line)
    # The headline ratio run by run, to show how far the noise moves it.
    pairs = [
        (median_ns(d, group, "correlation"), median_ns(d, group, "otel")) for d in runs
    ]
    ratios = [c / o for c, o in pairs if c and o]
    print("- `correlation` / `otel`, run by run: " + ", ".join(f"{x:.2f}" for x in ratios))
    print()


def pairs_table(runs, group, per):
    """The exporter rungs beside their peers: median over runs, and the ratio run by run."""
    rows = [(a, b) for a, b in PAIRS if a in per and b in per]
    if not rows:
        return
    mid = {r: statistics.median(v) for r, v in per.items()}
    print(f"### `{group}`: exporter rungs beside their peers\n")
    print("| rung | per request | peer | peer per request | ratio (medians) | ratio run by run |")
    print("|---|---:|---|---:|---:|---|")
    for a, b in rows:
        by_run = [
            x / y
            for x, y in ((median_ns(d, group, a), median_ns(d, group, b)) for d in runs)
            if x and y
        ]
        print(
            f"| `{a}` | {fmt_ns(mid[a])} | `{b}` | {fmt_ns(mid[b])} | {mid[a] / mid[b]:.2f} "
            f"| {', '.join(f'{x:.2f}' for x in by_run)} |"
        )
    print()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    runs = sys.argv[1:] or [os.path.join(here, "..", "target", "criterion")]
    for group in GROUPS:
        table(runs, group)


if __name__ == "__main__":
    main()

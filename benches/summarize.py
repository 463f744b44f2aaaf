#!/usr/bin/env python3
"""Summarise one or more runs of the `ladder` bench as the Markdown table in BENCHMARKS.md.

Each argument is a copy of `target/criterion/request` taken after one run (criterion
overwrites `new/` on every run). With no argument, reads `target/criterion/request`.
For each rung: the median (over runs) of criterion's per-run median time per request, the
min-max of those per-run medians, and ratios to the tracing-opentelemetry rungs.
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
]


def median_ns(run_dir, rung):
    path = os.path.join(run_dir, rung, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def fmt_ns(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    runs = sys.argv[1:] or [os.path.join(here, "..", "target", "criterion", "request")]
    per = {r: [median_ns(d, r) for d in runs] for r in RUNGS}
    mid = {r: statistics.median(v) for r, v in per.items()}
    print(f"{len(runs)} run(s); time per request = median over runs of criterion's median\n")
    print("| rung | time / request | spread (min-max over runs) | / otel | / otel_lean |")
    print("|---|---:|---:|---:|---:|")
    for r in RUNGS:
        lo, hi = min(per[r]), max(per[r])
        print(
            f"| `{r}` | {fmt_ns(mid[r])} | {fmt_ns(lo)} - {fmt_ns(hi)} "
            f"| {mid[r] / mid['otel']:.2f} | {mid[r] / mid['otel_lean']:.2f} |"
        )
    base = mid["registry"]
    print("\nIncrement over `registry` (the layer's own cost):\n")
    for r in ("correlation", "otel", "otel_lean"):
        print(f"- `{r}`: {fmt_ns(mid[r] - base)}")
    inc = mid["correlation"] - base
    print(
        f"- `correlation` increment / `otel` increment: {inc / (mid['otel'] - base):.2f}; "
        f"/ `otel_lean` increment: {inc / (mid['otel_lean'] - base):.2f}"
    )
    # Per-run ratio, to show how much the headline ratio moves with the noise.
    ratios = [c / o for c, o in zip(per["correlation"], per["otel"])]
    print(
        f"- per-run `correlation` / `otel`: "
        + ", ".join(f"{x:.2f}" for x in ratios)
    )


if __name__ == "__main__":
    main()

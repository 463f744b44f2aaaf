#!/usr/bin/env python3
"""Inclusive instructions per request by function, from two callgrind files of the same rung.

    python3 benches/callgrind_diff.py CG_0 CG_N [N]

CG_0 is the run with 0 requests, CG_N with N (default 1000): (Ir(N) - Ir(0)) / N per function
(callgrind_annotate --inclusive=yes), so start-up and shutdown cancel out; the top 60.
"""
import re
import subprocess
import sys


def inclusive(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    fns = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(\S.*?)(?: \[[^]]*\])?$", line)
        if m and "PROGRAM TOTALS" not in line:
            fns[m.group(2)] = fns.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    return fns


n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
a, b = inclusive(sys.argv[1]), inclusive(sys.argv[2])
diff = sorted(((b[k] - a.get(k, 0)) / n, k) for k in b)
print(f"inclusive instructions per request, (Ir({n}) - Ir(0)) / {n}: {sys.argv[2]}")
for v, k in reversed(diff[-60:]):
    print(f"{v:12,.0f}  {k[:160]}")

"""Runs the example service the way the README does and checks what it printed.

The first request continues the given traceparent: its JSON log lines carry that trace id as
operation_Id; every line inside a span has both ids; the run exits 0 and prints a waterfall
on stderr when no exporter is configured.
"""
import json
import os
import subprocess
import sys

TRACE = "0af7651916cd43dd8448eb211c80319c"
TP = f"00-{TRACE}-b7ad6b7169203331-01"

exe = sys.argv[1]
env = {k: v for k, v in os.environ.items()
       if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_EXPORTER_OTLP"))}
run = subprocess.run([exe, "--requests", "5", "--traceparent", TP],
                     capture_output=True, text=True, env=env, timeout=120)
if run.returncode != 0:
    sys.exit(f"ai_service exited {run.returncode}: {run.stderr}")
lines = [json.loads(l) for l in run.stdout.splitlines() if l.strip()]
first = [l for l in lines if l.get("fields", {}).get("request") == 0]
assert first, "no log line for request 0"
assert first[0]["operation_Id"] == TRACE, first[0]
inside = [l for l in lines if "span" in l]
assert inside and all(len(l["operation_Id"]) == 32 and len(l["operation_ParentId"]) == 16 for l in inside)
outside = [l for l in lines if "span" not in l]
assert outside and all("operation_Id" not in l for l in outside)
traces = {l["operation_Id"] for l in inside}
assert len(traces) == 5, traces
errors = [l for l in lines if l["level"] == "ERROR"]
assert len(errors) == 0 or all("operation_Id" in l for l in errors)
assert f"trace {TRACE}" in run.stderr and "continues remote parent b7ad6b7169203331" in run.stderr, run.stderr
print(f"ai_service: {len(lines)} JSON lines, {len(traces)} traces, first trace {TRACE} continued")

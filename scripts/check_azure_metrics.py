"""Runs the example service against a loopback Application Insights ingestion endpoint with a
1 s metric interval and checks the standard metrics and performance counters it sends.

1. OTEL_METRIC_EXPORT_INTERVAL=1000, 20 requests at 10/s:
   - MetricData for the performance counters (machine and process CPU, Private Bytes above
     1 MB, available memory, requests per second), under Microsoft's names;
   - the `count`s of the `requests/duration` points sum to 20 and of `dependencies/duration`
     to 40 (the database and the LLM call of each request) over the run;
   - every request's properties carry `_MS.ProcessedByMetricExtractors = "True"`;
   - every LLM dependency (it keeps `gen_ai.request.model`) is typed `GenAI | ...`.
2. The same with OTEL_TRACES_SAMPLER=traceidratio, _ARG=0.25: fewer requests arrive, the
   standard metrics still count 20 requests and 40 dependencies.

Usage: python3 scripts/check_azure_metrics.py target/release/examples/ai_service
Standard library only: it runs inside a loopback-only network namespace (scripts/test).
"""
import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

exe = sys.argv[1]

COUNTERS = [
    "\\Processor(_Total)\\% Processor Time",
    "\\Process(??APP_WIN32_PROC??)\\% Processor Time",
    "\\Process(??APP_WIN32_PROC??)\\Private Bytes",
    "\\Memory\\Available Bytes",
    "\\ASP.NET Applications(??APP_W3SVC_PROC??)\\Requests/Sec",
]


def serve():
    """A loopback ingestion endpoint (/v2.1/track) keeping every envelope it gets."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path.startswith("/v2.1/track"):
                received.extend(json.loads(body))
            reply = json.dumps({"itemsReceived": 0, "itemsAccepted": 0, "errors": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, received


def run(extra):
    srv, received = serve()
    port = srv.server_address[1]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_", "TRACING_INSIGHTS_"))
           and k != "RUST_LOG"}
    env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = (
        "InstrumentationKey=00000000-0000-0000-0000-000000000001;"
        f"IngestionEndpoint=http://127.0.0.1:{port}/")
    # Live Metrics would post to the real service without a LiveEndpoint: off here.
    env["APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED"] = "false"
    env["OTEL_METRIC_EXPORT_INTERVAL"] = "1000"
    env.update(extra)
    r = subprocess.run([exe, "--requests", "20", "--rate", "10"],
                       capture_output=True, text=True, env=env, timeout=180)
    srv.shutdown()
    if r.returncode != 0:
        sys.exit(f"ai_service ({extra}) exited {r.returncode}: {r.stderr}")
    return list(received)


def of_type(envs, base_type):
    return [e for e in envs if e["data"]["baseType"] == base_type]


def standard_count(envs, metric_id):
    points = [e for e in of_type(envs, "MetricData")
              if e["data"]["baseData"].get("properties", {}).get("_MS.MetricId") == metric_id]
    return sum(p["data"]["baseData"]["metrics"][0]["count"] for p in points), len(points)


def metric_values(envs, name):
    return [e["data"]["baseData"]["metrics"][0]["value"] for e in of_type(envs, "MetricData")
            if e["data"]["baseData"]["metrics"][0]["name"] == name]


# ---- 1. every trace kept -----------------------------------------------------------------------
envs = run({})
requests = of_type(envs, "RequestData")
deps = of_type(envs, "RemoteDependencyData")
assert len(requests) == 20, f"{len(requests)} requests"
for name in COUNTERS:
    assert metric_values(envs, name), f"no MetricData {name!r}"
private = metric_values(envs, COUNTERS[2])
assert all(v > 1_000_000 for v in private), private
req_count, req_points = standard_count(envs, "requests/duration")
dep_count, dep_points = standard_count(envs, "dependencies/duration")
assert req_count == 20, f"requests/duration counts {req_count}"
assert dep_count == 40, f"dependencies/duration counts {dep_count}"
unflagged = [r for r in requests
             if r["data"]["baseData"]["properties"].get("_MS.ProcessedByMetricExtractors") != "True"]
assert not unflagged, unflagged[:1]
llm = [d for d in deps if "gen_ai.request.model" in d["data"]["baseData"]["properties"]]
assert len(llm) == 20, f"{len(llm)} LLM dependencies"
untyped = [d["data"]["baseData"].get("type") for d in llm
           if not d["data"]["baseData"].get("type", "").startswith("GenAI | ")]
assert not untyped, untyped
counters = sorted({e["data"]["baseData"]["metrics"][0]["name"] for e in of_type(envs, "MetricData")
                   if e["data"]["baseData"]["metrics"][0]["name"].startswith("\\")})
print(f"ai_service, 1 s metric interval: {len(requests)} requests; requests/duration counts "
      f"{req_count} over {req_points} points, dependencies/duration {dep_count} over "
      f"{dep_points}; every request flagged ProcessedByMetricExtractors; "
      f"{len(llm)} LLM calls typed {sorted({d['data']['baseData']['type'] for d in llm})}; "
      f"Private Bytes {min(private) / 1e6:.1f}-{max(private) / 1e6:.1f} MB; "
      f"{len(counters)} performance counters: {counters}")

# ---- 2. traceidratio 0.25: fewer traces arrive, the standard metrics still count them all -----
envs = run({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"})
requests = of_type(envs, "RequestData")
assert len(requests) < 20, f"{len(requests)} requests arrived at 25 %"
req_count, _ = standard_count(envs, "requests/duration")
dep_count, _ = standard_count(envs, "dependencies/duration")
assert req_count == 20, f"requests/duration counts {req_count} at 25 %"
assert dep_count == 40, f"dependencies/duration counts {dep_count} at 25 %"
print(f"ai_service, traceidratio 0.25: {len(requests)}/20 requests arrived; "
      f"requests/duration still counts {req_count}, dependencies/duration {dep_count}")

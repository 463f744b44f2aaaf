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

# ---- Application Insights: the same ids on the wire --------------------------------------
import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = []
live = []
otlp = []


class Ingestion(BaseHTTPRequestHandler):
    """Application Insights ingestion (/v2.1/track) and a Live Metrics service that
    subscribes at once (/QuickPulseService.svc/ping|post)."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path in ("/v1/traces", "/v1/logs", "/v1/metrics"):
            assert self.headers.get("Content-Type") == "application/json", self.headers
            otlp.append((self.path, json.loads(body)))
            reply = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return
        if self.path.startswith("/QuickPulseService.svc/"):
            live.append((self.path.split("?")[0], json.loads(body) if body else None))
            self.send_response(200)
            self.send_header("x-ms-qps-subscribed", "true")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        received.append((self.path, json.loads(body)))
        reply = json.dumps({"itemsReceived": 0, "itemsAccepted": 0, "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Ingestion)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000001;"
    f"IngestionEndpoint=http://127.0.0.1:{port}/;LiveEndpoint=http://127.0.0.1:{port}/"
)
# OTLP (HTTP/JSON so this stdlib receiver can read it) in the same run.
env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/json"
# 30 requests over 3 s, so Live Metrics posts a few seconds of a subscribed stream.
run = subprocess.run([exe, "--requests", "30", "--rate", "10"], capture_output=True, text=True, env=env, timeout=120)
server.shutdown()
if run.returncode != 0:
    sys.exit(f"ai_service with App Insights exited {run.returncode}: {run.stderr}")
lines = [json.loads(l) for l in run.stdout.splitlines() if l.strip()]
log_ids = {l["operation_Id"] for l in lines if "operation_Id" in l}
envelopes = [e for path, batch in received for e in batch]
assert all(path == "/v2.1/track" for path, _ in received), [p for p, _ in received]
by_type = {}
for e in envelopes:
    by_type.setdefault(e["data"]["baseType"], []).append(e)
requests = by_type.get("RequestData", [])
deps = by_type.get("RemoteDependencyData", [])
assert len(requests) == 30, f"{len(requests)} requests: {sorted(by_type)}"
assert len(deps) == 60, f"{len(deps)} dependencies"
# The resource is the correlation layer's (the example names the service), on every
# envelope, including the first log line, written before any span exists.
roles = {e["tags"].get("ai.cloud.role") for e in envelopes}
assert roles == {"ai-service"}, roles
wire_ids = {e["tags"]["ai.operation.id"] for e in requests + deps}
assert wire_ids == log_ids, (wire_ids ^ log_ids)
failed = [r for r in requests if not r["data"]["baseData"]["success"]]
assert len(failed) == 3 and all(f["data"]["baseData"]["responseCode"] == "502" for f in failed), failed
# Each failed request has its error as an Exception with the whole source() chain, correlated
# to the request (same operation, the request as parent), with the Rust type name.
exceptions = by_type.get("ExceptionData", [])
for req in failed:
    mine = [x for x in exceptions
            if x["tags"]["ai.operation.id"] == req["tags"]["ai.operation.id"]
            and x["tags"].get("ai.operation.parentId") == req["data"]["baseData"]["id"]]
    assert mine, f"no exception for failed request {req['data']['baseData']['id']}"
    details = mine[0]["data"]["baseData"]["exceptions"]
    assert mine[0]["data"]["baseData"]["severityLevel"] == 3, mine[0]
    assert len(details) == 3, details
    assert details[0]["typeName"].endswith("LlmError"), details[0]["typeName"]
    assert all(d.get("outerId") == i - 1 for i, d in enumerate(details) if i > 0), details
    assert details[-1]["message"] == "connection reset by peer", details
print(f"ai_service -> App Insights: {len(requests)} requests, {len(deps)} dependencies, "
      f"{len(exceptions)} exceptions, {len(envelopes)} envelopes; "
      f"ai.operation.id == operation_Id for all {len(wire_ids)} traces; "
      f"each failed request has its 3-level exception chain")


def metrics_of(body):
    """Every (name, value) in a QuickPulse post body (a list of MonitoringDataPoints)."""
    points = body if isinstance(body, list) else [body]
    for point in points:
        for m in (point or {}).get("Metrics", []):
            yield m["Name"], m["Value"]


pings = [b for path, b in live if path.endswith("/ping")]
posts = [b for path, b in live if path.endswith("/post")]
assert pings, "Live Metrics never pinged"
assert posts, "Live Metrics never posted although subscribed"
rates = {}
for body in posts:
    for name, value in metrics_of(body):
        rates[name] = max(rates.get(name, 0), value)
assert rates.get("\\ApplicationInsights\\Requests/Sec", 0) > 0, rates
assert rates.get("\\ApplicationInsights\\Dependency Calls/Sec", 0) > 0, rates
REQ = "\\ApplicationInsights\\Requests/Sec"
DEP = "\\ApplicationInsights\\Dependency Calls/Sec"
print(f"ai_service -> Live Metrics: {len(pings)} ping(s), {len(posts)} posts; peak "
      f"{rates[REQ]:.0f} requests/s, {rates[DEP]:.0f} dependency calls/s")


# ---- OTLP: the same generated trace ids as the log lines and App Insights -----------------
spans = [sp for path, body in otlp if path == "/v1/traces"
         for rs in body.get("resourceSpans", []) for ss in rs.get("scopeSpans", [])
         for sp in ss.get("spans", [])]
otlp_ids = {sp["traceId"] for sp in spans}
assert otlp_ids == log_ids == wire_ids, (otlp_ids ^ log_ids)
llm = [sp for sp in spans if sp["name"] == "chat gpt-4o"]
assert len(llm) == 30, len(llm)
attrs = {a["key"]: a["value"] for a in llm[0]["attributes"]}
for key in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
            "gen_ai.usage.input_tokens"):
    assert key in attrs, (key, sorted(attrs))
metric_names = {m["name"] for path, body in otlp if path == "/v1/metrics"
                for rm in body.get("resourceMetrics", []) for sm in rm.get("scopeMetrics", [])
                for m in sm.get("metrics", [])}
assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"} <= metric_names, metric_names
logs = [lr for path, body in otlp if path == "/v1/logs"
        for rl in body.get("resourceLogs", []) for sl in rl.get("scopeLogs", [])
        for lr in sl.get("logRecords", [])]
assert {lr["traceId"] for lr in logs if lr.get("traceId")} <= log_ids
print(f"ai_service -> OTLP: {len(spans)} spans, {len(logs)} log records, metrics {sorted(metric_names)}; "
      f"the same {len(otlp_ids)} trace ids as the JSON log lines and App Insights")

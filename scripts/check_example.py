"""Runs the example service the way the README does and checks what it printed and sent.

1. Nothing configured: the first request continues the given traceparent (its JSON log lines
   carry that trace id as operation_Id); every line inside a span has both ids; a waterfall
   of every trace on stderr, each failed request's operation_Id on a header line with `error`
   in its block.
2. App Insights + Live Metrics + OTLP on loopback: the same ids on every wire.
3. RUST_LOG=warn + App Insights: every request still arrives as RequestData, and every WARN or
   ERROR line on stdout written inside a request carries operation_Id.
4. OTEL_SDK_DISABLED=true + a connection string: no HTTP request at all, exit 0.
5. OTEL_TRACES_SAMPLER=microsoft.fixed_percentage, _ARG=0.5, 40 requests: stdout shows all 40
   operation_Ids; exactly the requests whose trace id scores below 0.5 arrive, each with
   sampleRate 50.

Standard library only: it runs inside a loopback-only network namespace (scripts/test).
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
        # A server made by serve() below keeps its own lists; the first one uses the globals.
        state = getattr(self.server, "state", None)
        received_, live_, otlp_ = ((state["received"], state["live"], state["otlp"])
                                   if state else (received, live, otlp))
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path in ("/v1/traces", "/v1/logs", "/v1/metrics"):
            assert self.headers.get("Content-Type") == "application/json", self.headers
            otlp_.append((self.path, json.loads(body)))
            reply = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return
        if self.path.startswith("/QuickPulseService.svc/"):
            live_.append((self.path.split("?")[0], json.loads(body) if body else None))
            self.send_response(200)
            self.send_header("x-ms-qps-subscribed", "true")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        received_.append((self.path, json.loads(body)))
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


# ---- shared helpers for the runs below ------------------------------------------------------
def serve():
    """A fresh loopback receiver (ingestion, Live Metrics, OTLP/JSON) that also counts every
    connection, whatever it carries."""
    state = {"received": [], "live": [], "otlp": [], "connections": 0}

    class Handler(Ingestion):
        def do_GET(self):
            state["received"].append((self.path, None))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    class Server(ThreadingHTTPServer):
        def verify_request(self, request, client_address):
            state["connections"] += 1
            return True

    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = state
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, state


def connection_string(port):
    return ("InstrumentationKey=00000000-0000-0000-0000-000000000001;"
            f"IngestionEndpoint=http://127.0.0.1:{port}/;LiveEndpoint=http://127.0.0.1:{port}/")


def clean_env(**extra):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_", "TRACING_INSIGHTS_"))
         and k != "RUST_LOG"}
    e.update(extra)
    return e


def run_example(args, env_vars, what):
    r = subprocess.run([exe] + args, capture_output=True, text=True, env=env_vars, timeout=180)
    if r.returncode != 0:
        sys.exit(f"ai_service ({what}) exited {r.returncode}: {r.stderr}")
    return r, [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def envelopes_of(state):
    return [e for path, batch in state["received"] if path == "/v2.1/track" for e in batch]


def score(trace_id):
    """Application Insights' sampling score: DJB2 over the 32 hex chars, wrapped to a
    signed 32-bit integer after each step, |h| (INT32_MIN -> INT32_MAX), / INT32_MAX."""
    h = 5381
    for c in trace_id.lower():
        h = (h * 33 + ord(c)) & 0xFFFFFFFF
        if h >= 0x80000000:
            h -= 0x100000000
    h = 0x7FFFFFFF if h == -0x80000000 else abs(h)
    return h / 2147483647.0


assert score("0af7651916cd43dd8448eb211c80319c") == 0.5278892803601405
assert score("00000000000000000000000000000000") == 0.02339351411135565


# ---- 1b. nothing configured, 20 requests: every failed request in the waterfall -------------
run, lines = run_example(["--requests", "20"], clean_env(), "nothing configured")
failed_ids = {l["operation_Id"] for l in lines
              if l["level"] == "ERROR" and l.get("fields", {}).get("message") == "chat failed"}
assert len(failed_ids) == 2, failed_ids
blocks = {}
current = None
for line in run.stderr.splitlines():
    if line.startswith("trace "):
        current = line.split()[1]
        blocks[current] = [line]
    elif current and line.startswith("  "):
        blocks[current].append(line)
    else:
        current = None
request_ids = {l["operation_Id"] for l in lines if l.get("fields", {}).get("message") == "chat request received"}
assert request_ids <= set(blocks), f"{len(request_ids - set(blocks))} traces missing from the waterfall"
for fid in failed_ids:
    assert fid in blocks, f"failed request {fid} has no waterfall header"
    assert any("error" in l for l in blocks[fid][1:]), blocks[fid]
print(f"ai_service, nothing configured: {len(blocks)} waterfalls for {len(request_ids)} requests; "
      f"both failed requests' blocks say error")


# ---- 3. RUST_LOG=warn + App Insights: no request lost, every WARN/ERROR line has its ids ----
srv, st = serve()
run, lines = run_example(["--requests", "20"],
                         clean_env(RUST_LOG="warn",
                                   APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string(srv.server_address[1])),
                         "RUST_LOG=warn")
srv.shutdown()
requests = [e for e in envelopes_of(st) if e["data"]["baseType"] == "RequestData"]
assert len(requests) == 20, f"{len(requests)} of 20 requests arrived under RUST_LOG=warn"
loud = [l for l in lines if l["level"] in ("WARN", "ERROR")]
assert loud and all(l["level"] in ("WARN", "ERROR") for l in lines), [l["level"] for l in lines]
assert all("span" in l and len(l.get("operation_Id", "")) == 32 for l in loud), loud
assert {l["operation_Id"] for l in loud} <= {r["tags"]["ai.operation.id"] for r in requests}
print(f"ai_service, RUST_LOG=warn: {len(requests)}/20 requests arrived; all {len(loud)} WARN/ERROR "
      f"lines carry operation_Id")


# ---- 4. OTEL_SDK_DISABLED=true: not one HTTP request --------------------------------------
srv, st = serve()
port = srv.server_address[1]
run, lines = run_example(["--requests", "5"],
                         clean_env(OTEL_SDK_DISABLED="true",
                                   APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string(port),
                                   OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}"),
                         "OTEL_SDK_DISABLED=true")
srv.shutdown()
assert st["connections"] == 0 and not st["received"] and not st["live"] and not st["otlp"], st
assert any("operation_Id" in l for l in lines), "log lines stay when the SDK is disabled"
print("ai_service, OTEL_SDK_DISABLED=true: exit 0, no connection to ingestion, Live Metrics or OTLP")


# ---- 5. microsoft.fixed_percentage 0.5: exactly the traces scoring below 0.5 ---------------
srv, st = serve()
run, lines = run_example(["--requests", "40"],
                         clean_env(OTEL_TRACES_SAMPLER="microsoft.fixed_percentage",
                                   OTEL_TRACES_SAMPLER_ARG="0.5",
                                   APPLICATIONINSIGHTS_LIVE_METRICS_ENABLED="false",
                                   APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string(srv.server_address[1])),
                         "fixed_percentage 0.5")
srv.shutdown()
ids = {l["operation_Id"] for l in lines if l.get("fields", {}).get("message") == "chat request received"}
assert len(ids) == 40, f"stdout shows {len(ids)} of 40 operation_Ids"
kept = {i for i in ids if score(i) < 0.5}
requests = [e for e in envelopes_of(st) if e["data"]["baseType"] == "RequestData"]
arrived = {r["tags"]["ai.operation.id"] for r in requests}
assert arrived == kept, f"expected {len(kept)} kept traces, got {len(arrived)}: {sorted(arrived ^ kept)}"
assert len(requests) == len(kept), "a request arrived twice"
assert all(r.get("sampleRate") == 50 for r in requests), {r.get("sampleRate") for r in requests}
print(f"ai_service, microsoft.fixed_percentage 0.5: all 40 operation_Ids on stdout; "
      f"the {len(kept)} scoring below 0.5 arrived, each with sampleRate 50")

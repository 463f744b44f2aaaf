"""Runs the http_services example against loopback receivers and checks the chains on the wire.

    python3 scripts/check_http_services.py target/release/examples/http_services

One run exports to a stdlib Application Insights ingestion receiver and, in the same run,
OTLP/HTTP JSON to a stdlib receiver. Every `POST /chat` request of front must be the
grandparent of a `GET /search` request of back through one HTTP dependency, in one operation,
with `url`, `responseCode` and `target` set; the OTLP spans must carry the same ids and
parent links. When Datadog's ddapm-test-agent is running (`TI_DDAPM_URL`, as
scripts/receivers.sh sets it), a second run sends OTLP/protobuf to it and the same links
are read back from the agent.
"""
import base64
import gzip
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

N = 5
exe = sys.argv[1]
env = {k: v for k, v in os.environ.items()
       if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_EXPORTER_OTLP"))}

received = []
otlp = []


class Receiver(BaseHTTPRequestHandler):
    """App Insights ingestion (/v2.1/track) and OTLP/HTTP JSON (/v1/*)."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path.startswith("/v1/"):
            otlp.append((self.path, json.loads(body)))
            reply = b"{}"
        elif self.path.startswith("/QuickPulseService.svc/"):
            reply = b""
        else:
            received.append((self.path, json.loads(body)))
            reply = json.dumps({"itemsReceived": 0, "itemsAccepted": 0, "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
run_env = dict(env)
run_env["APPLICATIONINSIGHTS_CONNECTION_STRING"] = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000001;"
    f"IngestionEndpoint=http://127.0.0.1:{port}/;LiveEndpoint=http://127.0.0.1:{port}/"
)
run_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
run_env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/json"
run = subprocess.run([exe, "--requests", str(N)], capture_output=True, text=True,
                     env=run_env, timeout=120)
server.shutdown()
if run.returncode != 0:
    sys.exit(f"http_services exited {run.returncode}: {run.stderr}")

# ---- Application Insights -------------------------------------------------------------------
envelopes = [e for path, batch in received for e in batch]
assert all(path == "/v2.1/track" for path, _ in received), [p for p, _ in received]
requests = [e for e in envelopes if e["data"]["baseType"] == "RequestData"]
deps = [e for e in envelopes if e["data"]["baseType"] == "RemoteDependencyData"]
bd = lambda e: e["data"]["baseData"]
chats = [r for r in requests if bd(r)["name"] == "POST /chat"]
searches = [r for r in requests if bd(r)["name"] == "GET /search"]
assert len(chats) == N, f"{len(chats)} POST /chat requests: {[bd(r)['name'] for r in requests]}"
assert len(searches) == N, f"{len(searches)} GET /search requests"
assert len(requests) == 2 * N, [bd(r)["name"] for r in requests]
http_deps = {bd(d)["id"]: d for d in deps if bd(d).get("type") == "HTTP"}
assert len(http_deps) == N, f"{len(http_deps)} HTTP dependencies of {len(deps)}"
chat_by_id = {bd(r)["id"]: r for r in chats}
for r in requests:
    assert bd(r).get("responseCode") == "200", bd(r)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/(chat|search\?q=REDACTED)", bd(r).get("url", "")), bd(r)
    assert bd(r)["success"] is True, bd(r)
for d in http_deps.values():
    assert re.fullmatch(r"127\.0\.0\.1:\d+", bd(d).get("target", "")), bd(d)
    assert bd(d)["resultCode"] == "200" and bd(d)["success"] is True, bd(d)
ops = set()
chains = []
for s in searches:
    dep = http_deps.get(s["tags"].get("ai.operation.parentId"))
    assert dep, f"GET /search {bd(s)['id']} has no HTTP dependency as parent"
    chat = chat_by_id.get(dep["tags"].get("ai.operation.parentId"))
    assert chat, f"dependency {bd(dep)['id']} has no POST /chat request as parent"
    assert "ai.operation.parentId" not in chat["tags"], "the example's own calls must not be traced"
    op = {s["tags"]["ai.operation.id"], dep["tags"]["ai.operation.id"], chat["tags"]["ai.operation.id"]}
    assert len(op) == 1, f"one chain, several operations: {op}"
    ops |= op
    chains.append((op.pop(), bd(chat)["id"], bd(dep)["id"], bd(s)["id"]))
assert len(ops) == N, f"{len(ops)} operations for {N} chains"
print(f"http_services -> App Insights: {len(chats)} POST /chat, {len(searches)} GET /search, "
      f"{len(http_deps)} HTTP dependencies; {N} chains chat > dependency > search, one operation each; "
      f"url, responseCode and target set")

# ---- OTLP (HTTP/JSON) in the same run: the same ids and links --------------------------------
spans = {}
for path, body in otlp:
    if path != "/v1/traces":
        continue
    for rs in body.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                spans[sp["spanId"]] = sp
for trace, chat, dep, search in chains:
    for sid, parent in ((chat, None), (dep, chat), (search, dep)):
        sp = spans.get(sid)
        assert sp, f"span {sid} went to App Insights but not to OTLP"
        assert sp["traceId"] == trace, (sp["traceId"], trace)
        assert (sp.get("parentSpanId") or None) == parent, (sid, sp.get("parentSpanId"), parent)
print(f"http_services -> OTLP/JSON: the same {3 * N} span ids, trace ids and parent links")


# ---- OTLP/protobuf to ddapm-test-agent, when it runs -----------------------------------------
def hex_id(value):
    """The agent answers with the OTLP protobuf decoded to JSON: ids in base64."""
    return base64.b64decode(value).hex() if value else None


agent = os.environ.get("TI_DDAPM_URL")
if not agent:
    print("http_services -> ddapm-test-agent: skipped (TI_DDAPM_URL unset; scripts/receivers.sh run ddapm -- ...)")
    sys.exit(0)
agent = agent.rstrip("/")
dd_env = dict(env)
dd_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = agent
dd_env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
dd_env["OTEL_SERVICE_NAME"] = "http-services-check"
run = subprocess.run([exe, "--requests", str(N)], capture_output=True, text=True, env=dd_env, timeout=120)
if run.returncode != 0:
    sys.exit(f"http_services (ddapm) exited {run.returncode}: {run.stderr}")
log_traces = {json.loads(l).get("operation_Id") for l in run.stdout.splitlines() if l.strip().startswith("{")}
log_traces.discard(None)
assert len(log_traces) == N, f"{len(log_traces)} traces in the log lines"


def agent_spans():
    with urllib.request.urlopen(f"{agent}/test/session/traces", timeout=10) as r:
        payloads = json.load(r)
    out = []
    for payload in payloads:
        for rs in payload.get("resource_spans", []):
            for ss in rs.get("scope_spans", []):
                for sp in ss.get("spans", []):
                    out.append({"trace": hex_id(sp.get("trace_id")), "id": hex_id(sp.get("span_id")),
                                "parent": hex_id(sp.get("parent_span_id")), "name": sp.get("name"),
                                "kind": sp.get("kind")})
    return [sp for sp in out if sp["trace"] in log_traces]


deadline = time.time() + 30
ours = agent_spans()
while len(ours) < 3 * N and time.time() < deadline:
    time.sleep(0.5)
    ours = agent_spans()
assert len(ours) == 3 * N, f"{len(ours)} of this run's spans in ddapm-test-agent, {3 * N} expected"
by_id = {sp["id"]: sp for sp in ours}
searches = [sp for sp in ours if sp["kind"] == "SPAN_KIND_SERVER" and sp["name"] == "GET /search"]
assert len(searches) == N, searches
for sp in searches:
    dep = by_id.get(sp["parent"])
    assert dep and dep["kind"] == "SPAN_KIND_CLIENT", (sp, dep)
    chat = by_id.get(dep["parent"])
    assert chat and chat["kind"] == "SPAN_KIND_SERVER" and chat["name"] == "POST /chat", (dep, chat)
    assert chat["parent"] is None, chat
    assert sp["trace"] == dep["trace"] == chat["trace"]
assert {sp["trace"] for sp in searches} == log_traces
print(f"http_services -> ddapm-test-agent (OTLP/protobuf): {N} traces (the log lines' operation_Ids), "
      f"chat > client > search links read back")

"""Runs the example service exporting OTLP (http/protobuf) to a loopback receiver that
answers the first three posts to /v1/traces with 503 and `Retry-After: 1` (a connectivity
check's empty post counts as one of them), then accepts.

Every span (3 per request: the server span, the retrieval and the LLM call) must arrive
exactly once, with trace ids equal to the operation_Id values of the JSON log lines on
stdout, and the run must exit 0: retries wait without losing or duplicating anything.

Usage: python3 scripts/check_otlp_retry.py target/release/examples/ai_service
Standard library only; the protobuf is read with a small wire-format walker.
"""
import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REQUESTS = 10
REFUSED = 3

exe = sys.argv[1]


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def fields(buf):
    """(field number, value) of a protobuf message; LEN values as bytes."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, value


def spans_of(request):
    """(trace id, span id, name) of every span in an ExportTraceServiceRequest."""
    out = []
    for n, resource_spans in fields(request):
        if n != 1:
            continue
        for m, scope_spans in fields(resource_spans):
            if m != 2:
                continue
            for k, span in fields(scope_spans):
                if k != 2:
                    continue
                f = {}
                for number, value in fields(span):
                    f.setdefault(number, value)
                out.append((f[1].hex(), f[2].hex(), f.get(5, b"").decode()))
    return out


lock = threading.Lock()
posts = []      # (status answered, spans in the body) per post to /v1/traces
accepted = []   # spans of the accepted posts


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        status, extra = 200, {}
        if self.path == "/v1/traces":
            assert self.headers.get("Content-Type") == "application/x-protobuf", self.headers
            spans = spans_of(body)
            with lock:
                if len(posts) < REFUSED:
                    status, extra = 503, {"Retry-After": "1"}
                else:
                    accepted.extend(spans)
                posts.append((status, len(spans)))
        self.send_response(status)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = {k: v for k, v in os.environ.items()
       if not k.startswith(("APPLICATIONINSIGHTS_", "OTEL_"))}
env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
# Batches every half second, so the refused batches wait for their retries while the
# service is still running and producing more.
env["OTEL_BSP_SCHEDULE_DELAY"] = "500"
run = subprocess.run([exe, "--requests", str(REQUESTS), "--rate", "5"],
                     capture_output=True, text=True, env=env, timeout=120)
server.shutdown()
if run.returncode != 0:
    sys.exit(f"ai_service exporting OTLP exited {run.returncode}: {run.stderr}")

lines = [json.loads(l) for l in run.stdout.splitlines() if l.strip().startswith("{")]
log_ids = {l["operation_Id"] for l in lines if "operation_Id" in l}
assert len(log_ids) == REQUESTS, f"{len(log_ids)} operation_Ids on stdout"
refused = [p for p in posts if p[0] == 503]
assert len(refused) == REFUSED, posts
assert len(posts) > REFUSED, f"nothing was sent after the 503s: {posts}"
span_ids = [s[1] for s in accepted]
assert len(accepted) == 3 * REQUESTS, \
    f"{len(accepted)} spans accepted, {3 * REQUESTS} expected; posts: {posts}"
assert len(set(span_ids)) == len(span_ids), "a span arrived twice"
trace_ids = {s[0] for s in accepted}
assert trace_ids == log_ids, trace_ids ^ log_ids
print(f"ai_service -> OTLP http/protobuf through {REFUSED} x 503 Retry-After: 1: "
      f"{len(accepted)} spans, each exactly once, in {len(posts)} posts; "
      f"trace ids == operation_Id for all {len(trace_ids)} traces; exit 0")

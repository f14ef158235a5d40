"""A capture receiver: accepts OTLP traces (gRPC and HTTP/protobuf) on loopback and writes every
span it receives as one JSON line (service, trace id, span id, parent, name, attributes), so the
attributes a sender or the otel-llm-cost gateway exports can be shown exactly as they left it.
No trace UI needed (docs/jaeger.md uses it to illustrate what Jaeger shows).

    python scripts/demo/demo_capture_otlp.py --out spans.jsonl [--grpc 127.0.0.1:0] [--http 127.0.0.1:0]

Prints one line "capture: listening grpc=HOST:PORT http=HOST:PORT" on stderr, runs until SIGTERM
or SIGINT. Needs opentelemetry-proto and grpcio (both in .venv-phoenix).
"""

import argparse
import gzip
import json
import signal
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

LOCK = threading.Lock()


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind) if kind else None


def write(out, request):
    with LOCK, open(out, "a") as f:
        for rs in request.resource_spans:
            res = {kv.key: value(kv.value) for kv in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    f.write(json.dumps({
                        "service": res.get("service.name"),
                        "resource": res,
                        "scope": ss.scope.name,
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex() or None,
                        "name": s.name,
                        "start_unix_nano": s.start_time_unix_nano,
                        "attributes": {kv.key: value(kv.value) for kv in s.attributes},
                    }) + "\n")


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, out):
        self.out = out

    def Export(self, request, context):  # noqa: N802 (gRPC method name)
        write(self.out, request)
        return trace_service_pb2.ExportTraceServiceResponse()


def http_handler(out):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            req = trace_service_pb2.ExportTraceServiceRequest()
            req.ParseFromString(body)
            write(out, req)
            resp = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(resp)))
            self.end_headers()
            self.wfile.write(resp)

        def log_message(self, *args):
            pass

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="JSON lines file (appended)")
    ap.add_argument("--grpc", default="127.0.0.1:0")
    ap.add_argument("--http", default="127.0.0.1:0")
    a = ap.parse_args()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(a.out), server)
    grpc_port = server.add_insecure_port(a.grpc)
    server.start()
    host, port = a.http.rsplit(":", 1)
    httpd = ThreadingHTTPServer((host, int(port)), http_handler(a.out))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(f"capture: listening grpc={a.grpc.rsplit(':', 1)[0]}:{grpc_port} "
          f"http={host}:{httpd.server_address[1]}", file=sys.stderr, flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    httpd.shutdown()
    server.stop(2).wait()


if __name__ == "__main__":
    main()

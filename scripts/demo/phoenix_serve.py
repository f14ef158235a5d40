"""Starts Arize Phoenix (`phoenix serve`) with its OTLP/gRPC receiver on loopback only.

Phoenix binds its HTTP server (UI, REST, GraphQL, OTLP/HTTP at /v1/traces) to PHOENIX_HOST, but
its OTLP/gRPC server always to `[::]:PHOENIX_GRPC_PORT` (phoenix/server/grpc_server.py), i.e. on
every interface. The e2e check binds everything to 127.0.0.1, so this launcher rewrites that one
address before Phoenix starts. Nothing else is changed.

Used by scripts/demo/e2e-phoenix.sh; run with the Phoenix venv's python:
    PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=... PHOENIX_GRPC_PORT=... python scripts/demo/phoenix_serve.py
"""

import sys

from grpc.aio import _server as grpc_aio_server

_add_insecure_port = grpc_aio_server.Server.add_insecure_port
_add_secure_port = grpc_aio_server.Server.add_secure_port


def _loopback(address: str) -> str:
    return "127.0.0.1:" + address[len("[::]:"):] if address.startswith("[::]:") else address


def add_insecure_port(self, address):  # type: ignore[no-untyped-def]
    return _add_insecure_port(self, _loopback(address))


def add_secure_port(self, address, credentials):  # type: ignore[no-untyped-def]
    return _add_secure_port(self, _loopback(address), credentials)


grpc_aio_server.Server.add_insecure_port = add_insecure_port
grpc_aio_server.Server.add_secure_port = add_secure_port

if __name__ == "__main__":
    from phoenix.server.main import main

    sys.argv = ["phoenix", "serve"]
    sys.exit(main())

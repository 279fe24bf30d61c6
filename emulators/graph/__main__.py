"""``python -m emulators.graph --port N --tenant FILE``: run the Graph emulator standalone."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from emulators.graph.app import Emulator
from emulators.graph.auth import make_tls_cert
from emulators.graph.server import bind, make_servers, serve
from emulators.graph.tenant import DEMO_TENANT_PATH


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.graph", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8631, help="HTTP port for the API and /_emulator/")
    parser.add_argument(
        "--token-port", type=int, default=None, help="HTTPS port for the token endpoint (default port+1)"
    )
    parser.add_argument("--tenant", default=str(DEMO_TENANT_PATH), help="tenant YAML/JSON file")
    parser.add_argument("--cert-dir", default=None, help="where to write the self-signed CA PEM")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    emulator = Emulator(args.tenant)
    cert_dir = Path(args.cert_dir or tempfile.mkdtemp(prefix="graph-emulator-"))
    cert, key = make_tls_cert(cert_dir)
    http_sock = bind(args.host, args.port)
    tls_sock = bind(args.host, args.token_port if args.token_port is not None else args.port + 1)
    http_port, tls_port = http_sock.getsockname()[1], tls_sock.getsockname()[1]
    tenant = emulator.state.tenant
    app = tenant.apps[0]
    print(f"Graph emulator API base URL: http://{args.host}:{http_port}/v1.0", flush=True)
    print(f"Control plane:               http://{args.host}:{http_port}/_emulator/", flush=True)
    print(f"Token authority:             https://localhost:{tls_port}", flush=True)
    print(f"CA PEM path:                 {cert}", flush=True)
    print(f"Tenant id: {tenant.tenant_id}  client id: {app.client_id}", flush=True)
    http, tls = make_servers(emulator, cert, key, args.log_level)
    asyncio.run(serve(http, tls, http_sock, tls_sock))


if __name__ == "__main__":
    main()

"""`python -m devhost`: run function_app.py locally with the Functions host's semantics."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn

from devhost.config import DevHostConfigError
from devhost.host import DevHost
from shared.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--app", type=Path, default=Path("function_app.py"), help="the app script")
    parser.add_argument(
        "--settings", type=Path, default=Path("local.settings.json"), help="local settings file"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: Host.LocalHttpPort or 7071")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        host = DevHost.load(args.app, args.settings if args.settings.exists() else None)
    except DevHostConfigError as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    port = args.port or 7071
    print("Functions:", flush=True)
    for fn in host.app.http:
        print(
            f"  {fn.name}: [{','.join(sorted(fn.methods))}] http://{args.host}:{port}/api/{fn.route}",
            flush=True,
        )
    for q in host.app.queues:
        print(f"  {q.name}: queueTrigger ({q.queue_name})", flush=True)
    for t in host.app.timers:
        print(f"  {t.name}: timerTrigger ({t.schedule})", flush=True)
    # Long keep-alive like Azure's front end: a short one races with clients reusing pooled connections.
    uvicorn.run(
        host.asgi(), host=args.host, port=port, log_level="warning", access_log=False, timeout_keep_alive=120
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

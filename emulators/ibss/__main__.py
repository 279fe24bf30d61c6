"""Standalone IBSS emulator.

``python -m emulators.ibss --port 8081 --data FILE --api-key KEY --hook-url URL --hook-secret whsec_...``
``--hooks off``: no hooks at all (the service's change feed polls); ``--hook-drop-share 0.3`` drops 30 %.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from emulators.ibss.app import DEFAULT_API_KEY, DEMO_DATA, Emulator, EmulatorConfig, create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.ibss", description="IBSS REST API emulator")
    parser.add_argument("--host", default=os.environ.get("IBSS_EMULATOR_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("IBSS_EMULATOR_PORT", "8081")))
    parser.add_argument(
        "--data", type=Path, default=DEMO_DATA, help="YAML file with buildings, spaces, people"
    )
    parser.add_argument("--api-key", default=os.environ.get("IBSS_EMULATOR_API_KEY", DEFAULT_API_KEY))
    parser.add_argument("--hook-url", default=os.environ.get("IBSS_EMULATOR_HOOK_URL"))
    parser.add_argument(
        "--hook-secret", default=os.environ.get("IBSS_EMULATOR_HOOK_SECRET"), help="whsec_<base64>"
    )
    parser.add_argument("--hooks", choices=("on", "off"), default="on", help="send booking hooks at all")
    parser.add_argument("--hook-drop-share", type=float, default=0.0, help="share of hooks dropped (0-1)")
    parser.add_argument("--hook-max-attempts", type=int, default=5)
    parser.add_argument("--hook-backoff", type=float, default=1.0, help="first retry delay in seconds")
    parser.add_argument("--tick-interval", type=float, default=5.0, help="seconds between auto-cancel checks")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    if not 0.0 <= args.hook_drop_share <= 1.0:
        parser.error("--hook-drop-share must be between 0 and 1")
    if args.hook_url and not args.hook_secret:
        parser.error("--hook-url needs --hook-secret (whsec_<base64>)")

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = EmulatorConfig(
        api_key=args.api_key,
        data=args.data,
        hook_url=args.hook_url,
        hook_secret=args.hook_secret,
        hook_max_attempts=args.hook_max_attempts,
        hook_backoff_s=args.hook_backoff,
        tick_interval_s=args.tick_interval,
        hooks_enabled=args.hooks == "on",
        hook_drop_share=args.hook_drop_share,
    )
    emulator = Emulator(config)
    app = create_app(emulator=emulator)
    base = f"http://{args.host}:{args.port}"
    print(f"IBSS emulator listening on {base} (API {base}/v2, control plane {base}/_emulator)", flush=True)
    hooks = args.hook_url if args.hooks == "on" and args.hook_url else "off"
    print(f"  data: {args.data}; hooks: {hooks}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

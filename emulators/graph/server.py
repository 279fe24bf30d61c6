"""Serving both apps with uvicorn on given sockets (used by __main__ and testing)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import uvicorn

from emulators.graph.app import Emulator


def bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without
    # it every kept-alive response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_servers(
    emulator: Emulator, cert: Path, key: Path, log_level: str = "warning"
) -> tuple[uvicorn.Server, uvicorn.Server]:
    http = uvicorn.Server(
        uvicorn.Config(emulator.http_app, log_level=log_level, lifespan="on", access_log=False)
    )
    tls = uvicorn.Server(
        uvicorn.Config(
            emulator.token_app,
            log_level=log_level,
            lifespan="off",
            access_log=False,
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
        )
    )
    return http, tls


async def serve(
    http: uvicorn.Server, tls: uvicorn.Server, http_sock: socket.socket, tls_sock: socket.socket
) -> None:
    await asyncio.gather(http.serve(sockets=[http_sock]), tls.serve(sockets=[tls_sock]))

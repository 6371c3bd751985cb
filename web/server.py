"""Serving the web form with uvicorn inside a process that already runs other things (the dev stack, a test).

uvicorn's own signal handling is switched off: the caller owns Ctrl-C and says when to stop through
`stop_event`, so the web form stops in order with the worker and the servers. The socket is bound before
uvicorn starts, so a taken port is a plain `OSError` rather than uvicorn exiting the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import structlog
import uvicorn
from starlette.types import ASGIApp

log = structlog.get_logger(__name__)


class _EmbeddedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


async def serve(
    app: ASGIApp,
    host: str,
    port: int,
    stop_event: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
    proxy_headers: bool = False,
    forwarded_allow_ips: str = "127.0.0.1",
) -> None:
    """Serve `app` on host:port until `stop_event` is set; `ready` is set once it accepts connections.
    `proxy_headers`: take the client's address from `X-Forwarded-For` sent by one of `forwarded_allow_ips`."""
    sock = bind(host, port)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = _EmbeddedServer(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="web")
    stopping = asyncio.create_task(stop_event.wait())
    listening = asyncio.create_task(server.listening.wait())
    try:
        await asyncio.wait({serving, listening}, return_when=asyncio.FIRST_COMPLETED)
        if server.started:
            log.info("web form serving", url=f"http://{host}:{sock.getsockname()[1]}")
            if ready is not None:
                ready.set()
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        listening.cancel()
        await serving
        sock.close()

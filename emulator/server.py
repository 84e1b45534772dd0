"""App factory and lifecycle: wire the parts, bind the socket, print the connection string, shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
from aiohttp import web

from . import control, routes
from .callbacks import CallbackDeliverer, JwtSigner
from .callees import CalleeBook
from .config import CALLBACK_CONNECTION_LIMIT, MAX_REQUEST_BODY_BYTES, EmulatorConfig
from .service import CallService
from .state import EmulatorState, utc_now
from .tls import serve_both, server_context, write_self_signed_certificate

log = logging.getLogger("emulator")


async def create_app(config: EmulatorConfig, tls_certificate: Path | None = None) -> web.Application:
    """Build the aiohttp application; must run inside the event loop (the service owns timers on it)."""
    app = web.Application(client_max_size=MAX_REQUEST_BODY_BYTES)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CALLBACK_CONNECTION_LIMIT),
        trust_env=False,  # callbacks go exactly where the app said, never through a proxy
    )
    signer = JwtSigner(config.issuer, config.resource_id)
    deliverer = CallbackDeliverer(config, signer, session, utc_now)
    callees = CalleeBook()
    service = CallService(config, callees, deliverer, session, utc_now)
    app["state"] = EmulatorState(config=config, signer=signer, deliverer=deliverer, service=service,
                                 callees=callees, tls_certificate=tls_certificate)

    async def close(_: web.Application) -> None:
        service.shutdown()
        await deliverer.close()
        await session.close()

    app.on_cleanup.append(close)
    routes.add_routes(app)
    control.add_routes(app)
    return app


def connection_string(config: EmulatorConfig, port: int) -> str:
    # A wildcard bind is reached through loopback.
    host = "127.0.0.1" if config.host in ("0.0.0.0", "", "::") else config.host  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    return f"endpoint=http://{host}:{port}/;accesskey={config.access_key}"


async def serve(config: EmulatorConfig, announce: Callable[[str], None]) -> None:
    """Run until SIGINT/SIGTERM. `announce` receives the connection string once the port is bound."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    # Listen before the connection string is announced: a client that connects at once is queued, not refused.
    sock.listen(1024)
    port = sock.getsockname()[1]

    with tempfile.TemporaryDirectory(prefix="acs-emulator-") as directory:
        cert_path, key_path = write_self_signed_certificate(Path(directory))
        app = await create_app(config, cert_path)
        runner = web.AppRunner(app, access_log=logging.getLogger("emulator.access"), handle_signals=False)
        await runner.setup()
        assert runner.server is not None
        # One port, both protocols: see tls.py for why the SDK needs https.
        acceptor = asyncio.get_running_loop().create_task(
            serve_both(sock, runner.server, server_context(cert_path, key_path)))
        stop = _stop_on_signals()  # before announcing, so a quick SIGTERM is still a clean stop
        announce(connection_string(config, port))
        log.info("ACS Call Automation emulator listening on port %d, http and https (time scale %g); "
                 "TLS certificate: %s", port, config.time_scale, cert_path)
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            acceptor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acceptor
            await runner.cleanup()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # e.g. Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    return stop


def print_first_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()

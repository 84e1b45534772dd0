"""HTTP and HTTPS on the same port.

The SDK's `CallAutomationClient.from_connection_string()` drops the scheme of the endpoint and assumes https, so
the emulator also speaks TLS on its one port: each accepted connection is peeked at, and one starting with a TLS
handshake record (0x16) is wrapped in TLS with a self-signed certificate for localhost / 127.0.0.1 / ::1, written
to a PEM file a client can trust (e.g. the SDK's `connection_verify=<path>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

log = logging.getLogger("emulator.tls")
TLS_HANDSHAKE = 0x16
PEEK_TIMEOUT_SECONDS = 10


def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate (also usable as a CA bundle) and key for the loopback names; returns their paths."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ACS emulator (localhost)")])
    now = dt.datetime.now(dt.UTC)
    alt_names = x509.SubjectAlternativeName([
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(alt_names, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "emulator-cert.pem", directory / "emulator-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


async def _first_byte(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    """Wait until the client sends something and peek at its first byte without consuming it."""
    ready = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, PEEK_TIMEOUT_SECONDS)
    finally:
        loop.remove_reader(sock.fileno())
    return sock.recv(1, socket.MSG_PEEK)


async def serve_both(
    listener: socket.socket, protocol_factory: Callable[[], asyncio.Protocol], context: ssl.SSLContext
) -> None:
    """Accept connections forever on a listening socket, handing each to `protocol_factory` over plain TCP or TLS."""
    loop = asyncio.get_running_loop()
    listener.setblocking(False)
    pending: set[asyncio.Task] = set()

    async def hand_over(conn: socket.socket) -> None:
        try:
            first = await _first_byte(loop, conn)
            if not first:
                conn.close()
                return
            tls = context if first[0] == TLS_HANDSHAKE else None
            await loop.connect_accepted_socket(protocol_factory, conn, ssl=tls)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            conn.close()  # a client that goes away or fails the handshake is its own problem

    try:
        while True:
            conn, _ = await loop.sock_accept(listener)
            conn.setblocking(False)
            task = loop.create_task(hand_over(conn))
            pending.add(task)
            task.add_done_callback(pending.discard)
    finally:
        for task in pending:
            task.cancel()
        with contextlib.suppress(OSError):
            listener.close()

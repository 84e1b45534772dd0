"""Start Azurite (pinned in package.json, installed by `npm ci`) as a real subprocess for integration tests.

Each service is started on port 0, so the OS picks a free port and two test runs never collide; the ports
are read from Azurite's "successfully listening at" lines, then checked to accept connections. Data lives
in memory only, and the process is stopped by its PID (terminate, wait, kill).
"""

from __future__ import annotations

import collections
import queue
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 30
# The well-known development account (public; the same for every Azurite and the old Storage Emulator).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SERVICES = ("blob", "queue", "table")
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at http://[^:]+:(\d+)")


@dataclass
class RunningAzurite:
    blob_port: int
    queue_port: int
    table_port: int
    pid: int
    process: subprocess.Popen = field(repr=False)
    _tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=200), repr=False)

    @property
    def connection_string(self) -> str:
        """An explicit connection string for the ports this instance uses (UseDevelopmentStorage=true
        would point at the default ports instead)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{HOST}:{self.blob_port}/{ACCOUNT_NAME};"
            f"QueueEndpoint=http://{HOST}:{self.queue_port}/{ACCOUNT_NAME};"
            f"TableEndpoint=http://{HOST}:{self.table_port}/{ACCOUNT_NAME};"
        )

    def output_tail(self) -> str:
        return "\n".join(self._tail)

    def stop(self) -> None:
        _stop(self.process)


def azurite_command(executable: Path = AZURITE_BIN) -> list[str]:
    return [
        str(executable),
        "--silent",
        "--inMemoryPersistence",
        "--skipApiVersionCheck",  # current SDKs send API versions newer than Azurite 3.35 knows
        "--loose",
        "--disableTelemetry",
        *(arg for service in SERVICES for arg in (f"--{service}Host", HOST, f"--{service}Port", "0")),
    ]


@contextmanager
def running_azurite(executable: Path = AZURITE_BIN) -> Iterator[RunningAzurite]:
    """Start Azurite on free ports; yield a RunningAzurite; stop it on exit."""
    if not Path(executable).exists():
        raise RuntimeError(f"{executable} is missing: run `npm ci` in {REPO_ROOT} to install the pinned Azurite")
    process = subprocess.Popen(
        azurite_command(executable),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    tail: collections.deque = collections.deque(maxlen=200)
    ports: queue.Queue = queue.Queue()

    def drain_output() -> None:
        # Keep reading for the whole life of the process so it never blocks on a full pipe.
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match:
                ports.put((match.group(1).lower(), int(match.group(2))))
        ports.put(None)  # the output ended: Azurite exited

    threading.Thread(target=drain_output, name=f"azurite-{process.pid}-output", daemon=True).start()
    try:
        found = _wait_for_ports(ports, process, tail)
        running = RunningAzurite(
            blob_port=found["blob"],
            queue_port=found["queue"],
            table_port=found["table"],
            pid=process.pid,
            process=process,
            _tail=tail,
        )
        yield running
    finally:
        _stop(process)


def _wait_for_ports(ports: queue.Queue, process: subprocess.Popen, tail: collections.deque) -> dict[str, int]:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    found: dict[str, int] = {}
    while len(found) < len(SERVICES):
        try:
            item = ports.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError("Azurite did not start in time:\n" + "\n".join(tail)) from None
        if item is None:
            process.wait(timeout=5)
            raise RuntimeError(f"Azurite exited with {process.returncode}:\n" + "\n".join(tail))
        found[item[0]] = item[1]
    for port in found.values():
        _wait_until_accepting(port, deadline)
    return found


def _wait_until_accepting(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Azurite port {port} does not accept connections") from None
            time.sleep(0.05)


def _stop(process: subprocess.Popen) -> None:
    """Stop our own child by its PID: terminate, wait, then kill if it does not exit."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)

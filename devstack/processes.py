"""Child processes of the local stack: started with their output prefixed, stopped by their own PID."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass


@dataclass
class Child:
    name: str
    process: subprocess.Popen

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def start(name: str, command: list[str], *, env: dict[str, str] | None = None, quiet: bool = False) -> Child:
    if not os.path.exists(command[0]):
        raise RuntimeError(f"{command[0]} is missing; run `make run` (it installs what is needed)")
    process = subprocess.Popen(  # noqa: S603 - our own fixed commands
        command,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )

    def relay() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if not quiet:
                print(f"[{name}] {line}", end="", flush=True)

    threading.Thread(target=relay, name=f"{name}-output", daemon=True).start()
    return Child(name, process)


def wait_for_port(port: int, child: Child, *, timeout: float = 30) -> None:
    """Wait until something accepts connections on the port; fail early if the child died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with code {child.process.returncode}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not listen on port {port} within {timeout:.0f}s")

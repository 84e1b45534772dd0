"""Start the emulator as a real subprocess (`python -m emulator --port 0 ...`) for integration tests.

The emulator prints its connection string as the first stdout line; everything after it is drained in a
background thread (kept as a short tail for failure messages) so the child never blocks on a full pipe.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from shared.callautomation.auth import HmacAuth

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_API_VERSION = "2025-05-15"
STARTUP_TIMEOUT_SECONDS = 20


@dataclass
class RunningEmulator:
    endpoint: str
    connection_string: str
    access_key: str
    resource_id: str
    issuer: str
    tls_certificate: str | None  # PEM to trust for https on the same port (the SDK's connection_verify)
    pid: int
    process: subprocess.Popen = field(repr=False)
    _tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=200), repr=False)

    def control(self, method: str, path: str, **kw) -> requests.Response:
        """Call the (unauthenticated) control API: `control("GET", "/calls")` → GET /emulator/calls."""
        path = path if path.startswith("/") else "/" + path
        if not path.startswith("/emulator/"):
            path = "/emulator" + path
        kw.setdefault("timeout", 10)
        return requests.request(method, self.endpoint + path, **kw)

    def api(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        data: bytes | None = None,
        headers: dict | None = None,
        api_version: str | None = DEFAULT_API_VERSION,
        auth: object = "default",
        timeout: float = 10,
    ) -> requests.Response:
        """A signed request to the ACS API, e.g. `api("GET", "/calling/callConnections/{id}")`."""
        if json_body is not None:
            data = json.dumps(json_body).encode()
        url = self.endpoint + path
        if api_version is not None:
            url += ("&" if "?" in path else "?") + "api-version=" + api_version
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        return requests.request(
            method,
            url,
            data=data if data is not None else b"",
            headers=hdrs,
            auth=HmacAuth(self.access_key) if auth == "default" else auth,
            timeout=timeout,
        )

    def output_tail(self) -> str:
        return "\n".join(self._tail)

    def stop(self) -> None:
        """Stop the child by its PID: terminate, wait, then kill if it does not exit."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _parse_connection_string(text: str) -> tuple[str, str]:
    parts = {}
    for element in text.strip().split(";"):
        key, _, value = element.partition("=")
        if key:
            parts[key.strip().lower()] = value.strip()
    return parts["endpoint"].rstrip("/"), parts["accesskey"]


@contextmanager
def running_emulator(*extra_args: str) -> Iterator[RunningEmulator]:
    """Start `python -m emulator --port 0 *extra_args`; yield a RunningEmulator; stop it on exit."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", *extra_args],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    tail: collections.deque = collections.deque(maxlen=200)
    first_line: queue.Queue = queue.Queue()

    def drain_stdout() -> None:
        assert process.stdout is not None
        first = True
        for line in process.stdout:
            if first:
                first_line.put(line)
                first = False
            tail.append(line.rstrip("\n"))
        if first:
            first_line.put("")

    def drain_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            tail.append(line.rstrip("\n"))

    threading.Thread(target=drain_stdout, name=f"emulator-{process.pid}-stdout", daemon=True).start()
    threading.Thread(target=drain_stderr, name=f"emulator-{process.pid}-stderr", daemon=True).start()
    running: RunningEmulator | None = None
    try:
        try:
            line = first_line.get(timeout=STARTUP_TIMEOUT_SECONDS)
        except queue.Empty:
            raise RuntimeError("the emulator did not print its connection string in time") from None
        if not line.startswith("endpoint="):
            process.wait(timeout=5)
            raise RuntimeError(f"the emulator did not start: {line!r}\n" + "\n".join(tail))
        endpoint, access_key = _parse_connection_string(line)
        health = requests.get(endpoint + "/emulator/health", timeout=10).json()
        running = RunningEmulator(
            endpoint=endpoint,
            connection_string=line.strip(),
            access_key=access_key,
            resource_id=health["resourceId"],
            issuer=health["issuer"],
            tls_certificate=health.get("tlsCertificate"),
            pid=process.pid,
            process=process,
            _tail=tail,
        )
        yield running
    finally:
        if running is not None:
            running.stop()
        elif process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

"""Start the emulator as a real subprocess (`python -m emulator --port 0 ...`) for integration tests.

The emulator prints its connection string as the first stdout line; devstack.processes (the one launcher) drains
the output and keeps a tail for failure messages, and stops the child by its process group.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devstack.processes import Child, ChildHandle, start
from shared.callautomation.auth import HmacAuth

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_API_VERSION = "2025-05-15"
STARTUP_TIMEOUT_SECONDS = 20
_CONNECTION_STRING = re.compile(r"^endpoint=\S+")


@dataclass
class RunningEmulator(ChildHandle):
    endpoint: str
    connection_string: str
    access_key: str
    resource_id: str
    issuer: str
    tls_certificate: str | None  # PEM to trust for https on the same port (the SDK's connection_verify)
    child: Child = field(repr=False)

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
    child = start("emulator", [sys.executable, "-m", "emulator", "--port", "0", *extra_args], cwd=REPO_ROOT,
                  keep_lines=200)
    try:
        line = child.wait_for_line(_CONNECTION_STRING, timeout=STARTUP_TIMEOUT_SECONDS).group(0)
        endpoint, access_key = _parse_connection_string(line)
        health = child.wait_for_http(endpoint + "/emulator/health", timeout=STARTUP_TIMEOUT_SECONDS).json()
        yield RunningEmulator(
            endpoint=endpoint,
            connection_string=line.strip(),
            access_key=access_key,
            resource_id=health["resourceId"],
            issuer=health["issuer"],
            tls_certificate=health.get("tlsCertificate"),
            child=child,
        )
    finally:
        child.stop()

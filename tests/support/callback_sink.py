"""A real HTTP server on a free loopback port that records the callbacks the emulator posts.

It also serves registered files (e.g. WAV prompts) on GET, and can be told to answer errors
(`fail_next`) to exercise the emulator's retries.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any
    received_at: float


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops a keep-alive connection is normal; don't print a traceback for it."""


def _type_matches(full: str, wanted: str) -> bool:
    """"PlayCompleted" matches "Microsoft.Communication.PlayCompleted" (but "AddParticipantSucceeded" does not
    match "CancelAddParticipantSucceeded")."""
    return full == wanted or full.endswith("." + wanted)


class CallbackSink:
    """`with CallbackSink() as sink:` — `sink.url` is the base URL; `sink.new_url()` gives a unique callback URL."""

    def __init__(self) -> None:
        self.received: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._failures: list[int] = []
        self._files: dict[str, tuple[bytes, str]] = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _answer(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                with sink._lock:
                    found = sink._files.get(self.path.split("?")[0])
                if found is None:
                    self._answer(404, b"not found")
                else:
                    self._answer(200, found[0], found[1])

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                record = ReceivedRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    json=parsed,
                    received_at=time.monotonic(),
                )
                with sink._changed:
                    status = sink._failures.pop(0) if sink._failures else 200
                    if status < 300:
                        sink.received.append(record)
                    sink._changed.notify_all()
                self._answer(status)

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="callback-sink", daemon=True)

    # lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> CallbackSink:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CallbackSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # configuration -----------------------------------------------------------------------------------------
    def new_url(self, prefix: str = "/cb") -> str:
        """A unique callback URL on this sink, so a test can tell its own callbacks apart."""
        return f"{self.url}{prefix}/{uuid.uuid4().hex}"

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next `n` POSTs with `status` (they are not recorded in `received`)."""
        with self._lock:
            self._failures.extend([status] * n)

    def add_file(self, path: str, content: bytes, content_type: str = "audio/wav") -> str:
        """Serve `content` on GET `path`; returns its full URL."""
        with self._lock:
            self._files[path] = (content, content_type)
        return self.url + path

    # inspection --------------------------------------------------------------------------------------------
    def events(self, call_connection_id: str | None = None, type: str | None = None) -> list[dict]:
        """All CloudEvents received so far (flattened from the posted arrays), in arrival order."""
        with self._lock:
            requests = list(self.received)
        out: list[dict] = []
        for request in requests:
            batch = request.json if isinstance(request.json, list) else [request.json]
            for event in batch:
                if not isinstance(event, dict):
                    continue
                data = event.get("data") or {}
                if call_connection_id is not None and data.get("callConnectionId") != call_connection_id:
                    continue
                if type is not None and not _type_matches(str(event.get("type", "")), type):
                    continue
                out.append(event)
        return out

    def requests_for(self, path: str) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.received if r.path == path or r.path.startswith(path + "?")]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10) -> T:
        """Poll `predicate` until it returns something truthy; return that, or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout}s; received {len(self.received)} requests")
            with self._changed:
                self._changed.wait(min(remaining, 0.05))

    def wait_for_event(
        self, type_suffix: str, *, call_connection_id: str | None = None, timeout: float = 10
    ) -> dict:
        """The first event of that type (e.g. "CallConnected"), optionally of one call, waiting if needed."""

        def find() -> dict | None:
            found = self.events(call_connection_id, type_suffix)
            return found[0] if found else None

        try:
            return self.wait_for(find, timeout)
        except AssertionError:
            seen = [e.get("type") for e in self.events(call_connection_id)]
            raise AssertionError(f"no {type_suffix} event within {timeout}s; saw {seen}") from None

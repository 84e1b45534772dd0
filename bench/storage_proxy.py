"""A counting reverse proxy between the app and Azurite's table and queue services (see bench/README.md).

The app gets a connection string whose TableEndpoint and QueueEndpoint point here. Each request is read whole,
classified, forwarded to Azurite, and Azurite's answer is read whole and passed back unchanged. Counting on the
wire rather than inside the app measures the app as it is (its SDK retries and devhost's queue polling
included) without touching its code; the bench's own look-ups do not come this way and are not counted.

It speaks just enough HTTP/1.1 for the Azure SDKs' requests transport: one request at a time per connection
(no pipelining), bodies framed by Content-Length or chunked encoding, no `Expect: 100-continue`.

What is counted, as a `Counter` keyed `(service, measure, kind, resource)` (`resource`: the table or queue name):

- measure `requests`: requests by kind. Tables: `query` (a page of a query), `get` (one entity by its keys),
  `insert`, `update` (If-Match: replace or merge an entity that must exist), `upsert` (no If-Match), `delete`,
  `batch` (an entity-group transaction, `$batch`), `table` (creating or listing tables). Queues: `send`,
  `receive`, `peek`, `delete`, `update` (a message's visibility), `clear`, `queue` (creating a queue, metadata).
- measure `failed`: the same kinds, answered with a status of 400 or more; for a batch, a changeset that failed
  (Azurite answers 202 and puts the failing operation's status inside the body). For the app these are mostly
  lost races (409, 412) and looked-up rows that do not exist (404).
- measure `batched`: the entity operations inside batches, by the same kinds as single requests.
- measure `messages`: for `receive`, how many messages the answers held (a poll of an empty queue holds none).
- measure `ms`: milliseconds spent waiting for Azurite's answers, by kind (from forwarding the request to
  having read the whole answer).
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
READ_LIMIT = 1 << 20  # the longest header block or chunk-size line we accept
NO_BODY_STATUSES = frozenset({204, 304})
IDLE_SECONDS = 2.0  # an upstream connection idle longer is not reused (Azurite closes them after about 5 s)
Key = tuple[str, str, str, str]  # (service, measure, kind, resource)

_BATCHED_REQUEST = re.compile(rb"^(GET|POST|PUT|PATCH|MERGE|DELETE) (\S+) HTTP/1\.1\r?\n((?:[^\r\n]+\r?\n)*)", re.M)
_BATCHED_STATUS = re.compile(rb"^HTTP/1\.1 (\d{3})", re.M)


# -- reading HTTP/1.1 messages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpMessage:
    start_line: str  # "GET /path HTTP/1.1" or "HTTP/1.1 200 OK"
    headers: Mapping[str, str]  # names in lower case
    body: bytes  # without chunked framing
    raw: bytes  # exactly as read, to pass on
    closes: bool  # the connection ends after this message

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0]

    @property
    def target(self) -> str:
        return self.start_line.split(" ", 2)[1]

    @property
    def status(self) -> int:
        return int(self.start_line.split(" ", 2)[1])


async def read_message(reader: asyncio.StreamReader, *, answering: str | None = None) -> HttpMessage | None:
    """The next request (or, with `answering` = the request's method, its response) on the connection; None when
    the peer closed it before a message began."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial:
            return None
        raise
    lines = head.decode("latin-1").split("\r\n")
    start_line = lines[0]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    closes = headers.get("connection", "").lower() == "close"
    if answering is not None:
        status = int(start_line.split(" ", 2)[1])
        if answering == "HEAD" or status in NO_BODY_STATUSES or 100 <= status < 200:
            return HttpMessage(start_line, headers, b"", head, closes)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raw, body = await _read_chunked(reader)
        return HttpMessage(start_line, headers, body, head + raw, closes)
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
        return HttpMessage(start_line, headers, body, head + body, closes)
    if answering is None:
        return HttpMessage(start_line, headers, b"", head, closes)  # a request without a body
    body = await reader.read()  # an answer without framing ends with the connection
    return HttpMessage(start_line, headers, body, head + body, True)


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    raw, body = bytearray(), bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        raw += size_line
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while True:  # trailers, up to the empty line
                line = await reader.readuntil(b"\r\n")
                raw += line
                if line == b"\r\n":
                    return bytes(raw), bytes(body)
        chunk = await reader.readexactly(size + 2)
        raw += chunk
        body += chunk[:-2]


# -- what a request is ------------------------------------------------------------------------------------------


def _resource_path(url_or_path: str) -> str:
    """'/devstoreaccount1/pacing()?$filter=...' → 'pacing()': the path after the account, percent-encoded."""
    path = urlsplit(url_or_path).path
    parts = path.lstrip("/").split("/", 1)
    return parts[1] if len(parts) > 1 else ""


def table_request(method: str, target: str, headers: Mapping[str, str]) -> tuple[str, str]:
    """(kind, table name) of a Table service request; see the module docstring for the kinds."""
    rest = _resource_path(target)
    name, paren, _ = rest.partition("(")
    by_keys = "PartitionKey=" in rest
    if name == "Tables":
        return "table", name
    if name == "$batch":
        return "batch", name
    if method == "GET":
        return ("get" if by_keys else "query"), name
    if method == "POST":
        return "insert", name
    if method in ("PUT", "MERGE", "PATCH"):
        return ("update" if "if-match" in headers else "upsert"), name
    if method == "DELETE":
        return "delete", name
    return "other", name or paren


def batched_requests(body: bytes) -> list[tuple[str, str]]:
    """(kind, table name) of each entity operation inside a `$batch` body (multipart/mixed)."""
    found = []
    for match in _BATCHED_REQUEST.finditer(body):
        method, url, header_block = (part.decode("latin-1") for part in match.groups())
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_block.splitlines())
        }
        found.append(table_request(method, url, headers))
    return found


def batch_failed(body: bytes) -> bool:
    """Whether a `$batch` answer reports a failed changeset (its operations' statuses are inside the body)."""
    return any(int(status) >= 400 for status in _BATCHED_STATUS.findall(body))


def queue_request(method: str, target: str) -> tuple[str, str]:
    """(kind, queue name) of a Queue service request; see the module docstring for the kinds."""
    rest = _resource_path(target)
    parts = rest.split("/")
    name = parts[0]
    if len(parts) >= 2 and parts[1] == "messages":
        if len(parts) >= 3 and parts[2]:  # one message, by id
            return ("delete" if method == "DELETE" else "update" if method == "PUT" else "other"), name
        if method in ("POST", "PUT"):
            return "send", name
        if method == "GET":
            peek = parse_qs(urlsplit(target).query).get("peekonly", ["false"])[0].lower() == "true"
            return ("peek" if peek else "receive"), name
        if method == "DELETE":
            return "clear", name
    return "queue", name


def count_exchange(service: str, request: HttpMessage, response: HttpMessage, seconds: float) -> Counter[Key]:
    """What one request and its answer add to the counts."""
    counts: Counter[Key] = Counter()
    if service == "table":
        kind, name = table_request(request.method, request.target, request.headers)
        failed = batch_failed(response.body) if kind == "batch" else response.status >= 400
        if kind == "batch":
            inner = batched_requests(request.body)
            for inner_kind, inner_name in inner:
                counts[(service, "batched", inner_kind, inner_name)] += 1
            name = inner[0][1] if inner else name  # a batch is one partition, so one table: count it there
    else:
        kind, name = queue_request(request.method, request.target)
        failed = response.status >= 400
        if kind == "receive":
            counts[(service, "messages", kind, name)] += response.body.count(b"<QueueMessage>")
    counts[(service, "requests", kind, name)] += 1
    if failed:
        counts[(service, "failed", kind, name)] += 1
    counts[(service, "ms", kind, name)] += seconds * 1000
    return counts


# -- the proxy --------------------------------------------------------------------------------------------------


class StorageProxy:
    """Forwards a free port per service ("table", "queue") to Azurite's port for it, counting what passes.

    Runs an asyncio loop on a thread of its own; use it as a context manager (the thread and its sockets end
    with it). `snapshot()` may be called from any thread."""

    def __init__(self, upstream_ports: Mapping[str, int]) -> None:
        self._upstream = dict(upstream_ports)
        self.ports: dict[str, int] = {}
        self._counts: Counter[Key] = Counter()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-storage-proxy", daemon=True)
        self._servers: list[asyncio.Server] = []

    def __enter__(self) -> StorageProxy:
        self._thread.start()
        for service in self._upstream:
            serving = asyncio.start_server(functools.partial(self._relay, service), HOST, 0, limit=READ_LIMIT)
            server = asyncio.run_coroutine_threadsafe(serving, self._loop).result(timeout=10)
            self._servers.append(server)
            self.ports[service] = server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()

    def snapshot(self) -> Counter[Key]:
        with self._lock:
            return Counter(self._counts)

    async def _close(self) -> None:
        """Stop listening and end the connections still open (their relays are cancelled)."""
        for server in self._servers:
            server.close()
        relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    async def _relay(
        self, service: str, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        upstream = _Upstream(self._upstream[service])
        try:
            while True:
                request = await read_message(client_reader)
                if request is None:
                    return
                sent = time.perf_counter()
                response = await upstream.exchange(request)
                if response is None:
                    return
                counts = count_exchange(service, request, response, time.perf_counter() - sent)
                with self._lock:
                    self._counts.update(counts)
                client_writer.write(response.raw)
                await client_writer.drain()
                if request.closes or response.closes:
                    return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return  # a peer went away or sent what we do not parse: the client sees a closed connection
        finally:
            client_writer.close()
            upstream.close()


class _Upstream:
    """The connection to Azurite behind one client connection, opened again when Azurite has closed it.

    Azurite (Node) closes a keep-alive connection idle for a few seconds. Without the proxy the client's pool
    notices and opens a new one; behind the proxy its own connection stays open, so the proxy must do the same,
    or it would turn Azurite's idle timeout into requests failing with "connection closed without response"."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0

    async def exchange(self, request: HttpMessage) -> HttpMessage | None:
        """Send the request and read the answer; None when Azurite closed the connection without answering twice.
        A request that met a connection closing under it got no answer and was not run, so it is sent once more,
        as a client's pool would."""
        for _ in range(2):
            if self._reader is None or self._reader.at_eof() or time.monotonic() - self._last_used > IDLE_SECONDS:
                await self._reconnect()
            assert self._reader is not None and self._writer is not None
            try:
                self._writer.write(request.raw)
                await self._writer.drain()
                response = await read_message(self._reader, answering=request.method)
            except (ConnectionResetError, BrokenPipeError):
                response = None
            self._last_used = time.monotonic()
            if response is not None:
                return response
            self.close()
        return None

    async def _reconnect(self) -> None:
        self.close()
        self._reader, self._writer = await asyncio.open_connection(HOST, self._port, limit=READ_LIMIT)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

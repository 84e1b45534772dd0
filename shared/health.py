"""What an operator asks the app: can it serve (`GET /health`), and how are its parts (`GET /health/details`).

- Serving means storage answers: the call legs table and the queues. Every request the app serves reads or writes
  them, so without storage it can serve nothing (ACS being down only stops new calls; it is in the details).
  The answer is kept for `serving_cache_seconds`, so an anonymous probe, however often it comes, costs at most
  two storage requests per instance in that time.
- The details: storage (tables, queues), ACS (one cheap request), the callback signing keys' cache, and the
  approximate message count of every queue the app uses and of its `<queue>-poison`.

Every check runs at once in its own thread and the whole is bounded by `timeout_seconds`: a check that has not
answered by then is reported as such, and the answer goes out (the thread ends with its own socket timeout). A
failing check reports its error by kind, status and error code, run through `private_text`: never a key, a
connection string or a token.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError

from shared.callautomation import CallAutomationClient, CallAutomationError, CallNotFoundError
from shared.logs import private_text
from shared.settings import ConfigurationError

STORAGE_TABLES = "storageTables"
STORAGE_QUEUES = "storageQueues"
ACS = "acs"
CALLBACK_KEYS = "callbackKeys"
MAX_THREADS = 16


@dataclass
class Health:
    """The checks, as callables so that tests give fakes (shared/services.py wires the real ones).

    `tables()` reads the call legs table once; `queue_depth(name)` is a queue's approximate message count, None
    when the queue does not exist; `acs()` makes one cheap request to ACS; `callback_keys()` is the signing keys'
    cache state (a dict with `ok`). Each raises when its part does not answer."""

    tables: Callable[[], object]
    queue_depth: Callable[[str], int | None]
    acs: Callable[[], object]
    callback_keys: Callable[[], Mapping[str, Any]]
    queues: tuple[str, ...]
    timeout_seconds: float = 3.0
    serving_cache_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _serving: tuple[float, str | None] | None = field(default=None, init=False, repr=False)
    _serving_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def serving(self) -> str | None:
        """None when the app can serve; otherwise why not (safe to show)."""
        with self._serving_lock:  # concurrent probes wait for the one storage check under way
            if self._serving is not None and self.clock() - self._serving[0] < self.serving_cache_seconds:
                return self._serving[1]
            results = run_bounded({
                STORAGE_TABLES: self.tables,
                STORAGE_QUEUES: lambda: self.queue_depth(self.queues[0]),
            }, self.timeout_seconds)
            failed = [name for name, result in results.items() if not result["ok"]]
            why = None
            if failed:
                parts = " and ".join("tables" if name == STORAGE_TABLES else "queues" for name in failed)
                why = f"Storage ({parts}) does not answer; the app cannot serve."
            self._serving = (self.clock(), why)
            return why

    def details(self) -> dict[str, Any]:
        checks: dict[str, Callable[[], object]] = {
            STORAGE_TABLES: self.tables,
            ACS: self.acs,
            CALLBACK_KEYS: self.callback_keys,
        }
        names = [name for queue in self.queues for name in (queue, f"{queue}-poison")]
        checks.update({f"queue:{name}": _depth_check(self.queue_depth, name) for name in names})
        results = run_bounded(checks, self.timeout_seconds)
        queues = {name: results.pop(f"queue:{name}") for name in names}
        results[STORAGE_QUEUES] = _queues_verdict(queues)
        results = {name: results[name] for name in (STORAGE_TABLES, STORAGE_QUEUES, ACS, CALLBACK_KEYS)}
        return {
            "status": "ok" if all(result["ok"] for result in results.values()) else "failing",
            "checks": results,
            "queues": queues,
            "poisonMessages": sum(q.get("approximateMessageCount") or 0 for n, q in queues.items()
                                  if n.endswith("-poison")),
        }


def run_bounded(checks: Mapping[str, Callable[[], object]], timeout_seconds: float) -> dict[str, dict[str, Any]]:
    """Run every check at once; each result is `{"ok", "elapsedMs", ...}` with what the check returned (a dict
    is merged in) or its `error`. A check still running after `timeout_seconds` is reported as not answering."""
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=min(MAX_THREADS, max(1, len(checks))), thread_name_prefix="health")
    try:
        futures = {name: pool.submit(_timed, check) for name, check in checks.items()}
        wait(futures.values(), timeout=timeout_seconds)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a check that hangs must not hold the answer
    results = {}
    for name, future in futures.items():
        if not future.done() or future.cancelled():
            elapsed = int((time.monotonic() - started) * 1000)
            results[name] = {"ok": False, "elapsedMs": elapsed,
                             "error": f"No answer within {timeout_seconds:g} s."}
        else:
            results[name] = future.result()
    return results


def _timed(check: Callable[[], object]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        value = check()
    except Exception as error:
        result: dict[str, Any] = {"ok": False, "error": describe_error(error)}
    else:
        result = {"ok": True, **value} if isinstance(value, Mapping) else {"ok": True}
    result["elapsedMs"] = int((time.monotonic() - started) * 1000)
    return result


def _depth_check(queue_depth: Callable[[str], int | None], name: str) -> Callable[[], dict[str, Any]]:
    def check() -> dict[str, Any]:
        count = queue_depth(name)
        return {"exists": count is not None, "approximateMessageCount": count or 0}

    return check


def _queues_verdict(queues: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Queues answer when every queue's count came back (a queue that does not exist yet answered too)."""
    failed = {name: q for name, q in queues.items() if not q["ok"]}
    verdict: dict[str, Any] = {"ok": not failed, "queues": len(queues)}
    if failed:
        name, first = next(iter(failed.items()))
        verdict["error"] = f"{len(failed)} of {len(queues)} queues did not answer; {name}: {first['error']}"
    verdict["elapsedMs"] = max((q.get("elapsedMs", 0) for q in queues.values()), default=0)
    return verdict


def describe_error(error: BaseException) -> str:
    """What went wrong, for an operator: the kind, status and error code, never a secret."""
    kind = type(error).__name__
    if isinstance(error, ConfigurationError):
        return private_text(str(error))  # our own words (a setting's name, never its value)
    if isinstance(error, HttpResponseError) and error.status_code is not None:
        code = f", {error.error_code}" if getattr(error, "error_code", None) else ""
        return f"{kind}: status {error.status_code}{code}."
    if isinstance(error, CallAutomationError):
        status = f"status {error.status_code}" if error.status_code is not None else "no answer"
        code = f", code {error.code}" if error.code else ""
        return f"{kind}: {status}{code}."
    if isinstance(error, AzureError | OSError):
        return f"{kind}: {private_text(_first_line(str(error)))[:200]}"
    return kind  # anything else: its text could hold anything


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# -- the real checks (wired in shared/services.py) ------------------------------------------------------------


def storage_options(timeout_seconds: float) -> dict[str, Any]:
    """Per-request options for a storage check: one try, bounded connect and read."""
    return {"retry_total": 0, "connection_timeout": timeout_seconds, "read_timeout": timeout_seconds}


def read_table(table: Any, timeout_seconds: float) -> dict[str, Any]:
    """One query of the table for a partition that never exists: storage's cheapest answer (an empty page)."""
    pages = table.query_entities("PartitionKey eq 'health-check'", results_per_page=1, select=["PartitionKey"],
                                 **storage_options(timeout_seconds)).by_page()
    next(pages, None)
    return {"table": table.table_name}


def queue_depth(queue: Any, timeout_seconds: float) -> int | None:
    """The queue's approximate message count; None when the queue does not exist (yet)."""
    try:
        properties = queue.get_queue_properties(**storage_options(timeout_seconds))
    except ResourceNotFoundError:
        return None
    return int(properties.approximate_message_count or 0)


def ping_acs(acs: CallAutomationClient) -> dict[str, Any]:
    """Ask ACS about a call that does not exist: its 404 says it is reachable and takes the app's credentials
    (401/403 say it does not, 429 that it throttles us, 5xx or no answer that it is down)."""
    try:
        acs.get_call(f"health-check-{uuid.uuid4()}")
    except CallNotFoundError:
        pass
    return {"endpoint": acs.endpoint_host}

"""The health checks (shared/health.py) on fakes: what /health and /health/details answer, every check bounded in
time, errors shown without secrets; and the real checks' requests to storage and ACS."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError, ServiceRequestError

from shared.callautomation import AuthenticationError, CallNotFoundError, ServiceUnavailableError
from shared.health import Health, describe_error, ping_acs, queue_depth, read_table
from shared.settings import ConfigurationError
from shared.storage.clients import APP_QUEUES
from tests.support.app_index import app_functions
from tests.unit.test_openapi import answer_problems, load_spec

CONNECTION_STRING = ("DefaultEndpointsProtocol=https;AccountName=prod;"
                     "AccountKey=c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1uZXZlci1zaG93LXVwLWFueXdoZXJlLg==")
KEYS_OK = {"ok": True, "cached": False, "keys": 0}


def _health(**changes: Any) -> Health:
    depths = {"create-call": 3, "create-call-poison": 1, "play-audio": 0}
    parts: dict[str, Any] = {
        "tables": lambda: {"table": "callLegs"},
        "queue_depth": lambda name: depths.get(name),  # None: the queue does not exist
        "acs": lambda: {"endpoint": "acs.example"},
        "callback_keys": lambda: KEYS_OK,
        "queues": ("create-call", "play-audio"),
        "timeout_seconds": 2.0,
    }
    return Health(**(parts | changes))


def test_the_details_list_every_check_and_every_queue_with_its_poison_queue():
    details = _health().details()

    assert details["status"] == "ok"
    assert {name: check["ok"] for name, check in details["checks"].items()} == {
        "storageTables": True, "storageQueues": True, "acs": True, "callbackKeys": True}
    assert details["checks"]["acs"]["endpoint"] == "acs.example"
    assert {name: (q["exists"], q["approximateMessageCount"]) for name, q in details["queues"].items()} == {
        "create-call": (True, 3), "create-call-poison": (True, 1),
        "play-audio": (True, 0), "play-audio-poison": (False, 0),
    }
    assert details["poisonMessages"] == 1
    assert all(isinstance(check["elapsedMs"], int) for check in details["checks"].values())


def test_a_failing_check_reports_its_error_without_secrets():
    def storage_refuses(*_: object) -> None:
        raise ClientAuthenticationError(f"Server failed to authenticate the request ({CONNECTION_STRING})")

    def boom() -> None:
        raise RuntimeError(f"unexpected while using {CONNECTION_STRING}")

    details = _health(tables=storage_refuses, queue_depth=storage_refuses, acs=boom).details()

    assert details["status"] == "failing"
    checks = details["checks"]
    assert checks["storageTables"] == checks["storageTables"] | {
        "ok": False, "error": "ClientAuthenticationError: Server failed to authenticate the request "
                              "(DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=[redacted])"}
    assert checks["storageQueues"]["error"].startswith("4 of 4 queues did not answer; create-call: ")
    assert checks["acs"]["error"] == "RuntimeError"  # an unknown error's text could hold anything
    assert checks["callbackKeys"]["ok"]
    assert "c2VjcmV0" not in json.dumps(details)  # the account key's first characters


def test_a_check_that_hangs_is_reported_and_the_answer_comes_in_time():
    release = threading.Event()
    health = _health(acs=lambda: release.wait(30), timeout_seconds=0.3)
    try:
        started = time.monotonic()
        details = health.details()
        took = time.monotonic() - started
    finally:
        release.set()

    assert took < 2
    assert details["checks"]["acs"] == {"ok": False, "elapsedMs": details["checks"]["acs"]["elapsedMs"],
                                        "error": "No answer within 0.3 s."}
    assert details["checks"]["storageTables"]["ok"] and details["status"] == "failing"


def test_keys_that_could_not_be_fetched_fail_their_check():
    failed = {"ok": False, "cached": False, "lastFetchError": "no keys", "error": "no keys"}
    details = _health(callback_keys=lambda: failed).details()

    assert details["checks"]["callbackKeys"]["ok"] is False and details["status"] == "failing"


def test_serving_needs_tables_and_queues_and_is_kept_a_few_seconds():
    now, calls = [100.0], []

    def tables() -> None:
        calls.append("tables")
        if len(calls) > 1:
            raise ServiceRequestError("Connection refused")

    health = _health(tables=tables, clock=lambda: now[0], serving_cache_seconds=5)
    assert health.serving() is None
    now[0] += 4
    assert health.serving() is None and calls == ["tables"]  # the answer is kept: no second storage request
    now[0] += 2
    assert health.serving() == "Storage (tables) does not answer; the app cannot serve."
    assert calls == ["tables", "tables"]


def test_serving_fails_when_the_queues_do_not_answer():
    def down(_: str) -> None:
        raise ServiceRequestError("timed out")

    assert _health(queue_depth=down).serving() == "Storage (queues) does not answer; the app cannot serve."


@pytest.mark.parametrize(("error", "shown"), [
    (ConfigurationError("The app setting for acs_resource_id is not configured."),
     "The app setting for acs_resource_id is not configured."),
    (AuthenticationError("ACS answered 401: Denied.", status_code=401, code="Unauthorized"),
     "AuthenticationError: status 401, code Unauthorized."),
    (ServiceUnavailableError("ACS could not be reached (ConnectionError) for GET /calling."),
     "ServiceUnavailableError: no answer."),
    (ServiceRequestError(f"Failed to connect: {CONNECTION_STRING}"),
     "ServiceRequestError: Failed to connect: DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=[redacted]"),
    (OSError("Connection refused"), "OSError: Connection refused"),
    (ValueError(CONNECTION_STRING), "ValueError"),
])
def test_errors_are_described_by_kind_status_and_code(error, shown):
    assert describe_error(error) == shown


# -- the real checks' requests ---------------------------------------------------------------------------------


class FakeQueue:
    def __init__(self, count: int | None) -> None:
        self.count, self.options = count, None

    def get_queue_properties(self, **options: Any) -> Any:
        self.options = options
        if self.count is None:
            raise ResourceNotFoundError("The specified queue does not exist.")
        return SimpleNamespace(approximate_message_count=self.count)


def test_a_queue_depth_is_one_bounded_try_and_a_missing_queue_is_none():
    queue = FakeQueue(7)
    assert queue_depth(queue, 2.0) == 7
    assert queue.options == {"retry_total": 0, "connection_timeout": 2.0, "read_timeout": 2.0}
    assert queue_depth(FakeQueue(None), 2.0) is None


def test_reading_the_table_asks_for_one_page_of_a_partition_that_never_exists():
    asked = {}

    class Table:
        table_name = "callLegs"

        def query_entities(self, query: str, **options: Any) -> Any:
            asked.update(options, query=query)
            return SimpleNamespace(by_page=lambda: iter([iter([])]))

    assert read_table(Table(), 1.5) == {"table": "callLegs"}
    assert asked == {"query": "PartitionKey eq 'health-check'", "results_per_page": 1, "select": ["PartitionKey"],
                     "retry_total": 0, "connection_timeout": 1.5, "read_timeout": 1.5}


def test_acs_is_reachable_when_it_says_the_probe_call_does_not_exist():
    class Acs:
        endpoint_host = "acs.example"

        def __init__(self, error: Exception) -> None:
            self.error, self.asked = error, []

        def get_call(self, call_connection_id: str) -> None:
            self.asked.append(call_connection_id)
            raise self.error

    reachable = Acs(CallNotFoundError("ACS answered 404: Call not found.", status_code=404, code="8522"))
    assert ping_acs(reachable) == {"endpoint": "acs.example"}
    assert reachable.asked[0].startswith("health-check-")
    with pytest.raises(AuthenticationError):
        ping_acs(Acs(AuthenticationError("ACS answered 401", status_code=401)))


def test_the_checked_queues_are_every_queue_a_function_listens_on():
    triggers = {f.get_trigger().queue_name for f in app_functions() if f.get_trigger().type == "queueTrigger"}
    assert set(APP_QUEUES) == triggers


# -- the routes answer as openapi.json documents ---------------------------------------------------------------


def _handlers() -> dict[str, Any]:
    return {f.get_function_name(): f.get_user_function() for f in app_functions()}


def test_the_health_routes_answer_as_documented(monkeypatch):
    spec, handlers = load_spec(), _handlers()
    request = func.HttpRequest("GET", "/health", body=b"")
    state = {"health": _health()}
    for module in ("health.function", "health_details.function"):
        monkeypatch.setattr(f"{module}.get_health", lambda: state["health"])

    ok = handlers["health"](request)
    assert (ok.status_code, json.loads(ok.get_body())) == (200, {"status": "ok"})
    assert answer_problems(spec, "health", ok) == []
    details = handlers["health_details"](request)
    assert details.status_code == 200 and answer_problems(spec, "health_details", details) == []

    def down(*_: object) -> None:
        raise ServiceRequestError("Connection refused")

    state["health"] = _health(tables=down, queue_depth=down, acs=down)
    unavailable = handlers["health"](request)
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "5"
    assert json.loads(unavailable.get_body()) == {
        "code": "StorageUnavailable", "message": "Storage (tables and queues) does not answer; the app cannot serve."}
    assert answer_problems(spec, "health", unavailable) == []
    failing = handlers["health_details"](request)
    assert json.loads(failing.get_body())["status"] == "failing"
    assert answer_problems(spec, "health_details", failing) == []


"""GET /health and /health/details against the stack: an instance of the app that enforces function keys (on the
stack's storage and emulator), and one whose storage and ACS do not answer."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from devstack.processes import free_ports
from shared.storage.clients import APP_QUEUES
from tests.e2e.conftest import REPO_ROOT, WEBHOOK_SECRET
from tests.e2e.log_scan import leaks
from tests.support.devhost_process import RunningDevhost, running_devhost

FUNCTION_KEY = "e2e-function-key-0f4b9d2a71c3"
ANSWERS = "+15005550006"  # the emulator's magic number: answers and presses 1


@dataclass
class App:
    url: str
    host: RunningDevhost

    def get(self, path: str, key: str | None = FUNCTION_KEY) -> requests.Response:
        headers = {"x-functions-key": key} if key else {}
        return requests.get(self.url + path, headers=headers, timeout=15)

    def details(self) -> dict:
        answer = self.get("/health/details")
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def keyed_app(stack) -> Iterator[App]:
    """The app with a function key, beside the stack's own instance (as a scale-out adds one)."""
    port = free_ports()[0]
    env = {**stack.app_env, "DEVHOST_FUNCTION_KEY": FUNCTION_KEY, "CALLBACK_BASE_URL": f"http://127.0.0.1:{port}"}
    with running_devhost(REPO_ROOT, port=port, env=env) as host:
        yield App(host.base_url, host)


@pytest.fixture(scope="module")
def cut_off_app(stack) -> Iterator[App]:
    """The app whose storage and ACS are at ports where nothing listens."""
    port, dead = free_ports(2)
    storage = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{dead}", stack.app_env["AzureWebJobsStorage"])
    acs = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{dead}", stack.app_env["ACS_CONNECTION_STRING"])
    env = {**stack.app_env, "AzureWebJobsStorage": storage, "ACS_CONNECTION_STRING": acs,
           "DEVHOST_FUNCTION_KEY": FUNCTION_KEY, "CALLBACK_BASE_URL": f"http://127.0.0.1:{port}"}
    with running_devhost(REPO_ROOT, port=port, env=env) as host:
        yield App(host.base_url, host)


def _wait(predicate, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        time.sleep(0.3)
    return value


def test_health_is_anonymous_and_says_only_ok(keyed_app):
    answer = keyed_app.get("/health", key=None)

    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_details_need_the_function_key(keyed_app):
    for key in (None, "wrong-key"):
        answer = keyed_app.get("/health/details", key=key)
        assert (answer.status_code, answer.content) == (401, b""), key  # the host's answer: the app never ran
    assert keyed_app.get("/health/details").status_code == 200
    assert requests.get(f"{keyed_app.url}/health/details", params={"code": FUNCTION_KEY}, timeout=15).ok


def test_the_details_show_every_part_and_queue(keyed_app, stack):
    details = keyed_app.details()

    assert details["status"] == "ok", details
    checks = details["checks"]
    assert all(check["ok"] for check in checks.values()), checks
    assert checks["storageTables"]["table"] == stack.table_name
    assert checks["acs"]["endpoint"] == stack.emulator.endpoint.split("//")[1]
    assert set(details["queues"]) == {name for queue in APP_QUEUES for name in (queue, f"{queue}-poison")}
    assert details["poisonMessages"] == sum(
        q["approximateMessageCount"] for name, q in details["queues"].items() if name.endswith("-poison"))


def test_the_poison_count_grows_after_a_poisoned_message(keyed_app, stack):
    before = keyed_app.details()["queues"]["create-call-poison"]["approximateMessageCount"]

    stack.queue("create-call").send_message(json.dumps({"targets": [ANSWERS], "callbackUri": 7}))  # never valid

    def grown():
        details = keyed_app.details()
        return details if details["queues"]["create-call-poison"]["approximateMessageCount"] > before else None

    details = _wait(grown, what="the poison count grew")
    assert details["queues"]["create-call-poison"] == details["queues"]["create-call-poison"] | {
        "ok": True, "exists": True, "approximateMessageCount": before + 1}
    assert details["poisonMessages"] >= before + 1


def test_the_callback_keys_are_cached_once_acs_called_back(keyed_app, stack):
    placed = requests.post(f"{keyed_app.url}/calls", headers={"x-functions-key": FUNCTION_KEY}, timeout=15,
                           json={"targets": [ANSWERS], "callbackUri": stack.subscriber_url})
    assert placed.status_code == 200, placed.text
    stack.wait_for_events(placed.json()["callLegId"], "CallLegStateChanged")  # its callbacks reached this instance

    keys = keyed_app.details()["checks"]["callbackKeys"]

    assert keys["ok"] and keys["cached"] and keys["keys"] >= 2 and not keys["expired"], keys
    assert keys["lastFetchError"] is None and keys["ageSeconds"] >= 0


def test_without_storage_the_app_is_unavailable_and_the_details_say_why_without_secrets(cut_off_app, stack):
    health = cut_off_app.get("/health", key=None)
    assert health.status_code == 503 and health.headers["Retry-After"] == "5"
    assert health.json() == {"code": "StorageUnavailable",
                             "message": "Storage (tables and queues) does not answer; the app cannot serve."}

    started = time.monotonic()
    answer = cut_off_app.get("/health/details")
    assert answer.status_code == 200 and time.monotonic() - started < 10  # every check is bounded
    details = answer.json()
    assert details["status"] == "failing"
    checks = details["checks"]
    assert [name for name, check in checks.items() if not check["ok"]] == ["storageTables", "storageQueues", "acs"]
    assert checks["storageTables"]["error"].startswith("ServiceRequestError: ")
    assert checks["acs"]["error"] == "ServiceUnavailableError: no answer."
    assert all(not q["ok"] and q["error"] for q in details["queues"].values())
    secrets = {"ACS access key": stack.emulator.access_key, "function key": FUNCTION_KEY}
    assert leaks(answer.text, secrets) == []


def test_the_instances_logs_hold_no_key_or_secret(keyed_app, cut_off_app, stack):
    secrets = {"function key": FUNCTION_KEY, "ACS access key": stack.emulator.access_key,
               "webhook secret": WEBHOOK_SECRET}
    for app in (keyed_app, cut_off_app):
        output = app.host.output()
        assert "GET /health/details" in output  # the requests above are in the log (their keys are not)
        assert leaks(output, secrets) == []

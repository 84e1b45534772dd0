"""Poison is final and visible: a message the host gives up on ends what it concerned, with the reason; and a
create call that comes back after ACS's repeatability window never places a second call."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
import requests
from azure.data.tables import TableServiceClient, UpdateMode
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devstack.processes import free_ports
from tests.e2e.conftest import REPO_ROOT
from tests.support.azurite_process import RunningAzurite, running_azurite
from tests.support.devhost_process import running_devhost

ACS_UNAVAILABLE = {"operation": "createCall", "status": 503, "count": 1000}


@dataclass
class ImpatientApp:
    """The app on storage of its own, with a host that gives a message two tries, a second apart."""

    url: str
    azurite: RunningAzurite
    table_name: str

    def queue(self, name: str) -> QueueClient:
        client = QueueClient.from_connection_string(
            self.azurite.connection_string, name, message_encode_policy=TextBase64EncodePolicy()
        )
        try:
            client.create_queue()
        except Exception:
            pass
        return client

    def leg(self, call_leg_id: str) -> dict:
        return requests.get(f"{self.url}/calls/{call_leg_id}", timeout=15).json()


@pytest.fixture(scope="module")
def impatient_app(stack) -> Iterator[ImpatientApp]:
    with ExitStack() as running:
        azurite = running.enter_context(running_azurite())
        port = free_ports()[0]
        env = {
            **stack.app_env,
            "AzureWebJobsStorage": azurite.connection_string,
            "CALLBACK_BASE_URL": f"http://127.0.0.1:{port}",
            "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "2",
            "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:01",
        }
        app = running.enter_context(running_devhost(REPO_ROOT, port=port, env=env))
        yield ImpatientApp(app.base_url, azurite, stack.table_name)


@pytest.fixture
def acs_unavailable(stack):
    assert stack.emulator.control("POST", "/faults", json=ACS_UNAVAILABLE).status_code == 201
    yield
    stack.emulator.control("DELETE", "/faults")


def _wait(predicate, timeout: float = 40, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout}s"
        time.sleep(0.2)
    return value


def test_a_create_call_message_the_host_gives_up_on_ends_its_leg_with_the_reason(impatient_app, acs_unavailable):
    key = f"reminder-{uuid.uuid4()}"
    impatient_app.queue("create-call").send_message(json.dumps({"targets": ["+15005550011"], "idempotencyKey": key}))
    poison = impatient_app.queue("create-call-poison")

    _wait(lambda: any(key in _text(m.content) for m in poison.peek_messages(max_messages=32)), what="poisoned")

    leg_id = _leg_id_for(impatient_app, key)
    leg = impatient_app.leg(leg_id)
    assert leg["state"] == "terminated" and leg["outcome"] == "failed"
    assert leg["endReason"]["event"] == "MessagePoisoned"
    failed = next(e for e in leg["timeline"] if e["type"] == "callFailed")
    assert "gave up after 2 attempts" in failed["message"] and "503" in failed["message"]


def _text(content: str) -> str:
    return base64.b64decode(content).decode()  # the host keeps the message as it came, base64 and all


def _leg_id_for(app: ImpatientApp, idempotency_key: str) -> str:
    table = TableServiceClient.from_connection_string(app.azurite.connection_string).get_table_client(app.table_name)
    rows = table.query_entities("idempotency_key eq @key", parameters={"key": idempotency_key})
    return next(iter(rows))["PartitionKey"]


def test_a_create_call_repeated_after_the_repeatability_window_never_calls_twice(stack, acs_unavailable):
    target = "+1999" + str(uuid.uuid4().int)[:7]
    body = {"targets": [target], "idempotencyKey": f"late-{uuid.uuid4()}", "callbackUri": stack.subscriber_url}
    first = stack.post("/calls", body)
    assert first.status_code == 503  # ACS did not answer: the leg waits for a repeat with the same key
    leg_id = _leg_id_for_stack(stack, body["idempotencyKey"])
    _pretend_first_sent_minutes_ago(stack, leg_id, 6)
    stack.emulator.control("DELETE", "/faults")

    again = stack.post("/calls", body)

    assert again.status_code == 200 and again.json()["callLegId"] == leg_id
    leg = stack.get_call(leg_id)
    assert leg["state"] == "terminated" and leg["endReason"]["event"] == "RepeatabilityWindowPassed"
    history = stack.emulator.control("GET", "/calls/history").json()["value"]
    assert [c for c in history if c["targets"] == [f"4:{target}"]] == []  # ACS never placed a call
    assert stack.wait_for_events(leg_id, "CallLegStateChanged")[-1]["data"]["outcome"] == "failed"


def _leg_id_for_stack(stack, idempotency_key: str) -> str:
    table = TableServiceClient.from_connection_string(stack.azurite.connection_string).get_table_client(
        stack.table_name
    )
    rows = table.query_entities("idempotency_key eq @key", parameters={"key": idempotency_key})
    return next(iter(rows))["PartitionKey"]


def _pretend_first_sent_minutes_ago(stack, leg_id: str, minutes: int) -> None:
    """As if the first try had died with ACS's answer unknown, and its message came back much later."""
    table = TableServiceClient.from_connection_string(stack.azurite.connection_string).get_table_client(
        stack.table_name
    )
    first_sent = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - minutes * 60))
    table.update_entity({"PartitionKey": leg_id, "RowKey": "leg", "acs_first_sent": first_sent}, mode=UpdateMode.MERGE)

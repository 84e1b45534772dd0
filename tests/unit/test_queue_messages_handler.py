"""The one poison behaviour of every queue function (shared/queues/handler.py): a message that can never be
processed goes to `<queue>-poison` with its reason, the host's last try gives up on what the message concerned,
and each log line names where the error was raised without showing a whole phone number."""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass

import azure.functions as func
import pytest

from shared.fields import ValidationError
from shared.queues import handler as queue_handler
from shared.queues import poison
from shared.queues.poison import mask_phone_numbers, max_dequeue_count
from tests.support.fakes import Queue

QUEUE = "test-queue"
NUMBER = "+14255550123"
LEG_ID = "7f3c2a9e-5b1d-4c8e-9a6f-2d4b8e1c0a35"


class Message(func.QueueMessage):
    def __init__(self, body: str, dequeue_count: int = 1) -> None:
        super().__init__(id="m1", body=body.encode())
        self._count = dequeue_count

    @property
    def dequeue_count(self) -> int:
        return self._count


@dataclass(frozen=True)
class Note:
    number: str

    @classmethod
    def from_message(cls, text: str) -> Note:
        body = json.loads(text) if text.startswith("{") else None
        if not isinstance(body, dict) or not isinstance(body.get("number"), str):
            raise ValidationError("number", f"must be a phone number, not in {text[:40]}")
        return cls(body["number"])

    @staticmethod
    def leg_in(text: str, message_id: str) -> str | None:
        return LEG_ID if "leg" in text else None


class NotThere(LookupError):
    pass


class Refused(Exception):
    def __init__(self, transient: bool) -> None:
        super().__init__(f"ACS refused the call to {NUMBER}")
        self.is_transient = transient


class Timeline:
    def __init__(self) -> None:
        self.entries: list = []

    def find(self, call_leg_id):
        return object()

    def now(self) -> str:
        return "2026-03-02T14:00:00.000000+00:00"

    def append_timeline(self, call_leg_id, entries):
        self.entries += [(call_leg_id, e) for e in entries]


@pytest.fixture
def poison_queue(monkeypatch):
    queues: dict[str, Queue] = {}
    monkeypatch.setattr(poison, "queue_client", lambda _settings, name: queues.setdefault(name, Queue()))
    monkeypatch.setattr(queue_handler, "_settings", lambda: None)
    return queues


@pytest.fixture
def timeline(monkeypatch):
    store = Timeline()
    import shared.services

    monkeypatch.setattr(shared.services, "get_call_leg_store", lambda: store)
    return store


def _handler(error: Exception | None = None, gave_up: list | None = None, poison_on=(NotThere, Refused)):
    handled: list = []

    def give_up(message, msg, reason):
        gave_up.append((message, reason))

    @queue_handler.queue_handler(QUEUE, Note, give_up=give_up if gave_up is not None else None, poison_on=poison_on)
    def handle(message: Note, msg: func.QueueMessage) -> None:
        handled.append(message)
        if error is not None:
            raise error

    return handle, handled


def test_a_good_message_reaches_the_handler_as_its_dataclass(poison_queue):
    handle, handled = _handler()

    handle(Message(json.dumps({"number": NUMBER})))

    assert handled == [Note(NUMBER)] and poison_queue == {}


def test_the_function_the_host_binds_takes_just_the_message():
    handle, _ = _handler()

    assert list(inspect.signature(handle).parameters) == ["msg"]
    assert handle.__annotations__["msg"] is func.QueueMessage


def test_a_message_that_cannot_be_read_is_poisoned_with_its_reason_logged(poison_queue, caplog):
    handle, handled = _handler()
    text = f"not a note for {NUMBER}"

    with caplog.at_level(logging.ERROR):
        handle(Message(text))

    assert handled == [] and poison_queue[f"{QUEUE}-poison"].messages == [text]
    line = next(r.getMessage() for r in caplog.records if "moved to test-queue-poison" in r.getMessage())
    assert "number: must be a phone number" in line
    assert "raised at tests/unit/test_queue_messages_handler.py:" in line and "in from_message" in line
    assert NUMBER not in line and "+1425***0123" in line


def test_an_error_the_handler_names_poisons_at_once_and_is_recorded_on_the_leg(poison_queue, timeline, caplog):
    gave_up: list = []
    handle, _ = _handler(NotThere("no such campaign"), gave_up)

    with caplog.at_level(logging.ERROR):
        handle(Message(json.dumps({"number": NUMBER, "about": "leg"})))

    assert len(poison_queue[f"{QUEUE}-poison"].messages) == 1
    assert gave_up == []  # poisoned, not given up: nothing went back to the host
    [(leg_id, entry)] = timeline.entries
    assert leg_id == LEG_ID and entry.kind == "messagePoisoned"
    assert entry.details == {"queue": QUEUE, "messageId": "m1", "reason": "NotThere: no such campaign"}
    assert "in handle" in caplog.text


def test_a_transient_error_goes_back_to_the_host(poison_queue):
    handle, _ = _handler(Refused(transient=True), [])

    with pytest.raises(Refused):
        handle(Message(json.dumps({"number": NUMBER})))

    assert poison_queue == {}


def test_a_permanent_refusal_is_poisoned(poison_queue):
    handle, _ = _handler(Refused(transient=False), [])

    handle(Message(json.dumps({"number": NUMBER})))

    assert len(poison_queue[f"{QUEUE}-poison"].messages) == 1


def test_an_error_before_the_last_try_goes_back_to_the_host_without_giving_up(poison_queue):
    gave_up: list = []
    handle, _ = _handler(RuntimeError(f"storage timed out calling {NUMBER}"), gave_up)

    with pytest.raises(RuntimeError):
        handle(Message(json.dumps({"number": NUMBER}), dequeue_count=max_dequeue_count() - 1))

    assert gave_up == [] and poison_queue == {}


def test_the_last_try_gives_up_with_the_reason_then_goes_back_to_the_host(poison_queue, caplog):
    gave_up: list = []
    handle, _ = _handler(RuntimeError(f"storage timed out calling {NUMBER}"), gave_up)
    last = max_dequeue_count()

    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError):
        handle(Message(json.dumps({"number": NUMBER}), dequeue_count=last))

    [(message, reason)] = gave_up
    assert message == Note(NUMBER)
    assert reason == f"gave up after {last} attempts: RuntimeError: storage timed out calling {NUMBER}"
    assert poison_queue == {}  # the host moves it, as it does with any message past its last try
    line = next(r.getMessage() for r in caplog.records if "goes to test-queue-poison" in r.getMessage())
    assert "raised at tests/unit/test_queue_messages_handler.py:" in line and "in handle" in line
    assert NUMBER not in line and "+1425***0123" in line


def test_a_give_up_that_fails_is_logged_and_the_failure_still_goes_to_the_host(poison_queue, caplog):
    @queue_handler.queue_handler(QUEUE, Note, give_up=lambda *_: 1 / 0)
    def handle(message: Note, msg: func.QueueMessage) -> None:
        raise RuntimeError("down")

    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError):
        handle(Message(json.dumps({"number": NUMBER}), dequeue_count=max_dequeue_count()))

    assert "Could not record the end of message m1" in caplog.text


@pytest.mark.parametrize(("text", "shown"), [
    (NUMBER, "+1425***0123"),
    (f"to 4:{NUMBER} and +13125550100.", "to 4:+1425***0123 and +1312***0100."),
    ("+1" + "3" * 1000, "+1333***3333"),
    ("dial 2 of spring", "dial 2 of spring"),
])
def test_phone_numbers_are_masked(text, shown):
    assert mask_phone_numbers(text) == shown

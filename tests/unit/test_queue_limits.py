"""Queue messages with ids of 100,000 characters or JSON nested 20,000 levels deep: each queue function moves the
message to its poison queue with a short reason and never hands it to a service (so nothing reaches storage).

Azure queues take at most 64 KiB per message, so the biggest of these could not even be queued; the functions are
called directly, as the host would with a message that did fit.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import azure.functions as func
import pytest

from shared.queues import handler as queue_handler
from tests.support.app_index import app_functions

LONG = 100_000
LEG_ID = "7f3c2a9e-5b1d-4c8e-9a6f-2d4b8e1c0a35"
NUMBER = "+13125550100"
AUDIO = "https://example.com/a.wav"


def _deep(depth: int = 20_000) -> str:
    return "[" * depth + "]" * depth


MESSAGES = {
    "create_call_from_queue": [
        {"targets": ["+1" + "2" * LONG]},
        {"targets": ["8:acs:" + "u" * LONG]},
        {"targets": [NUMBER], "alternateCallerId": "+1" + "8" * LONG},
        {"targets": [NUMBER], "idempotencyKey": "k" * LONG},
        {"targets": [{"rawId": "8:acs:" + "u" * LONG}]},
    ],
    "play_audio_from_queue": [
        {"callLegId": "x" * LONG, "audioFileUri": AUDIO},
        {"callLegId": LEG_ID.upper(), "audioFileUri": AUDIO},
        {"callLegId": LEG_ID + "/" + "x" * LONG, "audioFileUri": AUDIO},
    ],
    "admit_campaign_recipients": [
        {"campaignId": "c" * LONG, "recipients": [NUMBER]},
        {"campaignId": "bad#id", "recipients": [NUMBER]},
        {"campaignId": "spring", "recipients": ["+1" + "3" * LONG]},
        {"campaignId": "spring", "recipients": [{"phoneNumber": NUMBER, "timeZone": "Z" * LONG}]},
    ],
    "campaign_dial": [
        {"campaignId": "c" * LONG, "phoneNumber": NUMBER, "dial": 1},
        {"campaignId": "spring", "phoneNumber": "+1" + "3" * LONG, "dial": 1},
        {"campaignId": "spring", "phoneNumber": NUMBER + "\n", "dial": 1},
    ],
    "campaign_results": [
        {"campaignId": "c" * LONG, "phoneNumber": NUMBER, "callLegId": LEG_ID},
        {"campaignId": "spring", "phoneNumber": "+1" + "3" * LONG, "callLegId": LEG_ID},
        {"campaignId": "spring", "phoneNumber": NUMBER, "callLegId": "x" * LONG},
    ],
}
QUEUE_FUNCTIONS = [*MESSAGES, "deliver_event"]


def _refused(*args, **kwargs):
    raise AssertionError("a refused message reached a service")


@pytest.fixture
def queue_function(monkeypatch):
    """Call a queue function by name; returns the reasons it gave move_to_poison."""
    handlers = {f.get_function_name(): f.get_user_function() for f in app_functions()}
    service = SimpleNamespace(store=None, place_call=_refused, play_audio=_refused, admit=_refused,
                              dial=_refused, record_result=_refused, deliver=_refused)
    reasons: list[str] = []

    def call(name: str, body: str) -> list[str]:
        module = sys.modules[handlers[name].__module__]
        monkeypatch.setattr(queue_handler, "move_to_poison",
                            lambda _s, _q, _id, _text, reason, **_kw: reasons.append(reason))
        for getter in ("get_call_service", "get_campaign_service", "get_event_deliverer"):
            if hasattr(module, getter):
                monkeypatch.setattr(module, getter, lambda: service)
        handlers[name](func.QueueMessage(id="m1", body=body.encode()))
        return reasons

    return call


@pytest.mark.parametrize(
    ("name", "message"), [(name, message) for name, messages in MESSAGES.items() for message in messages]
)
def test_over_long_or_malformed_ids_are_poisoned_with_a_short_reason(queue_function, name, message):
    reasons = queue_function(name, json.dumps(message))

    assert len(reasons) == 1
    assert len(reasons[0]) < 300, reasons[0][:300]


@pytest.mark.parametrize("name", QUEUE_FUNCTIONS)
@pytest.mark.parametrize("body", [_deep(), '{"a":' * 20_000 + "1" + "}" * 20_000, '{"campaignId": ' + _deep() + "}"])
def test_deeply_nested_messages_are_poisoned_as_nested_too_deeply(queue_function, name, body):
    reasons = queue_function(name, body)

    assert len(reasons) == 1 and "nested too deeply" in reasons[0], reasons

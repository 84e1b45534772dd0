"""Queue triggers for other services: create-call and play-audio, at-least-once safe, poison with a reason."""

import json
import time
import uuid

SILENT = "+15005550011"


def _wait(predicate, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.2)
    return value


def _emulator_calls_to(stack, target: str) -> list[dict]:
    calls = stack.emulator.control("GET", "/calls/history").json()["value"]
    return [c for c in calls if any(target in json.dumps(t) for t in c.get("targets", []))]


def _legs_for(stack, target: str) -> list[dict]:
    return [r for r in stack.rows() if r["RowKey"] == "leg" and target in r.get("targets", "")]


def test_a_create_call_message_delivered_twice_places_one_call(stack):
    target = f"+1425555{uuid.uuid4().int % 10000:04d}"
    message = json.dumps(
        {"targets": [target], "idempotencyKey": f"reminder-{uuid.uuid4()}", "callbackUri": stack.subscriber_url}
    )
    queue = stack.queue("create-call")
    handled = "Executed 'Functions.create_call_from_queue'"
    before = stack.app.output().count(handled)

    queue.send_message(message)
    queue.send_message(message)  # the same message again, as at-least-once delivery may do

    legs = _wait(
        lambda: [leg for leg in _legs_for(stack, target) if leg.get("acs_call_connection_id")], what="call placed"
    )
    _wait(lambda: stack.app.output().count(handled) >= before + 2, what="both deliveries handled")
    assert len(_legs_for(stack, target)) == 1
    assert len(_emulator_calls_to(stack, target)) == 1
    stack.wait_for_call(legs[0]["PartitionKey"], lambda leg: leg["state"] == "established")


def test_an_invalid_create_call_message_ends_in_the_poison_queue(stack):
    poison = stack.queue("create-call-poison")
    marker = str(uuid.uuid4())
    stack.queue("create-call").send_message(json.dumps({"targets": ["not-a-number"], "subject": marker}))

    found = _wait(
        lambda: [m for m in poison.peek_messages(max_messages=32) if marker in _decode(m.content)],
        what="poisoned message",
    )
    assert found
    stack.app.wait_for_output("moved to create-call-poison")


def test_play_audio_from_the_queue_plays_once_and_bad_messages_are_recorded(stack):
    leg_id = stack.place_call(SILENT)
    stack.wait_for_call(leg_id, lambda leg: leg["state"] == "established")
    queue = stack.queue("play-audio")

    queue.send_message(
        json.dumps({"callLegId": leg_id, "audioFileUri": "https://example.com/a.wav", "operationContext": "from-queue"})
    )
    queue.send_message(json.dumps({"callLegId": leg_id, "audioFileUri": "ftp://bad"}))

    leg = stack.wait_for_call(
        leg_id,
        lambda leg: (
            any(op["status"] == "completed" for op in leg["operations"])
            and any(e["type"] == "messagePoisoned" for e in leg["timeline"])
        ),
        timeout=20,
    )
    plays = [op for op in leg["operations"] if op["kind"] == "playAudio"]
    assert [op["operationContext"] for op in plays] == ["from-queue"]
    poisoned = next(e for e in leg["timeline"] if e["type"] == "messagePoisoned")
    assert "audioFileUri" in poisoned["reason"]


def test_a_failing_subscriber_is_retried_then_recorded_as_failed(stack):
    leg_id = stack.place_call(SILENT, callbackUri="http://127.0.0.1:9/nobody-listens")

    leg = stack.wait_for_call(
        leg_id, lambda leg: any(e["type"] == "eventDeliveryFailed" for e in leg["timeline"]), timeout=30
    )

    failed = next(e for e in leg["timeline"] if e["type"] == "eventDeliveryFailed")
    assert failed["attempt"] == 3
    assert failed["outcome"].startswith("unreachable")


def _decode(content) -> str:
    import base64

    text = content if isinstance(content, str) else content.decode()
    try:
        return base64.b64decode(text).decode()
    except ValueError:
        return text

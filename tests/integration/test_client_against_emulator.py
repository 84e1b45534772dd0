"""The app's Call Automation client driving the emulator over real HTTP: a whole call, then every failure mode."""

import uuid

import pytest

from shared.callautomation import (
    AuthenticationError,
    CallAutomationClient,
    CallNotFoundError,
    RetryPolicy,
    ServiceUnavailableError,
    ThrottledError,
    file_source,
    text_source,
    tones_of,
)

CALLER_ID = "+18005550100"


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def client(emulator, sleeps):
    with CallAutomationClient.from_connection_string(emulator.connection_string, sleep=sleeps, timeout=(2, 5)) as acs:
        yield acs


@pytest.fixture
def faults(emulator):
    added = []

    def add(**fault):
        answer = emulator.control("POST", "/faults", json=fault)
        assert answer.status_code == 201, answer.text
        added.append(answer.json()["id"])

    yield add
    emulator.control("DELETE", "/faults")


def _requests(emulator, operation: str, call_id: str | None = None) -> list[dict]:
    params = {"operation": operation, "limit": 1000}
    if call_id:
        params["callConnectionId"] = call_id
    return emulator.control("GET", "/requests", params=params).json()["value"]


def _calls_to(emulator, target: str) -> list[dict]:
    return [c for c in emulator.control("GET", "/calls/history").json()["value"] if f"4:{target}" in c["targets"]]


def _unique_number() -> str:
    return f"+1206555{uuid.uuid4().int % 10000:04d}"


def test_a_whole_call_through_our_client(emulator, client, callback_sink):
    callback = callback_sink.new_url()
    target = "+15005550006"  # answers; presses 1 once listening starts

    call = client.create_call([target], callback, source_caller_id=CALLER_ID, operation_context="ctx")
    assert call.state == "connecting" and call.targets == (f"4:{target}",)
    callback_sink.wait_for_event("CallConnected", call_connection_id=call.call_connection_id)
    call_id = call.call_connection_id

    assert client.get_call(call_id).state == "connected"
    assert [p.raw_id for p in client.list_participants(call_id)] == [f"4:{target}"]
    assert client.get_participant(call_id, target).raw_id == f"4:{target}"

    client.play(call_id, [text_source("Your appointment is tomorrow.")], operation_context="prompt")
    completed = callback_sink.wait_for_event("PlayCompleted", call_connection_id=call_id)
    assert completed["data"]["operationContext"] == "prompt"

    client.recognize_dtmf(call_id, target, prompt=text_source("Press 1"), max_tones=1, operation_context="ask")
    recognized = callback_sink.wait_for_event("RecognizeCompleted", call_connection_id=call_id)
    assert list(tones_of(recognized["data"])) == ["one"]

    client.start_continuous_dtmf(call_id, target)
    client.play(call_id, [file_source("https://example.com/hold.wav")], loop=True)
    callback_sink.wait_for_event("PlayStarted", call_connection_id=call_id)
    client.cancel_media(call_id)
    assert (
        callback_sink.wait_for_event("PlayCanceled", call_connection_id=call_id)["data"]["resultInformation"]["subCode"]
        == 8508
    )

    human = f"8:acs:{uuid.uuid4()}"
    invitation = client.add_participant(call_id, human, operation_context="invite")
    assert invitation.invitation_id
    callback_sink.wait_for_event("AddParticipantSucceeded", call_connection_id=call_id)
    assert human in [p.raw_id for p in client.list_participants(call_id)]
    client.remove_participant(call_id, human)
    callback_sink.wait_for_event("RemoveParticipantSucceeded", call_connection_id=call_id)

    client.hang_up(call_id)
    ended = callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    assert ended["data"]["resultInformation"]["subCode"] == 7000
    with pytest.raises(CallNotFoundError) as missing:
        client.get_call(call_id)
    assert missing.value.code == "8522" and missing.value.status_code == 404


def test_throttling_is_retried_after_retry_after_without_a_second_call(emulator, client, sleeps, faults, callback_sink):
    target = _unique_number()
    faults(operation="createCall", status=429, count=2, retryAfterSeconds=1)

    call = client.create_call([target], callback_sink.new_url(), source_caller_id=CALLER_ID)

    assert sleeps.delays == [1.0, 1.0]
    attempts = [
        r for r in _requests(emulator, "createCall") if r["repeatabilityRequestId"] and r["status"] in (429, 201)
    ][-3:]
    assert [r["status"] for r in attempts] == [429, 429, 201]
    assert len({r["repeatabilityRequestId"] for r in attempts}) == 1
    assert [c["callConnectionId"] for c in _calls_to(emulator, target)] == [call.call_connection_id]


def test_a_long_retry_after_is_left_to_the_caller(client, faults, callback_sink):
    faults(operation="createCall", status=429, count=1, retryAfterSeconds=120)

    with pytest.raises(ThrottledError) as throttled:
        client.create_call([_unique_number()], callback_sink.new_url(), source_caller_id=CALLER_ID)

    assert throttled.value.retry_after == 120


def test_server_errors_are_retried_only_when_repeating_is_safe(emulator, client, sleeps, faults, callback_sink):
    target = "+15005550011"
    faults(operation="createCall", status=500, count=1)
    call = client.create_call([target], callback_sink.new_url(), source_caller_id=CALLER_ID)  # repeatable: retried
    callback_sink.wait_for_event("CallConnected", call_connection_id=call.call_connection_id)
    assert len(sleeps.delays) == 1

    faults(operation="play", status=500, count=1)
    with pytest.raises(ServiceUnavailableError) as failed:
        client.play(call.call_connection_id, [text_source("hi")])  # not repeatable: a retry could play twice
    assert failed.value.status_code == 500
    assert len(_requests(emulator, "play", call.call_connection_id)) == 1

    faults(operation="play", status=503, count=1)
    client.play(call.call_connection_id, [text_source("hi")])  # 503: ACS refused it, so trying again is safe
    assert len(_requests(emulator, "play", call.call_connection_id)) == 3


def test_a_timed_out_create_is_repeated_and_acs_places_one_call(emulator, faults, callback_sink, sleeps):
    target = _unique_number()
    faults(operation="createCall", delayMs=1500, count=1)
    with CallAutomationClient.from_connection_string(
        emulator.connection_string, timeout=(2, 0.5), sleep=sleeps, retry=RetryPolicy(max_attempts=6, backoff=0.5)
    ) as client:
        call = client.create_call([target], callback_sink.new_url(), source_caller_id=CALLER_ID)

    assert sleeps.delays, "the first attempt should have timed out and been repeated"
    callback_sink.wait_for(lambda: _calls_to(emulator, target))
    assert [c["callConnectionId"] for c in _calls_to(emulator, target)] == [call.call_connection_id]


def test_the_wrong_key_is_an_authentication_error(emulator, callback_sink):
    endpoint = emulator.endpoint
    with CallAutomationClient(endpoint, "d3Jvbmcta2V5") as client, pytest.raises(AuthenticationError) as denied:
        client.create_call(["+15005550011"], callback_sink.new_url(), source_caller_id=CALLER_ID)

    assert denied.value.status_code == 401
    assert "d3Jvbmcta2V5" not in str(denied.value)


def test_nothing_listening_is_unavailable_after_retries(sleeps):
    with CallAutomationClient("http://127.0.0.1:9", "cHc9PQ==", sleep=sleeps) as client:
        with pytest.raises(ServiceUnavailableError) as unreachable:
            client.play("call-1", [text_source("hi")])  # refused connections never reached ACS: safe to repeat

    assert unreachable.value.status_code is None
    assert sleeps.delays == [0.5, 1.0, 2.0]

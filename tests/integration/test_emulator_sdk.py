"""The official SDK (azure-communication-callautomation 1.6.0) runs a whole call against the emulator, and every
callback the emulator posted parses with azure-core's CloudEvent and the SDK's own event models."""

from __future__ import annotations

import azure.communication.callautomation._generated.models as sdk_events
from azure.communication.callautomation import (
    CallAutomationClient,
    FileSource,
    PhoneNumberIdentifier,
    TextSource,
)
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.messaging import CloudEvent

from tests.support.acs import CALLER_ID, unique_number

CALLEE = "+15005550006"  # answers, presses 1 one second after listening starts


def _client(emulator) -> CallAutomationClient:
    # from_connection_string() turns "http://host:port" into "https://host:port" (the SDK drops the scheme);
    # the emulator answers TLS on the same port with a self-signed certificate the SDK is told to trust.
    return CallAutomationClient.from_connection_string(emulator.connection_string,
                                                       connection_verify=emulator.tls_certificate)


def test_sdk_over_plain_http_built_from_the_endpoint(emulator):
    client = CallAutomationClient(emulator.endpoint, AzureKeyCredential(emulator.access_key))
    try:
        client.get_call_connection("no-such-call").get_call_properties()
        raise AssertionError("expected 404")
    except ResourceNotFoundError as error:
        assert error.error.code == "8522"


def test_sdk_runs_a_whole_call(emulator, callback_sink):
    client = _client(emulator)
    callback = callback_sink.new_url()
    caller = PhoneNumberIdentifier(CALLER_ID)
    extra = unique_number()

    created = client.create_call(PhoneNumberIdentifier(CALLEE), callback, source_caller_id_number=caller,
                                 operation_context="outbound")
    call_id = created.call_connection_id
    assert created.call_connection_state == "connecting"
    callback_sink.wait_for_event("CallConnected", call_connection_id=call_id)

    connection = client.get_call_connection(call_id)
    assert connection.get_call_properties().call_connection_state == "connected"
    assert [p.identifier.raw_id for p in connection.list_participants()] == ["4:" + CALLEE]
    assert connection.get_participant(PhoneNumberIdentifier(CALLEE)).identifier.raw_id == "4:" + CALLEE

    connection.play_media(FileSource("https://media.example.com/welcome.wav"), operation_context="welcome")
    connection.start_recognizing_media(
        input_type="dtmf", target_participant=PhoneNumberIdentifier(CALLEE), play_prompt=TextSource(text="Press 1"),
        dtmf_max_tones_to_collect=1, operation_context="menu",
    )
    recognized = callback_sink.wait_for_event("RecognizeCompleted", call_connection_id=call_id)
    assert recognized["data"]["dtmfResult"]["tones"] == ["one"]
    assert recognized["data"]["operationContext"] == "menu"

    connection.play_media(FileSource("https://media.example.com/hold.wav"), loop=True, operation_context="hold")
    callback_sink.wait_for(lambda: callback_sink.events(call_id, "PlayStarted")[1:])
    connection.cancel_all_media_operations()
    canceled = callback_sink.wait_for_event("PlayCanceled", call_connection_id=call_id)
    assert canceled["data"]["operationContext"] == "hold"

    added = connection.add_participant(PhoneNumberIdentifier(extra), source_caller_id_number=caller,
                                       operation_context="add")
    assert added.invitation_id and added.participant.identifier.raw_id == "4:" + extra
    callback_sink.wait_for_event("AddParticipantSucceeded", call_connection_id=call_id)
    assert len(list(connection.list_participants())) == 2
    connection.remove_participant(PhoneNumberIdentifier(extra), operation_context="remove")
    callback_sink.wait_for_event("RemoveParticipantSucceeded", call_connection_id=call_id)

    connection.hang_up(is_for_everyone=False)
    disconnected = callback_sink.wait_for_event("CallDisconnected", call_connection_id=call_id)
    assert disconnected["data"]["resultInformation"] == {
        "code": 200, "subCode": 7000,
        "message": "Call was ended by Azure Communication Service Call Automation API or a server bot. "
                   "DiagCode: 0#7000.@"}
    try:
        connection.get_call_properties()
        raise AssertionError("an ended call must be gone")
    except ResourceNotFoundError as error:
        assert error.status_code == 404 and "8522" in str(error)

    _assert_every_callback_parses(callback_sink, call_id)


def _assert_every_callback_parses(sink, call_id):
    requests_seen = sink.received
    assert requests_seen
    for request in requests_seen:
        assert isinstance(request.json, list) and len(request.json) == 1
        assert request.headers["authorization"].startswith("Bearer ")
        event = CloudEvent.from_dict(request.json[0])
        assert event.specversion == "1.0" and event.source == f"calling/callConnections/{call_id}"
        name = event.type.split(".")[-1]
        model = getattr(sdk_events, name).deserialize(event.data)
        assert model.call_connection_id == call_id
        assert model.server_call_id and model.correlation_id
        if name == "ParticipantsUpdated":
            assert model.sequence_number >= 1 and all(p.identifier.raw_id for p in model.participants)
        elif name == "RecognizeCompleted":
            assert model.recognition_type == "dtmf" and model.dtmf_result.tones == ["one"]
        else:
            assert model.result_information is not None and model.result_information.code in (200, 400)
    names = [e["type"].split(".")[-1] for e in sink.events(call_id)]
    for expected in ("CallConnected", "ParticipantsUpdated", "PlayStarted", "PlayCompleted", "RecognizeCompleted",
                     "PlayCanceled", "AddParticipantSucceeded", "RemoveParticipantSucceeded", "CallDisconnected"):
        assert expected in names
    assert names[-1] == "CallDisconnected"


def test_sdk_pinned_to_2025_06_15(emulator, callback_sink):
    client = CallAutomationClient(emulator.endpoint, AzureKeyCredential(emulator.access_key), api_version="2025-06-15")
    created = client.create_call(PhoneNumberIdentifier(unique_number()), callback_sink.new_url(),
                                 source_caller_id_number=PhoneNumberIdentifier(CALLER_ID))
    connected = callback_sink.wait_for_event("CallConnected", call_connection_id=created.call_connection_id)
    assert connected["data"]["version"] == "2025-06-15"  # the emulator accepted the SDK's api-version as sent
    client.get_call_connection(created.call_connection_id).hang_up(is_for_everyone=True)


def test_sdk_sees_acs_errors(emulator):
    client = _client(emulator)
    try:
        client.get_call_connection("no-such-call").get_call_properties()
        raise AssertionError("expected 404")
    except ResourceNotFoundError as error:
        assert error.error.code == "8522"


def test_sdk_mid_call_action_on_connecting_call_is_8501(emulator, callback_sink):
    client = _client(emulator)
    emulator.control("PUT", f"/callees/{(slow := unique_number())}", json={"answerAfterMs": 100_000})
    created = client.create_call(PhoneNumberIdentifier(slow), callback_sink.new_url(),
                                 source_caller_id_number=PhoneNumberIdentifier(CALLER_ID))
    connection = client.get_call_connection(created.call_connection_id)
    try:
        connection.play_media(FileSource("https://media.example.com/a.wav"))
        raise AssertionError("expected 400")
    except HttpResponseError as error:
        assert error.status_code == 400 and error.error.code == "8501"
    connection.hang_up(is_for_everyone=True)

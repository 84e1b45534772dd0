"""Each queue's message: what `to_message` writes, `from_message` reads back; and what cannot be processed is
refused with a ValidationError naming why. The wire formats are those already in deployed queues."""

from __future__ import annotations

import json

import pytest

from shared.calls.flow import HangUp, Play
from shared.calls.legs import CallEnded
from shared.calls.messages.campaign_results import CampaignResultMessage
from shared.calls.messages.create_call import CreateCallMessage
from shared.calls.messages.event_delivery import EventDeliveryMessage
from shared.calls.messages.in_process import LineFreedMessage, PlanStepMessage
from shared.calls.messages.play_audio import PlayAudioMessage
from shared.calls.plans import Prompt, parse_plan
from shared.calls.requests import CreateCallRequest, PlayAudioRequest
from shared.campaigns.messages.campaign_dial import CampaignDialMessage
from shared.campaigns.messages.campaign_recipients import CampaignRecipientsMessage
from shared.campaigns.service import RecipientEntry
from shared.fields import ValidationError
from shared.lines import Grant
from shared.storage.clients import (
    CAMPAIGN_DIAL_QUEUE,
    CAMPAIGN_RECIPIENTS_QUEUE,
    CAMPAIGN_RESULTS_QUEUE,
    CREATE_CALL_QUEUE,
    EVENT_DELIVERY_QUEUE,
    PLAY_AUDIO_QUEUE,
)

LEG_ID = "7f3c2a9e-5b1d-4c8e-9a6f-2d4b8e1c0a35"
NUMBER = "+14255550123"
CALLER = "+18005550100"
GRANT = Grant(holder=LEG_ID, caller_id=CALLER, line=("number-+18005550100", "line-0"),
              seat=("campaign-spring", "seat-1"), start_at=12.5, granted_at=10.0)


def test_each_message_names_its_queue():
    assert CreateCallMessage.queue == CREATE_CALL_QUEUE
    assert PlayAudioMessage.queue == PLAY_AUDIO_QUEUE
    assert EventDeliveryMessage.queue == EVENT_DELIVERY_QUEUE
    assert CampaignRecipientsMessage.queue == CAMPAIGN_RECIPIENTS_QUEUE
    assert CampaignDialMessage.queue == CAMPAIGN_DIAL_QUEUE
    assert CampaignResultMessage.queue == CAMPAIGN_RESULTS_QUEUE


# -- create-call (public) ---------------------------------------------------------------------------------------


def test_create_call_round_trips():
    request = CreateCallRequest(targets=[f"4:{NUMBER}"], alternate_caller_id=CALLER, subject="hi",
                                callback_uri="https://example.com/cb", requested_call_events=["dtmfReceived"],
                                idempotency_key="k-1", plan=parse_plan({"prompt": {"text": "Press 1."}}))
    message = CreateCallMessage(request)

    assert CreateCallMessage.parse(message.to_message(), default_caller_id=None) == message


def test_create_call_reads_the_public_format_as_other_services_send_it():
    text = json.dumps({"targets": [NUMBER], "alternateCallerId": {"value": CALLER}, "idempotencyKey": "k"})

    message = CreateCallMessage.parse(text, default_caller_id=None)

    assert message.request.targets == [f"4:{NUMBER}"] and message.request.alternate_caller_id == CALLER
    assert message.idempotency_key("m1") == "k"


def test_create_call_without_a_key_is_named_by_the_queue_message():
    message = CreateCallMessage.parse(json.dumps({"targets": [NUMBER]}), default_caller_id=CALLER)

    assert message.named_request("m1").idempotency_key == "message:m1"


@pytest.mark.parametrize(("text", "field"), [
    ("not json", "message"),
    ("[1]", "message"),
    (json.dumps({"targets": []}), "targets"),
    (json.dumps({"targets": [NUMBER]}), "alternateCallerId"),  # no caller id, none by default
])
def test_create_call_refuses(text, field):
    with pytest.raises(ValidationError) as refused:
        CreateCallMessage.parse(text, default_caller_id=None)
    assert refused.value.field == field


# -- play-audio (public) ----------------------------------------------------------------------------------------


def test_play_audio_round_trips():
    message = PlayAudioMessage(LEG_ID, PlayAudioRequest("https://example.com/a.wav", loop=True,
                                                        operation_context="ctx", resource_id="r1"))

    assert PlayAudioMessage.from_message(message.to_message()) == message


def test_play_audio_reads_its_alias_audio_file_id():
    text = json.dumps({"callLegId": LEG_ID, "audioFileUri": "https://example.com/a.wav", "audioFileId": "f"})

    assert PlayAudioMessage.from_message(text).request.resource_id == "f"


@pytest.mark.parametrize(("body", "field"), [
    ({"audioFileUri": "https://example.com/a.wav"}, "callLegId"),
    ({"callLegId": LEG_ID.upper(), "audioFileUri": "https://example.com/a.wav"}, "callLegId"),
    ({"callLegId": LEG_ID}, "audioFileUri"),
    ({"callLegId": LEG_ID, "audioFileUri": "https://example.com/a.wav", "loop": "yes"}, "loop"),
])
def test_play_audio_refuses(body, field):
    with pytest.raises(ValidationError) as refused:
        PlayAudioMessage.from_message(json.dumps(body))
    assert refused.value.field == field


def test_play_audio_names_its_leg_even_when_invalid():
    assert PlayAudioMessage.leg_in(json.dumps({"callLegId": LEG_ID}), "m1") == LEG_ID
    assert PlayAudioMessage.leg_in(json.dumps({"callLegId": "x"}), "m1") is None
    assert PlayAudioMessage.leg_in("[[", "m1") is None


# -- event-deliveries -------------------------------------------------------------------------------------------


def test_event_delivery_round_trips_and_keeps_its_format():
    message = EventDeliveryMessage(LEG_ID, "https://example.com/cb", {"id": "e1", "type": "t"}, attempt=3)
    text = message.to_message()

    assert json.loads(text) == {"callLegId": LEG_ID, "url": "https://example.com/cb",
                                "event": {"id": "e1", "type": "t"}, "attempt": 3}
    assert EventDeliveryMessage.from_message(text) == message
    assert message.retry().attempt == 4


def test_event_delivery_attempt_is_optional():
    text = json.dumps({"callLegId": LEG_ID, "url": "https://example.com/cb", "event": {"id": "e1"}})

    assert EventDeliveryMessage.from_message(text).attempt == 1


@pytest.mark.parametrize(("text", "reason"), [
    ("{", "not an event delivery message"),
    (json.dumps({"callLegId": LEG_ID, "url": "u"}), "not an event delivery message"),
    (json.dumps({"callLegId": LEG_ID, "url": "u", "event": {}}), "the event has no id"),
    (json.dumps({"callLegId": LEG_ID, "url": "u", "event": {"id": "e"}, "attempt": "x"}),
     "not an event delivery message"),
])
def test_event_delivery_refuses(text, reason):
    with pytest.raises(ValidationError, match=reason):
        EventDeliveryMessage.from_message(text)


# -- campaign-recipients (public) -------------------------------------------------------------------------------


def test_campaign_recipients_round_trips_and_keeps_its_format():
    message = CampaignRecipientsMessage("spring", [RecipientEntry(NUMBER), RecipientEntry("+13125550100", "UTC")])
    text = message.to_message()

    assert json.loads(text) == {"campaignId": "spring", "recipients": [
        {"phoneNumber": NUMBER, "timeZone": None}, {"phoneNumber": "+13125550100", "timeZone": "UTC"}]}
    assert CampaignRecipientsMessage.from_message(text) == message


def test_campaign_recipients_may_be_bare_numbers():
    message = CampaignRecipientsMessage.from_message(json.dumps({"campaignId": "spring", "recipients": [NUMBER]}))

    assert message.recipients == [RecipientEntry(NUMBER)]


@pytest.mark.parametrize(("body", "field"), [
    ({"campaignId": "bad#id", "recipients": [NUMBER]}, "campaignId"),
    ({"recipients": [NUMBER]}, "campaignId"),
    ({"campaignId": "spring"}, "recipients"),
    ({"campaignId": "spring", "recipients": ["4255550123"]}, "recipients[0].phoneNumber"),
])
def test_campaign_recipients_refuses(body, field):
    with pytest.raises(ValidationError) as refused:
        CampaignRecipientsMessage.from_message(json.dumps(body))
    assert refused.value.field == field


# -- campaign-dial ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grant", [None, GRANT])
def test_campaign_dial_round_trips_with_or_without_a_grant(grant):
    message = CampaignDialMessage("spring", NUMBER, 2, grant)
    text = message.to_message()

    assert ("grant" in json.loads(text)) is (grant is not None)
    assert CampaignDialMessage.from_message(text) == message


@pytest.mark.parametrize(("body", "field"), [
    ({"campaignId": "spring", "phoneNumber": NUMBER}, "message"),
    ({"campaignId": "spring", "phoneNumber": NUMBER + "\n", "dial": 1}, "message"),
    ({"campaignId": "c" * 41, "phoneNumber": NUMBER, "dial": 1}, "message"),
    ({"campaignId": "spring", "phoneNumber": NUMBER, "dial": 1, "grant": {"holder": LEG_ID}}, "grant"),
])
def test_campaign_dial_refuses(body, field):
    with pytest.raises(ValidationError) as refused:
        CampaignDialMessage.from_message(json.dumps(body))
    assert refused.value.field == field


# -- campaign-results -------------------------------------------------------------------------------------------


def test_campaign_result_round_trips_and_carries_how_the_call_ended():
    ended = CallEnded("answered", {"code": 200}, "2024-01-01T00:00:00Z", "2024-01-01T00:00:05Z",
                      "2024-01-01T00:01:00Z", "1")
    message = CampaignResultMessage("spring", NUMBER, LEG_ID, ended)

    assert CampaignResultMessage.from_message(message.to_message()) == message


def test_campaign_result_of_an_older_version_has_no_ended():
    text = json.dumps({"campaignId": "spring", "phoneNumber": NUMBER, "callLegId": LEG_ID})

    assert CampaignResultMessage.from_message(text).ended is None


@pytest.mark.parametrize("body", [
    {"campaignId": "spring", "phoneNumber": NUMBER},
    {"campaignId": "spring", "phoneNumber": "x", "callLegId": LEG_ID},
    {"campaignId": "spring", "phoneNumber": NUMBER, "callLegId": "x" * 36},
])
def test_campaign_result_refuses(body):
    with pytest.raises(ValidationError, match="needs a campaignId"):
        CampaignResultMessage.from_message(json.dumps(body))


# -- in-process entries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", [HangUp(), Play(Prompt(text="hello"), context="plan:greeting")])
def test_plan_step_round_trips(action):
    message = PlanStepMessage(action)

    assert PlanStepMessage.from_message(message.to_message()) == message
    assert message.is_hang_up is isinstance(action, HangUp)


def test_line_freed_round_trips():
    message = LineFreedMessage(GRANT)

    assert LineFreedMessage.from_message(message.to_message()) == message

"""Unknown fields are refused with 400 UnknownField, naming the nearest known field; known fields still match in
any case."""

import pytest

from shared.calls.requests import parse_create_call, parse_play_audio
from shared.campaigns.service import parse_add_recipients, parse_campaign
from shared.fields import UnknownFieldError, nearest_field, object_fields
from shared.http.errors import error_for

PLAN = {"prompt": {"text": "Your flu shot is tomorrow at 9. Press 1 to confirm."}}
CALL = {"targets": ["+14255550123"], "alternateCallerId": "+18005550100", "callbackUri": "https://example.org/events"}
CAMPAIGN = {"name": "Flu shots", "plan": PLAN, "callerIds": ["+18005550100"], "recipients": ["+14255550123"]}


def _refusal(parse, body) -> tuple[int, str, str]:
    with pytest.raises(UnknownFieldError) as refused:
        parse(body)
    answer = error_for(refused.value)
    return answer.status_code, answer.code, answer.message


def test_a_typo_is_refused_with_the_field_it_meant():
    status, code, message = _refusal(parse_create_call, {**CALL, "callbackUrl": "https://example.org/x"})
    assert (status, code) == (400, "UnknownField")
    assert message == "Unknown field `callbackUrl`; did you mean `callbackUri`?"


def test_known_fields_still_match_in_any_case():
    body = {"Targets": CALL["targets"], "ALTERNATECALLERID": CALL["alternateCallerId"]}
    body["CallbackURI"] = CALL["callbackUri"]
    request = parse_create_call(body)
    assert request.callback_uri == CALL["callbackUri"]


@pytest.mark.parametrize(
    ("change", "named", "meant"),
    [
        ({"plan": {"prompt": {"txt": "Hello"}}}, "plan.prompt.txt", "plan.prompt.text"),
        ({"plan": {**PLAN, "colect": {}}}, "plan.colect", "plan.collect"),
        ({"pacing": {"maxCalls": 5}}, "pacing.maxCalls", "pacing.maxConcurrentCalls"),
        ({"retry": {"retryon": ["busy"], "maxAttempt": 2}}, "retry.maxAttempt", "retry.maxAttempts"),
        ({"recipients": [{"phoneNumber": "+14255550123", "timezone": "UTC", "tz": "x"}]}, "recipients[0].tz", None),
        ({"expiresat": None, "expireAt": "2030-01-01T00:00:00Z"}, "expireAt", "expiresAt"),
    ],
)
def test_unknown_fields_inside_a_campaign_are_named_with_their_path(change, named, meant):
    status, code, message = _refusal(lambda body: parse_campaign(body, default_caller_id=None), {**CAMPAIGN, **change})
    assert (status, code) == (400, "UnknownField")
    assert f"`{named}`" in message
    if meant:
        assert f"did you mean `{meant}`?" in message
    else:
        assert "did you mean" not in message and "the known fields are" in message


def test_several_unknown_fields_are_each_named_and_nothing_far_is_suggested():
    _, _, message = _refusal(parse_play_audio, {"audioFileUri": "https://example.org/a.wav", "lop": True, "zzzz": 1})
    assert "`lop` (did you mean `loop`?)" in message and "`zzzz`" in message
    assert "did you mean `zzzz`" not in message


def test_a_huge_or_unprintable_field_name_is_shown_short_and_escaped():
    name = "\x00" + "x" * 10_000
    _, _, message = _refusal(lambda body: object_fields(body, ("recipients",)), {name: 1})
    assert len(message) < 400 and "\x00" not in message and "\\x00" in message


def test_adding_recipients_takes_only_recipients():
    status, code, message = _refusal(parse_add_recipients, {"recipient": ["+14255550123"]})
    assert (status, code) == (400, "UnknownField") and "did you mean `recipients`?" in message


def test_nearest_field_ignores_case_and_gives_up_when_nothing_is_close():
    assert nearest_field("CALLBACKURL", ["callbackUri", "subject"]) == "callbackUri"
    assert nearest_field("q", ["callbackUri", "subject"]) is None

"""The suppression list's pure parts, and how a campaign's dial treats a suppressed number."""

import json
from datetime import UTC, datetime

import pytest

from shared.calls.suppressions import (
    InvalidContinuationError,
    Suppression,
    continuation_token,
    parse_addition,
    read_continuation,
)
from shared.campaigns.reports import report_html, summarize
from shared.campaigns.service import parse_campaign
from shared.campaigns.store import DONE, QUEUED, Recipient
from shared.fields import UnknownFieldError, ValidationError
from shared.lines import Grant, Waiting
from shared.settings import ConfigurationError, Settings
from tests.support import fakes

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
NUMBER = "+14255550101"
CALLER = "+18005550100"


def test_an_addition_needs_an_e164_number_and_may_give_a_reason():
    assert parse_addition({"phoneNumber": NUMBER}) == (NUMBER, "requested")
    assert parse_addition({"PhoneNumber": NUMBER, "reason": "  by letter "}) == (NUMBER, "by letter")
    for body, field in (({"phoneNumber": "4255550101"}, "phoneNumber"), ({}, "phoneNumber"),
                        ({"phoneNumber": NUMBER, "reason": "a\nb"}, "reason"),
                        ({"phoneNumber": NUMBER, "reason": " "}, "reason")):
        with pytest.raises(ValidationError) as error:
            parse_addition(body)
        assert error.value.field == field
    with pytest.raises(UnknownFieldError):
        parse_addition({"phoneNumber": NUMBER, "why": "x"})


def test_continuation_tokens_name_a_number_and_nothing_else():
    assert read_continuation(continuation_token(NUMBER)) == NUMBER
    for token in ("", "not-ours", continuation_token("' or 1 eq 1"), "%%%"):
        with pytest.raises(InvalidContinuationError):
            read_continuation(token)


def test_the_bypass_setting_is_true_or_false():
    assert Settings.from_environment({}).suppression_emergency_bypass is False
    assert Settings.from_environment({"SUPPRESSION_EMERGENCY_BYPASS": "True"}).suppression_emergency_bypass is True
    with pytest.raises(ConfigurationError, match="SUPPRESSION_EMERGENCY_BYPASS"):
        Settings.from_environment({"SUPPRESSION_EMERGENCY_BYPASS": "yes"})


class Listed:
    def __init__(self, *numbers: str) -> None:
        self.numbers = set(numbers)

    def find(self, phone_number: str) -> Suppression | None:
        if phone_number not in self.numbers:
            return None
        return Suppression(phone_number, "opted-out", {"type": "api"}, "2026-03-01T00:00:00+00:00")

    def is_suppressed(self, phone_number: str) -> bool:
        return self.find(phone_number) is not None


def _setup(*, emergency: bool = False, bypass: bool = False):
    """A campaign with one line and two recipients: +1 (suppressed) holds the line, +2 waits for it."""
    tables, lines, queue = fakes.CampaignTables(), fakes.Lines(lines_per_number=1), fakes.Queue()
    service = fakes.campaign_service(tables, lines=lines, queue=queue, clock=lambda: NOW)
    service.suppressions, service.suppression_emergency_bypass = Listed("+1"), bypass
    pacing = {"maxConcurrentCalls": 10, "maxConcurrentCallsPerCallerId": 1, "callsPerSecond": 1000}
    body = {"campaignId": "a", "plan": {"prompt": {"text": "Hi"}}, "callerIds": [CALLER], "pacing": pacing,
            "emergency": emergency}
    campaign, _ = parse_campaign(body, default_caller_id=None)
    service.create(campaign, [])
    waiting = []
    for index, phone in enumerate(("+1", "+2")):
        tables.add_recipient(Recipient("a", phone, status=QUEUED))
        waiting.append(Waiting("a", phone, 1, f"2026-03-02T13:00:0{index}+00:00"))
    service.dispatcher.start_waiting(tables.get_campaign("a"), waiting)
    return service, tables, lines, queue


def _dialled(queue) -> list[dict]:
    return [m for m in map(json.loads, queue.messages) if "grant" in m]


def test_a_suppressed_recipient_ends_suppressed_without_a_call_and_its_line_goes_on():
    service, tables, _, queue = _setup()
    (first,) = _dialled(queue)
    grant = Grant.from_dict(first["grant"])

    assert service.dial("a", "+1", 1, grant, now=NOW) == "suppressed"

    recipient = tables.get_recipient("a", "+1")
    assert (recipient.status, recipient.outcome, recipient.attempts, recipient.call_leg_id) == (
        DONE, "suppressed", 0, None)
    assert [m["recipientId"] for m in _dialled(queue)] == ["+1", "+2"]  # the line went straight to +2
    summary = summarize(tables.get_campaign("a"), tables.read_counts("a"), NOW)
    assert summary["byOutcome"] == {"suppressed": 1} and summary["suppressionList"] == "checked"
    assert summary["reach"]["reached"] == 0
    assert service.dial("a", "+1", 1, grant, now=NOW) == "stale"  # a repeat changes nothing


@pytest.mark.parametrize(("emergency", "bypass"), [(True, False), (False, True)])
def test_the_list_holds_unless_an_emergency_campaign_is_created_with_the_bypass(emergency, bypass):
    service, tables, _, _ = _setup(emergency=emergency, bypass=bypass)
    assert "suppressionBypassed" not in tables.get_campaign("a").config
    assert service._suppressed(tables.get_campaign("a"), tables.get_recipient("a", "+1"), 1, NOW) is True


def test_an_emergency_campaign_created_with_the_bypass_calls_suppressed_numbers_and_says_so():
    service, tables, _, _ = _setup(emergency=True, bypass=True)
    campaign = tables.get_campaign("a")

    assert campaign.config["suppressionBypassed"] is True
    assert service._suppressed(campaign, tables.get_recipient("a", "+1"), 1, NOW) is False
    summary = summarize(campaign, tables.read_counts("a"), NOW)
    assert summary["suppressionList"] == "suppression list bypassed (emergency)"
    assert "Suppression list bypassed (emergency)" in report_html(campaign, summary, tables.read_counts("a"))

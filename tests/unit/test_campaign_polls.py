"""A poll campaign's answers, voicemails and declined calls: recorded, counted once, reported, retried by choice."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from callctl.display import summary_table
from shared.calls.legs import CallEnded, CallLeg, LegState
from shared.campaigns import counters
from shared.campaigns.reports import calls_csv, choice_counts, report_html, summarize
from shared.campaigns.service import DEFAULTS, parse_campaign
from shared.campaigns.store import CALLING, DONE, WAITING, Campaign, Recipient
from shared.fields import ValidationError
from tests.support import fakes

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CHOICES = {"1": "Power on", "2": "No power", "3": "<b>Flickers</b>"}
PLAN = {"prompt": {"text": "Press 1, 2 or 3."}, "collect": {"choices": CHOICES}}
CAMPAIGN = "outage"
NUMBER = "+15005550100"
LEG = "5f0c1f4e-0000-4000-8000-000000000001"


def _campaign() -> Campaign:
    return Campaign(CAMPAIGN, "Outage check", {**json.loads(json.dumps(DEFAULTS)), "plan": PLAN})


def _answered(number: str, key: str | None, *, voicemail: bool = False) -> Recipient:
    return Recipient(
        CAMPAIGN, number, status=DONE, attempts=1, outcome="chosen" if key else "answered-without-input",
        choice={"key": key, "label": CHOICES[key]} if key else None, voicemail_left=voicemail,
        first_call_at="2026-03-02T14:00:00+00:00", ended_at="2026-03-02T14:01:00+00:00",
    )  # fmt: skip


RECIPIENTS = [
    _answered("+14255550001", "1"),
    _answered("+14255550002", "1"),
    _answered("+14255550003", "3"),
    _answered("+14255550004", None, voicemail=True),
    Recipient(CAMPAIGN, "+14255550005", status=WAITING, attempts=1, choice={"key": "2", "label": "No power"}),
]


def test_each_done_recipients_choice_counts_once_and_taking_it_back_uncounts_it():
    counts = counters.counts_of(RECIPIENTS)
    assert counts.by_choice == {"1": 2, "3": 1}  # a waiting recipient's interim answer is not final

    counts.add(counters.contribution(RECIPIENTS[0]), sign=-1)
    assert counts.by_choice == {"1": 1, "3": 1}
    stored = counters.to_entity("p", counters.counter_row(0), counts)
    assert counters.from_entity(stored).by_choice == {"1": 1, "3": 1}
    assert counters.from_entity({k: v for k, v in stored.items() if k != "byChoice"}).by_choice == {}  # older rows


def test_the_summary_lists_every_choice_in_key_order_with_its_label_and_count():
    summary = summarize(_campaign(), RECIPIENTS, NOW)

    assert summary["byChoice"] == {
        "1": {"label": "Power on", "count": 2},
        "2": {"label": "No power", "count": 0},
        "3": {"label": "<b>Flickers</b>", "count": 1},
    }
    assert summary["byOutcome"] == {"chosen": 3, "answered-without-input": 1}
    plain = Campaign(CAMPAIGN, "x", {**DEFAULTS, "plan": {"prompt": {"text": "x"}, "collect": {}}})
    assert choice_counts(plain, RECIPIENTS[3:]) == {}


def test_the_csv_has_the_choice_its_label_and_whether_a_voicemail_was_left():
    rows = list(csv.DictReader(io.StringIO(calls_csv(RECIPIENTS))))

    assert [(r["choice"], r["choiceLabel"], r["voicemailLeft"]) for r in rows] == [
        ("1", "Power on", "false"), ("1", "Power on", "false"), ("3", "<b>Flickers</b>", "false"), ("", "", "true"),
        ("2", "No power", "false"),
    ]  # fmt: skip
    hostile = Recipient(CAMPAIGN, "+14255550009", choice={"key": "1", "label": "=HYPERLINK(1)"})
    assert next(csv.DictReader(io.StringIO(calls_csv([hostile]))))["choiceLabel"] == "'=HYPERLINK(1)"


def test_the_report_has_a_table_of_answers_with_labels_escaped():
    campaign = _campaign()
    page = report_html(campaign, summarize(campaign, RECIPIENTS, NOW), RECIPIENTS)

    answers = page[page.index("<h2>Answers</h2>"): page.index("<h2>Outcomes over time")]
    assert "<td>Power on</td><td class=\"num\">2</td><td class=\"num\">67%</td>" in answers
    assert "<td>No power</td><td class=\"num\">0</td><td class=\"num\">0%</td>" in answers
    assert "&lt;b&gt;Flickers&lt;/b&gt;" in answers and "<b>Flickers" not in page


def test_a_report_without_a_poll_has_no_answers_table():
    campaign = Campaign(CAMPAIGN, "x", {**DEFAULTS, "plan": {"prompt": {"text": "x"}, "collect": {}}})
    page = report_html(campaign, summarize(campaign, RECIPIENTS[3:4], NOW), RECIPIENTS[3:4])
    assert "Answers" not in page


def test_declined_is_not_retried_by_default_but_may_be_asked_for():
    body = {"name": "x", "plan": PLAN, "recipients": [NUMBER]}
    default, _ = parse_campaign(body, default_caller_id="+18005550100")
    asked, _ = parse_campaign({**body, "retry": {"retryOn": ["declined", "busy"]}}, default_caller_id="+18005550100")

    assert "declined" not in default.config["retry"]["retryOn"]
    assert asked.config["retry"]["retryOn"] == ["declined", "busy"]
    with pytest.raises(ValidationError) as error:
        parse_campaign({**body, "retry": {"retryOn": ["chosen"]}}, default_caller_id="+18005550100")
    assert error.value.field == "retry.retryOn[0]" and "declined" in error.value.message


def _service(retry_on):
    tables, legs, queue = fakes.CampaignTables(), fakes.CallLegs(), fakes.Queue()
    config = {**DEFAULTS, "plan": PLAN, "callerIds": ["+18005550100"],
              "retry": {"maxAttempts": 2, "delaySeconds": 600, "retryOn": list(retry_on)}}
    tables.create_campaign(Campaign(CAMPAIGN, "r", config))
    tables.add_recipient(Recipient(CAMPAIGN, NUMBER, status=CALLING, attempts=1, dials=1, call_leg_id=LEG))
    return fakes.campaign_service(tables, legs=legs, queue=queue), tables, queue


@pytest.mark.parametrize(("retry_on", "status", "result"), [
    (("busy", "no-answer"), DONE, "declined"),
    (("declined",), WAITING, "retry-scheduled"),
])  # fmt: skip
def test_a_declined_call_is_retried_only_when_retry_on_says_so(retry_on, status, result):
    service, tables, queue = _service(retry_on)
    ended = CallEnded("declined", {"code": 603, "subCode": 8538, "message": "declined"})

    assert service.record_result(CAMPAIGN, NUMBER, LEG, ended) == result
    assert tables.get_recipient(CAMPAIGN, NUMBER).status == status
    assert len(queue.messages) == (status == WAITING)


def test_the_recipient_and_its_history_record_the_choice_and_the_voicemail():
    service, tables, _ = _service(("busy",))
    ended = CallEnded("chosen", None, "2026-03-02T14:00:00+00:00", "2026-03-02T14:00:05+00:00",
                      "2026-03-02T14:00:30+00:00", "2", {"key": "2", "label": "No power"}, False)

    service.record_result(CAMPAIGN, NUMBER, LEG, CallEnded.from_dict(json.loads(json.dumps(ended.to_dict()))))

    recipient = tables.get_recipient(CAMPAIGN, NUMBER)
    assert (recipient.outcome, recipient.choice, recipient.voicemail_left) == (
        "chosen", {"key": "2", "label": "No power"}, False)
    assert recipient.history[-1]["choice"] == {"key": "2", "label": "No power"}
    assert "voicemailLeft" not in recipient.history[-1]


def test_a_call_ended_message_carries_the_choice_and_voicemail_and_drops_a_malformed_choice():
    leg = CallLeg(LEG, ["4:" + NUMBER], state=LegState.TERMINATED, outcome="answered-without-input",
                  voicemail_left=True)
    assert CallEnded.from_dict(CallEnded.of(leg).to_dict()) == CallEnded.of(leg)
    assert CallEnded.of(leg).voicemail_left is True
    odd = {**CallEnded.of(leg).to_dict(), "choice": {"key": 1}, "voicemailLeft": "yes"}
    assert (CallEnded.from_dict(odd).choice, CallEnded.from_dict(odd).voicemail_left) == (None, False)
    old = {k: v for k, v in CallEnded.of(leg).to_dict().items() if k not in ("choice", "voicemailLeft")}
    assert CallEnded.from_dict(old) == CallEnded("answered-without-input")  # a message from before polls


def test_callctl_shows_a_polls_answers_with_their_shares():
    table = summary_table(summarize(_campaign(), RECIPIENTS, NOW))

    answers = table[table.index("Answer"):].splitlines()
    assert [line.split()[-2:] for line in answers[1:]] == [["2", "67%"], ["0", "0%"], ["1", "33%"]]
    assert answers[1].startswith("1 Power on")
    assert "Answer" not in summary_table(summarize(_campaign(), RECIPIENTS[3:4], NOW) | {"byChoice": {}})

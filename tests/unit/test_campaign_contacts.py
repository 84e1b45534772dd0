"""Contacts: recipient ids, numbers tried in order, the best outcome of a round, notBefore / notAfter."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.calls.context import call_leg_id_for
from shared.calls.legs import CallLeg, LegState
from shared.calls.messages.campaign_results import CampaignResultMessage
from shared.campaigns.contacts import best_call, best_outcome, moves_on, round_of
from shared.campaigns.counters import counts_of, from_entity, to_entity
from shared.campaigns.dialing import idempotency_key
from shared.campaigns.messages.campaign_dial import CampaignDialMessage
from shared.campaigns.messages.campaign_recipients import CampaignRecipientsMessage
from shared.campaigns.reports import calls_csv, report_html, summarize
from shared.campaigns.service import DEFAULTS, RecipientEntry, parse_recipients, parse_recipients_csv
from shared.campaigns.store import CALLING, DONE, EXPIRED, QUEUED, WAITING, Campaign, Recipient
from shared.fields import ValidationError
from shared.lines import Grant, Waiting
from shared.logs import recipient_label
from tests.support import fakes

CAMPAIGN = "contacts"
FIRST, SECOND, THIRD = "+15005550101", "+15005550102", "+15005550103"
LEG = "5f0c1f4e-0000-4000-8000-000000000001"

# -- parsing ----------------------------------------------------------------------------------------------


def test_recipients_with_their_own_ids_sharing_a_number_are_two_recipients():
    entries = parse_recipients([
        {"recipientId": "appt-1001", "phoneNumber": FIRST},
        {"recipientId": "appt-1002", "phoneNumber": FIRST},
        {"recipientId": "appt-1001", "phoneNumber": SECOND},  # the same id again: the first listing counts
        FIRST,
    ])

    assert [(e.key, e.numbers) for e in entries] == [
        ("appt-1001", (FIRST,)), ("appt-1002", (FIRST,)), (FIRST, (FIRST,)),
    ]


def test_a_recipient_without_an_id_is_keyed_by_its_number_as_before():
    (entry,) = parse_recipients([{"phoneNumber": FIRST, "timeZone": "UTC"}])
    assert entry == RecipientEntry(FIRST, "UTC") and entry.key == FIRST
    assert entry.to_dict() == {"phoneNumber": FIRST, "timeZone": "UTC"}  # what queued messages carried before


def test_numbers_are_kept_in_order_and_travel_in_the_admission_message():
    (entry,) = parse_recipients([{"recipientId": "patient:42", "phoneNumbers": [SECOND, FIRST, THIRD],
                                  "notBefore": "2026-12-03T10:00:00+01:00", "notAfter": "2026-12-03T18:00:00Z"}])
    assert entry.key == "patient:42" and entry.numbers == (SECOND, FIRST, THIRD)
    assert (entry.not_before, entry.not_after) == ("2026-12-03T09:00:00+00:00", "2026-12-03T18:00:00+00:00")

    message = CampaignRecipientsMessage.from_message(CampaignRecipientsMessage(CAMPAIGN, [entry]).to_message())
    assert message.recipients == [entry]
    assert message.recipients[0].not_after == entry.not_after


@pytest.mark.parametrize(("item", "field"), [
    ({"recipientId": "a/b", "phoneNumber": FIRST}, "recipients[0].recipientId"),
    ({"recipientId": "", "phoneNumber": FIRST}, "recipients[0].recipientId"),
    ({"recipientId": "x" * 65, "phoneNumber": FIRST}, "recipients[0].recipientId"),
    ({"recipientId": "~counts-0", "phoneNumber": FIRST}, "recipients[0].recipientId"),
    ({"recipientId": 42, "phoneNumber": FIRST}, "recipients[0].recipientId"),
    ({"phoneNumbers": []}, "recipients[0].phoneNumbers"),
    ({"phoneNumbers": [FIRST] * 1 + ["+1500555010" + str(i) for i in range(2, 7)]}, "recipients[0].phoneNumbers"),
    ({"phoneNumbers": [FIRST, "0800 123"]}, "recipients[0].phoneNumbers[1]"),
    ({"phoneNumbers": [FIRST, FIRST]}, "recipients[0].phoneNumbers"),
    ({"phoneNumbers": FIRST}, "recipients[0].phoneNumbers"),
    ({"phoneNumber": FIRST, "phoneNumbers": [SECOND]}, "recipients[0].phoneNumbers"),
    ({"recipientId": "a"}, "recipients[0].phoneNumber"),
    ({"phoneNumber": FIRST, "notBefore": "tomorrow"}, "recipients[0].notBefore"),
    ({"phoneNumber": FIRST, "notAfter": "2026-12-03T18:00:00"}, "recipients[0].notAfter"),
    ({"phoneNumber": FIRST, "notBefore": "2026-12-03T18:00:00Z", "notAfter": "2026-12-03T19:00:00+02:00"},
     "recipients[0].notAfter"),
    ({"phoneNumber": FIRST, "notAfter": "9999-12-31T23:59:59-05:00"}, "recipients[0].notAfter"),  # past year 9999
    ({"phoneNumber": FIRST, "notBefore": "0001-01-01T00:00:00+05:00"}, "recipients[0].notBefore"),
    ({"phoneNumber": FIRST, "notBefore": 1733220000}, "recipients[0].notBefore"),
])
def test_bad_contacts_name_the_field(item, field):
    with pytest.raises(ValidationError) as error:
        parse_recipients([item])
    assert error.value.field == field


def test_five_numbers_are_allowed():
    numbers = [f"+1500555020{i}" for i in range(5)]
    (entry,) = parse_recipients([{"recipientId": "five", "phoneNumbers": numbers}])
    assert entry.numbers == tuple(numbers)


def test_csv_contacts_with_ids_numbers_in_one_cell_and_call_times():
    text = (
        "recipientId,phoneNumbers,notBefore,notAfter,name\r\n"
        f"appt-1001,{FIRST},,,Ana\r\n"
        f"appt-1002,{FIRST};{SECOND},2026-12-04T09:00:00-05:00,,Bo\r\n"
        f"patient:42, {SECOND} | {THIRD} ,,2026-12-04T18:00:00-05:00,Cy\r\n"
    )
    entries = parse_recipients_csv(text)

    assert [(e.key, e.numbers) for e in entries] == [
        ("appt-1001", (FIRST,)), ("appt-1002", (FIRST, SECOND)), ("patient:42", (SECOND, THIRD)),
    ]
    assert entries[1].not_before == "2026-12-04T14:00:00+00:00" and entries[2].not_after == "2026-12-04T23:00:00+00:00"
    assert [e.data for e in entries] == [{"name": "Ana"}, {"name": "Bo"}, {"name": "Cy"}]  # the rest: data


@pytest.mark.parametrize(("text", "field"), [
    (f"recipientId,phoneNumbers\r\nok,{FIRST}\r\nbad/id,{SECOND}\r\n", "csv row 3, column recipientId"),
    (f"recipientId,phoneNumbers\r\nok,{FIRST};12\r\n", "csv row 2, column phoneNumbers[1]"),
    (f"phoneNumbers\r\n{FIRST};{SECOND};{THIRD};+15005550104;+15005550105;+15005550106\r\n",
     "csv row 2, column phoneNumbers"),
    (f"phoneNumber,phoneNumbers\r\n{FIRST},{SECOND}\r\n", "csv row 2, column phoneNumbers"),
    (f"phoneNumber,notBefore,notAfter\r\n{FIRST},2026-12-04T09:00:00Z,2026-12-04T08:00:00Z\r\n",
     "csv row 2, column notAfter"),
    ("recipientId,name\r\na,Ana\r\n", "csv"),
])
def test_bad_csv_contacts_name_the_row_and_column(text, field):
    with pytest.raises(ValidationError) as error:
        parse_recipients_csv(text)
    assert error.value.field == field


# -- keys and messages --------------------------------------------------------------------------------------


def test_two_recipients_sharing_a_number_have_their_own_call_leg_ids():
    legs = {call_leg_id_for(idempotency_key(CAMPAIGN, key, 1)) for key in ("appt-1001", "appt-1002", FIRST)}
    assert len(legs) == 3
    # A recipient without an id keeps the key (and call leg id) it had before ids.
    assert idempotency_key(CAMPAIGN, FIRST, 2) == f"campaign:{CAMPAIGN}:{FIRST}:2"


def test_dial_and_result_messages_carry_the_recipient_id_and_read_those_of_before():
    dial = CampaignDialMessage.from_message(CampaignDialMessage(CAMPAIGN, "patient:42", 3).to_message())
    assert (dial.recipient_id, dial.dial) == ("patient:42", 3)
    old = CampaignDialMessage.from_message(json.dumps({"campaignId": CAMPAIGN, "phoneNumber": FIRST, "dial": 1}))
    assert old.recipient_id == FIRST
    assert json.loads(CampaignDialMessage(CAMPAIGN, FIRST, 1).to_message())["phoneNumber"] == FIRST  # old readers
    result = CampaignResultMessage.from_message(CampaignResultMessage(CAMPAIGN, "appt-1001", LEG).to_message())
    assert result.recipient_id == "appt-1001"
    with pytest.raises(ValidationError):
        CampaignDialMessage.from_message(json.dumps({"campaignId": CAMPAIGN, "recipientId": "a/b", "dial": 1}))


def test_a_log_never_shows_a_recipients_own_id():
    assert recipient_label(FIRST) == FIRST  # the log filter masks numbers
    label = recipient_label("patient:42")
    assert label.startswith("id#") and len(label) == 15 and "patient" not in label
    assert recipient_label("patient:42") == label != recipient_label("patient:43")


# -- the rules ------------------------------------------------------------------------------------------------


def test_the_best_outcome_of_a_round():
    assert best_outcome(["busy", "unreachable"]) == "busy"
    assert best_outcome(["failed", "no-answer", "busy"]) == "busy"
    assert best_outcome(["no-answer", "answered-without-input"]) == "answered-without-input"
    assert best_outcome(["declined", "confirmed"]) == "confirmed"
    assert best_outcome(["unreachable", "left-voicemail"]) == "left-voicemail"  # a plan's own outcome: reached
    assert best_outcome(["throttled"]) is None and best_outcome([]) is None


@pytest.mark.parametrize(("outcome", "index", "numbers", "answered", "expected"), [
    ("busy", 0, 2, False, True),
    ("no-answer", 0, 3, False, True),
    ("unreachable", 1, 3, False, True),
    ("failed", 0, 2, False, True),
    ("declined", 0, 2, False, True),  # the callee rejected the ringing call: try their next number
    ("busy", 1, 2, False, False),  # the last number: the retry rule decides
    ("confirmed", 0, 2, True, False),
    ("declined", 0, 2, True, False),  # answered and said no: their other numbers are not asked again
    ("opted-out", 0, 2, True, False),
    ("answered-without-input", 0, 2, True, False),
    ("throttled", 0, 2, False, False),  # the same number again, a few seconds later
    ("busy", 0, 1, False, False),
])
def test_which_calls_move_on_to_the_next_number(outcome, index, numbers, answered, expected):
    assert moves_on(outcome, index, numbers, answered=answered) is expected


def test_a_rejected_ringing_call_moves_on_and_is_not_the_answered_number():
    service, tables, legs, _ = _service([FIRST, SECOND])
    assert _call_ends(service, tables, legs, "declined") == (FIRST, "next-number")
    assert _call_ends(service, tables, legs, "confirmed", answered=True) == (SECOND, "confirmed")
    done = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (done.outcome, done.answered_number) == ("confirmed", SECOND)


def test_a_round_starts_at_the_last_call_on_the_first_number():
    history = [
        {"outcome": "busy", "numberIndex": 0}, {"outcome": "no-answer", "numberIndex": 1},
        {"outcome": "throttled", "numberIndex": 0},
        {"outcome": "unreachable", "numberIndex": 0}, {"outcome": "busy", "numberIndex": 1},
    ]
    assert [e["outcome"] for e in round_of(history)] == ["unreachable", "busy"]
    assert best_call(history) == {"outcome": "busy", "numberIndex": 1}
    assert [e["outcome"] for e in round_of([{"outcome": "busy"}, {"outcome": "no-answer"}])] == ["no-answer"]


# -- the engine, on fakes ---------------------------------------------------------------------------------------


def _service(numbers, *, retry_on=("busy", "no-answer"), max_attempts=2, settings=None, **recipient):
    tables, legs, lines, queue = fakes.CampaignTables(), fakes.CallLegs(), fakes.Lines(), fakes.Queue()
    config = {**DEFAULTS, "callerIds": ["+18005550100"], **(settings or {}),
              "retry": {"maxAttempts": max_attempts, "delaySeconds": 600, "retryOn": list(retry_on)}}
    tables.create_campaign(Campaign(CAMPAIGN, "c", config))
    tables.add_recipient(Recipient(CAMPAIGN, "patient:42", phone_numbers=list(numbers), **recipient))
    return fakes.campaign_service(tables, legs=legs, lines=lines, queue=queue), tables, legs, queue


def _call_ends(service, tables, legs, outcome, answered=False):
    """The recipient's current number is called and the call ends with `outcome`."""
    current = tables.get_recipient(CAMPAIGN, "patient:42")
    dial = current.dials + 1
    leg_id = call_leg_id_for(idempotency_key(CAMPAIGN, "patient:42", dial))

    def calling(r):
        r.status, r.dials, r.attempts, r.call_leg_id = CALLING, dial, r.attempts + 1, leg_id

    tables.update_recipient(CAMPAIGN, "patient:42", calling)
    legs.legs[leg_id] = CallLeg(
        leg_id, ["4:" + current.phone_number], state=LegState.TERMINATED, outcome=outcome,
        answered_at="2026-01-01T00:00:10+00:00" if answered else None, ended_at="2026-01-01T00:01:00+00:00",
        campaign_id=CAMPAIGN, recipient="patient:42", attempt=dial,
    )  # fmt: skip
    return current.phone_number, service.record_result(CAMPAIGN, "patient:42", leg_id)


def test_not_reached_on_the_first_number_the_second_is_dialled_at_once_and_answers():
    service, tables, legs, queue = _service([FIRST, SECOND])

    assert _call_ends(service, tables, legs, "unreachable") == (FIRST, "next-number")
    moved = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (moved.status, moved.number_index, moved.phone_number) == (WAITING, 1, SECOND)
    assert json.loads(queue.messages[-1])["dial"] == 2 and queue.delays[-1] is None  # no retry delay
    assert service.ready(CAMPAIGN, "patient:42", 2) == "waiting"  # it joins the line like any dial

    assert _call_ends(service, tables, legs, "confirmed", answered=True) == (SECOND, "confirmed")
    done = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (done.status, done.outcome, done.answered_number, done.attempts) == (DONE, "confirmed", SECOND, 2)
    assert [(e["phoneNumber"], e["outcome"]) for e in done.history] == [(FIRST, "unreachable"), (SECOND, "confirmed")]


def test_a_round_not_reached_is_retried_from_the_first_number_with_the_best_outcome():
    service, tables, legs, queue = _service([FIRST, SECOND], max_attempts=2)

    assert _call_ends(service, tables, legs, "busy")[1] == "next-number"
    assert _call_ends(service, tables, legs, "unreachable") == (SECOND, "retry-scheduled")
    waiting = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (waiting.status, waiting.outcome, waiting.number_index) == (WAITING, "busy", 0)  # busy beats unreachable
    assert queue.delays[-1] == 600 and waiting.answered_number is None

    assert _call_ends(service, tables, legs, "no-answer") == (FIRST, "next-number")
    assert _call_ends(service, tables, legs, "failed") == (SECOND, "failed")  # each number had its 2 calls: done
    done = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (done.status, done.outcome, done.attempts) == (DONE, "no-answer", 4)


def test_an_answer_that_declines_ends_the_contact_without_trying_its_other_numbers():
    service, tables, legs, queue = _service([FIRST, SECOND])
    assert _call_ends(service, tables, legs, "declined", answered=True) == (FIRST, "declined")
    done = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (done.status, done.answered_number, done.number_index) == (DONE, FIRST, 0) and not queue.messages


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_a_recipient_ready_before_its_not_before_is_scheduled_for_then_without_a_line():
    service, tables, _, queue = _service([FIRST], not_before=(NOW + timedelta(hours=2)).isoformat())
    assert service.ready(CAMPAIGN, "patient:42", 1, now=NOW) == "not-before"
    assert queue.delays == [7200] and json.loads(queue.messages[0]).get("grant") is None
    assert tables.get_recipient(CAMPAIGN, "patient:42").status == QUEUED
    assert service.ready(CAMPAIGN, "patient:42", 1, now=NOW + timedelta(hours=2)) == "waiting"


def test_a_recipient_past_its_not_after_expires_and_one_that_cannot_be_called_before_it_too():
    service, tables, _, queue = _service([FIRST], not_after=(NOW - timedelta(minutes=1)).isoformat())
    assert service.ready(CAMPAIGN, "patient:42", 1, now=NOW) == "expired"
    assert tables.get_recipient(CAMPAIGN, "patient:42").status == EXPIRED and not queue.messages

    window = {"start": "18:00", "end": "20:00", "timeZone": "UTC"}  # opens after its notAfter
    service, tables, _, queue = _service([FIRST], not_before=(NOW + timedelta(hours=1)).isoformat(),
                                         not_after=(NOW + timedelta(hours=3)).isoformat(),
                                         settings={"callingWindow": window})
    assert service.ready(CAMPAIGN, "patient:42", 1, now=NOW) == "expired"
    assert tables.get_recipient(CAMPAIGN, "patient:42").status == EXPIRED and not queue.messages


# -- reports ----------------------------------------------------------------------------------------------------


def _done(key, numbers, answered, outcome="confirmed"):
    return Recipient(CAMPAIGN, key, status=DONE, outcome=outcome, attempts=2, phone_numbers=numbers,
                     answered_number=answered, first_call_at=NOW.isoformat(), ended_at=NOW.isoformat())


def test_reports_show_which_number_answered():
    recipients = [
        _done("a", [FIRST, SECOND], SECOND),
        _done("b", [FIRST, SECOND], SECOND),
        _done("c", [SECOND, THIRD], SECOND),
        _done("d", [FIRST, THIRD], None, outcome="busy"),
        _done(FIRST, None, FIRST),  # one number: not a contact of several
    ]
    assert counts_of(recipients).by_answered_number == {"1": 1, "2": 2}
    counts = counts_of(recipients)
    assert from_entity(to_entity("p", "~counts-0", counts)).by_answered_number == {"1": 1, "2": 2}

    rows = {row["recipientId"]: row for row in csv.DictReader(io.StringIO(calls_csv(recipients)))}
    assert (rows["a"]["phoneNumber"], rows["a"]["answeredNumber"]) == (FIRST, SECOND)
    assert rows["d"]["answeredNumber"] == ""

    campaign = Campaign(CAMPAIGN, "c", {**DEFAULTS, "callerIds": ["+18005550100"]})
    page = report_html(campaign, summarize(campaign, recipients, NOW), recipients)
    assert "Answered on (contacts with several numbers)" in page
    assert "<td>2nd number</td><td class=\"num\">2</td><td class=\"num\">67%</td>" in page
    single = [_done(FIRST, None, FIRST)]
    assert "Answered on" not in report_html(campaign, summarize(campaign, single, NOW), single)


def test_a_late_answer_on_the_first_number_calls_off_the_move_to_the_second():
    service, tables, legs, _ = _service([FIRST, SECOND], retry_on=("busy",))
    assert _call_ends(service, tables, legs, "failed")[1] == "next-number"
    leg_id = tables.get_recipient(CAMPAIGN, "patient:42").call_leg_id

    legs.legs[leg_id].outcome = "unreachable"  # still not reached (and not retried): it still moves on
    service.record_result(CAMPAIGN, "patient:42", leg_id)
    assert tables.get_recipient(CAMPAIGN, "patient:42").status == WAITING

    legs.legs[leg_id].outcome, legs.legs[leg_id].answered_at = "answered-without-input", "2026-01-01T00:00:10+00:00"
    service.record_result(CAMPAIGN, "patient:42", leg_id)
    done = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (done.status, done.outcome, done.answered_number) == (DONE, "answered-without-input", FIRST)
    assert service.ready(CAMPAIGN, "patient:42", 2) == "stale"  # the queued dial of the second number stops


class _Listed:
    """A suppression list holding some numbers."""

    def __init__(self, *numbers: str) -> None:
        self.numbers = set(numbers)

    def is_suppressed(self, phone_number: str) -> bool:
        return phone_number in self.numbers


def test_a_contacts_suppressed_number_is_skipped_and_its_next_number_called():
    service, tables, _, queue = _service([FIRST, SECOND])
    service.suppressions, service.suppression_emergency_bypass = _Listed(FIRST), False
    ready_now = Waiting(CAMPAIGN, "patient:42", 1, NOW.isoformat())
    service.dispatcher.start_waiting(tables.get_campaign(CAMPAIGN), [ready_now])
    (first,) = [m for m in map(json.loads, queue.messages) if "grant" in m]

    assert service.dial(CAMPAIGN, "patient:42", 1, Grant.from_dict(first["grant"]), now=NOW) == "suppressed"

    skipped = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (skipped.status, skipped.number_index, skipped.phone_number, skipped.attempts) == (QUEUED, 1, SECOND, 0)
    assert [(e["outcome"], e["phoneNumber"]) for e in skipped.history] == [("suppressed", FIRST)]
    ready = [m for m in map(json.loads, queue.messages) if "grant" not in m]
    assert ready[-1]["dial"] == 2  # the next number joins the line at once

    service.suppressions = _Listed(FIRST, SECOND)  # both on the list: the contact ends suppressed
    service.ready(CAMPAIGN, "patient:42", 2, now=NOW)
    (second,) = [m for m in map(json.loads, queue.messages) if "grant" in m and m["dial"] == 2]
    assert service.dial(CAMPAIGN, "patient:42", 2, Grant.from_dict(second["grant"]), now=NOW) == "suppressed"
    done = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (done.status, done.outcome, done.attempts) == (DONE, "suppressed", 0)


def test_a_round_ending_on_a_suppressed_number_is_retried_by_its_calls_outcomes():
    service, tables, legs, queue = _service([FIRST, SECOND], max_attempts=2)
    service.suppressions, service.suppression_emergency_bypass = _Listed(SECOND), False
    assert _call_ends(service, tables, legs, "busy") == (FIRST, "next-number")
    service.ready(CAMPAIGN, "patient:42", 2, now=NOW)
    (grant,) = [m["grant"] for m in map(json.loads, queue.messages) if "grant" in m and m["dial"] == 2]

    assert service.dial(CAMPAIGN, "patient:42", 2, Grant.from_dict(grant), now=NOW) == "suppressed"

    waiting = tables.get_recipient(CAMPAIGN, "patient:42")
    assert (waiting.status, waiting.outcome, waiting.number_index) == (WAITING, "busy", 0)  # the call on FIRST
    assert json.loads(queue.messages[-1])["dial"] == 3 and queue.delays[-1] == 600


def test_an_opt_out_suppresses_the_number_called_not_the_recipient_id():
    from shared.calls.callbacks import _callee_number

    leg = CallLeg(LEG, ["4:" + SECOND], campaign_id=CAMPAIGN, recipient="patient:42", attempt=2)
    assert _callee_number(leg) == SECOND

"""A campaign call's result: recorded once, retried by outcome, and corrected when a late event changes it."""

import json
from datetime import UTC, datetime, timedelta

from shared.calls.context import call_leg_id_for
from shared.calls.legs import CallLeg, LegState
from shared.campaigns.service import DEFAULTS
from shared.campaigns.store import CALLING, DONE, WAITING, Campaign, Recipient
from shared.lines import Wanted
from tests.support import fakes

CAMPAIGN = "reminders"
NUMBER = "+15005550100"
LEG = "5f0c1f4e-0000-4000-8000-000000000001"


def _service(retry_on=("busy", "no-answer", "failed"), clock=None):
    tables, legs, lines, queue = fakes.CampaignTables(), fakes.CallLegs(), fakes.Lines(), fakes.Queue()
    config = {**DEFAULTS, "callerIds": ["+18005550100"],
              "retry": {"maxAttempts": 3, "delaySeconds": 600, "retryOn": list(retry_on)}}
    tables.create_campaign(Campaign(CAMPAIGN, "r", config))
    tables.add_recipient(Recipient(CAMPAIGN, NUMBER, status=CALLING, attempts=1, dials=1, call_leg_id=LEG))
    service = fakes.campaign_service(tables, legs=legs, lines=lines, queue=queue, **({"clock": clock} if clock else {}))
    return service, tables, legs, lines, queue


def _ended_leg(outcome, answered_at=None):
    return CallLeg(
        LEG, ["4:" + NUMBER], state=LegState.TERMINATED, outcome=outcome, answered_at=answered_at,
        ended_at="2026-01-01T00:01:00+00:00", campaign_id=CAMPAIGN, recipient=NUMBER, attempt=1,
    )  # fmt: skip


def test_a_late_event_that_shows_the_call_was_answered_corrects_the_result_and_calls_off_the_retry():
    service, tables, legs, _, queue = _service()
    legs.legs[LEG] = _ended_leg("failed")
    assert service.record_result(CAMPAIGN, NUMBER, LEG) == "retry-scheduled"
    assert tables.get_recipient(CAMPAIGN, NUMBER).status == WAITING
    retries = len(queue.messages)

    legs.legs[LEG] = _ended_leg("answered-without-input", answered_at="2026-01-01T00:00:10+00:00")
    service.record_result(CAMPAIGN, NUMBER, LEG)

    recipient = tables.get_recipient(CAMPAIGN, NUMBER)
    assert recipient.status == DONE and recipient.outcome == "answered-without-input"
    assert recipient.answered_at == "2026-01-01T00:00:10+00:00"
    assert [(e["outcome"], e.get("correctedFrom")) for e in recipient.history] == [("answered-without-input", "failed")]
    assert len(queue.messages) == retries  # no second retry was queued
    queued_retry = json.loads(queue.messages[-1])
    assert service.ready(CAMPAIGN, NUMBER, queued_retry["dial"]) == "stale"  # the queued one stops there


def test_a_late_event_that_shows_a_final_failure_was_a_retryable_one_schedules_the_retry():
    # Seen under load: a call recorded 'failed' (not retried here, so the recipient was done) was corrected to
    # 'no-answer' by a late event, and nobody called again.
    service, tables, legs, _, queue = _service(retry_on=("busy", "no-answer"))
    legs.legs[LEG] = _ended_leg("failed")
    assert service.record_result(CAMPAIGN, NUMBER, LEG) == "failed"
    assert tables.get_recipient(CAMPAIGN, NUMBER).status == DONE and not queue.messages

    legs.legs[LEG] = _ended_leg("no-answer")
    assert service.record_result(CAMPAIGN, NUMBER, LEG) == "retry-scheduled"

    recipient = tables.get_recipient(CAMPAIGN, NUMBER)
    assert (recipient.status, recipient.outcome) == (WAITING, "no-answer") and recipient.next_attempt_at
    assert [(e["outcome"], e.get("correctedFrom")) for e in recipient.history] == [("no-answer", "failed")]
    assert service.record_result(CAMPAIGN, NUMBER, LEG) == "no-answer" and len(queue.messages) == 1  # once
    retry = json.loads(queue.messages[-1])
    assert retry["dial"] == 2 and service.ready(CAMPAIGN, NUMBER, retry["dial"]) != "stale"


def test_a_repeated_result_changes_nothing():
    service, tables, legs, _, queue = _service()
    legs.legs[LEG] = _ended_leg("busy")
    service.record_result(CAMPAIGN, NUMBER, LEG)
    first = tables.get_recipient(CAMPAIGN, NUMBER)

    service.record_result(CAMPAIGN, NUMBER, LEG)

    assert tables.get_recipient(CAMPAIGN, NUMBER) == first
    assert len(queue.messages) == 1


def test_a_dial_the_host_gives_up_on_before_calling_ends_the_recipient_failed_with_the_reason():
    service, tables, _, lines, _ = _service()
    tables.recipients[CAMPAIGN][0] = Recipient(CAMPAIGN, NUMBER, status="queued")
    grant = lines.acquire(Wanted(call_leg_id_for(f"campaign:{CAMPAIGN}:{NUMBER}:1"), ["+18005550100"]))

    service.give_up_dial(CAMPAIGN, NUMBER, 1, "gave up after 5 attempts: TableTransactionError: boom", grant)

    recipient = tables.get_recipient(CAMPAIGN, NUMBER)
    assert (recipient.status, recipient.outcome) == (DONE, "failed")
    assert "gave up after 5 attempts" in recipient.outcome_code["message"]
    assert recipient.history[-1]["reason"].startswith("gave up") and recipient.history[-1]["dial"] == 1
    assert lines.released == [grant]


def test_a_dial_the_host_gives_up_on_while_calling_without_a_leg_concludes_that_attempt():
    service, tables, _, lines, _ = _service(retry_on=())
    leg_id = call_leg_id_for(f"campaign:{CAMPAIGN}:{NUMBER}:1")
    tables.recipients[CAMPAIGN][0] = Recipient(CAMPAIGN, NUMBER, status=CALLING, attempts=1, dials=1,
                                               call_leg_id=leg_id)
    grant = lines.acquire(Wanted(leg_id, ["+18005550100"]))

    service.give_up_dial(CAMPAIGN, NUMBER, 1, "gave up after 5 attempts: ServiceUnavailableError", grant)

    recipient = tables.get_recipient(CAMPAIGN, NUMBER)
    assert (recipient.status, recipient.outcome) == (DONE, "failed")
    assert recipient.history[-1]["callLegId"] == leg_id
    assert not lines.holds(grant)


def test_a_retry_is_scheduled_by_the_services_clock():
    now = datetime(2030, 5, 6, 7, 8, 9, tzinfo=UTC)
    service, tables, legs, _, _ = _service(clock=lambda: now)
    legs.legs[LEG] = _ended_leg("busy")
    assert service.record_result(CAMPAIGN, NUMBER, LEG) == "retry-scheduled"
    assert tables.get_recipient(CAMPAIGN, NUMBER).next_attempt_at == (now + timedelta(seconds=600)).isoformat(
        timespec="microseconds"
    )

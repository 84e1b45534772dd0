"""Contacts end to end: recipients with their own ids share a number, numbers tried in order, notBefore/notAfter."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
from azure.data.tables import TableServiceClient

from shared.campaigns.store import CampaignStore
from shared.logs import recipient_label
from tests.e2e.campaign_support import PRESS_ONE, PRESS_TWO, campaign_body, emulator_calls, wait_until_done
from tests.e2e.log_scan import leaks

CALLER_IDS = ["+18005550111"]


@pytest.fixture(scope="module")
def campaigns(stack) -> CampaignStore:
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    return CampaignStore(service.get_table_client("campaigns"), service.get_table_client("recipients"))


def _numbers(count: int) -> list[str]:
    prefix = f"+1646{uuid.uuid4().int % 1000:03d}"
    return [f"{prefix}{index:04d}" for index in range(count)]


def _script(stack, number: str, script: dict) -> None:
    answer = stack.emulator.control("PUT", f"/callees/{number}", json=script)
    assert answer.status_code == 200, answer.text


def _create(stack, recipients: list, **settings) -> str:
    body = {**campaign_body([], CALLER_IDS, **settings), "recipients": recipients}
    response = stack.post("/campaigns", body)
    assert response.status_code == 201, response.text
    return response.json()["campaignId"]


def _calls_csv(stack, campaign_id: str) -> dict[str, dict[str, str]]:
    response = requests.get(f"{stack.app_url}/campaigns/{campaign_id}/calls.csv", timeout=15)
    assert response.status_code == 200, response.text
    return {row["recipientId"]: row for row in csv.DictReader(io.StringIO(response.text))}


def test_two_recipients_sharing_one_number_each_get_their_own_call(stack, campaigns):
    (number,) = _numbers(1)
    _script(stack, number, {"attempts": [PRESS_ONE, PRESS_TWO]})  # the first call confirms, the second declines
    campaign_id = _create(stack, [
        {"recipientId": "appt-1001", "phoneNumber": number},
        {"recipientId": "appt-1002", "phoneNumber": number},
    ])

    done = {r.recipient_id: r for r in wait_until_done(campaigns, campaign_id, 2, timeout=60)}

    calls = emulator_calls(stack.emulator, {number})
    assert len(calls) == 2  # two createCalls to the one number
    assert {r.outcome for r in done.values()} == {"confirmed", "declined"}  # each its own call, its own outcome
    assert all(r.attempts == 1 and r.answered_number == number for r in done.values())
    assert done["appt-1001"].call_leg_id != done["appt-1002"].call_leg_id
    rows = _calls_csv(stack, campaign_id)
    assert {rows[key]["outcome"] for key in ("appt-1001", "appt-1002")} == {"confirmed", "declined"}
    assert {rows[key]["phoneNumber"] for key in rows} == {number}


def test_a_contact_unreachable_on_its_first_number_is_reached_on_its_second(stack, campaigns):
    first, second = _numbers(2)
    _script(stack, first, {"answer": "unreachable"})
    _script(stack, second, PRESS_ONE)
    campaign_id = _create(stack, [{"recipientId": "patient:42", "phoneNumbers": [first, second]}])

    (contact,) = wait_until_done(campaigns, campaign_id, 1, timeout=60)

    assert contact.outcome == "confirmed" and contact.answered_number == second, contact.history
    assert contact.attempts == 2
    assert [entry["outcome"] for entry in contact.history] == ["unreachable", "confirmed"]
    assert len(emulator_calls(stack.emulator, {first})) == 1
    assert len(emulator_calls(stack.emulator, {second})) == 1
    row = _calls_csv(stack, campaign_id)["patient:42"]
    assert (row["phoneNumber"], row["answeredNumber"], row["outcome"], row["attempts"]) == (
        first, second, "confirmed", "2")
    # The app's log names the contact by a hash of its id, never by the id (the recipient's data).
    output = stack.app.wait_for_output(f"Dial {recipient_label('patient:42')} #2 of campaign {campaign_id}")
    assert "patient:42" not in output and leaks(output, {}) == []


def test_a_contact_who_rejects_the_ringing_call_on_one_number_is_called_on_the_next(stack, campaigns):
    first, second = _numbers(2)
    _script(stack, first, {"answer": "decline"})  # 603: rejected while ringing, never answered
    _script(stack, second, PRESS_TWO)  # answers, and declines the appointment
    campaign_id = _create(stack, [{"recipientId": "c-9", "phoneNumbers": [first, second]}])

    (contact,) = wait_until_done(campaigns, campaign_id, 1, timeout=60)

    assert [entry["outcome"] for entry in contact.history] == ["declined", "declined"]
    assert contact.outcome == "declined" and contact.answered_number == second and contact.attempts == 2
    assert len(emulator_calls(stack.emulator, {first})) == 1 and len(emulator_calls(stack.emulator, {second})) == 1


def test_a_contact_not_reached_on_any_number_is_retried_from_its_first(stack, campaigns):
    first, second = _numbers(2)
    _script(stack, first, {"answer": "busy"})
    _script(stack, second, {"answer": "unreachable"})
    retry = {"maxAttempts": 2, "delaySeconds": 2, "retryOn": ["busy"]}
    campaign_id = _create(stack, [{"recipientId": "c-7", "phoneNumbers": [first, second]}], retry=retry)

    (contact,) = wait_until_done(campaigns, campaign_id, 1, timeout=60)

    # Two rounds of both numbers: the round's best outcome (busy) is retried, each number called twice.
    assert [entry.get("phoneNumber") for entry in contact.history] == [first, second, first, second]
    assert contact.outcome == "busy" and contact.attempts == 4 and contact.answered_number is None
    assert len(emulator_calls(stack.emulator, {first})) == 2
    assert len(emulator_calls(stack.emulator, {second})) == 2


def test_no_call_starts_before_not_before_and_one_past_not_after_expires(stack, campaigns):
    early, late = _numbers(2)
    _script(stack, early, PRESS_ONE)
    _script(stack, late, PRESS_ONE)
    not_before = datetime.now(UTC) + timedelta(seconds=4)
    campaign_id = _create(stack, [
        {"recipientId": "later", "phoneNumber": early, "notBefore": not_before.isoformat()},
        {"recipientId": "too-late", "phoneNumber": late, "notAfter": "2020-01-01T00:00:00+01:00"},
    ])

    done = {r.recipient_id: r for r in wait_until_done(campaigns, campaign_id, 2, timeout=60)}

    assert done["later"].outcome == "confirmed"
    (call,) = emulator_calls(stack.emulator, {early})
    assert datetime.fromisoformat(call["createdAt"]) >= not_before
    assert done["too-late"].status == "expired" and done["too-late"].attempts == 0
    assert emulator_calls(stack.emulator, {late}) == []

"""Opt-out and the suppression list end to end: a callee who presses the opt-out key is never called again by any
campaign, until the number is taken off the list."""

import uuid
from urllib.parse import quote

import pytest
import requests
from azure.data.tables import TableServiceClient

from devstack.processes import free_ports
from shared.campaigns.store import CampaignStore
from tests.e2e.campaign_support import emulator_calls, wait_until_done
from tests.e2e.conftest import REPO_ROOT
from tests.e2e.log_scan import leaks
from tests.support.devhost_process import running_devhost

CALLER_IDS = ["+18005550101"]
PLAN = {
    "prompt": {"text": "Your appointment is tomorrow. Press 1 to confirm, 2 to cancel, 9 to stop these calls."},
    "collect": {"confirmKey": "1", "declineKey": "2", "timeoutSeconds": 2, "maxPrompts": 1},
    "optOut": {"key": "9", "confirmation": {"text": "You will not be called again. Goodbye."}},
}


def _press(key: str) -> dict:
    return {"answer": "answer", "presses": [{"tones": key, "afterMs": 400}]}


@pytest.fixture(scope="module")
def campaigns(stack) -> CampaignStore:
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    return CampaignStore(service.get_table_client("campaigns"), service.get_table_client("recipients"))


def _numbers(stack, *scripts: dict) -> list[str]:
    prefix = f"+1415{uuid.uuid4().int % 1000:03d}"
    numbers = []
    for index, script in enumerate(scripts):
        number = f"{prefix}{index:04d}"
        answer = stack.emulator.control("PUT", f"/callees/{number}", json=script)
        assert answer.status_code == 200, answer.text
        numbers.append(number)
    return numbers


def _run_campaign(stack, campaigns, numbers: list[str], **settings) -> tuple[str, dict]:
    body = {"name": "opt-out e2e", "plan": PLAN, "callerIds": CALLER_IDS, "recipients": numbers,
            "retry": {"maxAttempts": 1}, **settings}
    answer = stack.post("/campaigns", body)
    assert answer.status_code == 201, answer.text
    campaign_id = answer.json()["campaignId"]
    done = wait_until_done(campaigns, campaign_id, len(numbers), timeout=60)
    return campaign_id, {r.phone_number: r for r in done}


def _suppressions(stack, page_size: int = 1000) -> list[dict]:
    """The whole list, page by page."""
    entries, token = [], None
    while True:
        params = {"pageSize": page_size, **({"continuationToken": token} if token else {})}
        answer = requests.get(f"{stack.app_url}/suppressions", params=params, timeout=15)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        entries += body["suppressions"]
        token = body["continuationToken"]
        if token is None:
            return entries


def _entry(stack, number: str) -> dict | None:
    return next((e for e in _suppressions(stack) if e["phoneNumber"] == number), None)


def _delete(stack, number: str) -> requests.Response:
    return requests.delete(f"{stack.app_url}/suppressions/{quote(number)}", timeout=15)


@pytest.mark.timeout(240)
def test_an_opted_out_number_is_never_called_again_until_taken_off_the_list(stack, campaigns):
    opting_out, other = _numbers(stack, _press("9"), _press("1"))

    # Campaign A: the callee presses the opt-out key, hears the confirmation, and is on the list.
    campaign_a, done = _run_campaign(stack, campaigns, [opting_out])
    assert done[opting_out].outcome == "opted-out", done[opting_out].history
    leg = stack.get_call(done[opting_out].call_leg_id)
    said = [e.get("text") for e in leg["timeline"] if e["type"] == "planPrompt"]
    assert said[-1] == "You will not be called again. Goodbye.", said
    entry = _entry(stack, opting_out)
    assert entry is not None
    assert entry["reason"] == "opted-out"
    assert entry["source"] == {"type": "opt-out", "campaignId": campaign_a, "callLegId": done[opting_out].call_leg_id}
    assert len(emulator_calls(stack.emulator, {opting_out})) == 1

    # Campaign B: the opted-out number ends `suppressed` without a call; the other is called as usual.
    campaign_b, done = _run_campaign(stack, campaigns, [opting_out, other])
    assert done[opting_out].status == "done" and done[opting_out].outcome == "suppressed"
    assert done[opting_out].attempts == 0 and done[opting_out].call_leg_id is None
    assert done[other].outcome == "confirmed"
    assert len(emulator_calls(stack.emulator, {opting_out})) == 1  # still only campaign A's call
    assert len(emulator_calls(stack.emulator, {other})) == 1
    summary = requests.get(f"{stack.app_url}/campaigns/{campaign_b}", timeout=15).json()
    assert summary["byOutcome"] == {"confirmed": 1, "suppressed": 1}
    assert summary["suppressionList"] == "checked"
    report = requests.get(f"{stack.app_url}/campaigns/{campaign_b}/report.html", timeout=15).text
    assert "suppressed" in report and "Suppression list bypassed" not in report

    # Taken off the list, the number is called again by campaign C.
    assert _delete(stack, opting_out).status_code == 204
    assert _entry(stack, opting_out) is None
    missing = _delete(stack, opting_out)
    assert missing.status_code == 404 and missing.json()["code"] == "SuppressionNotFound"
    stack.emulator.control("PUT", f"/callees/{opting_out}", json=_press("1"))
    _, done = _run_campaign(stack, campaigns, [opting_out])
    assert done[opting_out].outcome == "confirmed"
    assert len(emulator_calls(stack.emulator, {opting_out})) == 2

    # The number was in a path and in stored entries, never in the app's log (the access log masks it too).
    masked = f"%2B{opting_out[1:5]}***{opting_out[-4:]}"  # as _delete sent it: URL-encoded
    output = stack.app.wait_for_output(f"DELETE /suppressions/{masked}", timeout=15)
    assert [leak for leak in leaks(output, {}) if opting_out in leak or other in leak] == []


@pytest.mark.timeout(120)
def test_a_number_added_through_the_api_is_not_called_by_an_emergency_campaign_either(stack, campaigns):
    # The stack leaves SUPPRESSION_EMERGENCY_BYPASS unset: the list holds for emergencies too.
    suppressed, other = _numbers(stack, _press("1"), _press("1"))
    answer = stack.post("/suppressions", {"phoneNumber": suppressed, "reason": "asked by phone"})
    assert answer.status_code == 201, answer.text

    campaign_id, done = _run_campaign(stack, campaigns, [suppressed, other], emergency=True)

    assert done[suppressed].outcome == "suppressed" and done[other].outcome == "confirmed"
    assert emulator_calls(stack.emulator, {suppressed}) == []
    summary = requests.get(f"{stack.app_url}/campaigns/{campaign_id}", timeout=15).json()
    assert summary["suppressionList"] == "checked"
    assert "suppressionBypassed" not in summary["settings"]


@pytest.mark.timeout(120)
def test_with_the_bypass_setting_an_emergency_campaign_calls_suppressed_numbers_and_says_so(stack, campaigns):
    suppressed, other = _numbers(stack, _press("1"), _press("1"))
    assert stack.post("/suppressions", {"phoneNumber": suppressed}).status_code == 201
    env = {**stack.app_env, "SUPPRESSION_EMERGENCY_BYPASS": "true"}
    with running_devhost(REPO_ROOT, port=free_ports()[0], env=env) as bypassing:
        body = {"name": "wildfire", "plan": PLAN, "callerIds": CALLER_IDS, "recipients": [suppressed],
                "emergency": True}
        emergency = requests.post(f"{bypassing.base_url}/campaigns", json=body, timeout=30)
        routine = requests.post(f"{bypassing.base_url}/campaigns", json={**body, "recipients": [suppressed, other],
                                                                         "emergency": False}, timeout=30)
        assert emergency.status_code == 201 and routine.status_code == 201, (emergency.text, routine.text)
        # Decided when the campaign was created: whichever instance dials, the suppressed number is called.
        emergency_id = emergency.json()["campaignId"]
        done = {r.phone_number: r for r in wait_until_done(campaigns, emergency_id, 1, timeout=60)}
        routine_done = {r.phone_number: r for r in wait_until_done(campaigns, routine.json()["campaignId"], 2, 60)}

    assert done[suppressed].outcome == "confirmed"
    # The setting bypasses the list for emergencies only: the routine campaign left the number uncalled.
    assert routine_done[suppressed].outcome == "suppressed" and routine_done[other].outcome == "confirmed"
    assert len(emulator_calls(stack.emulator, {suppressed})) == 1
    summary = requests.get(f"{stack.app_url}/campaigns/{emergency_id}", timeout=15).json()
    assert summary["suppressionList"] == "suppression list bypassed (emergency)"
    report = requests.get(f"{stack.app_url}/campaigns/{emergency_id}/report.html", timeout=15).text
    assert "Suppression list bypassed (emergency)" in report
    routine_summary = requests.get(f"{stack.app_url}/campaigns/{routine.json()['campaignId']}", timeout=15).json()
    assert routine_summary["suppressionList"] == "checked"


@pytest.mark.timeout(60)
def test_a_single_call_with_an_opt_out_key_puts_its_number_on_the_list(stack):
    (number,) = _numbers(stack, _press("9"))

    leg_id = stack.place_call(number, plan=PLAN)
    leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated", timeout=30)

    assert leg["outcome"] == "opted-out" and leg["digits"] == "9"
    entry = _entry(stack, number)
    assert entry is not None and entry["source"] == {"type": "opt-out", "campaignId": None, "callLegId": leg_id}


@pytest.mark.timeout(60)
def test_an_opt_out_learnt_after_the_call_ended_still_suppresses_the_number_once(stack):
    (number,) = _numbers(stack, {"answer": "answer"})  # answers, presses nothing
    leg_id = stack.place_call(number, plan=PLAN)
    leg = stack.wait_for_call(leg_id, lambda leg: leg["state"] == "terminated", timeout=30)
    assert leg["outcome"] == "answered-without-input" and _entry(stack, number) is None

    # ACS's news of the key press arrives late, twice (a retried callback): the outcome is corrected, and the
    # number is on the list once, with its first addedAt.
    press = {"operationContext": "plan:ask", "dtmfResult": {"tones": ["nine"]},
             "resultInformation": {"code": 200, "subCode": 8531, "message": "Max digits received."}}
    event_id = str(uuid.uuid4())
    assert stack.post_acs_event(leg_id, "RecognizeCompleted", press, event_id=event_id).status_code == 200
    first = _entry(stack, number)
    assert stack.post_acs_event(leg_id, "RecognizeCompleted", press, event_id=event_id).status_code == 200
    assert stack.post_acs_event(leg_id, "RecognizeCompleted", press).status_code == 200

    assert stack.get_call(leg_id)["outcome"] == "opted-out"
    assert first is not None and first["source"]["callLegId"] == leg_id
    assert [e for e in _suppressions(stack) if e["phoneNumber"] == number] == [first]


def test_adding_twice_keeps_the_first_entry(stack):
    (number,) = _numbers(stack, _press("1"))
    first = stack.post("/suppressions", {"phoneNumber": number, "reason": "complaint"})
    again = stack.post("/suppressions", {"phoneNumber": number, "reason": "something else"})

    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["source"] == {"type": "api"} and first.json()["reason"] == "complaint"
    without_reason = stack.post("/suppressions", {"phoneNumber": _numbers(stack, _press("1"))[0]})
    assert without_reason.status_code == 201 and without_reason.json()["reason"] == "requested"


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"phoneNumber": "5005550006"}, "InvalidRequest", "phoneNumber"),
    ({"phoneNumber": "+1 500 555 0006"}, "InvalidRequest", "phoneNumber"),
    ({"phoneNumber": 15005550006}, "InvalidRequest", "phoneNumber"),
    ({}, "InvalidRequest", "phoneNumber"),
    ({"phoneNumber": "+15005550006", "reason": ""}, "InvalidRequest", "reason"),
    ({"phoneNumber": "+15005550006", "reason": "x" * 201}, "InvalidRequest", "reason"),
    ({"phoneNumber": "+15005550006", "reason": 7}, "InvalidRequest", "reason"),
    ({"phoneNumber": "+15005550006", "note": "x"}, "UnknownField", "note"),
    (["+15005550006"], "InvalidRequest", "body"),
])
def test_a_bad_addition_is_refused_and_writes_nothing(stack, body, code, field):
    before = _suppressions(stack)

    answer = stack.post("/suppressions", body)

    assert answer.status_code == 400, answer.text
    assert set(answer.json()) == {"code", "message"} and answer.json()["code"] == code
    assert field in answer.json()["message"]
    assert _suppressions(stack) == before


def test_a_bad_number_to_delete_or_a_bad_page_is_refused(stack):
    bad = _delete(stack, "5005550006")
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidRequest"
    for params in ({"continuationToken": "not-ours"}, {"continuationToken": "x" * 500}):
        answer = requests.get(f"{stack.app_url}/suppressions", params=params, timeout=15)
        assert answer.status_code == 400 and answer.json()["code"] == "InvalidContinuation", answer.text
    for size in ("0", "1001", "ten"):
        answer = requests.get(f"{stack.app_url}/suppressions", params={"pageSize": size}, timeout=15)
        assert answer.status_code == 400 and "pageSize" in answer.json()["message"], answer.text


def test_the_list_pages_in_number_order(stack):
    numbers = _numbers(stack, *[_press("1")] * 3)
    for number in numbers:
        assert stack.post("/suppressions", {"phoneNumber": number}).status_code == 201

    paged = _suppressions(stack, page_size=1)

    listed = [e["phoneNumber"] for e in paged]
    assert listed == sorted(listed) and len(listed) == len(set(listed))
    assert set(numbers) <= set(listed)

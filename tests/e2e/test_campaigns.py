"""Campaigns end to end: a few hundred scripted recipients, pacing caps, retries by outcome, restart, scale-out."""

import itertools
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import pytest
import requests
from azure.data.tables import TableServiceClient

from shared.campaigns.counters import counts_of
from shared.campaigns.reach import REACHED_OUTCOMES
from shared.campaigns.store import CampaignStore
from tests.e2e.campaign_support import (
    BEHAVIOURS,
    MAX_CONCURRENT,
    PER_CALLER_ID,
    RETRY,
    campaign_body,
    emulator_calls,
    peak_overlap,
    scripted_recipients,
    wait_until_done,
)

CALLER_IDS = ["+18005550101", "+18005550102", "+18005550103"]


@pytest.fixture(scope="module")
def campaigns(stack) -> CampaignStore:
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    return CampaignStore(service.get_table_client("campaigns"), service.get_table_client("recipients"))


def _check_campaign(stack, recipients, done, *, max_concurrent, per_caller_id):
    by_number = {r.phone_number: r for r in done}
    calls = emulator_calls(stack.emulator, set(by_number))
    calls_per_number = Counter(c["targets"][0][2:] for c in calls)
    for scripted in recipients:
        recipient = by_number[scripted.phone_number]
        why = (scripted, recipient.status, recipient.attempts, recipient.dials, recipient.history)
        assert recipient.outcome == scripted.expected_outcome, why
        assert recipient.attempts == scripted.expected_calls, why
        # nobody is called twice for one attempt: ACS saw exactly one call per attempt
        assert calls_per_number[scripted.phone_number] == scripted.expected_calls, scripted
        outcomes = [entry["outcome"] for entry in recipient.history]
        assert all(o in RETRY["retryOn"] for o in outcomes[:-1]), outcomes  # only busy / no-answer are retried
    assert peak_overlap(calls) <= max_concurrent
    for caller_id in CALLER_IDS:
        assert peak_overlap([c for c in calls if c["callerId"] == caller_id]) <= per_caller_id
    _check_retry_delays(calls)
    return calls


def _check_retry_delays(calls):
    by_number: dict[str, list[dict]] = {}
    for call in sorted(calls, key=lambda c: c["createdAt"]):
        by_number.setdefault(call["targets"][0], []).append(call)
    for attempts in by_number.values():
        for earlier, later in itertools.pairwise(attempts):
            gap = datetime.fromisoformat(later["createdAt"]) - datetime.fromisoformat(earlier["endedAt"])
            assert gap >= timedelta(seconds=RETRY["delaySeconds"] - 0.5), (earlier, later)


@pytest.mark.timeout(500)
def test_a_campaign_of_hundreds_ends_right_within_its_caps(stack, campaigns):
    # 120 recipients, ~180 calls: enough to run at the caps for most of the campaign; more only costs time.
    recipients = scripted_recipients(stack.emulator, 120)
    body = campaign_body(recipients + recipients[:5], CALLER_IDS)  # five listed twice

    answer = stack.post("/campaigns", body)
    assert answer.status_code == 201, answer.text
    campaign_id = answer.json()["campaignId"]
    stack.post(f"/campaigns/{campaign_id}/recipients", {"recipients": [recipients[0].phone_number]})  # again

    done = wait_until_done(campaigns, campaign_id, len(recipients), timeout=360)

    calls = _check_campaign(stack, recipients, done, max_concurrent=MAX_CONCURRENT, per_caller_id=PER_CALLER_ID)
    assert peak_overlap(calls) >= 3  # the caps were actually exercised, not avoided
    assert {c["callerId"] for c in calls} == set(CALLER_IDS)  # calls spread over the pool
    _check_reports(stack, campaign_id, recipients)
    _check_counts(campaigns, campaign_id)


def _check_counts(campaigns, campaign_id):
    """The counter rows, kept with every write through redeliveries and races, add up to the rows themselves."""
    kept, rows = campaigns.read_counts(campaign_id), counts_of(campaigns.list_recipients(campaign_id))
    assert (kept.by_status, kept.by_outcome, kept.attempts, kept.called, kept.duration_count, kept.ended) == (
        rows.by_status, rows.by_outcome, rows.attempts, rows.called, rows.duration_count, rows.ended)


def _check_reports(stack, campaign_id, recipients):
    summary = requests.get(f"{stack.app_url}/campaigns/{campaign_id}", timeout=15).json()
    assert summary["status"] == "completed"
    assert summary["recipients"] == len(recipients)
    assert summary["byOutcome"] == dict(Counter(r.expected_outcome for r in recipients))
    assert summary["attempts"] == sum(r.expected_calls for r in recipients)
    reached = sum(n for o, n in summary["byOutcome"].items() if o in REACHED_OUTCOMES)
    reach = summary["reach"]
    assert reach["reached"] == reached and reach["reachedShare"] == round(reached / len(recipients), 4)
    assert [m["share"] for m in reach["milestones"]] == [0.5, 0.9]
    if reached / len(recipients) >= 0.5:
        assert 0 <= reach["milestones"][0]["reachedAfterSeconds"] <= summary["timings"]["elapsedSeconds"] + 60
    assert reach["ideal"]["concurrency"] >= 1 and reach["overTime"][-1]["reachedShare"] == reach["reachedShare"]
    # calls.csv a few rows a page, followed through its Link headers: every recipient once.
    rows, url = [], f"{stack.app_url}/campaigns/{campaign_id}/calls.csv?pageSize=37"
    while url:
        answer = requests.get(url, timeout=15)
        assert answer.status_code == 200, answer.text
        rows += answer.text.strip().splitlines()[1:]
        url = urljoin(answer.url, answer.links["next"]["url"]) if "next" in answer.links else None
    assert len(rows) == len(set(rows)) == len(recipients)
    page = requests.get(f"{stack.app_url}/campaigns/{campaign_id}/report.html", timeout=15)
    assert page.headers["Content-Type"].startswith("text/html") and "<svg" in page.text


@pytest.mark.timeout(200)
def test_acs_throttling_slows_the_campaign_without_failing_anyone(stack, campaigns):
    recipients = scripted_recipients(stack.emulator, 12)
    stack.emulator.control(
        "POST", "/faults", json={"operation": "createCall", "status": 429, "count": 12, "retryAfterSeconds": 1}
    )
    try:
        campaign_id = stack.post("/campaigns", campaign_body(recipients, CALLER_IDS)).json()["campaignId"]
        done = wait_until_done(campaigns, campaign_id, len(recipients), timeout=150)
    finally:
        stack.emulator.control("DELETE", "/faults")

    _check_campaign(stack, recipients, done, max_concurrent=MAX_CONCURRENT, per_caller_id=PER_CALLER_ID)


@pytest.mark.timeout(360)
def test_a_restart_mid_campaign_loses_and_duplicates_nothing(stack, campaigns):
    recipients = scripted_recipients(stack.emulator, 36)
    campaign_id = stack.post("/campaigns", campaign_body(recipients, CALLER_IDS)).json()["campaignId"]
    _wait_for_some_progress(campaigns, campaign_id, 10)

    stack.restart_app()

    done = wait_until_done(campaigns, campaign_id, len(recipients), timeout=240)
    _check_campaign(stack, recipients, done, max_concurrent=MAX_CONCURRENT, per_caller_id=PER_CALLER_ID)


@pytest.mark.timeout(360)
def test_three_app_instances_share_the_caps(stack, campaigns):
    recipients = scripted_recipients(stack.emulator, 36)
    with stack.more_app_instances(2) as extra:
        campaign_id = stack.post("/campaigns", campaign_body(recipients, CALLER_IDS)).json()["campaignId"]
        done = wait_until_done(campaigns, campaign_id, len(recipients), timeout=240)
        dialers = [host for host in extra if "Functions.campaign_dial" in host.output()]

    _check_campaign(stack, recipients, done, max_concurrent=MAX_CONCURRENT, per_caller_id=PER_CALLER_ID)
    assert dialers, "the extra instances should have taken part"


def test_a_cancelled_campaign_starts_no_new_calls(stack, campaigns):
    recipients = scripted_recipients(stack.emulator, 30)
    body = campaign_body(
        recipients,
        CALLER_IDS,
        pacing={"maxConcurrentCalls": 1, "maxConcurrentCallsPerCallerId": 1, "callsPerSecond": 1},
    )
    campaign_id = stack.post("/campaigns", body).json()["campaignId"]
    _wait_for_some_progress(campaigns, campaign_id, 1)

    assert stack.post(f"/campaigns/{campaign_id}/cancel").status_code == 202
    cancelled_at = datetime.now(UTC)
    done = wait_until_done(campaigns, campaign_id, len(recipients), timeout=60)

    statuses = Counter(r.status for r in done)
    assert statuses["cancelled"] >= 20
    calls = emulator_calls(stack.emulator, {r.phone_number for r in recipients})
    assert len(calls) == sum(r.attempts for r in done) <= 10
    # not one call reached ACS after the cancel was answered (retries included)
    assert [c for c in calls if datetime.fromisoformat(c["createdAt"]) > cancelled_at] == []


def test_an_expired_campaign_calls_nobody(stack, campaigns):
    recipients = scripted_recipients(stack.emulator, 5)
    body = campaign_body(recipients, CALLER_IDS, expiresAt="2020-01-01T00:00:00Z")
    campaign_id = stack.post("/campaigns", body).json()["campaignId"]

    done = wait_until_done(campaigns, campaign_id, 5, timeout=30)

    assert {r.status for r in done} == {"expired"}
    assert emulator_calls(stack.emulator, {r.phone_number for r in recipients}) == []


def test_outside_the_calling_window_nobody_is_called_unless_it_is_an_emergency(stack, campaigns):
    now = datetime.now().astimezone()
    closed = {
        "start": (now + timedelta(hours=3)).strftime("%H:00"),
        "end": (now + timedelta(hours=4)).strftime("%H:00"),
        "timeZone": "UTC",
    }
    if closed["start"] >= closed["end"]:
        pytest.skip("window would cross midnight at this hour")
    quiet = scripted_recipients(stack.emulator, 3)
    urgent = scripted_recipients(stack.emulator, 3)
    quiet_id = stack.post("/campaigns", campaign_body(quiet, CALLER_IDS, callingWindow=closed)).json()["campaignId"]
    urgent_id = stack.post(
        "/campaigns", campaign_body(urgent, CALLER_IDS, callingWindow=closed, emergency=True)
    ).json()["campaignId"]

    wait_until_done(campaigns, urgent_id, 3, timeout=60)
    waiting = campaigns.list_recipients(quiet_id)

    assert {r.status for r in waiting} == {"queued"}
    assert emulator_calls(stack.emulator, {r.phone_number for r in quiet}) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"plan": None}, "plan"),
        ({"callerIds": ["555"]}, "callerIds[0]"),
        ({"recipients": ["x"]}, "recipients[0]"),
        ({"pacing": {"maxConcurrentCalls": 0}}, "maxConcurrentCalls"),
        ({"expiresAt": "tomorrow"}, "expiresAt"),
        ({"callingWindow": {"start": "25:00", "end": "20:00"}}, "callingWindow"),
        ({"campaignId": "a/b"}, "campaignId"),
    ],
)
def test_invalid_campaigns_name_the_field_and_write_nothing(stack, campaigns, change, field):
    campaign_id = f"bad-{uuid.uuid4().hex[:8]}"
    body = {
        "campaignId": campaign_id,
        "name": "x",
        "plan": {"prompt": {"text": "hi"}},
        "recipients": ["+13125550100"],
        **change,
    }
    if body.get("plan") is None:
        body.pop("plan")

    answer = stack.post("/campaigns", body)

    assert answer.status_code == 400
    assert field in answer.json()["message"]
    if change.get("campaignId") is None:
        with pytest.raises(LookupError):
            campaigns.get_campaign(campaign_id)


def _wait_for_some_progress(campaigns, campaign_id, at_least):
    import time

    deadline = time.monotonic() + 60
    while sum(r.attempts for r in campaigns.list_recipients(campaign_id)) < at_least:
        assert time.monotonic() < deadline, "campaign made no progress"
        time.sleep(0.2)


PERSONAL_PLAN = {
    "language": "en-US",
    "prompt": {"text": "Hello {{name}}, your appointment is on {{appointmentAt|datetime}} at {{location}}."
                       " Press 1 to confirm."},
    "collect": {"confirmKey": "1", "declineKey": "2", "timeoutSeconds": 2, "maxPrompts": 1},
    "goodbye": {"text": "Thank you, {{name}}."},
    "languages": {
        "es-US": {"prompt": {"text": "Hola {{name}}, su cita es el {{appointmentAt|datetime}} en {{location}}."
                                     " Pulse 1 para confirmar."},
                  "goodbye": {"text": "Gracias, {{name}}."}},
    },
}


def test_each_recipient_hears_its_own_text_in_its_language_and_voice(stack, campaigns):
    prefix = f"+1313{uuid.uuid4().int % 1000:03d}"
    people = [
        ("John", "America/New_York", None, "2026-12-04T14:30:00Z", "Main Street"),
        ("Ana", "America/Chicago", "es-US", "2026-12-04T14:30:00Z", "Clínica Norte"),
        ("Luis", None, "es-US", "2026-12-05T08:15", "Clínica Sur"),  # the campaign's zone; a local time there
    ]
    recipients = []
    for index, (name, zone, language, at, place) in enumerate(people):
        number = f"{prefix}{index:04d}"
        assert stack.emulator.control("PUT", f"/callees/{number}", json=BEHAVIOURS["confirms"][0]).status_code == 200
        recipients.append({"phoneNumber": number, "timeZone": zone, "language": language,
                           "data": {"name": name, "appointmentAt": at, "location": place}})
    body = {"name": "personal", "plan": PERSONAL_PLAN, "callerIds": CALLER_IDS, "timeZone": "America/Los_Angeles",
            "recipients": recipients}
    answer = stack.post("/campaigns", body)
    assert answer.status_code == 201, answer.text

    done = wait_until_done(campaigns, answer.json()["campaignId"], 3, timeout=60)

    said = {}
    for call in emulator_calls(stack.emulator, {r["phoneNumber"] for r in recipients}):
        media = stack.emulator.control("GET", f"/calls/{call['callConnectionId']}").json()["media"]["recent"]
        said[call["targets"][0][2:]] = [
            (" ".join(s["text"].split()), s["sourceLocale"], s["voiceName"]) for op in media for s in op["sources"]
        ]  # CLDR puts narrow no-break spaces in times
    english, voice = ("en-US", "en-US-JennyNeural"), ("es-US", "es-US-PalomaNeural")
    assert said[recipients[0]["phoneNumber"]] == [
        ("Hello John, your appointment is on Friday, December 4, 2026, 9:30 AM at Main Street. Press 1 to confirm.",
         *english),
        ("Thank you, John.", *english),
    ]
    assert said[recipients[1]["phoneNumber"]] == [
        ("Hola Ana, su cita es el viernes, 4 de diciembre de 2026, 8:30 a.m. en Clínica Norte. Pulse 1 para "
         "confirmar.", *voice),
        ("Gracias, Ana.", *voice),
    ]
    assert said[recipients[2]["phoneNumber"]][0][0].startswith("Hola Luis, su cita es el sábado, 5 de diciembre de "
                                                              "2026, 8:15 a.m. en Clínica Sur.")
    assert {r.outcome for r in done} == {"confirmed"}
    ana = next(r for r in done if r.data["name"] == "Ana")
    timeline = stack.get_call(ana.call_leg_id)["timeline"]
    assert [e["language"] for e in timeline if e["type"] == "planPrompt"] == ["es-US", "es-US"]


def test_a_recipient_missing_a_field_is_refused_and_nothing_is_written(stack, campaigns):
    campaign_id = f"personal-{uuid.uuid4().hex[:8]}"
    body = {"campaignId": campaign_id, "plan": PERSONAL_PLAN, "callerIds": CALLER_IDS, "recipients": [
        {"phoneNumber": "+13135550100", "data": {"name": "Jo", "appointmentAt": "2026-12-04T09:00", "location": "A"}},
        {"phoneNumber": "+13135550101", "data": {"name": "Bo", "appointmentAt": "2026-12-04T09:00"}},
    ]}

    answer = stack.post("/campaigns", body)

    assert answer.status_code == 400
    assert answer.json()["code"] == "InvalidRequest" and "recipients[1].data.location" in answer.json()["message"]
    with pytest.raises(LookupError):
        campaigns.get_campaign(campaign_id)

"""Polls, voicemail and declined calls end to end: answers counted in all three reports, a voicemail left after
silence, and a callee who rejects the ringing call not called again unless the campaign asks for it."""

import csv
import io
import uuid
from collections import Counter

import pytest
import requests
from azure.data.tables import TableServiceClient

from shared.campaigns.counters import counts_of
from shared.campaigns.store import CampaignStore
from tests.e2e.campaign_support import emulator_calls, wait_until_done

CALLER_IDS = ["+18005550121"]
CHOICES = {"1": "Power on", "2": "No power", "3": "Power <flickers> & dips"}
VOICEMAIL = "This is City Power checking on your supply after the storm. Please call us back at 555 0100."
POLL = {
    "prompt": {"text": "Press 1 if your power is on, 2 if it is off, 3 if it flickers."},
    "collect": {"choices": CHOICES, "timeoutSeconds": 1, "maxPrompts": 1},
    "goodbye": {"text": "Thank you."},
    "voicemail": {"text": VOICEMAIL},
}


@pytest.fixture(scope="module")
def campaigns(stack) -> CampaignStore:
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    return CampaignStore(service.get_table_client("campaigns"), service.get_table_client("recipients"))


def _script(stack, number: str, script: dict) -> None:
    answer = stack.emulator.control("PUT", f"/callees/{number}", json=script)
    assert answer.status_code == 200, answer.text


def _presses(key: str) -> dict:
    return {"answer": "answer", "presses": [{"tones": key, "afterMs": 300}]}


def _start(stack, plan: dict, numbers: list[str], **settings) -> str:
    body = {"name": "storm check", "plan": plan, "callerIds": CALLER_IDS, "recipients": numbers, **settings}
    answer = stack.post("/campaigns", body)
    assert answer.status_code == 201, answer.text
    return answer.json()["campaignId"]


@pytest.mark.timeout(120)
def test_poll_answers_are_counted_in_the_summary_csv_and_report_and_silence_gets_the_voicemail(stack, campaigns):
    prefix = f"+1314{uuid.uuid4().int % 1000:03d}"
    keys = ["1", "1", "2", "3", "1", None]  # None: a machine that says nothing
    numbers = [f"{prefix}{index:04d}" for index in range(len(keys))]
    for number, key in zip(numbers, keys, strict=True):
        _script(stack, number, _presses(key) if key else {"answer": "answer"})
    campaign_id = _start(stack, POLL, numbers)

    done = {r.phone_number: r for r in wait_until_done(campaigns, campaign_id, len(numbers), timeout=90)}

    for number, key in zip(numbers, keys, strict=True):
        recipient = done[number]
        if key:
            assert (recipient.outcome, recipient.choice) == ("chosen", {"key": key, "label": CHOICES[key]})
            assert recipient.voicemail_left is False and recipient.history[-1]["choice"]["key"] == key
        else:
            assert (recipient.outcome, recipient.choice, recipient.voicemail_left) == (
                "answered-without-input", None, True)
    # The call itself, as GET /calls shows it.
    leg = stack.get_call(done[numbers[3]].call_leg_id)
    assert (leg["outcome"], leg["choice"], leg["voicemailLeft"]) == ("chosen", {"key": "3", "label": CHOICES["3"]},
                                                                     False)
    silent = stack.get_call(done[numbers[-1]].call_leg_id)
    assert (silent["outcome"], silent["choice"], silent["voicemailLeft"]) == ("answered-without-input", None, True)

    # What the emulator was asked to play: the voicemail, in full, only to the silent callee, after its prompt.
    said = {}
    for call in emulator_calls(stack.emulator, set(numbers)):
        media = stack.emulator.control("GET", f"/calls/{call['callConnectionId']}").json()["media"]["recent"]
        said[call["targets"][0][2:]] = [source.get("text") for op in media for source in op["sources"]]
    assert said[numbers[-1]] == [POLL["prompt"]["text"], VOICEMAIL]
    assert all(VOICEMAIL not in texts for number, texts in said.items() if number != numbers[-1])
    assert said[numbers[0]] == [POLL["prompt"]["text"], "Thank you."]

    # The summary counts every choice, with its label, 0 included.
    summary = requests.get(f"{stack.app_url}/campaigns/{campaign_id}", timeout=15).json()
    assert summary["byChoice"] == {
        "1": {"label": "Power on", "count": 3},
        "2": {"label": "No power", "count": 1},
        "3": {"label": CHOICES["3"], "count": 1},
    }
    assert summary["byOutcome"] == {"chosen": 5, "answered-without-input": 1}
    # ... from the counter rows, which add up to the recipient rows themselves.
    kept = campaigns.read_counts(campaign_id).by_choice
    assert kept == counts_of(done.values()).by_choice == {"1": 3, "2": 1, "3": 1}

    # calls.csv: the key, its label and the voicemail, per recipient.
    answer = requests.get(f"{stack.app_url}/campaigns/{campaign_id}/calls.csv", timeout=15)
    assert answer.status_code == 200, answer.text
    rows = {row["phoneNumber"]: row for row in csv.DictReader(io.StringIO(answer.text))}
    assert Counter((row["choice"], row["choiceLabel"]) for row in rows.values()) == Counter(
        {("1", "Power on"): 3, ("2", "No power"): 1, ("3", CHOICES["3"]): 1, ("", ""): 1})
    assert rows[numbers[-1]]["voicemailLeft"] == "true" and rows[numbers[0]]["voicemailLeft"] == "false"

    # report.html: a table of the answers, labels escaped.
    page = requests.get(f"{stack.app_url}/campaigns/{campaign_id}/report.html", timeout=15).text
    answers = page[page.index("<h2>Answers</h2>"): page.index("</section>", page.index("<h2>Answers</h2>"))]
    assert '<td>1</td><td>Power on</td><td class="num">3</td><td class="num">60%</td>' in answers
    assert '<td>2</td><td>No power</td><td class="num">1</td><td class="num">20%</td>' in answers
    assert "Power &lt;flickers&gt; &amp; dips</td><td class=\"num\">1</td>" in answers


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("retry", "calls"), [(None, 1), ({"maxAttempts": 2, "delaySeconds": 1,
                                                           "retryOn": ["declined"]}, 2)])
def test_a_callee_who_rejects_the_ringing_call_has_declined_and_is_retried_only_on_request(
    stack, campaigns, retry, calls
):
    prefix = f"+1315{uuid.uuid4().int % 1000:03d}"
    scripted, magic = f"{prefix}0001", "+15005550004"  # a `decline` script, and the emulator's declining number
    _script(stack, scripted, {"answer": "decline"})
    plan = {"prompt": {"text": "Press 1 to confirm."}, "collect": {"timeoutSeconds": 1, "maxPrompts": 1}}
    before = len(emulator_calls(stack.emulator, {magic}))
    campaign_id = _start(stack, plan, [scripted, magic], **({"retry": retry} if retry else {}))

    done = {r.phone_number: r for r in wait_until_done(campaigns, campaign_id, 2, timeout=60)}

    for number in (scripted, magic):
        recipient = done[number]
        why = (number, recipient.history)
        assert (recipient.outcome, recipient.attempts) == ("declined", calls), why
        assert [e["outcomeCode"]["subCode"] for e in recipient.history] == [8538] * calls, why
    assert len(emulator_calls(stack.emulator, {scripted})) == calls
    assert len(emulator_calls(stack.emulator, {magic})) - before == calls
    summary = requests.get(f"{stack.app_url}/campaigns/{campaign_id}", timeout=15).json()
    assert summary["byOutcome"] == {"declined": 2} and summary["attempts"] == 2 * calls


def test_a_poll_that_also_names_a_confirm_key_is_refused_naming_the_field_and_writes_nothing(stack, campaigns):
    campaign_id = f"poll-{uuid.uuid4().hex[:12]}"
    plan = {**POLL, "collect": {**POLL["collect"], "confirmKey": "1"}}
    answer = stack.post("/campaigns", {"campaignId": campaign_id, "name": "bad poll", "plan": plan,
                                       "recipients": ["+14255550100"]})

    assert answer.status_code == 400, answer.text
    assert {"code", "message"} <= set(answer.json())
    assert "plan.collect.confirmKey" in answer.json()["message"]
    assert requests.get(f"{stack.app_url}/campaigns/{campaign_id}", timeout=15).status_code == 404

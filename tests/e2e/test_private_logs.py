"""The app's log is private and structured, end to end: after a campaign, a call whose participant is removed by
number and a poisoned message, everything the app under devhost wrote (this run's whole output, other modules'
included) holds no whole phone number, no key, no secret and no token; and its lines name the ids they are about.

Without the log filter (shared/logs.py, installed in function_app.py) this fails: the app logs the numbers it
dials and calls, and devhost's access log shows a participant's number in the path."""

from __future__ import annotations

import json
import re

import pytest
import requests
from azure.data.tables import TableServiceClient

from shared.campaigns.store import CampaignStore
from tests.e2e.campaign_support import campaign_body, scripted_recipients, wait_until_done
from tests.e2e.conftest import WEBHOOK_SECRET
from tests.e2e.log_scan import leaks
from tests.support.azurite_process import ACCOUNT_KEY

CALLER_IDS = ["+18005550104"]
ANSWERS = "+15005550006"  # the emulator's magic number: answers and presses 1


@pytest.fixture(scope="module")
def campaigns(stack) -> CampaignStore:
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    return CampaignStore(service.get_table_client("campaigns"), service.get_table_client("recipients"))


def test_the_apps_log_holds_no_phone_number_key_secret_or_token_and_names_its_ids(stack, campaigns):
    recipients = scripted_recipients(stack.emulator, 2)  # one confirms, one declines
    campaign_id = stack.post("/campaigns", campaign_body(recipients, CALLER_IDS)).json()["campaignId"]
    done = wait_until_done(campaigns, campaign_id, len(recipients), timeout=60)
    assert sorted(r.outcome for r in done) == ["confirmed", "declined"]

    leg_id = stack.place_call(ANSWERS)
    stack.wait_for_call(leg_id, lambda leg: leg["state"] == "established")
    removed = requests.delete(f"{stack.app_url}/calls/{leg_id}/participants/4:{ANSWERS}", timeout=15)
    assert removed.status_code in (202, 404, 409), removed.text
    sent = stack.queue("create-call").send_message(json.dumps({"targets": ["+14255550199"], "callbackUri": 7}))

    stack.app.wait_for_output(f"Message {sent.id} moved to create-call-poison", timeout=30)
    output = stack.app.wait_for_output(f"DELETE /calls/{leg_id}/participants/4:", timeout=15)  # the access log

    campaign_leg = done[0].call_leg_id
    secrets = {
        "ACS access key": stack.emulator.access_key,
        "webhook secret": WEBHOOK_SECRET,
        "webhook secret's key": WEBHOOK_SECRET.removeprefix("whsec_"),
        "callback URL token": stack.leg_row(leg_id)["callback_token"],
        "campaign call's callback URL token": stack.leg_row(campaign_leg)["callback_token"],
        "storage connection string's key": ACCOUNT_KEY,
    }
    assert leaks(output, secrets) == []
    assert f"DELETE /calls/{leg_id}/participants/4:{ANSWERS[:5]}***{ANSWERS[-4:]} " in output

    # Structured: the lines about a campaign's call carry the leg, the campaign, the ACS connection and correlation.
    dialled = done[0].phone_number
    connection = stack.leg_row(campaign_leg)["acs_call_connection_id"]
    correlation = stack.leg_row(campaign_leg)["acs_correlation_id"]
    assert re.search(rf"Placing call leg {campaign_leg} to 4:\+\d{{4}}\*\*\*\d{{4}} "
                     rf"\[callLegId={campaign_leg} campaignId={campaign_id}\]", output)
    assert re.search(rf"Dial {re.escape(dialled[:5])}\*\*\*{dialled[-4:]} #\d+ of campaign {campaign_id}: .* "
                     rf"\[callLegId={campaign_leg} campaignId={campaign_id} callConnectionId={connection} "
                     rf"correlationId={correlation}\]", output)


def test_the_scan_finds_each_kind_of_leak():
    output = "\n".join([
        "Placing call leg x to 4:+14255550123",
        "Placing call leg x to 4:+1425***0123 [callLegId=x]",
        "DELETE /calls/x/participants/4:%2B14255550123",
        "Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhY3MifQ.sig",
        f"AccountKey={ACCOUNT_KEY}",
        "key k3y-value in a line",
    ])
    assert [leak.split(":")[0] for leak in leaks(output, {"function key": "k3y-value"})] == [
        "phone number +14255550123", "phone number %2B14255550123", "JWT eyJhbGciOiJSUzI1NiJ9...",
        "storage account key", "function key",
    ]

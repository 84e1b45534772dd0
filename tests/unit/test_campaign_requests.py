"""Reading campaign requests and recipient uploads: defaults, de-duplication, and errors that name the field."""

import pytest

from shared.campaigns.service import parse_campaign, parse_recipients, parse_recipients_csv
from shared.fields import ValidationError

BODY = {
    "name": "Flu shots",
    "plan": {"prompt": {"text": "Press 1 to confirm"}, "collect": {}},
    "recipients": ["+14255550100", {"phoneNumber": "+14255550101", "timeZone": "America/Chicago"}],
}


def test_defaults_are_filled_in():
    campaign, recipients = parse_campaign(BODY, default_caller_id="+18005550100")

    assert campaign.config["callerIds"] == ["+18005550100"]
    assert campaign.config["pacing"] == {
        "maxConcurrentCalls": 10,
        "maxConcurrentCallsPerCallerId": 2,
        "callsPerSecond": 5.0,
    }
    assert campaign.config["retry"]["retryOn"] == ["busy", "no-answer"]
    assert [r.phone_number for r in recipients] == ["+14255550100", "+14255550101"]
    assert recipients[1].time_zone == "America/Chicago"


def test_a_number_listed_twice_is_kept_once():
    entries = parse_recipients(["+14255550100", {"phoneNumber": "+14255550100"}, "+14255550102"])

    assert [e.phone_number for e in entries] == ["+14255550100", "+14255550102"]


def test_csv_upload_with_header_and_time_zones():
    text = "PhoneNumber,TimeZone\n+14255550100,Europe/Paris\n\n+14255550101,\n+14255550100,UTC\n"

    entries = parse_recipients_csv(text)

    assert [(e.phone_number, e.time_zone) for e in entries] == [
        ("+14255550100", "Europe/Paris"),
        ("+14255550101", None),
    ]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("number\n+14255550100\n", "csv"),
        ("phoneNumber\n555-0100\n", "csv row 2, column phoneNumber"),
        ("phoneNumber,timeZone\n+14255550100,UTC\n+14255550101,Mars/Olympus\n", "csv row 3, column timeZone"),
    ],
)
def test_bad_csv_names_the_problem(text, field):
    with pytest.raises(ValidationError) as error:
        parse_recipients_csv(text)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"callerIds": []}, "callerIds"),
        ({"retry": {"retryOn": ["confirmed"]}}, "retry.retryOn[0]"),
        ({"retry": {"maxAttempts": 0}}, "maxAttempts"),
        ({"pacing": {"callsPerSecond": True}}, "callsPerSecond"),
        ({"emergency": "yes"}, "emergency"),
        ({"expiresAt": "2026-12-01T10:00:00"}, "expiresAt"),
        ({"expiresAt": "9999-12-31T23:59:59-05:00"}, "expiresAt"),  # past the calendar once in UTC
        ({"timeZone": "Nowhere/City"}, "timeZone"),
        ({"campaignId": "-starts-with-dash"}, "campaignId"),
        ({"recipients": "+14255550100"}, "recipients"),
    ],
)
def test_bad_campaigns_name_the_field(change, field):
    with pytest.raises(ValidationError) as error:
        parse_campaign({**BODY, **change}, default_caller_id=None if "callerIds" in change else "+18005550100")
    assert error.value.field == field

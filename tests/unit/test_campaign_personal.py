"""Recipient data and languages at submission (refused with row and field, nothing written) and at dial time."""

import json

import pytest

from shared.campaigns.service import RecipientEntry, parse_add_recipients, parse_campaign, parse_recipients_csv
from shared.campaigns.store import QUEUED, Campaign, Recipient
from shared.fields import ValidationError
from shared.lines import Grant, Waiting
from tests.support import fakes

PLAN = {
    "prompt": {"text": "Hello {{name}}, see you {{appointmentAt|datetime}}."},
    "goodbye": {"text": "Bye."},
    "languages": {"es-US": {"prompt": {"text": "Hola {{name}}, hasta el {{appointmentAt|datetime}}."},
                            "goodbye": {"text": "Adiós."}}},
}
ANA = {"name": "Ana", "appointmentAt": "2026-12-04T09:30"}


def _body(*recipients, **settings):
    return {"plan": PLAN, "callerIds": ["+18005550100"], "recipients": list(recipients), **settings}


def _refused(body) -> ValidationError:
    with pytest.raises(ValidationError) as error:
        parse_campaign(body, default_caller_id=None)
    return error.value


def test_recipients_carry_their_language_and_data():
    _, recipients = parse_campaign(
        _body({"phoneNumber": "+14255550100", "language": "es-us", "data": {**ANA, "room": 12, "note": "  "}}),
        default_caller_id=None,
    )

    assert recipients == [RecipientEntry("+14255550100", None, "es-US", {**ANA, "room": "12"})]  # blanks left out


def test_a_recipient_without_a_field_the_plan_uses_is_refused_naming_row_and_field():
    error = _refused(_body({"phoneNumber": "+14255550100", "data": ANA},
                           {"phoneNumber": "+14255550101", "data": {"name": "Bo"}}))

    assert error.field == "recipients[1].data.appointmentAt"
    assert "{{appointmentAt}}" in error.message and "Bo" not in str(error)
    assert _refused(_body({"phoneNumber": "+14255550100", "language": "es-US", "data": {"appointmentAt": "x"}})
                    ).field == "recipients[0].data.name"
    assert _refused(_body({"phoneNumber": "+14255550100", "data": {**ANA, "appointmentAt": "soon"}})
                    ).field == "recipients[0].data.appointmentAt"


def test_languages_must_be_supported_and_in_the_plan():
    assert _refused(_body({"phoneNumber": "+14255550100", "language": "xx", "data": ANA})
                    ).field == "recipients[0].language"
    error = _refused(_body({"phoneNumber": "+14255550100", "language": "de-DE", "data": ANA}))
    assert error.field == "recipients[0].language" and "en-US, es-US" in error.message
    assert _refused(_body(language="fr-FR")).field == "language"
    campaign, _ = parse_campaign(_body(language="es-US"), default_caller_id=None)
    assert campaign.config["language"] == "es-US"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({f"f{i}": "x" for i in range(21)}, "recipients[0].data"),
        ({"name": "x" * 501}, "recipients[0].data.name"),
        ({"first name": "x"}, "recipients[0].data.first name"),
        ({"_x": "x"}, "recipients[0].data._x"),
        ({"a" * 41: "x"}, "recipients[0].data"),
        ({"name": ["x"]}, "recipients[0].data.name"),
        ({f"f{i}": "é" * 250 for i in range(10)}, "recipients[0].data"),  # 5,000 bytes of UTF-8
        ("Ana", "recipients[0].data"),
    ],
)
def test_data_has_limits(data, field):
    assert _refused({"plan": {"prompt": {"text": "hi"}}, "callerIds": ["+18005550100"],
                     "recipients": [{"phoneNumber": "+14255550100", "data": data}]}).field == field


def test_a_csv_upload_gives_language_and_data_columns_and_names_rows_as_a_spreadsheet_does():
    text = "phoneNumber,Language,name,appointmentAt\n+14255550100,es-US,Ana,2026-12-04T09:30\n\n+14255550101,,Bo,\n"

    entries = parse_recipients_csv(text)

    assert entries == [
        RecipientEntry("+14255550100", None, "es-US", ANA),
        RecipientEntry("+14255550101", None, None, {"name": "Bo"}),
    ]
    assert entries[1].where == "csv row 4"
    with pytest.raises(ValidationError) as bad_name:
        parse_recipients_csv("phoneNumber,first name\n+14255550100,Ana\n")
    assert bad_name.value.field == "csv row 2, column first name"


def _service_with_campaign(queue=None):
    tables = fakes.CampaignTables()
    config = parse_campaign(_body(), default_caller_id=None)[0].config
    config["pacing"]["callsPerSecond"] = float("inf")
    tables.create_campaign(Campaign("c1", "c", config))
    return fakes.campaign_service(tables, queue=queue), tables


def test_an_upload_missing_a_field_is_refused_before_anything_is_queued():
    queue = fakes.Queue()
    service, _ = _service_with_campaign(queue)
    entries = parse_recipients_csv("phoneNumber,name,appointmentAt\n+14255550100,Ana,2026-12-04T09:30\n"
                                   "+14255550101,Bo,\n")

    with pytest.raises(ValidationError) as error:
        service.submit("c1", entries)

    assert error.value.field == "csv row 3, column appointmentAt" and queue.messages == []
    assert service.submit("c1", parse_add_recipients({"recipients": [{"phoneNumber": "+1425555010", "data": ANA}]}))
    assert json.loads(queue.messages[0])["recipients"][0]["data"] == ANA


def test_big_data_goes_in_messages_that_fit_a_queue():
    queue = fakes.Queue()
    service, _ = _service_with_campaign(queue)
    data = {**ANA, **{f"f{i}": "x" * 200 for i in range(18)}}
    entries = [RecipientEntry(f"+1425555{i:04d}", data=data) for i in range(100)]

    service.submit("c1", entries)

    assert len(queue.messages) > 1 and all(len(m) <= 40_000 for m in queue.messages)
    assert sum(len(json.loads(m)["recipients"]) for m in queue.messages) == 100


class PlacedCalls:
    def __init__(self) -> None:
        self.plans: list[dict] = []

    def place_call(self, request, *, plan, campaign, grant):
        self.plans.append(plan)


def test_the_call_gets_the_plan_filled_in_for_its_recipient():
    queue = fakes.Queue()
    service, tables = _service_with_campaign(queue)
    service.calls = calls = PlacedCalls()
    tables.add_recipient(Recipient("c1", "+14255550100", status=QUEUED, time_zone="America/Chicago",
                                   language="es-US", data={"name": "Ana", "appointmentAt": "2026-12-04T15:30:00Z"}))
    service.dispatcher.start_waiting(tables.get_campaign("c1"), [Waiting("c1", "+14255550100", 1, "2026-12-01")])
    grant = Grant.from_dict(json.loads(queue.messages[0])["grant"])

    assert service.dial("c1", "+14255550100", 1, grant) == "calling"

    [plan] = calls.plans
    assert plan["prompt"]["text"].startswith("Hola Ana, hasta el viernes, 4 de diciembre de 2026, 9:30")
    assert (plan["prompt"]["voice"], plan["prompt"]["language"], plan["language"]) == (
        "es-US-PalomaNeural", "es-US", "es-US",
    )
    assert "languages" not in plan and plan["goodbye"]["text"] == "Adiós."


"""Private, structured logs (shared/logs.py): every record through the filter has its phone numbers masked and its
secrets removed, whatever carried them (message, arguments, traceback), and carries the ids of what it is about,
set by the queue handler, the HTTP edge and the call service."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import azure.functions as func
import pytest

from shared.http.errors import api_handler, json_response
from shared.logs import (
    PrivateLogFilter,
    add_to_log_context,
    current_log_context,
    install_private_logging,
    log_context,
    private_text,
)
from shared.queues import handler as queue_handler

NUMBER = "+14255550123"
MASKED = "+1425***0123"
LEG_ID = "7f3c2a9e-5b1d-4c8e-9a6f-2d4b8e1c0a35"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2FjcyIsImF1ZCI6InIifQ.c2lnbmF0dXJlLXBhcnQ"


@dataclass
class Captured:
    logger: logging.Logger
    stream: io.StringIO

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def captured() -> Iterator[Captured]:
    """A root of its own with one handler, as a host has: the filter installed on it like the app installs it."""
    root = logging.getLogger(f"test-private-{id(object())}")
    root.propagate = False
    root.setLevel(logging.DEBUG)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(handler)
    install_private_logging(root)
    yield Captured(root.getChild("shared.calls.service"), stream)  # a child, as the app's loggers are
    root.removeHandler(handler)


def test_phone_numbers_in_the_message_and_every_kind_of_argument_are_masked(captured):
    captured.logger.info("Calling %s for %s: %s", NUMBER, {"targets": [f"4:{NUMBER}"]}, ValueError(NUMBER))
    captured.logger.warning("Removed participant /calls/x/participants/4:%2B14255550123")
    captured.logger.info("%(who)s answered", {"who": "+13125550100"})

    text = captured.text()
    assert "4255550" not in text and "3125550" not in text
    assert f"Calling {MASKED} for {{'targets': ['4:{MASKED}']}}: {MASKED}" in text
    assert "participants/4:%2B1425***0123" in text
    assert "+1312***0100 answered" in text


def test_a_traceback_is_masked_too(captured):
    try:
        raise RuntimeError(f"ACS refused the call to {NUMBER} (Authorization: Bearer {JWT})")
    except RuntimeError:
        captured.logger.exception("Placing a call failed")

    text = captured.text()
    assert "Traceback" in text and "RuntimeError: ACS refused the call to +1425***0123" in text
    assert NUMBER not in text and JWT not in text and "Bearer [redacted]" in text


@pytest.mark.parametrize(("text", "shown"), [
    (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};QueueEndpoint=x",
     "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=[redacted];QueueEndpoint=x"),
    ("endpoint=https://acs.example/;accesskey=c2VjcmV0LWtleQ==", "endpoint=https://acs.example/;accesskey=[redacted]"),
    (f"token {JWT} here", "token [redacted] here"),
    ("GET /health/details?code=abc123&x=1", "GET /health/details?code=[redacted]&x=1"),
    ("/callbacks/leg?token=s3cr3t-t0ken", "/callbacks/leg?token=[redacted]"),
    ("secret whsec_ZTJlLXRlc3Q=", "secret [redacted]"),
    ("HMAC-SHA256 SignedHeaders=x-ms-date;host&Signature=abc=", "HMAC-SHA256 [redacted]"),
    ("Dial 2 of spring-reminders: placed", "Dial 2 of spring-reminders: placed"),
])
def test_secrets_are_redacted(text, shown):
    assert private_text(text) == shown


def test_ids_come_from_the_context_as_fields_and_at_the_end_of_the_message(captured):
    records: list[logging.LogRecord] = []
    captured.logger.addHandler(_Keep(records))  # to look at the records themselves
    with log_context(callLegId=LEG_ID, campaignId="spring"):
        add_to_log_context(callConnectionId="401f3500-62cd-46d3-9b1d-2b2c3f1a0c11")
        captured.logger.info("Placed")
        captured.logger.info("Given", extra={"campaignId": "autumn"})  # an id given with the record wins
    captured.logger.info("Outside")

    lines = captured.text().splitlines()
    assert lines == [
        f"INFO Placed [callLegId={LEG_ID} campaignId=spring callConnectionId=401f3500-62cd-46d3-9b1d-2b2c3f1a0c11]",
        f"INFO Given [callLegId={LEG_ID} campaignId=autumn callConnectionId=401f3500-62cd-46d3-9b1d-2b2c3f1a0c11]",
        "INFO Outside",
    ]
    handled = next(r for r in records if r.getMessage().startswith("Placed"))
    assert (handled.callLegId, handled.campaignId) == (LEG_ID, "spring")  # attributes: customDimensions


def test_what_is_not_an_id_never_enters_the_context():
    with log_context(callLegId=f"x\nFAKE {NUMBER}", campaignId="spring", subject="Appointment"):
        assert current_log_context() == {"campaignId": "spring"}
        with log_context(callLegId=LEG_ID):
            assert current_log_context() == {"campaignId": "spring", "callLegId": LEG_ID}
        assert current_log_context() == {"campaignId": "spring"}
    add_to_log_context(callLegId=LEG_ID)  # outside any context: nothing to add to, nothing kept
    assert current_log_context() == {}


def test_installing_twice_puts_one_filter_on_the_root_and_each_handler():
    root = logging.getLogger("test-install-twice")
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        first, second = install_private_logging(root), install_private_logging(root)
        assert first is second
        assert [type(f) for f in root.filters] == [PrivateLogFilter]
        assert [type(f) for f in handler.filters] == [PrivateLogFilter]
    finally:
        root.removeHandler(handler)


def test_a_record_through_two_filtered_places_is_rewritten_once(captured):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", (NUMBER,), None)
    with log_context(callLegId=LEG_ID):
        PrivateLogFilter().filter(record)
        PrivateLogFilter().filter(record)
    assert record.getMessage() == f"to {MASKED} [callLegId={LEG_ID}]"


# -- the edges set the ids -------------------------------------------------------------------------------------


def test_the_http_edge_logs_with_the_ids_its_route_names(caplog):
    seen: list[dict] = []

    @api_handler
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        seen.append(current_log_context())
        return json_response({})

    for params in ({"callId": LEG_ID}, {"campaignId": "spring", "callLegId": "not-a-leg"}, {}):
        handler(func.HttpRequest("GET", "/x", body=b"", route_params=params))
    assert seen == [{"callLegId": LEG_ID}, {"campaignId": "spring"}, {}]
    assert current_log_context() == {}


@dataclass(frozen=True)
class CampaignNote:
    campaign_id: str
    call_leg_id: str

    @classmethod
    def from_message(cls, text: str) -> CampaignNote:
        body = json.loads(text)
        return cls(body["campaignId"], body["callLegId"])


def test_the_queue_handler_logs_with_the_ids_its_message_names(caplog):
    seen: list[dict] = []

    @queue_handler.queue_handler("test-queue", CampaignNote)
    def handle(message: CampaignNote, msg: func.QueueMessage) -> None:
        add_to_log_context(callConnectionId="conn-1")
        seen.append(current_log_context())

    handle(func.QueueMessage(id="m1", body=json.dumps({"campaignId": "spring", "callLegId": LEG_ID}).encode()))
    assert seen == [{"callLegId": LEG_ID, "campaignId": "spring", "callConnectionId": "conn-1"}]
    assert current_log_context() == {}  # nothing stays behind for the thread's next message


class _Keep(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

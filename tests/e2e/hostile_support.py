"""Helpers for the hostile-input tests: every route the app serves, deep JSON, the host's request-line limit,
and a snapshot of every table the app writes (to show a refused request wrote nothing)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient

from devhost.http_server import MAX_REQUEST_LINE_BYTES
from shared.lines import TABLE_NAME as LINES_TABLE

SILENT = "+15005550011"  # answers and then does nothing, so the call stays up
NUMBER = "+13125550100"
CALLER_ID = "+18005550100"
PLAN = {"prompt": {"text": "Hello."}}
PLAY = {"audioFileUri": "https://example.com/a.wav"}
INVITE = {"participants": ["8:acs:limits-test"]}


@dataclass(frozen=True)
class Route:
    """One route with `{id}` where the id under test goes; `body` is one the route accepts, so only the id
    can be what is wrong."""

    method: str
    template: str
    body: object = None
    status: int = 404  # what the app answers for an id no call or campaign has
    code: str = "CallNotFound"

    def path(self, raw_id: str, live_leg: str = "") -> str:
        return self.template.replace("{leg}", live_leg).replace("{id}", quote(raw_id, safe=""))


ID_ROUTES = [
    Route("GET", "/calls/{id}"),
    Route("POST", "/calls/{id}/Hangup"),
    Route("POST", "/calls/{id}/PlayAudio", PLAY),
    Route("POST", "/calls/{id}/CancelMediaProcessing"),
    Route("POST", "/calls/{id}/participants", INVITE),
    Route("DELETE", "/calls/{id}/participants/8%3Aacs%3Alimits-test"),
    Route("DELETE", "/calls/{leg}/participants/{id}", status=400, code="InvalidRequest"),
    Route("POST", "/callbacks/{id}", [], status=401, code="Unauthorized"),  # no token: refused before the id matters
    Route("GET", "/campaigns/{id}", code="CampaignNotFound"),
    Route("POST", "/campaigns/{id}/cancel", code="CampaignNotFound"),
    Route("POST", "/campaigns/{id}/recipients", {"recipients": [NUMBER]}, code="CampaignNotFound"),
    Route("GET", "/campaigns/{id}/calls.csv", code="CampaignNotFound"),
    Route("GET", "/campaigns/{id}/report.html", code="CampaignNotFound"),
]


def arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def request_line_bytes(method: str, path: str) -> int:
    """What the host measures against its limit: `METHOD /path HTTP/1.1` and its CRLF."""
    return len(f"{method} {path} HTTP/1.1\r\n".encode())


def longest_id(route: Route, live_leg: str) -> int:
    """The length of the longest `a...a` id whose request still fits the host's request line."""
    return MAX_REQUEST_LINE_BYTES - request_line_bytes(route.method, route.path("", live_leg))


def assert_seed_error(answer: requests.Response, status: int | None = None, code: str | None = None) -> dict:
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    if status is not None:
        assert answer.status_code == status, (answer.status_code, answer.text[:300])
    error = answer.json()
    assert set(error) == {"code", "message"} and error["message"], error
    assert len(answer.content) < 1000  # the id is never echoed at length
    if code is not None:
        assert error["code"] == code, error
    return error


def assert_refused_by_host(answer: requests.Response) -> None:
    """The host's answer to a request line over its limit: 414 and an empty body (the app never saw it)."""
    assert answer.status_code == 414, (answer.status_code, answer.text[:300])
    assert answer.content == b""
    assert answer.headers.get("Connection", "").lower() == "close"


def tables_snapshot(stack) -> dict[str, list[dict]]:
    """Every row of every table the app writes (call legs without delivery records, campaigns, recipients, pacing)."""
    service = TableServiceClient.from_connection_string(stack.azurite.connection_string)
    # Reconciliation moves a live leg's next check on in the background: not a write by the request.
    snapshot = {stack.table_name: [{k: v for k, v in row.items() if k != "checkAfter"} for row in stack.rows()]}
    for name in ("campaigns", "recipients", LINES_TABLE):
        try:
            rows = [dict(row) for row in service.get_table_client(name).list_entities()]
            for row in rows:
                # leases of live calls are renewed, and their next check moved on, in the background
                row.pop("expiresAt", None)
                row.pop("checkAfter", None)
        except ResourceNotFoundError:
            rows = []  # no campaign has run in this session yet
        snapshot[name] = sorted(rows, key=lambda row: (row["PartitionKey"], row["RowKey"]))
    return snapshot


@contextmanager
def nothing_written(stack) -> Iterator[None]:
    before = tables_snapshot(stack)
    yield
    assert tables_snapshot(stack) == before


def live_call(stack) -> str:
    leg_id = stack.place_call(SILENT)
    stack.wait_for_call(leg_id, lambda leg: leg["state"] == "established")
    return leg_id


def empty_campaign(stack) -> str:
    """A campaign with nobody to call, so it never writes anything by itself."""
    campaign_id = f"limits-{uuid.uuid4().hex[:12]}"
    body = {"campaignId": campaign_id, "plan": PLAN, "callerIds": [CALLER_ID], "recipients": []}
    answer = stack.post("/campaigns", body)
    assert answer.status_code == 201, answer.text
    return campaign_id


def callback_event(**changes) -> list[dict]:
    event = {
        "id": str(uuid.uuid4()),
        "source": "calling/callConnections/x",
        "type": "Microsoft.Communication.ParticipantsUpdated",
        "time": "2026-01-01T00:00:00.0000000+00:00",
        "specversion": "1.0",
        "data": {"participants": []},
        **changes,
    }
    return [event]


def callback_headers(stack, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token if token is not None else stack.acs_token()}",
            "Content-Type": "application/json"}


def dumps(body: object) -> str:
    return body if isinstance(body, str) else json.dumps(body)

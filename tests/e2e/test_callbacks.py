"""POST /callbacks/{callLegId}: only valid ACS tokens get in; events apply once, in order, without lost updates."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

SILENT = "+15005550011"
PHONE = f"4:{SILENT}"
FORGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def live_call(stack):
    leg_id = stack.place_call(SILENT, requestedCallEvents=["participantsUpdated"])
    stack.wait_for_call(leg_id, lambda leg: leg["state"] == "established" and leg["participants"])
    return leg_id


def _roster(*raw_ids: str) -> list[dict]:
    return [
        {"identifier": {"rawId": r, "kind": "communicationUser", "communicationUser": {"id": r}}, "isMuted": False}
        for r in raw_ids
    ]


@pytest.mark.parametrize(
    "make_token",
    [
        lambda s: "",
        lambda s: "garbage",
        lambda s: s.acs_token(key=FORGER),
        lambda s: s.acs_token(key=FORGER, kid="unknown-kid"),
        lambda s: s.acs_token(exp=int(time.time()) - 600),
        lambda s: s.acs_token(aud="another-resource"),
        lambda s: s.acs_token(iss="https://evil.example.com"),
        lambda s: jwt.encode(
            {"iss": s.emulator.issuer, "aud": s.emulator.resource_id, "exp": int(time.time()) + 60},
            "k" * 32,
            algorithm="HS256",
        ),
    ],
    ids=["empty", "garbage", "forged", "unknown-kid", "expired", "wrong-audience", "wrong-issuer", "hs256"],
)
def test_forged_or_expired_tokens_get_401_and_write_nothing(stack, live_call, make_token):
    before = stack.rows(live_call)

    answer = stack.post_acs_event(
        live_call, "CallDisconnected", {"resultInformation": {"code": 200}}, token=make_token(stack)
    )

    assert answer.status_code == 401
    assert answer.json()["code"] == "Unauthorized"
    assert stack.rows(live_call) == before
    assert stack.get_call(live_call)["state"] == "established"


def test_a_repeated_event_changes_nothing(stack, live_call):
    event_id = str(uuid.uuid4())
    data = {"sequenceNumber": 50, "participants": _roster(PHONE, "8:acs:dup")}

    first = stack.post_acs_event(live_call, "ParticipantsUpdated", data, event_id=event_id)
    after_first = stack.rows(live_call)
    second = stack.post_acs_event(live_call, "ParticipantsUpdated", data, event_id=event_id)

    assert first.status_code == second.status_code == 200
    assert stack.rows(live_call) == after_first
    joined = [e for e in stack.get_call(live_call)["timeline"] if e.get("participant") == "8:acs:dup"]
    assert len(joined) == 1


def test_a_late_event_never_moves_state_backwards(stack, live_call):
    stack.post_acs_event(
        live_call, "ParticipantsUpdated", {"sequenceNumber": 60, "participants": _roster(PHONE, "8:acs:new")}
    )
    stack.post_acs_event(live_call, "ParticipantsUpdated", {"sequenceNumber": 55, "participants": _roster(PHONE)})
    assert stack.get_call(live_call)["participants"] == [PHONE, "8:acs:new"]

    stack.post_acs_event(live_call, "CallDisconnected", {"resultInformation": {"code": 200, "subCode": 5010}})
    stack.post_acs_event(live_call, "CallConnected", {})
    stack.post_acs_event(live_call, "ParticipantsUpdated", {"sequenceNumber": 99, "participants": _roster(PHONE)})

    leg = stack.get_call(live_call)
    assert leg["state"] == "terminated" and leg["participants"] == []
    assert leg["endReason"]["subCode"] == 5010


def test_concurrent_events_of_one_call_lose_no_update(stack, live_call):
    tones = [("one", i) for i in range(1, 21)]

    def press(tone_and_seq):
        tone, sequence = tone_and_seq
        return stack.post_acs_event(
            live_call, "ContinuousDtmfRecognitionToneReceived", {"tone": tone, "sequenceId": sequence}
        ).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(press, tones))

    assert statuses == [200] * 20
    seen = sorted(e["sequenceId"] for e in stack.get_call(live_call)["timeline"] if e["type"] == "dtmfReceived")
    assert seen == list(range(1, 21))
    markers = [r for r in stack.rows(live_call) if r["RowKey"].startswith("ev-")]
    assert len(markers) >= 20


def test_events_for_an_unknown_leg_are_accepted_and_dropped(stack):
    before = len(stack.rows())

    answer = stack.post_acs_event(str(uuid.uuid4()), "CallConnected", {})

    assert answer.status_code == 200
    assert len(stack.rows()) == before


def test_malformed_callback_bodies_get_400(stack, live_call):
    headers = {"Authorization": f"Bearer {stack.acs_token()}"}
    for body in (b"", b"{", b"[]", b'[{"id": "x"}]', b'[{"id": "x", "type": "Other.Type", "data": {}}]', b"[1]"):
        answer = stack.post(f"/callbacks/{live_call}", data=body, headers=headers)
        assert answer.status_code == 400, body
        assert set(answer.json()) == {"code", "message"}


def _emulator_view(stack, leg_id):
    """What ACS (the emulator) holds about a leg's call: its ids and the callback URL the app gave it."""
    connection_id = stack.get_call(leg_id)["acsCallConnectionId"]
    detail = stack.emulator.control("GET", f"/calls/{connection_id}").json()
    url_token = parse_qs(urlparse(detail["callbackUri"]).query)["token"][0]
    return connection_id, detail["serverCallId"], url_token, detail


def test_a_callback_of_one_leg_is_refused_on_another_and_writes_nothing(stack, live_call):
    other = stack.place_call(SILENT)
    stack.wait_for_call(other, lambda leg: leg["state"] == "established")
    a_connection, a_server, a_token, _ = _emulator_view(stack, live_call)
    before = stack.rows(other)
    rejected_before = _rejections(stack)
    ended = {"resultInformation": {"code": 200, "subCode": 7000}}
    a_ids = {"callConnectionId": a_connection, "serverCallId": a_server}

    # A's real callback (A's URL token, A's call) replayed to B's path
    replayed = stack.post_acs_event(other, "CallDisconnected", {**ended, **a_ids}, url_token=a_token)
    # a hand-written CallDisconnected for B, carrying A's token
    forged = stack.post_acs_event(other, "CallDisconnected", ended, url_token=a_token)
    # B's own URL (as if leaked), with an event about A's call
    other_call = stack.post_acs_event(other, "CallDisconnected", {**ended, **a_ids})
    # B's URL, B's connection, someone else's server call
    other_server = stack.post_acs_event(other, "CallDisconnected", {**ended, "serverCallId": a_server})
    no_token = stack.post_acs_event(other, "CallDisconnected", ended, url_token="")

    assert [r.status_code for r in (replayed, forged, other_call, other_server, no_token)] == [401, 401, 403, 403, 401]
    assert all(set(r.json()) == {"code", "message"} for r in (replayed, forged, other_call, other_server, no_token))
    assert stack.rows(other) == before
    assert stack.get_call(other)["state"] == "established"
    b_connection = stack.get_call(other)["acsCallConnectionId"]
    assert stack.emulator.control("GET", f"/calls/{b_connection}").json()["state"] == "connected"
    _wait_for_rejections(stack, rejected_before + 5)
    assert a_token not in stack.app.output()  # counted and logged, without the secret
    stack.post(f"/calls/{other}/Hangup")


def test_the_callback_token_is_never_shown(stack, live_call):
    _, _, url_token, _ = _emulator_view(stack, live_call)

    shown = json.dumps(stack.get_call(live_call))

    assert url_token and url_token not in shown


def _rejections(stack) -> int:
    """Refused callbacks, as the app logged them."""
    return stack.app.output().count("Refused a callback")


def _wait_for_rejections(stack, count: int) -> None:
    deadline = time.monotonic() + 10
    while _rejections(stack) < count:
        assert time.monotonic() < deadline, f"{_rejections(stack)} refusals logged, expected {count}"
        time.sleep(0.05)

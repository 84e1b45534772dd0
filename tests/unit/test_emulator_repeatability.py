"""Repeatability decisions (§7.2) as a pure function, and the cache's expiry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from emulator.errors import AcsError
from emulator.repeatability import RepeatabilityCache, Stored, decide, fingerprint

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
REQUEST_ID = str(uuid.uuid4())
FP = fingerprint("POST", "/calling/callConnections", b'{"a":1}')


def _headers(request_id: str | None = REQUEST_ID, sent: datetime | str | None = NOW) -> dict:
    headers = {}
    if request_id is not None:
        headers["Repeatability-Request-ID"] = request_id
    if sent is not None:
        headers["Repeatability-First-Sent"] = (
            sent if isinstance(sent, str) else sent.strftime("%a, %d %b %Y %H:%M:%S GMT")
        )
    return headers


def test_no_headers_means_execute_untracked():
    decision = decide({}, FP, None, NOW)
    assert decision.execute and decision.request_id is None


def test_new_request_id_executes_and_is_tracked():
    decision = decide(_headers(), FP, None, NOW)
    assert decision.execute and decision.request_id == REQUEST_ID


def test_same_request_replays_the_stored_result():
    stored = Stored(FP, 0.0, 201, b'{"x":1}', "call-1")
    decision = decide(_headers(), FP, stored, NOW)
    assert not decision.execute and decision.replay is stored


def test_same_id_different_body_is_400():
    stored = Stored(FP, 0.0, 201, b"{}")
    with pytest.raises(AcsError) as caught:
        decide(_headers(), fingerprint("POST", "/calling/callConnections", b'{"a":2}'), stored, NOW)
    assert caught.value.status == 400
    assert caught.value.headers["Repeatability-Result"] == "rejected"


def test_original_that_ended_in_5xx_runs_again():
    decision = decide(_headers(), FP, Stored(FP, 0.0, 503, b""), NOW)
    assert decision.execute and decision.request_id == REQUEST_ID


def test_original_that_ended_in_4xx_replays():
    stored = Stored(FP, 0.0, 404, b"{}")
    assert decide(_headers(), FP, stored, NOW).replay is stored


def test_original_still_running_is_409():
    with pytest.raises(AcsError) as caught:
        decide(_headers(), FP, Stored(FP, 0.0), NOW)
    assert caught.value.status == 409


@pytest.mark.parametrize("sent", [NOW - timedelta(minutes=6), NOW + timedelta(minutes=6)])
def test_first_sent_outside_the_window_is_412(sent):
    with pytest.raises(AcsError) as caught:
        decide(_headers(sent=sent), FP, None, NOW)
    assert caught.value.status == 412
    assert caught.value.message == "Repeatability first sent header not within 5 minute window"


def test_first_sent_inside_the_window_is_fine():
    assert decide(_headers(sent=NOW - timedelta(minutes=4, seconds=59)), FP, None, NOW).execute


@pytest.mark.parametrize("headers", [
    _headers(request_id=None),
    _headers(sent=None),
    _headers(request_id="not-a-uuid"),
    _headers(sent="yesterday at noon"),
    _headers(sent="2026-03-01T12:00:00Z"),
    _headers(sent="Sun, 01 Mar 2026 12:00:00 +0100"),
])
def test_malformed_or_lone_headers_are_400(headers):
    with pytest.raises(AcsError) as caught:
        decide(headers, FP, None, NOW)
    assert caught.value.status == 400


def test_cache_entries_expire_after_the_window():
    cache = RepeatabilityCache(window_seconds=300)
    cache.begin(REQUEST_ID, FP, now_seconds=1000.0)
    cache.complete(REQUEST_ID, 201, b"{}", "call-1")
    assert cache.get(REQUEST_ID, 1299.0) is not None
    assert cache.get(REQUEST_ID, 1301.0) is None
    assert len(cache) == 0


def test_cache_is_size_bounded():
    cache = RepeatabilityCache(window_seconds=300, max_entries=3)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for i, request_id in enumerate(ids):
        cache.begin(request_id, FP, now_seconds=float(i))
    assert len(cache) == 3
    assert cache.get(ids[0], 5.0) is None and cache.get(ids[-1], 5.0) is not None

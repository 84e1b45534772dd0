"""The emulator's HMAC verifier against the SDK's published vectors (§3.2) and every way a request can fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulator.auth import (
    EMPTY_BODY_HASH,
    AuthFailure,
    compute_signature,
    content_hash,
    string_to_sign,
    verify_request,
)

KEY = "pw=="
DATE = "Wed, 13 Apr 2022 18:09:12 GMT"
NOW = datetime(2022, 4, 13, 18, 9, 12, tzinfo=UTC)
HOST = "contoso.communicationservices.azure.com"


def _headers(signature: str, *, host: str = HOST, body_hash: str = EMPTY_BODY_HASH, date: str = DATE) -> dict:
    return {
        "Host": host,
        "x-ms-date": date,
        "x-ms-content-sha256": body_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    }


def _verify(target: str, headers: dict, body: bytes = b"", *, now: datetime = NOW, key: str = KEY,
            method: str = "GET") -> None:
    verify_request(method=method, raw_target=target, headers=headers, body=body, access_key=key, now=now,
                   clock_skew_seconds=900)


@pytest.mark.parametrize(("text", "expected"), [
    ("banana", "88EC05aAS9iXnaimtNO78JLjiPtfWryQB/5QYEzEsu8="),
    ("😀", "1rudJKjn2Zi+3hRrBG29wIF6pD6YyAeQR1ZcFtXoKAU="),
])
def test_compute_signature_matches_the_sdk_vectors(text, expected):
    assert compute_signature(KEY, text) == expected


def test_empty_body_hash_constant():
    assert content_hash(b"") == EMPTY_BODY_HASH


@pytest.mark.parametrize(("target", "signature"), [
    ("/", "88MDmJhUR3m5QhFxb8ztShsSwlGrg7g/6XPnWf7QEO4="),
    ("/testPath", "RoCrHjw7fb9fpHSbqvRUY2xa8RBS0YvI1cxI1x8AS38="),
    ("/testPath?testQuery=yes", "il99+rd6V5O136roX/zVePCNle78HmvC4B7tu9zRH3I="),
])
def test_sdk_request_vectors_verify(target, signature):
    # given the SDK's recorded GET requests; when verified at the signing time; then they are accepted
    _verify(target, _headers(signature))


def test_string_to_sign_layout():
    assert string_to_sign("get", "/testPath?testQuery=yes", DATE, HOST, EMPTY_BODY_HASH) == (
        f"GET\n/testPath?testQuery=yes\n{DATE};{HOST};{EMPTY_BODY_HASH}"
    )


def test_worked_post_example_verifies():
    body = (b'{"targets":[{"rawId":"4:+14255550123","phoneNumber":{"value":"+14255550123"}}],'
            b'"sourceCallerIdNumber":{"value":"+18005550100"},"callbackUri":"https://app.example.com/acs/events?token=abc"}')
    assert content_hash(body) == "33mZPFQjt3LGeVm/Nj/heD1LfrqPA9Aqz5uvMKBvMZQ="
    headers = _headers("dVzUu4DK1c/bSoCopSWItDNOWOEYiBy9ZXMUasQWcMc=", host="contoso.communication.azure.com",
                       body_hash=content_hash(body))
    _verify("/calling/callConnections?api-version=2025-05-15", headers, body, method="POST")


def test_percent_encoded_target_and_its_decoded_variant_both_verify():
    encoded = "/calling/callConnections/abc/participants/4%3A%2B14255550123?api-version=2025-05-15"
    host = "contoso.communication.azure.com"
    _verify(encoded, _headers("0CxjOQl/x1ejTIEc1l51XCgm3m9N2e9TiAfapEmPru0=", host=host))
    # an async client signs the decoded path; the emulator accepts that too
    decoded_signature = compute_signature(KEY, string_to_sign(
        "GET", "/calling/callConnections/abc/participants/4:+14255550123?api-version=2025-05-15", DATE, host,
        EMPTY_BODY_HASH))
    _verify(encoded, _headers(decoded_signature, host=host))


def _valid() -> dict:
    return _headers("il99+rd6V5O136roX/zVePCNle78HmvC4B7tu9zRH3I=")


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda h: h.pop("Authorization"), "missing Authorization"),
    (lambda h: h.pop("x-ms-date"), "missing x-ms-date"),
    (lambda h: h.pop("x-ms-content-sha256"), "missing x-ms-content-sha256"),
    (lambda h: h.pop("Host"), "missing Host"),
    (lambda h: h.update(Host="evil.example.com"), "signature mismatch"),
    (lambda h: h.update(Authorization="Bearer abc"), "scheme"),
    (lambda h: h.update(Authorization="HMAC-SHA256 Signature=abc"), "SignedHeaders"),
    (lambda h: h.update(Authorization="HMAC-SHA256 SignedHeaders=host&Signature=abc"), "SignedHeaders must"),
    (lambda h: h.update(Authorization=h["Authorization"][:-4] + "!!!="), "not base64"),
    (lambda h: h.update({"x-ms-date": "yesterday"}), "unparsable"),
    (lambda h: h.update({"x-ms-content-sha256": content_hash(b"other")}), "does not match the body"),
])
def test_each_broken_header_is_rejected_with_a_reason(mutate, reason):
    headers = _valid()
    mutate(headers)
    with pytest.raises(AuthFailure, match=reason):
        _verify("/testPath?testQuery=yes", headers)


def test_wrong_key_is_rejected():
    with pytest.raises(AuthFailure, match="signature mismatch"):
        _verify("/testPath?testQuery=yes", _valid(), key="b3RoZXI=")


def test_tampered_target_is_rejected():
    with pytest.raises(AuthFailure, match="signature mismatch"):
        _verify("/testPath?testQuery=no", _valid())


def test_tampered_body_is_rejected_even_with_the_original_hash():
    with pytest.raises(AuthFailure, match="does not match the body"):
        _verify("/testPath?testQuery=yes", _valid(), b"{}")


@pytest.mark.parametrize("skew", [timedelta(minutes=16), timedelta(minutes=-16)])
def test_date_outside_the_clock_skew_is_rejected(skew):
    with pytest.raises(AuthFailure, match="clock skew"):
        _verify("/testPath?testQuery=yes", _valid(), now=NOW + skew)


def test_date_inside_the_clock_skew_is_accepted():
    _verify("/testPath?testQuery=yes", _valid(), now=NOW + timedelta(minutes=14))


def test_date_header_may_replace_x_ms_date():
    signature = "il99+rd6V5O136roX/zVePCNle78HmvC4B7tu9zRH3I="
    headers = {"Host": HOST, "Date": DATE, "x-ms-content-sha256": EMPTY_BODY_HASH,
               "Authorization": f"HMAC-SHA256 SignedHeaders=date;host;x-ms-content-sha256&Signature={signature}"}
    _verify("/testPath?testQuery=yes", headers)


def test_odd_unicode_in_headers_is_a_failure_not_a_crash():
    headers = _valid()
    headers["Host"] = "\udcff\ud800"
    with pytest.raises(AuthFailure):
        _verify("/testPath?testQuery=yes", headers)


def test_failure_reasons_never_contain_the_key_or_signature():
    headers = _valid()
    try:
        _verify("/testPath?testQuery=no", headers, key="c2VjcmV0LWtleQ==")
    except AuthFailure as failure:
        assert "c2VjcmV0" not in str(failure) and "il99" not in str(failure)

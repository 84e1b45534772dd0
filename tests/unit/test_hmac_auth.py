"""The app's HMAC signer against the test vectors of the official SDK (wire reference §3.2)."""

from datetime import UTC, datetime

import pytest
import requests

from shared.callautomation.auth import HmacAuth, compute_signature

VECTOR_DATE = datetime(2022, 4, 13, 18, 9, 12, tzinfo=UTC)
HOST = "https://contoso.communicationservices.azure.com"


def _signed(method: str, url: str, body: bytes | None = None, key: str = "pw==") -> requests.PreparedRequest:
    request = requests.Request(method, url, data=body).prepare()
    return HmacAuth(key, clock=lambda: VECTOR_DATE)(request)


def _signature(request: requests.PreparedRequest) -> str:
    return request.headers["Authorization"].split("&Signature=")[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("banana", "88EC05aAS9iXnaimtNO78JLjiPtfWryQB/5QYEzEsu8="),
        ("😀", "1rudJKjn2Zi+3hRrBG29wIF6pD6YyAeQR1ZcFtXoKAU="),
    ],
)
def test_compute_signature_matches_sdk_vectors(text, expected):
    assert compute_signature("pw==", text) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "88MDmJhUR3m5QhFxb8ztShsSwlGrg7g/6XPnWf7QEO4="),
        ("/testPath", "RoCrHjw7fb9fpHSbqvRUY2xa8RBS0YvI1cxI1x8AS38="),
        ("/testPath?testQuery=yes", "il99+rd6V5O136roX/zVePCNle78HmvC4B7tu9zRH3I="),
    ],
)
def test_get_requests_are_signed_as_the_sdk_signs_them(path, expected):
    request = _signed("GET", HOST + path)

    assert _signature(request) == expected
    assert request.headers["x-ms-date"] == "Wed, 13 Apr 2022 18:09:12 GMT"
    assert request.headers["x-ms-content-sha256"] == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert request.headers["Authorization"].startswith(
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
    )


def test_post_signature_covers_the_exact_body_bytes():
    body = (
        b'{"targets":[{"rawId":"4:+14255550123","phoneNumber":{"value":"+14255550123"}}],'
        b'"sourceCallerIdNumber":{"value":"+18005550100"},"callbackUri":"https://app.example.com/acs/events?token=abc"}'
    )
    url = "https://contoso.communication.azure.com/calling/callConnections?api-version=2025-05-15"

    request = _signed("POST", url, body)

    assert request.headers["x-ms-content-sha256"] == "33mZPFQjt3LGeVm/Nj/heD1LfrqPA9Aqz5uvMKBvMZQ="
    assert _signature(request) == "dVzUu4DK1c/bSoCopSWItDNOWOEYiBy9ZXMUasQWcMc="


def test_percent_encoded_path_is_signed_as_sent():
    url = "https://contoso.communication.azure.com/calling/callConnections/abc/participants/4%3A%2B14255550123"
    request = _signed("GET", url + "?api-version=2025-05-15")

    assert _signature(request) == "0CxjOQl/x1ejTIEc1l51XCgm3m9N2e9TiAfapEmPru0="


def test_a_port_in_the_endpoint_is_part_of_the_signed_host():
    with_port = _signed("GET", "http://127.0.0.1:7081/x")
    other_port = _signed("GET", "http://127.0.0.1:7082/x")

    assert _signature(with_port) != _signature(other_port)


def test_invalid_key_is_refused_without_echoing_it():
    with pytest.raises(ValueError) as error:
        HmacAuth("not base64 !!secret")

    assert "secret" not in str(error.value)
    assert "secret" not in repr(HmacAuth("c2VjcmV0"))

"""Authentication of requests to ACS: HMAC-SHA256 with an access key, or an Entra ID bearer token.

Both are `requests.auth.AuthBase` callables, so signing never touches transport code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from requests import PreparedRequest
from requests.auth import AuthBase

ENTRA_ID_SCOPE = "https://communication.azure.com//.default"  # the double slash is what the SDK asks for


def content_hash(body: bytes) -> str:
    """Base64 SHA-256 of the request body, the value of `x-ms-content-sha256`."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def string_to_sign(method: str, path_and_query: str, date: str, host: str, body_hash: str) -> str:
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{body_hash}"


def compute_signature(access_key: str, text: str) -> str:
    """HMAC-SHA256 of `text` keyed with the base64-decoded access key, base64 encoded."""
    key = base64.b64decode(access_key)
    return base64.b64encode(hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()).decode()


def http_date(moment: datetime) -> str:
    """RFC 1123 date in GMT, as `x-ms-date` carries it."""
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


class HmacAuth(AuthBase):
    """Signs a request with an ACS access key, exactly as the service verifies it.

    The body is hashed as the bytes that go on the wire, so callers must send `data=bytes`, not `json=`.
    `clock` is injectable so tests can pin a known signature.
    """

    def __init__(self, access_key: str, *, clock: Callable[[], datetime] | None = None) -> None:
        try:
            base64.b64decode(access_key, validate=True)
        except (ValueError, TypeError):
            raise ValueError("The ACS access key is not valid base64.") from None
        self._access_key = access_key
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:  # never show the key
        return "HmacAuth(access_key=***)"

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        url = urlsplit(request.url)
        path_and_query = url.path or "/"
        if url.query:
            path_and_query += "?" + url.query
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        date = http_date(self._clock())
        body_hash = content_hash(body)
        signature = compute_signature(
            self._access_key, string_to_sign(request.method or "GET", path_and_query, date, url.netloc, body_hash)
        )
        request.headers["x-ms-date"] = date
        request.headers["x-ms-content-sha256"] = body_hash
        request.headers["x-ms-return-client-request-id"] = "true"
        request.headers["Authorization"] = (
            f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"
        )
        return request


class EntraIdAuth(AuthBase):
    """Bearer token from an azure-identity credential (managed identity in Azure).

    azure-identity caches tokens and refreshes them before they expire, so asking on every request is cheap.
    """

    def __init__(self, credential) -> None:  # an azure.core.credentials.TokenCredential
        self._credential = credential

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        token = self._credential.get_token(ENTRA_ID_SCOPE).token
        request.headers["Authorization"] = f"Bearer {token}"
        return request

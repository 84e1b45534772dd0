"""Verification of the HMAC-SHA256 request signature exactly as the service does it (§3.2).

    string_to_sign = VERB + "\\n" + path_and_query + "\\n" + date + ";" + host + ";" + content_hash
    Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<base64>

`verify_request` raises `AuthFailure(reason)`; the reason is safe to show (it never contains the key or a
signature). Everything is a pure function of its inputs, including `now`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

SCHEME = "HMAC-SHA256"
EMPTY_BODY_HASH = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


class AuthFailure(Exception):
    """The request is not authenticated; `str(exc)` is a short, non-secret reason."""


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def string_to_sign(method: str, path_and_query: str, date: str, host: str, body_hash: str) -> str:
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{body_hash}"


def compute_signature(access_key: str, text: str) -> str:
    """base64(HMAC-SHA256(base64decode(access_key), text))."""
    key = base64.b64decode(access_key)
    return base64.b64encode(hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()).decode()


def parse_http_date(value: str) -> datetime:
    """An RFC 1123 / IMF-fixdate date, e.g. "Wed, 13 Apr 2022 18:09:12 GMT", as an aware UTC datetime."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        raise AuthFailure("unparsable x-ms-date") from None
    if parsed is None:
        raise AuthFailure("unparsable x-ms-date")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _parse_authorization(value: str) -> tuple[list[str], str]:
    """'HMAC-SHA256 SignedHeaders=a;b;c&Signature=xyz' → (['a','b','c'], 'xyz')."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.upper() != SCHEME:
        raise AuthFailure("Authorization scheme is not HMAC-SHA256")
    params: dict[str, str] = {}
    for part in rest.strip().split("&"):
        name, sep, val = part.partition("=")
        if sep:
            params[name.strip().lower()] = val.strip()
    if "signedheaders" not in params or "signature" not in params:
        raise AuthFailure("Authorization lacks SignedHeaders or Signature")
    return [h.strip().lower() for h in params["signedheaders"].split(";")], params["signature"]


def verify_request(
    *,
    method: str,
    raw_target: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    now: datetime,
    clock_skew_seconds: float,
) -> None:
    """Raise AuthFailure unless the request carries a valid HMAC signature.

    Header names are matched case-insensitively. `raw_target` is the request target as
    received (percent-encoded path + query); its percent-decoded variant is accepted too, because async
    SDK clients sign the decoded path.
    """
    try:
        _verify(method, raw_target, headers, body, access_key, now, clock_skew_seconds)
    except (UnicodeError, ValueError, TypeError, OverflowError):
        # Odd bytes in a header must be a 401, never a crash.
        raise AuthFailure("malformed authentication headers") from None


def _verify(
    method: str,
    raw_target: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str,
    now: datetime,
    clock_skew_seconds: float,
) -> None:
    headers = {name.lower(): value for name, value in headers.items()}
    authorization = headers.get("authorization")
    if not authorization:
        raise AuthFailure("missing Authorization header")
    signed_headers, signature = _parse_authorization(authorization)

    date_header = "x-ms-date" if "x-ms-date" in signed_headers else "date"
    if signed_headers != [date_header, "host", "x-ms-content-sha256"]:
        raise AuthFailure("SignedHeaders must be x-ms-date;host;x-ms-content-sha256")
    date = headers.get(date_header)
    host = headers.get("host")
    body_hash = headers.get("x-ms-content-sha256")
    if not date:
        raise AuthFailure(f"missing {date_header} header")
    if not host:
        raise AuthFailure("missing Host header")
    if not body_hash:
        raise AuthFailure("missing x-ms-content-sha256 header")

    sent = parse_http_date(date)
    if abs((now - sent).total_seconds()) > clock_skew_seconds:
        raise AuthFailure("x-ms-date outside the allowed clock skew")
    if not hmac.compare_digest(body_hash.encode(), content_hash(body).encode()):
        raise AuthFailure("x-ms-content-sha256 does not match the body")

    try:
        base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise AuthFailure("Signature is not base64") from None

    candidates = [raw_target]
    decoded = unquote(raw_target)
    if decoded != raw_target:
        candidates.append(decoded)
    for target in candidates:
        expected = compute_signature(access_key, string_to_sign(method, target, date, host, body_hash))
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return
    raise AuthFailure("signature mismatch")

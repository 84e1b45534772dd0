"""ACS connection strings: `endpoint=https://<resource>.communication.azure.com/;accesskey=<base64>`."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_FORMAT_HINT = "The format is endpoint=https://<resource>.communication.azure.com/;accesskey=<key>."


class InvalidConnectionStringError(ValueError):
    """The connection string cannot be used. The message never contains the key."""


@dataclass(frozen=True)
class ConnectionString:
    endpoint: str  # scheme and host, no trailing slash
    access_key: str = field(repr=False)


def parse_connection_string(text: str) -> ConnectionString:
    """Parse as the SDK does: `;`-separated `key=value` pairs, keys case-insensitive, base64 padding kept."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidConnectionStringError(f"The ACS connection string is empty. {_FORMAT_HINT}")
    values: dict[str, str] = {}
    for part in text.strip().split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise InvalidConnectionStringError(f"The ACS connection string has a part without '='. {_FORMAT_HINT}")
        values[name.strip().lower()] = value.strip()

    endpoint = values.get("endpoint", "").rstrip("/")
    access_key = values.get("accesskey", "")
    if not endpoint:
        raise InvalidConnectionStringError(f"The ACS connection string has no endpoint. {_FORMAT_HINT}")
    if not access_key:
        raise InvalidConnectionStringError(f"The ACS connection string has no accesskey. {_FORMAT_HINT}")
    url = urlsplit(endpoint)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise InvalidConnectionStringError(f"The ACS endpoint must be an http(s) URL, got {endpoint!r}. {_FORMAT_HINT}")
    try:
        base64.b64decode(access_key, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidConnectionStringError("The ACS accesskey is not valid base64.") from None
    return ConnectionString(endpoint=f"{url.scheme}://{url.netloc}", access_key=access_key)

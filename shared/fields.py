"""Reading fields of request bodies: each helper checks one field and names it in its ValidationError."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.callautomation import InvalidIdentifierError, raw_id_of
from shared.callautomation.identifiers import E164, is_phone_number

MAX_URL_LENGTH = 2048


class ValidationError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class UnknownFieldError(ValidationError):
    """A body names fields the API does not define: refused (code `UnknownField`), with the nearest known names."""

    def __init__(self, unknown: list[str], known: list[str], where: str = "") -> None:
        self.unknown = unknown
        self.suggestions = {name: nearest_field(name, known) for name in unknown}
        super().__init__(_path(where, unknown[0]), unknown_fields_message(unknown, known, where))


MAX_SHOWN_NAME = 64
MAX_SHOWN_UNKNOWN = 5


def nearest_field(name: str, known: Iterable[str]) -> str | None:
    """The known field closest to `name`, ignoring case (difflib), or None when none is close."""
    by_lower = {k.lower(): k for k in known}
    if len(name) > MAX_SHOWN_NAME:
        return None
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def unknown_fields_message(unknown: list[str], known: list[str], where: str = "") -> str:
    """`Unknown field `callbackUrl`; did you mean `callbackUri`?` (several: each with its own suggestion)."""
    parts = []
    for name in unknown[:MAX_SHOWN_UNKNOWN]:
        suggestion = nearest_field(name, known)
        parts.append((f"`{_shown(_path(where, name))}`", f"`{_path(where, suggestion)}`" if suggestion else None))
    more = f" and {len(unknown) - MAX_SHOWN_UNKNOWN} more" if len(unknown) > MAX_SHOWN_UNKNOWN else ""
    if len(unknown) == 1 and parts[0][1]:
        return f"Unknown field {parts[0][0]}; did you mean {parts[0][1]}?"
    listed = ", ".join(f"{shown} (did you mean {hint}?)" if hint else shown for shown, hint in parts)
    known_list = ", ".join(f"`{_path(where, k)}`" for k in known)
    return f"Unknown field{'s' if len(unknown) > 1 else ''} {listed}{more}; the known fields are {known_list}."


def _path(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _shown(name: str) -> str:
    if len(name) <= MAX_SHOWN_NAME and name.isprintable():
        return name
    return name[:MAX_SHOWN_NAME].encode("unicode_escape").decode() + "…"


def object_fields(body: Any, known: Iterable[str] | None = None, where: str = "") -> dict[str, Any]:
    """The object's fields by lower-cased name. With `known`, any other field (in any case) is refused."""
    if not isinstance(body, Mapping):
        raise ValidationError(where or "body", "must be a JSON object." if not where else "must be an object.")
    fields = {str(key).lower(): value for key, value in body.items()}
    if known is not None:
        known = list(known)
        allowed = {k.lower() for k in known}
        unknown = [str(key) for key in body if str(key).lower() not in allowed]
        if unknown:
            raise UnknownFieldError(unknown, known, where)
    return fields


def optional(fields: dict[str, Any], name: str) -> Any:
    return fields.get(name.lower())


def text_field(fields: dict[str, Any], name: str, max_length: int) -> str | None:
    value = optional(fields, name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(name, "must be a string.")
    if len(value) > max_length:
        raise ValidationError(name, f"must be at most {max_length} characters.")
    return value or None


def string_list_field(fields: dict[str, Any], name: str) -> list[str]:
    value = optional(fields, name)
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 10:
        raise ValidationError(name, "must be a list of at most 10 strings.")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ValidationError(f"{name}[{index}]", "must be a string.")
    return value


def identifier_field(value: Any, where: str) -> str:
    try:
        raw_id = raw_id_of(value)
    except InvalidIdentifierError as error:
        raise ValidationError(where, str(error)) from None
    if not (is_phone_number(raw_id) or raw_id.startswith("8:acs:")):
        raise ValidationError(where, "must be a phone number (+14255550123) or an ACS user (8:acs:...).")
    return raw_id


def identifiers_field(fields: dict[str, Any], name: str, max_count: int) -> list[str]:
    value = optional(fields, name)
    if value is None:
        raise ValidationError(name, "is required.")
    if not isinstance(value, list) or not 1 <= len(value) <= max_count:
        raise ValidationError(name, f"must be a list of 1 to {max_count} identifiers.")
    raw_ids = [identifier_field(item, f"{name}[{index}]") for index, item in enumerate(value)]
    if len(set(raw_ids)) != len(raw_ids):
        raise ValidationError(name, "lists the same identifier twice.")
    return raw_ids


def caller_id_field(fields: dict[str, Any]) -> str | None:
    value = optional(fields, "alternateCallerId")
    if isinstance(value, Mapping):
        value = {str(k).lower(): v for k, v in value.items()}.get("value", "")
    if value is None:
        return None
    if not isinstance(value, str) or not E164.match(value):
        raise ValidationError("alternateCallerId", "must be an E.164 phone number such as +18005550100.")
    return value


def url_field(fields: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = optional(fields, name)
    if value is None:
        if required:
            raise ValidationError(name, "is required.")
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        raise ValidationError(name, f"must be a URL of at most {MAX_URL_LENGTH} characters.")
    try:
        url = urlsplit(value)
    except ValueError:
        raise ValidationError(name, "is not a valid URL.") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValidationError(name, "must be an absolute http(s) URL.")
    if url.username or url.password:
        raise ValidationError(name, "must not carry credentials.")
    if any(ord(c) < 33 for c in value):
        raise ValidationError(name, "must not contain spaces or control characters.")
    return value


def phone_number_field(value: Any, where: str) -> str:
    if not isinstance(value, str) or not E164.match(value):
        raise ValidationError(where, "must be an E.164 phone number such as +14255550123.")
    return value


def page_size_field(text: str | None, default: int, maximum: int) -> int:
    """`?pageSize=` of a paged listing: absent or empty gives `default`."""
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= maximum):
        raise ValidationError("pageSize", f"must be a whole number from 1 to {maximum}.")
    return int(text)

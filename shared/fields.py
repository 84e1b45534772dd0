"""Reading fields of request bodies: each helper checks one field and names it in its ValidationError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .callautomation import InvalidIdentifierError, raw_id_of
from .callautomation.identifiers import E164, is_phone_number

MAX_URL_LENGTH = 2048


class ValidationError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def object_fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError("body", "must be a JSON object.")
    return {str(key).lower(): value for key, value in body.items()}


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

"""Who is in a call, in one place: `+14255550123`, `8:acs:...` and ACS's CommunicationIdentifierModel JSON.

ACS accepts three spellings of an identifier (rawId + sub-object, kind + sub-object, or all three) and
always answers with all three. We send all three too, and read any of them back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

E164 = re.compile(r"^\+[1-9][0-9]{6,14}\Z")  # \Z, not $: a trailing newline is not a number

_ACS_USER_PREFIXES = ("8:acs:", "8:dod-acs:", "8:gcch-acs:", "8:spool:")
_TEAMS_USER_PREFIXES = {"8:orgid:": "public", "8:dod:": "dod", "8:gcch:": "gcch", "8:teamsvisitor:": "public"}
_TEAMS_APP_PREFIXES = {
    "28:orgid:": "public",
    "28:dod:": "dod",
    "28:gcch:": "gcch",
    "28:dod-global:": "dod",
    "28:gcch-global:": "gcch",
}
_MAX_RAW_ID = 256


class InvalidIdentifierError(ValueError):
    """The value is not an identifier we can call."""


def is_phone_number(raw_id: str) -> bool:
    return raw_id.startswith("4:")


def phone_number_model(number: str) -> dict[str, str]:
    """`{"value": "+1..."}`, the shape of caller ids (`sourceCallerIdNumber`)."""
    if not isinstance(number, str) or not E164.match(number):
        raise InvalidIdentifierError(f"{_shorten(number)!r} is not an E.164 phone number such as +14255550123.")
    return {"value": number}


def to_acs_identifier(value: str | Mapping[str, Any]) -> dict[str, Any]:
    """The wire model for a phone number, a raw id, or an identifier model in any spelling."""
    return _model_for_raw_id(raw_id_of(value))


def from_acs_identifier(model: Mapping[str, Any]) -> str:
    """The raw id of an identifier model ACS sent us."""
    return raw_id_of(model)


def raw_id_of(value: str | Mapping[str, Any]) -> str:
    """Normalise any accepted spelling to its raw id (`4:+1...`, `8:acs:...`)."""
    if isinstance(value, str):
        return _raw_id_from_string(value)
    if isinstance(value, Mapping):
        return _raw_id_from_model(value)
    raise InvalidIdentifierError("An identifier must be a string or an identifier object.")


def _raw_id_from_string(text: str) -> str:
    text = text.strip()
    if not text or len(text) > _MAX_RAW_ID:
        raise InvalidIdentifierError("An identifier must be a non-empty string of at most 256 characters.")
    if text.startswith("+"):
        phone_number_model(text)
        return "4:" + text
    if text.startswith("4:"):
        phone_number_model(text[2:])
        return text
    if text.startswith(_ACS_USER_PREFIXES) or text.startswith(tuple(_TEAMS_USER_PREFIXES)):
        if len(text.split(":", 2)[-1]) == 0:
            raise InvalidIdentifierError(f"{_shorten(text)!r} has no user id after its prefix.")
        return text
    if text.startswith(tuple(_TEAMS_APP_PREFIXES)):
        return text
    raise InvalidIdentifierError(
        f"{_shorten(text)!r} is neither an E.164 phone number (+14255550123) nor an ACS user id (8:acs:...)."
    )


def _raw_id_from_model(model: Mapping[str, Any]) -> str:
    if "phoneNumber" in model:
        phone = model["phoneNumber"]
        if not isinstance(phone, Mapping):
            raise InvalidIdentifierError("phoneNumber must be an object with a value.")
        return "4:" + phone_number_model(phone.get("value"))["value"]
    if "communicationUser" in model:
        user = model["communicationUser"]
        if not isinstance(user, Mapping) or not isinstance(user.get("id"), str):
            raise InvalidIdentifierError("communicationUser must be an object with an id.")
        return _raw_id_from_string(user["id"])
    raw_id = model.get("rawId")
    if isinstance(raw_id, str):
        return _raw_id_from_string(raw_id)
    raise InvalidIdentifierError("An identifier object needs phoneNumber, communicationUser or rawId.")


def _model_for_raw_id(raw_id: str) -> dict[str, Any]:
    if is_phone_number(raw_id):
        return {"rawId": raw_id, "kind": "phoneNumber", "phoneNumber": {"value": raw_id[2:]}}
    if raw_id.startswith(_ACS_USER_PREFIXES):
        return {"rawId": raw_id, "kind": "communicationUser", "communicationUser": {"id": raw_id}}
    for prefix, cloud in _TEAMS_USER_PREFIXES.items():
        if raw_id.startswith(prefix):
            return {
                "rawId": raw_id,
                "kind": "microsoftTeamsUser",
                "microsoftTeamsUser": {
                    "userId": raw_id[len(prefix) :],
                    "isAnonymous": prefix == "8:teamsvisitor:",
                    "cloud": cloud,
                },
            }
    for prefix, cloud in _TEAMS_APP_PREFIXES.items():
        if raw_id.startswith(prefix):
            return {
                "rawId": raw_id,
                "kind": "microsoftTeamsApp",
                "microsoftTeamsApp": {"appId": raw_id[len(prefix) :], "cloud": cloud},
            }
    return {"rawId": raw_id, "kind": "unknown"}


def _shorten(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."

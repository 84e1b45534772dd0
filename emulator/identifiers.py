"""CommunicationIdentifierModel (§2): parse the three spellings clients send, answer the full one.

Clients may send `{rawId, <kind>: {...}}` (the Python SDK), `{kind, <kind>: {...}}` (spec examples), all three,
or just `{rawId}`. Responses always carry `rawId` + `kind` + the typed sub-object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import invalid_body

PHONE_PATTERN = re.compile(r"^\+[1-9][0-9]{1,14}$")  # E.164
KINDS = ("communicationUser", "phoneNumber", "microsoftTeamsUser", "microsoftTeamsApp", "teamsExtensionUser")
_TEAMS_USER_PREFIXES = {"8:orgid:": "public", "8:dod:": "dod", "8:gcch:": "gcch"}
_TEAMS_APP_PREFIXES = {
    "28:orgid:": "public",
    "28:dod:": "dod",
    "28:gcch:": "gcch",
    "28:dod-global:": "dod",
    "28:gcch-global:": "gcch",
}
_ACS_PREFIXES = ("8:acs:", "8:spool:", "8:dod-acs:", "8:gcch-acs:")
_MAX_ID_LENGTH = 1024


@dataclass(frozen=True)
class Identifier:
    raw_id: str
    kind: str
    detail: dict[str, Any]  # the typed sub-object, e.g. {"value": "+1425..."}

    @property
    def is_phone(self) -> bool:
        return self.kind == "phoneNumber"

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"rawId": self.raw_id, "kind": self.kind}
        if self.kind in KINDS:
            wire[self.kind] = dict(self.detail)
        return wire


def phone(number: str) -> Identifier:
    return Identifier("4:" + number, "phoneNumber", {"value": number})


def from_raw_id(raw_id: str) -> Identifier:
    """Infer kind and sub-object from a rawId prefix (the SDK's rules)."""
    if raw_id.startswith("4:"):
        return phone(raw_id[2:])
    if raw_id.startswith(_ACS_PREFIXES):
        return Identifier(raw_id, "communicationUser", {"id": raw_id})
    if raw_id.startswith("8:teamsvisitor:"):
        user = raw_id[len("8:teamsvisitor:") :]
        return Identifier(raw_id, "microsoftTeamsUser", {"userId": user, "isAnonymous": True, "cloud": "public"})
    for prefix, cloud in _TEAMS_USER_PREFIXES.items():
        if raw_id.startswith(prefix):
            user = raw_id[len(prefix) :]
            return Identifier(raw_id, "microsoftTeamsUser", {"userId": user, "isAnonymous": False, "cloud": cloud})
    for prefix, cloud in _TEAMS_APP_PREFIXES.items():
        if raw_id.startswith(prefix):
            return Identifier(raw_id, "microsoftTeamsApp", {"appId": raw_id[len(prefix) :], "cloud": cloud})
    return Identifier(raw_id, "unknown", {})


def _text(value: Any, field: str, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise invalid_body(field, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid_body(field, "must be a non-empty string")
    if len(value) > _MAX_ID_LENGTH:
        raise invalid_body(field, "is too long")
    return value


def _raw_id_of(kind: str, detail: dict[str, Any], field: str) -> tuple[str, dict[str, Any]]:
    """The rawId a typed sub-object stands for, and the normalised sub-object."""
    if kind == "phoneNumber":
        value = _text(detail.get("value"), f"{field}.value")
        assert value is not None
        if not PHONE_PATTERN.match(value):
            raise invalid_body(f"{field}.value", "must be an E.164 phone number such as +14255550123")
        return "4:" + value, {"value": value}
    if kind == "communicationUser":
        user_id = _text(detail.get("id"), f"{field}.id")
        assert user_id is not None
        return user_id, {"id": user_id}
    if kind == "microsoftTeamsUser":
        user_id = _text(detail.get("userId"), f"{field}.userId")
        anonymous = detail.get("isAnonymous", False) is True
        cloud = detail.get("cloud") or "public"
        if cloud not in ("public", "dod", "gcch"):
            raise invalid_body(f"{field}.cloud", "must be public, dod or gcch")
        prefix = "8:teamsvisitor:" if anonymous else {"public": "8:orgid:", "dod": "8:dod:", "gcch": "8:gcch:"}[cloud]
        return prefix + str(user_id), {"userId": user_id, "isAnonymous": anonymous, "cloud": cloud}
    if kind == "microsoftTeamsApp":
        app_id = _text(detail.get("appId"), f"{field}.appId")
        cloud = detail.get("cloud") or "public"
        if cloud not in ("public", "dod", "gcch"):
            raise invalid_body(f"{field}.cloud", "must be public, dod or gcch")
        prefix = {"public": "28:orgid:", "dod": "28:dod:", "gcch": "28:gcch:"}[cloud]
        return prefix + str(app_id), {"appId": app_id, "cloud": cloud}
    # teamsExtensionUser
    parts = {key: _text(detail.get(key), f"{field}.{key}") for key in ("userId", "tenantId", "resourceId")}
    cloud = detail.get("cloud") or "public"
    raw = f"8:acs:{parts['resourceId']}_{parts['tenantId']}_{parts['userId']}"
    return raw, {**parts, "cloud": cloud}


def parse_identifier(value: Any, field: str) -> Identifier:
    """Parse a CommunicationIdentifierModel found at `field` (used in error messages); raise AcsError 400."""
    if not isinstance(value, dict):
        raise invalid_body(field, "must be an identifier object")
    kind = value.get("kind")
    raw_id = _text(value.get("rawId"), f"{field}.rawId", required=False)
    if kind is not None and (not isinstance(kind, str) or kind not in (*KINDS, "unknown")):
        raise invalid_body(f"{field}.kind", "is not a known identifier kind")
    present = [k for k in KINDS if value.get(k) is not None]
    if len(present) > 1:
        raise invalid_body(field, "must hold at most one of " + ", ".join(KINDS))
    if kind is not None and kind != "unknown" and present and present[0] != kind:
        raise invalid_body(f"{field}.kind", f"does not match the '{present[0]}' property")
    if kind is not None and kind != "unknown" and not present:
        raise invalid_body(f"{field}.{kind}", "is required")

    if present:
        sub_kind = present[0]
        detail = value[sub_kind]
        if not isinstance(detail, dict):
            raise invalid_body(f"{field}.{sub_kind}", "must be an object")
        derived, normalised = _raw_id_of(sub_kind, detail, f"{field}.{sub_kind}")
        if raw_id is not None and raw_id != derived:
            if sub_kind in ("phoneNumber", "communicationUser"):
                raise invalid_body(f"{field}.rawId", f"does not match the '{sub_kind}' property")
            derived = raw_id  # Teams/extension rawIds have cloud-specific spellings; trust the client's

        return Identifier(derived, sub_kind, normalised)
    if raw_id is None:
        raise invalid_body(field, "must have a rawId or a typed identifier property")
    parsed = from_raw_id(raw_id)
    if parsed.is_phone and not PHONE_PATTERN.match(parsed.detail["value"]):
        raise invalid_body(f"{field}.rawId", "is not a valid phone number rawId")
    return parsed


def parse_phone_number(value: Any, field: str) -> str:
    """A PhoneNumberIdentifierModel `{"value": "+1..."}` → the number."""
    if not isinstance(value, dict):
        raise invalid_body(field, "must be an object with a 'value'")
    number = value.get("value")
    if not isinstance(number, str) or not PHONE_PATTERN.match(number):
        raise invalid_body(f"{field}.value", "must be an E.164 phone number such as +14255550123")
    return number


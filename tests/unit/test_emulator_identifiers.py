"""The three identifier spellings clients send (§2) and the full one the emulator answers."""

from __future__ import annotations

import pytest

from emulator.errors import AcsError
from emulator.identifiers import from_raw_id, parse_identifier

PHONE_FULL = {"rawId": "4:+14255550123", "kind": "phoneNumber", "phoneNumber": {"value": "+14255550123"}}
ACS_USER = "8:acs:1bdaa2b9-9507-4542-bb64-a7b22c00a8d4_00000024-0000-0000-0000-000000000000"


@pytest.mark.parametrize("spelling", [
    {"rawId": "4:+14255550123", "phoneNumber": {"value": "+14255550123"}},  # Python SDK
    {"kind": "phoneNumber", "phoneNumber": {"value": "+14255550123"}},  # spec examples
    PHONE_FULL,  # all three
    {"rawId": "4:+14255550123"},  # rawId only
])
def test_every_phone_spelling_parses_to_the_full_shape(spelling):
    assert parse_identifier(spelling, "targets[0]").to_wire() == PHONE_FULL


def test_communication_user_round_trip():
    parsed = parse_identifier({"communicationUser": {"id": ACS_USER}}, "x")
    assert parsed.to_wire() == {"rawId": ACS_USER, "kind": "communicationUser", "communicationUser": {"id": ACS_USER}}


@pytest.mark.parametrize(("raw_id", "kind"), [
    ("4:+14255550123", "phoneNumber"),
    (ACS_USER, "communicationUser"),
    ("8:orgid:abc", "microsoftTeamsUser"),
    ("8:teamsvisitor:abc", "microsoftTeamsUser"),
    ("28:orgid:bot", "microsoftTeamsApp"),
    ("something-else", "unknown"),
])
def test_kind_is_inferred_from_the_raw_id_prefix(raw_id, kind):
    assert from_raw_id(raw_id).kind == kind


@pytest.mark.parametrize(("value", "field"), [
    ({"kind": "phoneNumber", "phoneNumber": {"value": "425-555"}}, "targets[0].phoneNumber.value"),
    ({"phoneNumber": {}}, "targets[0].phoneNumber.value"),
    ({"kind": "communicationUser", "phoneNumber": {"value": "+14255550123"}}, "targets[0].kind"),
    ({"kind": "phoneNumber"}, "targets[0].phoneNumber"),
    ({"rawId": "4:+1999", "phoneNumber": {"value": "+14255550123"}}, "targets[0].rawId"),
    ({"kind": "bogus", "rawId": "x"}, "targets[0].kind"),
    ({"rawId": 5}, "targets[0].rawId"),
    ({}, "targets[0]"),
    ("4:+14255550123", "targets[0]"),
    ({"phoneNumber": {"value": "+1425"}, "communicationUser": {"id": "8:acs:x"}}, "targets[0]"),
])
def test_invalid_identifiers_name_the_field(value, field):
    with pytest.raises(AcsError) as caught:
        parse_identifier(value, "targets[0]")
    assert caught.value.status == 400 and caught.value.code == "8523"
    assert f"'{field}'" in caught.value.message

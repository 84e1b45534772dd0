import pytest

from shared.callautomation.identifiers import (
    InvalidIdentifierError,
    from_acs_identifier,
    phone_number_model,
    to_acs_identifier,
)

PHONE_MODEL = {"rawId": "4:+14255550123", "kind": "phoneNumber", "phoneNumber": {"value": "+14255550123"}}
USER = "8:acs:1bdaa2b9-9507-4542-bb64-a7b22c00a8d4_00000024-aaaa"
USER_MODEL = {"rawId": USER, "kind": "communicationUser", "communicationUser": {"id": USER}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+14255550123", PHONE_MODEL),
        ("4:+14255550123", PHONE_MODEL),
        ({"phoneNumber": {"value": "+14255550123"}}, PHONE_MODEL),
        ({"kind": "phoneNumber", "phoneNumber": {"value": "+14255550123"}}, PHONE_MODEL),
        ({"rawId": "4:+14255550123"}, PHONE_MODEL),
        (PHONE_MODEL, PHONE_MODEL),
        (USER, USER_MODEL),
        ({"communicationUser": {"id": USER}}, USER_MODEL),
        ({"rawId": USER, "communicationUser": {"id": USER}}, USER_MODEL),
    ],
)
def test_every_spelling_becomes_the_full_wire_model(value, expected):
    assert to_acs_identifier(value) == expected


def test_teams_user_gets_its_typed_model():
    model = to_acs_identifier("8:orgid:0f1e2d3c")

    assert model["kind"] == "microsoftTeamsUser"
    assert model["microsoftTeamsUser"] == {"userId": "0f1e2d3c", "isAnonymous": False, "cloud": "public"}


def test_from_acs_identifier_reads_the_raw_id_back():
    assert from_acs_identifier(USER_MODEL) == USER
    assert from_acs_identifier({"kind": "phoneNumber", "phoneNumber": {"value": "+442071838750"}}) == "4:+442071838750"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "14255550123",
        "+0123456789",
        "+1425555012345678",
        "8:acs:",
        "hello",
        "+1" + "2" * 300,
        {"phoneNumber": "+14255550123"},
        {"communicationUser": {}},
        {},
        42,
        None,
    ],
)
def test_invalid_identifiers_are_rejected(value):
    with pytest.raises(InvalidIdentifierError):
        to_acs_identifier(value)


def test_caller_id_must_be_e164():
    assert phone_number_model("+18005550100") == {"value": "+18005550100"}
    with pytest.raises(InvalidIdentifierError):
        phone_number_model("800-555-0100")

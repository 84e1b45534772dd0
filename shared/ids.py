"""The ids that become Table storage keys, checked before any storage access.

Table storage refuses keys over 1 KiB or with `/ \\ # ?` or control characters, and it answers a lookup of such
a key with an error, not "not found" (a 30,000-character campaign id was a 500). Every id from outside, in a
route, a body or a queue message, is therefore checked against the form our own ids have; one that fails is
unknown without asking storage (404 on HTTP routes, the poison queue for messages).
"""

from __future__ import annotations

import re
import uuid

from shared.callautomation.identifiers import E164

# What POST /campaigns accepts (1 to 40 letters, digits and dashes), so every campaign that exists has such an id.
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}\Z")

# A recipient's own id (a patient or appointment id): safe as a RowKey, and never `|` (the line's row keys use it) nor
# `~` (counter rows sort after every recipient). A recipient without one is keyed by its first phone number.
RECIPIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\Z")

CALL_LEG_ID_LENGTH = 36  # a GUID in its canonical form, as the app makes them


def is_campaign_id(value: object) -> bool:
    return isinstance(value, str) and CAMPAIGN_ID.match(value) is not None


def is_call_leg_id(value: object) -> bool:
    if not isinstance(value, str) or len(value) != CALL_LEG_ID_LENGTH:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def is_phone_number(value: object) -> bool:
    """An E.164 number, the RowKey of a campaign's recipient."""
    return isinstance(value, str) and E164.match(value) is not None


def is_recipient_id(value: object) -> bool:
    """A campaign recipient's key, the RowKey of its row: its own id, or (without one) its first phone number."""
    return isinstance(value, str) and (RECIPIENT_ID.match(value) is not None or E164.match(value) is not None)

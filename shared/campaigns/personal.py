"""A recipient's own data and language, and the plan it hears: its campaign's, in its language, filled in.

A recipient may carry `data`: up to MAX_FIELDS fields, each a name (a letter, then letters, digits or `_`, at most
MAX_NAME characters; case counts) and a text of at most MAX_VALUE characters, at most MAX_DATA_BYTES in all (names
and values, UTF-8). It is stored with the recipient (one JSON property of its row, well under Table storage's
64 KiB), shown in calls.csv, and never logged: errors name the field, never its value.

Submission fills in the plan for every recipient before anything is written, so a recipient the plan cannot be
filled in for (a missing field, a date that is not one, a language the plan lacks) is refused with its row and
field; dialling fills it in again, the same way, and the call leg keeps what came out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from shared.calls.plan_templates import Listener, TemplateError, UnknownLanguageError, personal_plan
from shared.calls.plans import CallPlan, language_field
from shared.fields import ValidationError

MAX_FIELDS = 20
MAX_NAME = 40
MAX_VALUE = 500
MAX_DATA_BYTES = 4096
FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}\Z")  # at most MAX_NAME characters


def parse_data(value: Any, where: str) -> dict[str, str] | None:
    """The `data` of the recipient at `where`: `{"name": "Ana", "appointmentAt": "2026-12-04T09:30"}` within the
    limits; empty values are left out (a template that uses one finds it missing). None when there is nothing."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where}.data", "must be an object of text fields, e.g. {\"name\": \"Ana\"}.")
    return checked_data({str(k): v for k, v in value.items()}, where)


def checked_data(fields: Mapping[str, Any], where: str, *, column: bool = False) -> dict[str, str] | None:
    """The data fields of the recipient at `where`, checked against the limits. `column`: they are CSV columns
    (named so in errors)."""
    whole = where if column else f"{where}.data"
    data: dict[str, str] = {}
    for name, value in fields.items():
        path = field_path(where, name, column=column)
        if not FIELD_NAME.match(name):
            raise ValidationError(path if len(name) <= MAX_NAME else whole, "field names are a letter, then letters, "
                                  f"digits or _, at most {MAX_NAME} characters.")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError(path, "must be a text (or a number).")
        text = str(value).strip()
        if len(text) > MAX_VALUE:
            raise ValidationError(path, f"must be at most {MAX_VALUE} characters.")
        if text:
            data[name] = text
    if len(data) > MAX_FIELDS:
        raise ValidationError(whole, f"has more than {MAX_FIELDS} data fields.")
    if sum(len(k.encode()) + len(v.encode()) for k, v in data.items()) > MAX_DATA_BYTES:
        raise ValidationError(whole, f"data must be at most {MAX_DATA_BYTES} bytes in all (names and values, UTF-8).")
    return data or None


def field_path(where: str, name: str, *, column: bool = False) -> str:
    """`recipients[3].data.name`, or `csv row 4, column name` for a CSV upload."""
    return f"{where}, column {name}" if column else f"{where}.data.{name}"


def recipient_language(value: Any, where: str) -> str | None:
    return None if value is None or value == "" else language_field(value, where)


def plan_for(
    config: Mapping[str, Any],
    time_zone: str | None,
    language: str | None,
    data: Mapping[str, str] | None,
    plan: CallPlan | None = None,
) -> CallPlan:
    """The campaign's plan (`plan`: as read from its config already) as this recipient hears it (TemplateError,
    UnknownLanguageError when it cannot be)."""
    plan = plan or CallPlan.from_dict(config["plan"])
    zone_name = time_zone or config.get("timeZone") or (config.get("callingWindow") or {}).get("timeZone") or "UTC"
    listener = Listener(data or {}, language or config.get("language"), ZoneInfo(zone_name))
    return personal_plan(plan, listener)


def check_recipient(
    config: Mapping[str, Any],
    where: str,
    time_zone: str | None,
    language: str | None,
    data: Mapping[str, str] | None,
    *,
    plan: CallPlan | None = None,
    csv: bool = False,
) -> None:
    """ValidationError naming the recipient's field when the plan cannot be filled in for it."""
    try:
        plan_for(config, time_zone, language, data, plan)
    except UnknownLanguageError as error:
        raise ValidationError(f"{where}, column language" if csv else f"{where}.language", str(error)) from None
    except TemplateError as error:
        path = field_path(where, error.field, column=csv) if error.field else where
        raise ValidationError(path, error.message) from None


def check_default_language(config: Mapping[str, Any]) -> None:
    """The campaign's `language` (for recipients without one) is one the plan has texts for."""
    plan = CallPlan.from_dict(config["plan"])
    if config.get("language") and config["language"] not in plan.spoken_languages:
        raise ValidationError("language", f"is {config['language']}, which the plan has no texts for (it has "
                              f"{', '.join(plan.spoken_languages)}).")


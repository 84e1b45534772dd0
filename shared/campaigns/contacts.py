"""Contacts: a recipient with its own id, numbers tried in order, and its own earliest and latest call time.

- A recipient's key is its `recipientId` (a patient or appointment id), or without one its first phone number
  (as every recipient was keyed before ids): two recipients may share a number, each is called.
- Its numbers are tried in order: a call on one that ends not reached (busy, no-answer, unreachable, failed)
  goes on to the next at once. After the last, the campaign's retry rule applies to the contact: when the
  round's outcome is retried and attempts allow, the round starts again from the first number after
  `delaySeconds`; every number thus gets up to `maxAttempts` calls.
- The contact's outcome is the best its round reached (OUTCOME_RANK), and `answeredNumber` the number that
  answered.
- `notBefore` / `notAfter`: no call starts before, and one not called by then ends expired.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.calls.flow import (
    ANSWERED,
    ANSWERED_WITHOUT_INPUT,
    BUSY,
    CHOSEN,
    CONFIRMED,
    DECLINED,
    ESCALATED,
    FAILED,
    NO_ANSWER,
    OPTED_OUT,
    THROTTLED,
    UNREACHABLE,
)
from shared.calls.suppressions import SUPPRESSED
from shared.fields import ValidationError, phone_number_field
from shared.ids import RECIPIENT_ID

MAX_PHONE_NUMBERS = 5
RECIPIENT_ID_LENGTH = 64
CSV_NUMBER_SEPARATORS = (";", "|")

# Best first: what a contact's round reached. An outcome not listed (a plan's own) counts as reached, after
# these reached ones and before the not-reached ones. A suppressed number was not even called.
OUTCOME_RANK = (CONFIRMED, DECLINED, CHOSEN, ESCALATED, OPTED_OUT, ANSWERED, ANSWERED_WITHOUT_INPUT, BUSY, NO_ANSWER,
                UNREACHABLE, FAILED, SUPPRESSED)
# A call that ended so goes on to the contact's next number (as does a number on the suppression list, which is not
# called, and a ringing call the callee rejected: `declined` without an answer). A `declined` or `opted-out` of
# someone who answered does not: the contact said no, or stop.
NOT_REACHED = frozenset({BUSY, NO_ANSWER, UNREACHABLE, FAILED})


def rank(outcome: str | None) -> float:
    """Lower is better (see OUTCOME_RANK)."""
    if outcome in OUTCOME_RANK:
        return OUTCOME_RANK.index(outcome)
    if outcome is None or outcome == THROTTLED:
        return len(OUTCOME_RANK)
    return OUTCOME_RANK.index(ANSWERED_WITHOUT_INPUT) + 0.5  # reached: an outcome of the plan's own naming


def best_outcome(outcomes: Iterable[str | None]) -> str | None:
    """The best of a round's outcomes (the first of equals); None when there is none."""
    best: str | None = None
    for outcome in outcomes:
        if outcome is not None and outcome != THROTTLED and (best is None or rank(outcome) < rank(best)):
            best = outcome
    return best


def moves_on(outcome: str, number_index: int, numbers: int, *, answered: bool = False) -> bool:
    """Whether a call on number `number_index` (0-based) of `numbers` that ended with `outcome` (`answered`: the
    callee picked up) is followed at once by a call on the next number."""
    not_reached = outcome in NOT_REACHED or (outcome == DECLINED and not answered)
    return not_reached and number_index + 1 < numbers


def round_of(history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The calls of the contact's current round: from its last call on the first number on (throttled ones never
    reached ACS). A call recorded before numbers were tracked was on the first."""
    calls = [entry for entry in history if entry.get("outcome") not in (None, THROTTLED)]
    starts = [index for index, entry in enumerate(calls) if not entry.get("numberIndex")]
    return calls[starts[-1]:] if starts else calls


def best_call(history: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The call of the current round with the best outcome (the earliest of equals)."""
    calls = round_of(history)
    best = best_outcome(entry.get("outcome") for entry in calls)
    return next((entry for entry in calls if entry.get("outcome") == best), None)


# -- reading requests -----------------------------------------------------------------------------------------


def recipient_id_field(value: Any, where: str) -> str | None:
    """A recipient's own id, or None when it has none."""
    if value is None:
        return None
    if not isinstance(value, str) or not RECIPIENT_ID.match(value):
        raise ValidationError(where, f"must be 1 to {RECIPIENT_ID_LENGTH} letters, digits or - _ . : characters.")
    return value


def phone_numbers_field(value: Any, where: str) -> tuple[str, ...]:
    """A list of 1 to MAX_PHONE_NUMBERS E.164 numbers, without repeats, in order."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PHONE_NUMBERS:
        raise ValidationError(where, f"must be a list of 1 to {MAX_PHONE_NUMBERS} E.164 phone numbers.")
    numbers = [phone_number_field(number, f"{where}[{index}]") for index, number in enumerate(value)]
    if len(set(numbers)) != len(numbers):
        raise ValidationError(where, "lists a number twice.")
    return tuple(numbers)


def csv_phone_numbers(cell: str, where: str) -> tuple[str, ...]:
    """A `phoneNumbers` cell: numbers separated by `;` or `|`."""
    text = cell
    for separator in CSV_NUMBER_SEPARATORS[1:]:
        text = text.replace(separator, CSV_NUMBER_SEPARATORS[0])
    return phone_numbers_field([part.strip() for part in text.split(CSV_NUMBER_SEPARATORS[0]) if part.strip()],
                               where)


def call_times(not_before: Any, not_after: Any, where: str, *, column: bool = False) -> tuple[str | None, str | None]:
    """`notBefore` / `notAfter` as UTC ISO instants; notAfter must come after notBefore."""
    name = (lambda field: f"{where}, column {field}") if column else (lambda field: f"{where}.{field}")
    earliest = instant_field(not_before, name("notBefore"))
    latest = instant_field(not_after, name("notAfter"))
    if earliest and latest and latest <= earliest:
        raise ValidationError(name("notAfter"), "must be later than notBefore.")
    return (earliest.isoformat() if earliest else None), (latest.isoformat() if latest else None)


def instant_field(value: Any, where: str) -> datetime | None:
    """An ISO 8601 instant with an offset, in UTC (None for none); ValidationError naming `where` otherwise."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ValidationError(where, "must be an ISO 8601 date and time with an offset, e.g. 2026-12-01T18:00:00Z.")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(where, "must be an ISO 8601 date and time, e.g. 2026-12-01T18:00:00Z.") from None
    if moment.tzinfo is None:
        raise ValidationError(where, "needs a time zone offset (e.g. Z or +01:00).")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 moved to UTC leaves the calendar
        raise ValidationError(where, "must be a date and time between the years 1 and 9999.") from None

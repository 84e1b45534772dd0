"""Campaigns: many recipients, one plan, each called at most once at a time, paced, retried by outcome.

Every step runs from a queue message, so each can run on any instance and be repeated safely:
- `admit` (queue `campaign-recipients`): insert each recipient once, then queue its first dial;
- `dial` (queue `campaign-dial`): check cancel, expiry, calling window and pacing, then place the call;
  anything that cannot start now goes back to the queue with a visibility delay (nothing sleeps);
- `record_result` (queue `campaign-results`, sent when a campaign call's leg ends): note the outcome, free the
  pacing slot, and queue a retry for busy / no-answer after the configured delay.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .api_models import CreateCallRequest, call_events_field
from .call_flow import BUSY, NO_ANSWER, THROTTLED
from .call_leg_store import CallLegStore, utc_now
from .call_legs import CallLeg
from .callautomation import CallAutomationError, ThrottledError
from .calling_windows import next_allowed, parse_window, zone_of
from .calls import CallService, call_leg_id_for
from .campaign_store import (
    CALLING,
    CANCELLED,
    DONE,
    EXPIRED,
    FINAL_STATUSES,
    QUEUED,
    WAITING,
    Campaign,
    CampaignStore,
    Recipient,
)
from .fields import (
    ValidationError,
    object_fields,
    optional,
    phone_number_field,
    string_list_field,
    text_field,
    url_field,
)
from .ids import is_campaign_id
from .outbox import Outbox
from .pacing import Pacer, Wait
from .plans import parse_plan
from .storage import CAMPAIGN_DIAL_QUEUE, CAMPAIGN_RECIPIENTS_QUEUE

logger = logging.getLogger(__name__)

MAX_RECIPIENTS_PER_REQUEST = 5000
RECIPIENTS_PER_MESSAGE = 100
MAX_QUEUE_DELAY_SECONDS = 7 * 24 * 3600 - 60  # Azure queues hide a message for at most 7 days
THROTTLED_DELAY_SECONDS = (2.0, 6.0)
MAX_SLOT_WAIT_SECONDS = 12.0
CAMPAIGN_CACHE_SECONDS = 2.0
RETRYABLE_OUTCOMES = (BUSY, NO_ANSWER)
DEFAULTS = {
    "pacing": {"maxConcurrentCalls": 10, "maxConcurrentCallsPerCallerId": 2, "callsPerSecond": 5.0},
    "retry": {"maxAttempts": 3, "delaySeconds": 300, "retryOn": list(RETRYABLE_OUTCOMES)},
}


@dataclass(frozen=True)
class RecipientEntry:
    phone_number: str
    time_zone: str | None = None


# -- reading requests -------------------------------------------------------------------------------------


def parse_campaign(body: Any, *, default_caller_id: str | None) -> tuple[Campaign, list[RecipientEntry]]:
    """A campaign and its first recipients from `POST /campaigns`; every problem names its field."""
    fields = object_fields(body)
    campaign_id = text_field(fields, "campaignId", 40) or str(uuid.uuid4())
    if not is_campaign_id(campaign_id):
        raise ValidationError("campaignId", "must be 1 to 40 letters, digits or dashes.")
    plan = parse_plan(optional(fields, "plan"))
    caller_ids = string_list_field(fields, "callerIds") or ([default_caller_id] if default_caller_id else [])
    if not caller_ids:
        raise ValidationError("callerIds", "is required (numbers your ACS resource owns), or set DEFAULT_CALLER_ID.")
    for index, number in enumerate(caller_ids):
        phone_number_field(number, f"callerIds[{index}]")
    config: dict[str, Any] = {
        "plan": plan.to_dict(),
        "callerIds": list(dict.fromkeys(caller_ids)),
        "pacing": _pacing(optional(fields, "pacing")),
        "retry": _retry(optional(fields, "retry")),
        "emergency": _flag(optional(fields, "emergency"), "emergency"),
        "callbackUri": url_field(fields, "callbackUri", required=False),
        "requestedCallEvents": call_events_field(fields),
    }
    time_zone = text_field(fields, "timeZone", 64)
    if time_zone:
        _check_zone(time_zone, "timeZone")
        config["timeZone"] = time_zone
    window = optional(fields, "callingWindow")
    if window is not None:
        try:
            config["callingWindow"] = parse_window(window).to_dict()
        except ValueError as error:
            raise ValidationError("callingWindow", str(error)) from None
        if not (config["callingWindow"].get("timeZone") or time_zone):
            raise ValidationError("callingWindow.timeZone", "is required (or timeZone on the campaign): it is the "
                                  "zone of recipients who have none of their own.")
    expires_at = text_field(fields, "expiresAt", 40)
    if expires_at:
        config["expiresAt"] = _instant(expires_at, "expiresAt").isoformat()
    campaign = Campaign(
        campaign_id=campaign_id,
        name=text_field(fields, "name", 200) or campaign_id,
        config=config,
        created_at=utc_now(),
    )
    recipients = parse_recipients(optional(fields, "recipients") or [], "recipients")
    return campaign, recipients


def parse_recipients(value: Any, where: str = "recipients") -> list[RecipientEntry]:
    """`["+1...", {"phoneNumber": "+1...", "timeZone": "America/Chicago"}, ...]`, in order, without repeats."""
    if not isinstance(value, list) or len(value) > MAX_RECIPIENTS_PER_REQUEST:
        raise ValidationError(where, f"must be a list of at most {MAX_RECIPIENTS_PER_REQUEST} recipients.")
    entries: dict[str, RecipientEntry] = {}
    for index, item in enumerate(value):
        entry = _recipient(item, f"{where}[{index}]")
        entries.setdefault(entry.phone_number, entry)
    return list(entries.values())


def parse_recipients_csv(text: str) -> list[RecipientEntry]:
    """A CSV upload with a header row: `phoneNumber` (required) and `timeZone` (optional)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower(): name for name in reader.fieldnames or []}
    if "phonenumber" not in columns:
        raise ValidationError("csv", "needs a header row with a phoneNumber column.")
    rows = []
    for row in reader:
        number = (row.get(columns["phonenumber"]) or "").strip()
        if not number:
            continue
        zone = (row.get(columns["timezone"]) or "").strip() if "timezone" in columns else ""
        rows.append({"phoneNumber": number, **({"timeZone": zone} if zone else {})})
    return parse_recipients(rows, "csv")


def _recipient(item: Any, where: str) -> RecipientEntry:
    fields = {"phonenumber": item} if isinstance(item, str) else object_fields(item)
    number = fields.get("phonenumber")
    phone_number_field(number, f"{where}.phoneNumber")
    zone = fields.get("timezone")
    if zone is not None:
        if not isinstance(zone, str):
            raise ValidationError(f"{where}.timeZone", "must be an IANA time zone such as America/Chicago.")
        _check_zone(zone, f"{where}.timeZone")
    return RecipientEntry(number, zone or None)


def _pacing(value: Any) -> dict[str, Any]:
    fields = object_fields(value if value is not None else {})
    defaults = DEFAULTS["pacing"]
    return {
        "maxConcurrentCalls": _whole(fields, "maxConcurrentCalls", defaults["maxConcurrentCalls"], 1, 999),
        "maxConcurrentCallsPerCallerId": _whole(
            fields, "maxConcurrentCallsPerCallerId", defaults["maxConcurrentCallsPerCallerId"], 1, 999
        ),
        "callsPerSecond": float(_number(fields, "callsPerSecond", defaults["callsPerSecond"], 0.01, 1000)),
    }


def _retry(value: Any) -> dict[str, Any]:
    fields = object_fields(value if value is not None else {})
    defaults = DEFAULTS["retry"]
    retry_on = string_list_field(fields, "retryOn") if fields.get("retryon") is not None else defaults["retryOn"]
    for index, outcome in enumerate(retry_on):
        if outcome not in ("busy", "no-answer", "failed", "unreachable"):
            raise ValidationError(f"retry.retryOn[{index}]", "must be busy, no-answer, failed or unreachable.")
    return {
        "maxAttempts": _whole(fields, "maxAttempts", defaults["maxAttempts"], 1, 10),
        "delaySeconds": _whole(fields, "delaySeconds", defaults["delaySeconds"], 1, MAX_QUEUE_DELAY_SECONDS),
        "retryOn": retry_on,
    }


def _number(fields: Mapping[str, Any], name: str, default: float, low: float, high: float) -> Any:
    value = fields.get(name.lower(), default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationError(name, f"must be a number from {low} to {high}.")
    return value


def _whole(fields: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = _number(fields, name, default, low, high)
    if not isinstance(value, int):
        raise ValidationError(name, f"must be a whole number from {low} to {high}.")
    return value


def _flag(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError(name, "must be true or false.")
    return value


def _check_zone(name: str, where: str) -> None:
    try:
        zone_of(name, where)
    except ValueError as error:
        raise ValidationError(where, str(error)) from None


def _instant(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(where, "must be an ISO 8601 date and time, e.g. 2026-12-01T18:00:00Z.") from None
    if moment.tzinfo is None:
        raise ValidationError(where, "needs a time zone offset (e.g. Z or +01:00).")
    return moment.astimezone(UTC)


# -- the engine -------------------------------------------------------------------------------------------


def dial_message(campaign_id: str, phone_number: str, dial: int, waits: int = 0) -> tuple[str, str]:
    body = {"campaignId": campaign_id, "phoneNumber": phone_number, "dial": dial, "waits": waits}
    return CAMPAIGN_DIAL_QUEUE, json.dumps(body)


def busy_delay(waits: int) -> float:
    """How long a dial waits for a free slot: longer each time, so a long line of waiting recipients does not
    keep the queue and the pacing table busy, yet some come back every second to take slots as calls end."""
    return min(MAX_SLOT_WAIT_SECONDS, 1.6**waits) * _jitter((0.5, 1.5))


@dataclass
class CampaignService:
    campaigns: CampaignStore
    calls: CallService
    legs: CallLegStore
    pacer: Pacer
    outbox: Outbox
    _cache: dict[str, tuple[float, Campaign]] = field(default_factory=dict, repr=False)

    def create(self, campaign: Campaign, recipients: list[RecipientEntry]) -> Campaign:
        self.campaigns.create_campaign(campaign)
        self.submit(campaign.campaign_id, recipients)
        return campaign

    def submit(self, campaign_id: str, recipients: list[RecipientEntry]) -> int:
        """Queue recipients for admission in chunks, so a large upload answers at once."""
        self.campaigns.get_campaign(campaign_id)  # 404 before anything is queued
        for start in range(0, len(recipients), RECIPIENTS_PER_MESSAGE):
            chunk = recipients[start : start + RECIPIENTS_PER_MESSAGE]
            body = {
                "campaignId": campaign_id,
                "recipients": [{"phoneNumber": r.phone_number, "timeZone": r.time_zone} for r in chunk],
            }
            self.outbox.send([(CAMPAIGN_RECIPIENTS_QUEUE, json.dumps(body))])
        return len(recipients)

    def admit(self, campaign_id: str, recipients: Iterable[RecipientEntry]) -> int:
        """Insert each recipient once and queue its first dial. Safe to repeat: returns how many were new."""
        self.campaigns.get_campaign(campaign_id)
        added = 0
        now = utc_now()
        for entry in recipients:
            recipient = Recipient(campaign_id, entry.phone_number, time_zone=entry.time_zone, submitted_at=now)
            if self.campaigns.add_recipient(recipient):
                added += 1
            else:
                recipient = self.campaigns.get_recipient(campaign_id, entry.phone_number)
                if recipient.enqueued:
                    continue  # listed twice, or this message came again: nothing to do
            # Queued before being marked: a crash in between queues it again, and dial ignores the repeat.
            self.outbox.send([dial_message(campaign_id, entry.phone_number, 1)])
            self.campaigns.update_recipient(campaign_id, entry.phone_number, _mark_enqueued)
        return added

    def cancel(self, campaign_id: str) -> Campaign:
        return self.campaigns.cancel_campaign(campaign_id, utc_now())

    def dial(
        self, campaign_id: str, phone_number: str, dial: int, *, waits: int = 0, now: datetime | None = None
    ) -> str:
        """One dial message. Returns what happened (for logs and tests)."""
        now = now or datetime.now(UTC)
        campaign = self._campaign(campaign_id)
        recipient = self.campaigns.get_recipient(campaign_id, phone_number)
        leg_id = call_leg_id_for(_idempotency_key(campaign_id, phone_number, dial))
        if recipient.status in FINAL_STATUSES or recipient.dials > dial:
            return "stale"  # an outdated message
        if recipient.dials == dial and (recipient.status != CALLING or self._placed(leg_id)):
            return "stale"  # a repeat of a dial that already placed its call
        resuming = recipient.dials == dial  # an earlier try marked the call but stopped before ACS answered
        config = campaign.config
        if campaign.status == "cancelled" and not resuming:
            self._finish(recipient, CANCELLED)
            return "cancelled"
        if not resuming and config.get("expiresAt") and now >= datetime.fromisoformat(config["expiresAt"]):
            self._finish(recipient, EXPIRED)
            return "expired"
        window = config.get("callingWindow")
        if window and not config.get("emergency") and not resuming:
            opens = next_allowed(parse_window(window), now, recipient.time_zone or config.get("timeZone"))
            if opens > now:
                self._again(campaign_id, phone_number, dial, (opens - now).total_seconds())
                return "outside-window"

        pacing = config["pacing"]
        grant = self.pacer.acquire(
            leg_id,
            campaign_id,
            config["callerIds"],
            max_concurrent=pacing["maxConcurrentCalls"],
            per_caller_id=pacing["maxConcurrentCallsPerCallerId"],
            calls_per_second=pacing["callsPerSecond"],
        )
        if isinstance(grant, Wait):
            delay = busy_delay(waits) if grant.reason == "slots" else grant.seconds
            self._again(campaign_id, phone_number, dial, delay, waits=waits + 1)
            return f"paced-{grant.reason}"

        request = CreateCallRequest(
            targets=["4:" + phone_number],
            alternate_caller_id=grant.caller_id,
            callback_uri=config.get("callbackUri"),
            requested_call_events=config.get("requestedCallEvents") or [],
            idempotency_key=_idempotency_key(campaign_id, phone_number, dial),
            plan=None,
        )
        # Marked before the call is placed, so its result (which may come back within milliseconds, on another
        # instance) always finds the recipient calling.
        attempt = self._start(campaign_id, phone_number, dial, leg_id)
        try:
            self.calls.place_call(request, plan=config["plan"], campaign=(campaign_id, phone_number, attempt))
        except ThrottledError:
            self.pacer.release_holder(leg_id, campaign_id)
            return self._conclude(campaign, phone_number, leg_id, THROTTLED, None, None)
        except CallAutomationError as error:
            self.pacer.release_holder(leg_id, campaign_id)
            if error.is_transient:
                raise  # transient: the host retries this message, which resumes this dial
            code = {"code": error.status_code, "subCode": 0, "message": error.message}
            return self._conclude(campaign, phone_number, leg_id, "failed", code, None)
        return "calling"

    def _campaign(self, campaign_id: str) -> Campaign:
        """The campaign, read at most every CAMPAIGN_CACHE_SECONDS per instance: dials are many, and a cancel
        only needs to be seen within seconds."""
        now = time.monotonic()
        cached = self._cache.get(campaign_id)
        if cached is None or now - cached[0] > CAMPAIGN_CACHE_SECONDS:
            cached = (now, self.campaigns.get_campaign(campaign_id))
            self._cache[campaign_id] = cached
        return cached[1]

    def _placed(self, call_leg_id: str) -> bool:
        leg = self.legs.find(call_leg_id)
        return leg is not None and (leg.acs_call_connection_id is not None or leg.is_ended)

    def record_result(self, campaign_id: str, phone_number: str, call_leg_id: str) -> str:
        """A campaign call ended: free its slot, note the outcome, and retry busy / no-answer if allowed."""
        try:
            leg = self.legs.get(call_leg_id)
            campaign = self._campaign(campaign_id)
            return self._conclude(campaign, phone_number, call_leg_id, leg.outcome or "failed", leg.outcome_code, leg)
        except LookupError:
            return "unknown-leg"
        finally:
            # After the recipient is marked, so progress never shows more calls in progress than the cap.
            self.pacer.release_holder(call_leg_id, campaign_id)

    def _start(self, campaign_id: str, phone_number: str, dial: int, call_leg_id: str) -> int:
        """Mark the recipient as being called by this dial; returns the attempt number."""

        def calling(current: Recipient) -> int:
            if current.dials >= dial:
                return current.attempts  # marked before (this dial is being resumed)
            current.status, current.dials, current.attempts = CALLING, dial, current.attempts + 1
            current.call_leg_id = call_leg_id
            current.first_call_at = current.first_call_at or utc_now()
            current.last_call_at = utc_now()
            current.next_attempt_at = None
            return current.attempts

        return self.campaigns.update_recipient(campaign_id, phone_number, calling)

    def _conclude(
        self,
        campaign: Campaign,
        phone_number: str,
        call_leg_id: str,
        outcome: str,
        code: dict[str, Any] | None,
        leg: CallLeg | None,
    ) -> str:
        """Record how one call ended, and decide whether the recipient is called again."""
        retry = campaign.config["retry"]
        next_dial: dict[str, float] = {}

        def note(current: Recipient) -> None:
            next_dial.clear()
            if current.status != CALLING or current.call_leg_id != call_leg_id:
                return  # recorded before: a repeated result message
            entry: dict[str, Any] = {
                "attempt": current.attempts,
                "callLegId": call_leg_id,
                "outcome": outcome,
                "outcomeCode": code,
            }
            if leg is not None:
                entry.update(
                    startedAt=leg.created_at, answeredAt=leg.answered_at, endedAt=leg.ended_at, digits=leg.digits
                )
            current.history = [*current.history, entry]
            if outcome == THROTTLED:
                current.attempts -= 1  # ACS refused to start the call: that is not the callee's answer
                current.status = WAITING
                next_dial.update(dial=current.dials + 1, delay=_jitter(THROTTLED_DELAY_SECONDS))
                return
            current.outcome, current.outcome_code = outcome, code
            if leg is not None:
                current.digits, current.answered_at, current.ended_at = leg.digits, leg.answered_at, leg.ended_at
                current.duration_seconds = _seconds_between(leg.answered_at, leg.ended_at)
            if (
                outcome in retry["retryOn"]
                and current.attempts < retry["maxAttempts"]
                and campaign.status != "cancelled"
            ):
                current.status = WAITING
                current.next_attempt_at = (datetime.now(UTC) + timedelta(seconds=retry["delaySeconds"])).isoformat()
                next_dial.update(dial=current.dials + 1, delay=retry["delaySeconds"])
            else:
                current.status = DONE

        self.campaigns.update_recipient(campaign.campaign_id, phone_number, note)
        if next_dial:
            self._again(campaign.campaign_id, phone_number, int(next_dial["dial"]), next_dial["delay"])
            return "retry-scheduled" if outcome != THROTTLED else "throttled"
        return outcome

    def _again(self, campaign_id: str, phone_number: str, dial: int, seconds: float, *, waits: int = 0) -> None:
        delay = min(MAX_QUEUE_DELAY_SECONDS, max(1, math.ceil(seconds)))
        self.outbox.send([dial_message(campaign_id, phone_number, dial, waits)], delay_seconds=delay)

    def _finish(self, recipient: Recipient, status: str) -> None:
        def finish(current: Recipient) -> None:
            if current.status in (QUEUED, WAITING):
                current.status = status

        self.campaigns.update_recipient(recipient.campaign_id, recipient.phone_number, finish)


def _jitter(bounds: tuple[float, float]) -> float:
    # Spreads waiters out so they do not all come back at once; not a secret.
    return random.uniform(*bounds)  # noqa: S311


def _idempotency_key(campaign_id: str, phone_number: str, dial: int) -> str:
    return f"campaign:{campaign_id}:{phone_number}:{dial}"


def _mark_enqueued(recipient: Recipient) -> None:
    recipient.enqueued = True


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
    except ValueError:
        return None

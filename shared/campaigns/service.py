"""Campaigns: many recipients, one plan, each called at most once at a time, paced, retried by outcome.

Every step runs from a queue message, so each can run on any instance and be repeated safely:
- `admit` (queue `campaign-recipients`): insert each recipient once; those who may be called now join the
  campaign's line, and calls start while lines are free (see dialing);
- `ready` (queue `campaign-dial`, without a line): a retry or a calling window came due: the recipient joins
  the line;
- `dial` (queue `campaign-dial`, with the line it was given): check cancel, expiry and calling window, then
  place the call;
- `record_result` (queue `campaign-results`, sent when a campaign call's leg ends): note the outcome; a contact
  not reached on one of its numbers is dialled on the next at once (see contacts.py), else queue a retry for
  busy / no-answer after the configured delay. The call's line was handed on already, when the app
  learned the call was over.
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

from shared.callautomation import CallAutomationError, ThrottledError
from shared.calls.context import call_leg_id_for
from shared.calls.flow import BUSY, DECLINED, FAILED, NO_ANSWER, THROTTLED, UNREACHABLE
from shared.calls.legs import CallEnded
from shared.calls.plan_templates import TemplateError, UnknownLanguageError, check_templates
from shared.calls.plans import CallPlan, language_field, parse_plan
from shared.calls.requests import CreateCallRequest, call_events_field
from shared.calls.service import CallService
from shared.calls.store import CallLegStore
from shared.calls.suppressions import SUPPRESSED, SuppressionStore
from shared.campaigns.calling_windows import next_allowed, parse_window, zone_of
from shared.campaigns.contacts import (
    NOT_REACHED,
    best_call,
    call_times,
    csv_phone_numbers,
    instant_field,
    moves_on,
    phone_numbers_field,
    recipient_id_field,
)
from shared.campaigns.dialing import SLEEP_UNDER_SECONDS, Dispatcher, dial_message, idempotency_key
from shared.campaigns.messages.campaign_recipients import CampaignRecipientsMessage
from shared.campaigns.personal import (
    check_default_language,
    check_recipient,
    checked_data,
    parse_data,
    plan_for,
    recipient_language,
)
from shared.campaigns.store import (
    CALLING,
    CANCELLED,
    DONE,
    EXPIRED,
    FINAL_STATUSES,
    QUEUED,
    WAITING,
    CallsStoppedError,
    Campaign,
    CampaignNotFoundError,
    CampaignStore,
    Recipient,
)
from shared.clock import Clock, iso, system_clock, timestamp
from shared.fields import (
    ValidationError,
    object_fields,
    optional,
    phone_number_field,
    string_list_field,
    text_field,
    url_field,
)
from shared.ids import is_campaign_id
from shared.lines import Grant, Waiting
from shared.storage.clients import CAMPAIGN_RECIPIENTS_QUEUE
from shared.storage.outbox import Outbox

logger = logging.getLogger(__name__)

MAX_RECIPIENTS_PER_REQUEST = 5000
RECIPIENTS_PER_MESSAGE = 100
MESSAGE_BYTES = 40_000  # of JSON: Azure queue messages hold 64 KiB, and are sent base64-encoded
MAX_QUEUE_DELAY_SECONDS = 7 * 24 * 3600 - 60  # Azure queues hide a message for at most 7 days
THROTTLED_DELAY_SECONDS = (2.0, 6.0)
RETRYABLE_OUTCOMES = (BUSY, NO_ANSWER)
RETRY_ON_CHOICES = (BUSY, NO_ANSWER, FAILED, UNREACHABLE, DECLINED)  # what retry.retryOn may name
DRAIN_AT_ONCE, DRAIN_PER_PUMP = 200, 500  # waiting recipients finished by a cancel request, and per pump
CAMPAIGN_FIELDS = (
    "campaignId", "name", "plan", "callerIds", "callbackUri", "requestedCallEvents", "pacing", "retry",
    "callingWindow", "timeZone", "language", "expiresAt", "emergency", "recipients",
)
ADD_RECIPIENTS_FIELDS = ("recipients",)
RECIPIENT_FIELDS = (
    "recipientId", "phoneNumber", "phoneNumbers", "timeZone", "language", "data", "notBefore", "notAfter",
)
# Any other column is a data field.
CSV_COLUMNS = ("recipientid", "phonenumber", "phonenumbers", "timezone", "language", "notbefore", "notafter")
PACING_FIELDS = ("maxConcurrentCalls", "maxConcurrentCallsPerCallerId", "callsPerSecond")
RETRY_FIELDS = ("maxAttempts", "delaySeconds", "retryOn")
DEFAULTS = {
    "pacing": {"maxConcurrentCalls": 10, "maxConcurrentCallsPerCallerId": 2, "callsPerSecond": 5.0},
    "retry": {"maxAttempts": 3, "delaySeconds": 300, "retryOn": list(RETRYABLE_OUTCOMES)},
}


@dataclass(frozen=True)
class RecipientEntry:
    phone_number: str  # the first number it is called on
    time_zone: str | None = None
    language: str | None = None
    data: dict[str, str] | None = None
    # Where the request gave it (`recipients[3]`, `csv row 4`), for errors found after parsing.
    where: str = field(default="", compare=False)
    csv: bool = field(default=False, compare=False)
    recipient_id: str | None = None  # its own id; without one, it is keyed by its first number
    phone_numbers: tuple[str, ...] = ()  # when it has more than one: all of them, in order (see contacts.py)
    not_before: str | None = None
    not_after: str | None = None

    @property
    def key(self) -> str:
        """What the campaign knows it by (the RowKey of its row): its id, or its first number."""
        return self.recipient_id or self.phone_number

    @property
    def numbers(self) -> tuple[str, ...]:
        return self.phone_numbers or (self.phone_number,)

    def to_dict(self) -> dict[str, Any]:
        """The public format (what `campaign-recipients` messages carry)."""
        body: dict[str, Any] = {"phoneNumber": self.phone_number, "timeZone": self.time_zone}
        if self.recipient_id:
            body["recipientId"] = self.recipient_id
        if len(self.numbers) > 1:
            del body["phoneNumber"]
            body["phoneNumbers"] = list(self.numbers)
        if self.language:
            body["language"] = self.language
        if self.data:
            body["data"] = self.data
        if self.not_before:
            body["notBefore"] = self.not_before
        if self.not_after:
            body["notAfter"] = self.not_after
        return body


# -- reading requests -------------------------------------------------------------------------------------


def parse_campaign(body: Any, *, default_caller_id: str | None) -> tuple[Campaign, list[RecipientEntry]]:
    """A campaign and its first recipients from `POST /campaigns`; every problem names its field."""
    fields = object_fields(body, CAMPAIGN_FIELDS)
    campaign_id = text_field(fields, "campaignId", 40) or str(uuid.uuid4())
    if not is_campaign_id(campaign_id):
        raise ValidationError("campaignId", "must be 1 to 40 letters, digits or dashes.")
    plan = parse_plan(optional(fields, "plan"))
    check_templates(plan)
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
    if optional(fields, "language") is not None:
        config["language"] = language_field(optional(fields, "language"), "language")
        check_default_language(config)
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
        config["expiresAt"] = instant_field(expires_at, "expiresAt").isoformat()
    campaign = Campaign(
        campaign_id=campaign_id,
        name=text_field(fields, "name", 200) or campaign_id,
        config=config,
    )
    recipients = parse_recipients(optional(fields, "recipients") or [], "recipients")
    check_recipients(config, recipients)
    return campaign, recipients


def parse_add_recipients(body: Any) -> list[RecipientEntry]:
    """The recipients of a JSON `POST /campaigns/{campaignId}/recipients`."""
    return parse_recipients(object_fields(body, ADD_RECIPIENTS_FIELDS).get("recipients"))


def parse_recipients(value: Any, where: str = "recipients") -> list[RecipientEntry]:
    """`["+1...", {"phoneNumber": "+1...", "timeZone": "America/Chicago"}, ...]`, in order, without repeats (of
    a recipient id: the same number under two ids is two recipients)."""
    if not isinstance(value, list) or len(value) > MAX_RECIPIENTS_PER_REQUEST:
        raise ValidationError(where, f"must be a list of at most {MAX_RECIPIENTS_PER_REQUEST} recipients.")
    entries: dict[str, RecipientEntry] = {}
    for index, item in enumerate(value):
        entry = _recipient(item, f"{where}[{index}]")
        entries.setdefault(entry.key, entry)
    return list(entries.values())


def parse_recipients_csv(text: str) -> list[RecipientEntry]:
    """A CSV upload with a header row: `phoneNumber` or `phoneNumbers` (numbers separated by `;` or `|`, tried in
    order), and optional `recipientId`, `timeZone`, `language`, `notBefore` and `notAfter`; any other column is a
    data field of that name. Errors name the row as a spreadsheet numbers it (the header is row 1)."""
    reader = csv.DictReader(io.StringIO(text))
    names = [name.strip() for name in reader.fieldnames or [] if name is not None]
    columns = {name.strip().lower(): name for name in reader.fieldnames or [] if name is not None}
    if "phonenumber" not in columns and "phonenumbers" not in columns:
        raise ValidationError("csv", "needs a header row with a phoneNumber column (or phoneNumbers).")
    if len(names) != len(set(names)):
        raise ValidationError("csv", "names a column twice in its header row.")
    data_columns = [name for name in reader.fieldnames or [] if name and name.strip().lower() not in CSV_COLUMNS]
    entries: dict[str, RecipientEntry] = {}
    for row in reader:
        if len(entries) >= MAX_RECIPIENTS_PER_REQUEST:
            raise ValidationError("csv", f"must hold at most {MAX_RECIPIENTS_PER_REQUEST} recipients.")
        where = f"csv row {reader.line_num}"

        def cell(column: str, row: dict[str | Any, Any] = row) -> str:
            return (row.get(column) or "").strip() if isinstance(row.get(column), str | None) else ""

        number = cell(columns["phonenumber"]) if "phonenumber" in columns else ""
        several = cell(columns["phonenumbers"]) if "phonenumbers" in columns else ""
        if number and several:
            raise ValidationError(f"{where}, column phoneNumbers", "is given with phoneNumber: give one of them.")
        if not (number or several):
            continue
        numbers = (csv_phone_numbers(several, f"{where}, column phoneNumbers") if several else
                   (phone_number_field(number, f"{where}, column phoneNumber"),))
        recipient_id = recipient_id_field(cell(columns["recipientid"]) or None, f"{where}, column recipientId") if (
            "recipientid" in columns) else None
        not_before, not_after = call_times(
            cell(columns["notbefore"]) if "notbefore" in columns else None,
            cell(columns["notafter"]) if "notafter" in columns else None,
            where, column=True,
        )
        zone = cell(columns["timezone"]) if "timezone" in columns else ""
        if zone:
            _check_zone(zone, f"{where}, column timeZone")
        language = recipient_language(cell(columns["language"]), f"{where}, column language") if (
            "language" in columns) else None
        data = checked_data({name.strip(): cell(name) for name in data_columns}, where, column=True)
        entry = RecipientEntry(numbers[0], zone or None, language, data, where, csv=True, recipient_id=recipient_id,
                               phone_numbers=numbers if len(numbers) > 1 else (), not_before=not_before,
                               not_after=not_after)
        entries.setdefault(entry.key, entry)
    return list(entries.values())


def _recipient(item: Any, where: str) -> RecipientEntry:
    fields = {"phonenumber": item} if isinstance(item, str) else object_fields(item, RECIPIENT_FIELDS, where)
    number = fields.get("phonenumber")
    if fields.get("phonenumbers") is not None:
        if number is not None:
            raise ValidationError(f"{where}.phoneNumbers", "is given with phoneNumber: give one of them.")
        numbers = phone_numbers_field(fields["phonenumbers"], f"{where}.phoneNumbers")
    else:
        numbers = (phone_number_field(number, f"{where}.phoneNumber"),)
    recipient_id = recipient_id_field(fields.get("recipientid"), f"{where}.recipientId")
    not_before, not_after = call_times(fields.get("notbefore"), fields.get("notafter"), where)
    zone = fields.get("timezone")
    if zone is not None:
        if not isinstance(zone, str):
            raise ValidationError(f"{where}.timeZone", "must be an IANA time zone such as America/Chicago.")
        _check_zone(zone, f"{where}.timeZone")
    language = recipient_language(fields.get("language"), f"{where}.language")
    return RecipientEntry(numbers[0], zone or None, language, parse_data(fields.get("data"), where), where,
                          recipient_id=recipient_id, phone_numbers=numbers if len(numbers) > 1 else (),
                          not_before=not_before, not_after=not_after)


def check_recipients(config: Mapping[str, Any], recipients: Iterable[RecipientEntry]) -> None:
    """The campaign's plan can be filled in for every recipient (ValidationError naming the first that fails)."""
    plan = CallPlan.from_dict(config["plan"])
    for index, entry in enumerate(recipients):
        where = entry.where or f"recipients[{index}]"
        check_recipient(config, where, entry.time_zone, entry.language, entry.data, plan=plan, csv=entry.csv)


def _pacing(value: Any) -> dict[str, Any]:
    fields = object_fields(value if value is not None else {}, PACING_FIELDS, "pacing")
    defaults = DEFAULTS["pacing"]
    return {
        "maxConcurrentCalls": _whole(fields, "maxConcurrentCalls", defaults["maxConcurrentCalls"], 1, 999),
        "maxConcurrentCallsPerCallerId": _whole(
            fields, "maxConcurrentCallsPerCallerId", defaults["maxConcurrentCallsPerCallerId"], 1, 999
        ),
        "callsPerSecond": float(_number(fields, "callsPerSecond", defaults["callsPerSecond"], 0.01, 1000)),
    }


def _retry(value: Any) -> dict[str, Any]:
    fields = object_fields(value if value is not None else {}, RETRY_FIELDS, "retry")
    defaults = DEFAULTS["retry"]
    retry_on = string_list_field(fields, "retryOn") if fields.get("retryon") is not None else defaults["retryOn"]
    for index, outcome in enumerate(retry_on):
        if outcome not in RETRY_ON_CHOICES:
            raise ValidationError(f"retry.retryOn[{index}]", "must be busy, no-answer, failed, unreachable or "
                                  "declined.")
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


# -- the engine -------------------------------------------------------------------------------------------


@dataclass
class CampaignService:
    campaigns: CampaignStore
    calls: CallService
    legs: CallLegStore
    dispatcher: Dispatcher
    outbox: Outbox
    clock: Clock = system_clock
    suppressions: SuppressionStore | None = None  # numbers never called (unless bypassed, below)
    # SUPPRESSION_EMERGENCY_BYPASS: an emergency campaign calls suppressed numbers too. Decided when a campaign is
    # created and kept in its config (`suppressionBypassed`), so its report says what its dials did.
    suppression_emergency_bypass: bool = False

    def create(self, campaign: Campaign, recipients: list[RecipientEntry]) -> Campaign:
        campaign.created_at = campaign.created_at or iso(self.clock())
        if campaign.config.get("emergency") and self.suppression_emergency_bypass:
            campaign.config["suppressionBypassed"] = True
        self.campaigns.create_campaign(campaign)
        self.dispatcher.open(campaign)
        self.submit(campaign.campaign_id, recipients)
        return campaign

    def submit(self, campaign_id: str, recipients: list[RecipientEntry]) -> int:
        """Queue recipients for admission in chunks, so a large upload answers at once."""
        campaign = self.campaigns.get_campaign(campaign_id)  # 404 before anything is queued
        check_recipients(campaign.config, recipients)  # 400 before anything is queued
        for chunk in _chunks(recipients):
            message = CampaignRecipientsMessage(campaign_id, chunk)
            self.outbox.send([(CAMPAIGN_RECIPIENTS_QUEUE, message.to_message())])
        return len(recipients)

    def admit(self, campaign_id: str, recipients: Iterable[RecipientEntry], *, now: datetime | None = None) -> int:
        """Insert each recipient once, and let those who may be called now join the line. Safe to repeat: a
        recipient joins the line under the time it was first submitted, so a repeat takes the same place."""
        now = now or self.clock()
        campaign = self.dispatcher.campaign(campaign_id, fresh=True)
        recipients = list(recipients)
        check_recipients(campaign.config, recipients)  # another service's message, too: none is let in half-made
        added = 0
        ready: list[Recipient] = []
        new = [
            Recipient(
                campaign_id,
                entry.key,
                time_zone=entry.time_zone,
                language=entry.language,
                data=entry.data,
                submitted_at=iso(self.clock()),
                phone_numbers=list(entry.numbers) if entry.numbers != (entry.key,) else None,
                not_before=entry.not_before,
                not_after=entry.not_after,
            )
            for entry in recipients
        ]
        # In one batch: a transaction per partition inserts its rows and counts them.
        for recipient, inserted in zip(new, self.campaigns.add_recipients(new), strict=True):
            if inserted:
                added += 1
                ready.append(recipient)
                continue
            recipient = self.campaigns.get_recipient(campaign_id, recipient.recipient_id)
            if recipient.status == QUEUED and recipient.dials == 0:
                ready.append(recipient)  # this message came again after a crash: maybe it never joined the line
        self._line_up(campaign, [(recipient, 1) for recipient in ready], now)
        return added

    def cancel(self, campaign_id: str) -> Campaign:
        """No call that has not reached ACS starts any more: the recipients waiting in line are cancelled now
        (the first DRAIN_AT_ONCE of them; the pump takes the rest), and dials already on their way see it."""
        campaign = self.campaigns.cancel_campaign(campaign_id, iso(self.clock()))
        self.dispatcher.campaign(campaign_id, fresh=True)
        self._drain(campaign, CANCELLED, DRAIN_AT_ONCE)
        return campaign

    def pump(self, *, now: datetime | None = None) -> int:
        """For a timer: start waiting recipients where lines are free, and finish those of campaigns that were
        cancelled or expired. Returns how many recipients it moved."""
        now = now or self.clock()
        moved = 0
        for campaign_id in self.dispatcher.lines.waiting_campaigns():
            try:
                campaign = self.dispatcher.campaign(campaign_id, fresh=True)
            except CampaignNotFoundError:
                self.dispatcher.lines.done_waiting(campaign_id)
                continue
            expires_at = campaign.config.get("expiresAt")
            if campaign.status == "cancelled":
                moved += self._drain(campaign, CANCELLED, DRAIN_PER_PUMP)
            elif expires_at and now >= datetime.fromisoformat(expires_at):
                moved += self._drain(campaign, EXPIRED, DRAIN_PER_PUMP)
            else:
                moved += self.dispatcher.kick(campaign)
        return moved

    def _drain(self, campaign: Campaign, status: str, limit: int) -> int:
        """Finish up to `limit` recipients waiting in the campaign's line with `status`."""
        lines = self.dispatcher.lines
        for drained in range(limit):
            head = lines.next_waiting(campaign.campaign_id)
            if head is None:
                lines.done_waiting(campaign.campaign_id)
                return drained
            self._finish(self.campaigns.get_recipient(campaign.campaign_id, head.recipient_id), status)
            lines.called(head)
        return limit

    def ready(self, campaign_id: str, recipient_id: str, dial: int, *, now: datetime | None = None) -> str:
        """A recipient's retry, or its calling window, came due: it joins the line. Returns what happened."""
        now = now or self.clock()
        campaign = self.dispatcher.campaign(campaign_id)
        recipient = self.campaigns.get_recipient(campaign_id, recipient_id)
        if recipient.status in FINAL_STATUSES or recipient.dials >= dial:
            return "stale"  # an outdated message
        return self._line_up(campaign, [(recipient, dial)], now)

    def _line_up(self, campaign: Campaign, ready: list[tuple[Recipient, int]], now: datetime) -> str:
        """Check each ready recipient may be called now; those who may join the line, and calls start."""
        waiting, what = [], "waiting"
        for recipient, dial in ready:
            what = self._may_call(campaign, recipient, dial, now)
            if what == "ready":
                waiting.append(Waiting(campaign.campaign_id, recipient.recipient_id, dial,
                                       _ready_at(recipient, dial, now)))
                what = "waiting"
        self.dispatcher.start_waiting(campaign, waiting)
        return what

    def _may_call(self, campaign: Campaign, recipient: Recipient, dial: int, now: datetime) -> str:
        """"ready", or why not (the recipient is finished, or scheduled for when its calling window or its own
        notBefore opens: a message comes back then, so nothing holds a line meanwhile)."""
        config = campaign.config
        if campaign.status == "cancelled":
            self._finish(recipient, CANCELLED)
            return "cancelled"
        if config.get("expiresAt") and now >= datetime.fromisoformat(config["expiresAt"]):
            self._finish(recipient, EXPIRED)
            return "expired"
        not_after = datetime.fromisoformat(recipient.not_after) if recipient.not_after else None
        if not_after and now >= not_after:
            self._finish(recipient, EXPIRED)
            return "expired"
        opens = max(now, datetime.fromisoformat(recipient.not_before)) if recipient.not_before else now
        window = config.get("callingWindow")
        if window and not config.get("emergency"):
            opens = next_allowed(parse_window(window), opens, recipient.time_zone or config.get("timeZone"))
        if not_after and opens >= not_after:
            self._finish(recipient, EXPIRED)  # no time it may be called is left before its notAfter
            return "expired"
        if opens > now:
            self._again(campaign.campaign_id, recipient.recipient_id, dial, (opens - now).total_seconds())
            return "outside-window" if recipient.not_before is None or opens > datetime.fromisoformat(
                recipient.not_before) else "not-before"
        return "ready"

    def dial(self, campaign_id: str, recipient_id: str, dial: int, grant: Grant, *, now: datetime | None = None) -> str:
        """Place one campaign call on the line it was given. Returns what happened (for logs and tests)."""
        now = now or self.clock()
        campaign = self.dispatcher.campaign(campaign_id)
        recipient = self.campaigns.get_recipient(campaign_id, recipient_id)
        leg_id = call_leg_id_for(idempotency_key(campaign_id, recipient_id, dial))
        # The leg exists only once the recipient was marked for this dial (`_start` comes before the leg).
        leg = self.legs.find(leg_id) if recipient.dials >= dial else None
        if leg is not None and leg.pacing and Grant.from_dict(leg.pacing) != grant:
            # A repeat of this dial that was given a line of its own (the recipient was claimed twice after a
            # crash): that line goes on; the call keeps the one it has.
            self._line_freed(grant, campaign_id)
            grant = Grant.from_dict(leg.pacing)
        placed = leg is not None and (leg.acs_call_connection_id is not None or leg.is_ended)
        if recipient.dials == dial and (recipient.status != CALLING or placed):
            return "stale"  # a repeat of a dial that placed its call: the line is that call's now
        if grant.holder != leg_id or recipient.status in FINAL_STATUSES or recipient.dials > dial:
            self._line_freed(grant, campaign_id)  # an outdated message: the line goes on to someone else
            return "stale"
        resuming = recipient.dials == dial  # an earlier try marked the call but stopped before ACS answered
        if not resuming:
            why_not = self._may_call(campaign, recipient, dial, now)
            if why_not == "ready" and self._suppressed(campaign, recipient, dial, now):
                why_not = SUPPRESSED
            if why_not != "ready":
                self._line_freed(grant, campaign_id)
                return why_not
            if not self.dispatcher.lines.still_holds(grant):
                # The grant waited so long that its lease lapsed and the line was taken: wait for another.
                self.dispatcher.start_waiting(campaign, [Waiting(campaign_id, recipient_id, dial, _iso(now))])
                return "lost-line"
            wait = grant.start_at - timestamp(self.clock)
            if wait >= SLEEP_UNDER_SECONDS:
                self._again(campaign_id, recipient_id, dial, wait, grant=grant)  # the line stays reserved
                return "paced-rate"
            if wait > 0:
                time.sleep(wait)  # a fraction of a second: cheaper than a queue round trip
        # Marked before the call is placed, so its result (which may come back within milliseconds, on another
        # instance) always finds the recipient calling. A cancel stops every call not marked yet (the store's
        # stop_calls); one marked before it goes ahead, like a call that reached ACS.
        try:
            attempt = self._start(campaign_id, recipient_id, dial, leg_id, recipient, unless_stopped=not resuming)
        except CallsStoppedError:
            self._line_freed(grant, campaign_id)
            self._finish(recipient, CANCELLED)
            return "cancelled"
        config = campaign.config
        try:
            # Filled in again (as at submission): the leg keeps the plan this recipient hears.
            plan = plan_for(config, recipient.time_zone or None, recipient.language, recipient.data).to_dict()
        except (TemplateError, UnknownLanguageError) as error:
            self._line_freed(grant, campaign_id)
            code = {"code": 0, "subCode": 0, "message": f"The plan could not be filled in: {error}"}
            return self._conclude(campaign, recipient_id, leg_id, FAILED, code, None)
        request = CreateCallRequest(
            targets=["4:" + recipient.phone_number],
            alternate_caller_id=grant.caller_id,
            callback_uri=config.get("callbackUri"),
            requested_call_events=config.get("requestedCallEvents") or [],
            idempotency_key=idempotency_key(campaign_id, recipient_id, dial),
            plan=None,
        )
        try:
            self.calls.place_call(
                request, plan=plan, campaign=(campaign_id, recipient_id, attempt), grant=grant
            )
        except ThrottledError:
            self._line_freed(grant, campaign_id)
            return self._conclude(campaign, recipient_id, leg_id, THROTTLED, None, None)
        except CallAutomationError as error:
            if error.is_transient:
                raise  # the host retries this message, which resumes this dial on the line it still holds
            self._line_freed(grant, campaign_id)
            code = {"code": error.status_code, "subCode": 0, "message": error.message}
            return self._conclude(campaign, recipient_id, leg_id, "failed", code, None)
        return "calling"

    def _line_freed(self, grant: Grant, campaign_id: str) -> None:
        self.dispatcher.line_freed(grant, campaign_id)

    def _suppressed(self, campaign: Campaign, recipient: Recipient, dial: int, now: datetime) -> bool:
        """Whether the number is on the suppression list (and this campaign does not bypass it): the recipient is
        then done with outcome `suppressed`, without a call. Checked at every dial, so a number added while the
        campaign runs is not called again."""
        if self.suppressions is None or campaign.config.get("suppressionBypassed"):
            return False
        if not self.suppressions.is_suppressed(recipient.phone_number):
            return False

        moved_on: list[float] = []  # when the contact's next call is due: at once (its next number) or a retry
        retry = campaign.config["retry"]

        def suppress(current: Recipient) -> None:
            moved_on.clear()
            if current.status not in (QUEUED, WAITING) or current.dials >= dial:
                return
            entry: dict[str, Any] = {"dial": dial, "outcome": SUPPRESSED, "at": iso(now)}
            if current.phone_numbers:
                entry.update(numberIndex=current.number_index, phoneNumber=current.phone_number)
            current.history = [*current.history, entry]
            if current.number_index + 1 < len(current.numbers):
                current.number_index += 1  # a contact's other numbers are still called: at once, not this one
                moved_on.append(0)
                return
            current.status, current.outcome, current.next_attempt_at = DONE, SUPPRESSED, None
            current.outcome_code = {"code": 0, "subCode": 0, "message": "The number is on the suppression list."}
            current.ended_at = iso(now)
            best = best_call(current.history) if current.phone_numbers else None
            if best is not None and best.get("outcome") != SUPPRESSED:
                # The round's calls on its other numbers decide, as when its last number is called.
                current.outcome, current.outcome_code = best.get("outcome"), best.get("outcomeCode")
                if _retried(current.outcome, current, retry, campaign):
                    current.status, current.number_index = WAITING, 0
                    current.next_attempt_at = iso(now + timedelta(seconds=retry["delaySeconds"]))
                    moved_on.append(retry["delaySeconds"])

        self.campaigns.update_recipient(campaign.campaign_id, recipient.recipient_id, suppress, recipient)
        if moved_on:
            self._again(campaign.campaign_id, recipient.recipient_id, dial + 1, moved_on[0])
        return True

    def record_result(
        self, campaign_id: str, recipient_id: str, call_leg_id: str, ended: CallEnded | None = None
    ) -> str:
        """A campaign call ended (its line was handed on when the app learned it): note the outcome, and retry
        busy / no-answer if allowed. `ended` comes with the message; without it (a message from before it was
        carried) the leg is read."""
        try:
            ended = ended or CallEnded.of(self.legs.get(call_leg_id))
            campaign = self.dispatcher.campaign(campaign_id)
            return self._conclude(campaign, recipient_id, call_leg_id, ended.outcome, ended.outcome_code, ended)
        except LookupError:
            return "unknown-leg"

    def give_up_dial(
        self, campaign_id: str, recipient_id: str, dial: int, reason: str, grant: Grant | None = None
    ) -> None:
        """The host is giving up on a dial message (its last attempt failed): the attempt ends as failed with the
        reason, so the recipient is neither stuck nor silently dropped, and the line it held goes on."""
        leg_id = call_leg_id_for(idempotency_key(campaign_id, recipient_id, dial))
        recipient = self.campaigns.get_recipient(campaign_id, recipient_id)
        if recipient.status == CALLING and recipient.call_leg_id == leg_id:
            if self.legs.find(leg_id) is not None:
                self.calls.fail_leg(leg_id, "MessagePoisoned", 0, reason)  # frees its line; its result concludes it
                return
            if grant is not None:
                self._line_freed(grant, campaign_id)
            code = {"code": 0, "subCode": 0, "message": reason}
            self._conclude(self.dispatcher.campaign(campaign_id), recipient_id, leg_id, FAILED, code, None)
        elif recipient.status in (QUEUED, WAITING) and recipient.dials < dial:
            if grant is not None:
                self._line_freed(grant, campaign_id)
            self._give_up(campaign_id, recipient_id, reason, dial=dial)

    def give_up_result(self, campaign_id: str, recipient_id: str, call_leg_id: str, reason: str) -> None:
        """The host is giving up on a result message: record the end as well as we can."""
        self._give_up(campaign_id, recipient_id, reason, call_leg_id=call_leg_id)

    def _give_up(self, campaign_id: str, recipient_id: str, reason: str, **about: Any) -> None:
        def give_up(current: Recipient) -> None:
            if current.status in FINAL_STATUSES:
                return
            current.status, current.outcome = DONE, FAILED
            current.outcome_code = {"code": 0, "subCode": 0, "message": reason}
            current.history = [*current.history, {"outcome": FAILED, "reason": reason, **about}]

        self.campaigns.update_recipient(campaign_id, recipient_id, give_up)

    def _start(
        self, campaign_id: str, recipient_id: str, dial: int, call_leg_id: str, read: Recipient, *, unless_stopped: bool
    ) -> int:
        """Mark the recipient (`read` just now) as being called by this dial; returns the attempt number.
        CallsStoppedError, with nothing marked, when `unless_stopped` and the campaign was cancelled."""

        def calling(current: Recipient) -> int:
            if current.dials >= dial:
                return current.attempts  # marked before (this dial is being resumed)
            current.status, current.dials, current.attempts = CALLING, dial, current.attempts + 1
            current.call_leg_id = call_leg_id
            current.first_call_at = current.first_call_at or iso(self.clock())
            current.last_call_at = iso(self.clock())
            current.next_attempt_at = None
            return current.attempts

        return self.campaigns.update_recipient(campaign_id, recipient_id, calling, read, unless_stopped=unless_stopped)

    def _conclude(
        self,
        campaign: Campaign,
        recipient_id: str,
        call_leg_id: str,
        outcome: str,
        code: dict[str, Any] | None,
        leg: CallEnded | None,
    ) -> str:
        """Record how one call ended, and decide whether the recipient is called again."""
        retry = campaign.config["retry"]
        next_dial: dict[str, float] = {}

        def note(current: Recipient) -> None:
            next_dial.clear()
            if current.call_leg_id == call_leg_id and current.status in (WAITING, DONE):
                # Recorded before: a repeated result message, or a late event correcting the outcome. A
                # correction to an outcome that is retried (a 'failed' that was really 'no-answer') retries.
                corrected = _correct(current, call_leg_id, outcome, code, leg, retry["retryOn"])
                if corrected and current.status == DONE and _retried(outcome, current, retry, campaign):
                    current.status, current.number_index = WAITING, 0
                    current.next_attempt_at = iso(self.clock() + timedelta(seconds=retry["delaySeconds"]))
                    next_dial.update(dial=current.dials + 1, delay=retry["delaySeconds"])
                return
            if current.status != CALLING or current.call_leg_id != call_leg_id:
                return
            entry: dict[str, Any] = {
                "attempt": current.attempts,
                "callLegId": call_leg_id,
                "outcome": outcome,
                "outcomeCode": code,
            }
            if current.phone_numbers:
                entry.update(numberIndex=current.number_index, phoneNumber=current.phone_number)
            if leg is not None:
                entry.update(
                    startedAt=leg.started_at, answeredAt=leg.answered_at, endedAt=leg.ended_at, digits=leg.digits
                )
                entry.update(_poll_facts(leg))
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
                current.choice, current.voicemail_left = leg.choice, leg.voicemail_left
            answered = leg is not None and leg.answered_at is not None
            if outcome not in NOT_REACHED and (answered or outcome != DECLINED):
                current.answered_number = current.phone_number  # (a rejected ringing call was not answered)
            numbers = len(current.numbers)
            if moves_on(outcome, current.number_index, numbers, answered=answered) and campaign.status != "cancelled":
                # Not reached on this number: the next one is called at once (a new dial, in line for a line).
                current.number_index += 1
                current.status, current.next_attempt_at = WAITING, iso(self.clock())
                next_dial.update(dial=current.dials + 1, delay=0)
                return
            best = best_call(current.history) if current.phone_numbers else None
            if best is not None:  # the contact's outcome is the best its round of numbers reached
                current.outcome, current.outcome_code = best.get("outcome"), best.get("outcomeCode")
            if _retried(current.outcome, current, retry, campaign):
                current.status, current.number_index = WAITING, 0  # the retry starts again from the first number
                current.next_attempt_at = iso(self.clock() + timedelta(seconds=retry["delaySeconds"]))
                next_dial.update(dial=current.dials + 1, delay=retry["delaySeconds"])
            else:
                current.status = DONE

        self.campaigns.update_recipient(campaign.campaign_id, recipient_id, note)
        if next_dial:
            self._again(campaign.campaign_id, recipient_id, int(next_dial["dial"]), next_dial["delay"])
            if not next_dial["delay"]:
                return "next-number"
            return "retry-scheduled" if outcome != THROTTLED else "throttled"
        return outcome

    def _again(
        self, campaign_id: str, recipient_id: str, dial: int, seconds: float, *, grant: Grant | None = None
    ) -> None:
        delay = min(MAX_QUEUE_DELAY_SECONDS, max(1, math.ceil(seconds))) if seconds > 0 else None
        self.outbox.send([dial_message(campaign_id, recipient_id, dial, grant)], delay_seconds=delay)

    def _finish(self, recipient: Recipient, status: str) -> None:
        def finish(current: Recipient) -> None:
            if current.status in (QUEUED, WAITING):
                current.status = status

        self.campaigns.update_recipient(recipient.campaign_id, recipient.recipient_id, finish)


def _poll_facts(leg: CallEnded) -> dict[str, Any]:
    """A call's poll answer and voicemail, for its history entry: only when there is one (most calls have none)."""
    facts: dict[str, Any] = {}
    if leg.choice:
        facts["choice"] = dict(leg.choice)
    if leg.voicemail_left:
        facts["voicemailLeft"] = True
    return facts


def _retried(outcome: str | None, recipient: Recipient, retry: dict[str, Any], campaign: Campaign) -> bool:
    """Whether a call (or a round of the contact's numbers) that ended with `outcome` is followed by another
    attempt: each of its numbers gets up to maxAttempts calls."""
    allowed = retry["maxAttempts"] * len(recipient.numbers)
    return outcome in retry["retryOn"] and recipient.attempts < allowed and campaign.status != "cancelled"


def _correct(
    recipient: Recipient,
    call_leg_id: str,
    outcome: str,
    code: dict[str, Any] | None,
    leg: CallEnded | None,
    retry_on: list[str],
) -> bool:
    """A late ACS event changed how the recipient's last call ended (e.g. a delayed CallConnected shows a
    'failed' call was answered): fix the record, and call off a retry the new outcome does not warrant."""
    entry = next((e for e in reversed(recipient.history) if e.get("callLegId") == call_leg_id), None)
    if entry is None or entry.get("outcome") in (outcome, THROTTLED):
        return False
    corrected = {**entry, "outcome": outcome, "outcomeCode": code, "correctedFrom": entry.get("outcome")}
    if leg is not None:
        corrected.update(answeredAt=leg.answered_at, endedAt=leg.ended_at, digits=leg.digits, **_poll_facts(leg))
        recipient.digits, recipient.answered_at, recipient.ended_at = leg.digits, leg.answered_at, leg.ended_at
        recipient.choice, recipient.voicemail_left = leg.choice, leg.voicemail_left
        recipient.duration_seconds = _seconds_between(leg.answered_at, leg.ended_at)
    recipient.history = [corrected if e is entry else e for e in recipient.history]
    recipient.outcome, recipient.outcome_code = outcome, code
    dialled = entry.get("phoneNumber") or recipient.numbers[0]
    recipient.answered_number = dialled if outcome not in NOT_REACHED else None
    # Waiting for its next number (not for a retry): only an answer calls that call off.
    moving_on = bool(recipient.phone_numbers) and int(entry.get("numberIndex") or 0) < recipient.number_index
    if recipient.status == WAITING and (outcome not in NOT_REACHED if moving_on else outcome not in retry_on):
        recipient.status, recipient.next_attempt_at = DONE, None  # the queued retry finds it done and stops
    return True


def _chunks(recipients: list[RecipientEntry]) -> Iterable[list[RecipientEntry]]:
    """Recipients in messages of at most RECIPIENTS_PER_MESSAGE, and MESSAGE_BYTES of JSON."""
    chunk: list[RecipientEntry] = []
    size = 0
    for entry in recipients:
        entry_size = len(json.dumps(entry.to_dict())) + 2
        if chunk and (len(chunk) >= RECIPIENTS_PER_MESSAGE or size + entry_size > MESSAGE_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk


def _jitter(bounds: tuple[float, float]) -> float:
    # Spreads waiters out so they do not all come back at once; not a secret.
    return random.uniform(*bounds)  # noqa: S311


def _ready_at(recipient: Recipient, dial: int, now: datetime) -> str:
    """Where the recipient stands in the line: a first call by when it was submitted (so a repeated admission
    takes the same place), a later one by when it became due."""
    return (recipient.submitted_at or _iso(now)) if dial == 1 else _iso(now)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
    except ValueError:
        return None

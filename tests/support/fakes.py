"""In-memory stand-ins for the app's stores, for fast unit tests of the services (no Azurite, no emulator).

Each keeps the answers of the store it stands in for (errors included), but none of its storage details.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import SimpleNamespace
from typing import TypeVar

from shared.calls.legs import CallLeg
from shared.calls.store import CallLegNotFoundError
from shared.campaigns import counters
from shared.campaigns.store import (
    CallsStoppedError,
    Campaign,
    CampaignExistsError,
    CampaignNotFoundError,
    Recipient,
    RecipientNotFoundError,
    bucket_of,
    continuation_token,
    read_continuation,
)
from shared.clock import Clock, iso, system_clock
from shared.lines import Grant, Waiting, Wanted

T = TypeVar("T")


class CampaignTables:
    """Campaigns and recipients in memory, with CampaignStore's answers: the same counts kept with each write
    (so a summary reads them, not the rows) and the same pages in the same order."""

    def __init__(self) -> None:
        self.campaigns: dict[str, Campaign] = {}
        self.recipients: dict[str, list[Recipient]] = {}
        self.counts: dict[str, counters.Counts] = {}  # campaign -> its counts (the store splits them by partition)
        self.counts_reads = 0

    def create_campaign(self, campaign: Campaign) -> Campaign:
        if campaign.campaign_id in self.campaigns:
            raise CampaignExistsError(campaign.campaign_id)
        self.campaigns[campaign.campaign_id] = campaign
        return campaign

    def get_campaign(self, campaign_id: str) -> Campaign:
        if campaign_id not in self.campaigns:
            raise CampaignNotFoundError(campaign_id)
        return copy.deepcopy(self.campaigns[campaign_id])

    def cancel_campaign(self, campaign_id: str, now: str) -> Campaign:
        campaign = self.get_campaign(campaign_id)
        campaign.status, campaign.cancelled_at = "cancelled", now
        self.campaigns[campaign_id] = campaign
        return campaign

    def add_recipient(self, recipient: Recipient) -> bool:
        listed = self.recipients.setdefault(recipient.campaign_id, [])
        if any(r.recipient_id == recipient.recipient_id for r in listed):
            return False
        listed.append(copy.deepcopy(recipient))
        self.counts.setdefault(recipient.campaign_id, counters.Counts()).add(counters.contribution(recipient))
        return True

    def add_recipients(self, recipients: list[Recipient]) -> list[bool]:
        return [self.add_recipient(recipient) for recipient in recipients]

    def get_recipient(self, campaign_id: str, recipient_id: str) -> Recipient:
        for recipient in self.recipients.get(campaign_id, []):
            if recipient.recipient_id == recipient_id:
                return copy.deepcopy(recipient)
        raise RecipientNotFoundError(f"{campaign_id}/{recipient_id}")

    def update_recipient(
        self,
        campaign_id: str,
        recipient_id: str,
        change: Callable[[Recipient], T],
        current: Recipient | None = None,
        *,
        unless_stopped: bool = False,
    ) -> T:
        if unless_stopped and self.campaigns[campaign_id].status == "cancelled":
            raise CallsStoppedError(campaign_id)  # the store's stop_calls is part of its cancel_campaign
        recipient = self.get_recipient(campaign_id, recipient_id)  # `current` may be stale here too: read afresh
        before = counters.contribution(recipient)
        result = change(recipient)
        listed = self.recipients[campaign_id]
        listed[[r.recipient_id for r in listed].index(recipient_id)] = recipient
        self.counts[campaign_id].add(before, -1).add(counters.contribution(recipient))
        return result

    def read_counts(self, campaign_id: str) -> counters.Counts:
        self.counts_reads += 1
        return copy.deepcopy(self.counts.get(campaign_id, counters.Counts()))

    def recipients_page(
        self, campaign_id: str, page_size: int, continuation: str | None = None
    ) -> tuple[list[Recipient], str | None]:
        bucket, after = read_continuation(continuation) if continuation else (0, "")
        def place(r: Recipient) -> tuple[int, str]:
            return bucket_of(r.recipient_id), r.recipient_id  # the store's order: partition, then number

        rest = sorted((r for r in self.recipients.get(campaign_id, []) if place(r) > (bucket, after)), key=place)
        page = [copy.deepcopy(r) for r in rest[:page_size]]
        if len(rest) <= page_size:
            return page, None
        last = page[-1]
        return page, continuation_token(bucket_of(last.recipient_id), last.recipient_id)

    def list_recipients(self, campaign_id: str) -> list[Recipient]:
        return [copy.deepcopy(r) for r in self.recipients.get(campaign_id, [])]


class CallLegs:
    """Call legs and the live-leg index in memory, with CallLegStore's answers."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self.legs: dict[str, CallLeg] = {}
        self.watched: dict[str, float] = {}  # live leg id -> when to look at it next
        self._clock = clock

    def now(self) -> str:
        return iso(self._clock())

    def get(self, call_leg_id: str) -> CallLeg:
        if call_leg_id not in self.legs:
            raise CallLegNotFoundError(call_leg_id)
        return copy.deepcopy(self.legs[call_leg_id])

    def find(self, call_leg_id: str) -> CallLeg | None:
        return copy.deepcopy(self.legs.get(call_leg_id))

    def watch(self, call_leg_id: str, check_after: float) -> None:
        self.watched[call_leg_id] = check_after

    def unwatch(self, call_leg_id: str) -> None:
        self.watched.pop(call_leg_id, None)

    def due_for_check(self, now: float, limit: int = 1000) -> list[str]:
        due = [leg for leg, check_after in self.watched.items() if check_after <= now]
        return sorted(due, key=self.watched.__getitem__)[:limit]


class Lines:
    """Lines, seats and waiting lines in memory, with shared.lines.Lines' answers (no leases: nothing lapses)."""

    def __init__(self, lines_per_number: int = 2) -> None:
        self.lines_per_number = lines_per_number
        self.numbers: dict[str, dict[int, str]] = {}  # caller id -> line -> holder
        self.seats: dict[str, dict[int, str]] = {}  # campaign -> seat -> holder ("" when free)
        self.waiting: dict[str, dict[str, Waiting]] = {}  # campaign -> row key -> waiting recipient
        self.listed: dict[str, float] = {}  # campaigns with recipients waiting
        self.claimed: set[str] = set()  # row keys taken from a line whose dial is not sent yet
        self.released: list[Grant] = []
        self.handed_over: list[tuple[Grant, Grant]] = []
        self.checks: dict[str, float | None] = {}  # holder -> when its line says to look at it next (renew)
        self.due: list[tuple[str, tuple[str, str]]] = []  # (holder, line) a test declares due for a check
        self.settled: list[tuple[str, tuple[str, str]]] = []

    def open_campaign(self, campaign_id: str, cap: int) -> None:
        seats = self.seats.setdefault(campaign_id, {})
        for seat in range(cap):
            seats.setdefault(seat, "")

    def acquire(self, wanted: Wanted) -> Grant | None:
        seat = None
        if wanted.needs_seat(self.lines_per_number):
            seats = self.seats.get(wanted.campaign_id, {})
            seat = next((s for s, holder in sorted(seats.items()) if not holder), None)
            if seat is None:
                return None
        cap = min(self.lines_per_number, wanted.per_number or self.lines_per_number)
        for caller_id in wanted.caller_ids:
            taken = self.numbers.setdefault(caller_id, {})
            line = next((i for i in range(cap) if not taken.get(i)), None)
            if line is None:
                continue
            taken[line] = wanted.holder
            seat_key = None
            if seat is not None:
                self.seats[wanted.campaign_id][seat] = wanted.holder
                seat_key = (f"campaign-{wanted.campaign_id}", f"seat-{seat:05d}")
            return Grant(wanted.holder, caller_id, (f"number-{caller_id}", f"line-{line:03d}"), seat_key)
        return None

    def hand_over(self, grant: Grant, wanted: Wanted) -> Grant | None:
        if not self.holds(grant):
            return None
        self._set(grant, wanted.holder)
        given = Grant(wanted.holder, grant.caller_id, grant.line, grant.seat)
        self.handed_over.append((grant, given))
        return given

    def release(self, grant: Grant) -> int:
        if not self.holds(grant):
            return 0
        self._set(grant, "")
        self.released.append(grant)
        return len(grant.rows())

    def renew(self, grant: Grant, check_after: float | None = None) -> bool:
        if self.holds(grant):
            self.checks[grant.holder] = check_after
        return self.holds(grant)

    def due_for_check(self, limit: int = 1000) -> list[tuple[str, tuple[str, str]]]:
        return self.due[:limit]  # what a test says is due: no clock here

    def settle(self, holder: str, line: tuple[str, str]) -> None:
        self.settled.append((holder, line))

    def still_holds(self, grant: Grant) -> bool:
        return self.holds(grant)  # no lease lapses here

    def holds(self, grant: Grant) -> bool:
        line = int(grant.line[1].removeprefix("line-"))
        return self.numbers.get(grant.caller_id, {}).get(line) == grant.holder

    def wait(self, entries: list[Waiting]) -> None:
        for entry in entries:
            self.waiting.setdefault(entry.campaign_id, {})[entry.row_key] = entry
            self.listed.setdefault(entry.campaign_id, len(self.listed))

    def next_waiting(self, campaign_id: str) -> Waiting | None:
        line = self.waiting.get(campaign_id, {})
        free = [key for key in line if key not in self.claimed]
        if not free:
            return None
        self.claimed.add(min(free))
        return line[min(free)]

    def called(self, entry: Waiting) -> None:
        self.waiting.get(entry.campaign_id, {}).pop(entry.row_key, None)
        self.claimed.discard(entry.row_key)

    def unclaim(self, entry: Waiting) -> None:
        self.claimed.discard(entry.row_key)

    def waiting_campaigns(self) -> dict[str, float]:
        return dict(self.listed)

    def done_waiting(self, campaign_id: str) -> None:
        if not self.waiting.get(campaign_id):
            self.listed.pop(campaign_id, None)

    def waiting_count(self, campaign_id: str, limit: int = 1000) -> int:
        return min(limit, len(self.waiting.get(campaign_id, {})))

    def busy(self, caller_ids=(), campaign_id: str | None = None) -> dict[str, int]:
        counts = {c: sum(1 for h in self.numbers.get(c, {}).values() if h) for c in caller_ids}
        if campaign_id is not None:
            counts["campaign"] = sum(1 for h in self.seats.get(campaign_id, {}).values() if h)
        return counts

    def _set(self, grant: Grant, holder: str) -> None:
        self.numbers[grant.caller_id][int(grant.line[1].removeprefix("line-"))] = holder
        if grant.seat is not None:
            campaign_id = grant.seat[0].removeprefix("campaign-")
            self.seats[campaign_id][int(grant.seat[1].removeprefix("seat-"))] = holder


class Queue:
    """A queue client that keeps what was sent (with its delay)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.delays: list[int | None] = []
        self.deleted: list[str] = []

    def create_queue(self) -> None:
        pass

    def send_message(self, text: str, visibility_timeout: int | None = None) -> SimpleNamespace:
        self.messages.append(text)
        self.delays.append(visibility_timeout)
        return SimpleNamespace(id=str(len(self.messages) - 1), pop_receipt="receipt")

    def delete_message(self, message_id: str, pop_receipt: str) -> None:
        self.deleted.append(self.messages[int(message_id)])

    @property
    def pending(self) -> list[str]:
        """What was sent and not withdrawn."""
        return [m for m in self.messages if m not in self.deleted]


def campaign_service(
    tables: CampaignTables,
    *,
    legs: CallLegs | None = None,
    lines: Lines | None = None,
    queue: Queue | None = None,
    clock: Clock = system_clock,
):
    """A CampaignService on the fakes above, with the real Dispatcher (its logic is what the tests look at)."""
    from shared.calls.context import call_leg_id_for
    from shared.campaigns.dialing import Dispatcher, idempotency_key
    from shared.campaigns.service import CampaignService
    from shared.storage.outbox import Outbox

    outbox = Outbox(lambda _: queue if queue is not None else Queue())
    dispatcher = Dispatcher(
        lines=lines or Lines(),
        outbox=outbox,
        read_campaign=tables.get_campaign,
        holder_for=lambda campaign_id, phone, dial: call_leg_id_for(idempotency_key(campaign_id, phone, dial)),
    )
    return CampaignService(
        campaigns=tables, calls=None, legs=legs or CallLegs(), dispatcher=dispatcher, outbox=outbox, clock=clock
    )

"""Who is called next: ready recipients wait in their campaign's line, and every line that frees goes on at once.

- A recipient becomes ready (admitted, its retry is due, its calling window opened): it joins the campaign's
  line, and as many of the line as free lines allow are started (`start_waiting`).
- A call ends (the app applied CallDisconnected or CreateCallFailed, or gave the call up): its line, seat and
  rate go straight to the oldest recipient of the same campaign (`line_freed` → `Lines.hand_over`), so the line
  is never idle in between and the campaign's count of live calls does not change. When nobody of that campaign
  waits, the line is given up and the campaigns waiting longest that use the number get a chance at it.
- Either way a `campaign-dial` message carrying the grant is sent, and the dial places the call. A line handed
  on by an ended call is dialled in this process at once (`dial_here`), with the message held back as the
  fallback, so the line is not idle for the queue's polling interval.
- A pump (CampaignService.pump, on a timer) starts whatever the above missed: lines freed by a call without a
  campaign, a cap that was raised, races between a recipient joining the line and a line freeing elsewhere.

Nothing waits by polling for a line: a recipient without one sits in the line until a line is handed to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.campaigns.messages.campaign_dial import CampaignDialMessage
from shared.campaigns.store import Campaign, CampaignNotFoundError
from shared.lines import Grant, Lines, Waiting, Wanted
from shared.storage.clients import CAMPAIGN_DIAL_QUEUE
from shared.storage.outbox import Outbox, OutboxMessage
from shared.telemetry import PACING_WAITS, count

logger = logging.getLogger(__name__)

CAMPAIGN_CACHE_SECONDS = 2.0
KICK_LIMIT = 100  # calls one kick starts at most (an admission message holds 100 recipients)
SLEEP_UNDER_SECONDS = 1.0  # a start this close is waited for in the dial; a later one is a delayed message
HELD_DIAL_SECONDS = 30  # a handed-over dial's message waits this long before it does the dial itself


def idempotency_key(campaign_id: str, recipient_id: str, dial: int) -> str:
    """Per recipient (not per number): two recipients sharing a number are two calls, with two call leg ids."""
    return f"campaign:{campaign_id}:{recipient_id}:{dial}"


def dial_message(campaign_id: str, recipient_id: str, dial: int, grant: Grant | None = None) -> OutboxMessage:
    """`campaign-dial`: with a grant, place the call on its line; without, the recipient is ready (a retry or a
    calling window came due) and joins the line."""
    return CAMPAIGN_DIAL_QUEUE, CampaignDialMessage(campaign_id, recipient_id, dial, grant).to_message()


def wanted_for(campaign: Campaign, holder: str, prefer: str | None = None) -> Wanted:
    pacing = campaign.config["pacing"]
    return Wanted(
        holder=holder,
        caller_ids=list(campaign.config["callerIds"]),
        prefer=prefer,
        campaign_id=campaign.campaign_id,
        campaign_cap=pacing["maxConcurrentCalls"],
        per_number=pacing["maxConcurrentCallsPerCallerId"],
        calls_per_second=pacing["callsPerSecond"],
    )


@dataclass
class Dispatcher:
    lines: Lines
    outbox: Outbox
    read_campaign: Callable[[str], Campaign]
    holder_for: Callable[[str, str, int], str]  # (campaign, recipient id, dial) -> the call leg id that call will have
    # CampaignService.dial (see shared/services.py). Without it, every dial goes through the queue.
    dial_here: Callable[[str, str, int, Grant], object] | None = None
    _dialling = threading.local()  # per thread: a dial that frees a line hands it on by queue, not recursively
    _cache: dict[str, tuple[float, Campaign]] = field(default_factory=dict, repr=False)
    _opened: set[str] = field(default_factory=set, repr=False)

    def campaign(self, campaign_id: str, *, fresh: bool = False) -> Campaign:
        """The campaign, read at most every CAMPAIGN_CACHE_SECONDS per instance unless `fresh`."""
        now = time.monotonic()
        cached = self._cache.get(campaign_id)
        if fresh or cached is None or now - cached[0] > CAMPAIGN_CACHE_SECONDS:
            cached = (now, self.read_campaign(campaign_id))
            self._cache[campaign_id] = cached
        return cached[1]

    def open(self, campaign: Campaign) -> None:
        """Make sure the campaign has its seats (created with it; campaigns older than seats get them here)."""
        if campaign.campaign_id not in self._opened:
            self.lines.open_campaign(campaign.campaign_id, campaign.config["pacing"]["maxConcurrentCalls"])
            self._opened.add(campaign.campaign_id)

    # -- recipients become ready -----------------------------------------------------------------------------

    def start_waiting(self, campaign: Campaign, ready: list[Waiting]) -> int:
        """Put ready recipients in the line (in this order), then start as many as free lines allow."""
        if ready:
            self.lines.wait(ready)
        return self.kick(campaign)

    def kick(self, campaign: Campaign, *, prefer: str | None = None, limit: int = KICK_LIMIT) -> int:
        """Start waiting recipients of the campaign while lines are free; how many were started."""
        if campaign.status != "active":
            return 0
        self.open(campaign)
        started = 0
        while started < limit:
            head = self.lines.next_waiting(campaign.campaign_id)
            if head is None:
                self.lines.done_waiting(campaign.campaign_id)
                break
            grant = self.lines.acquire(wanted_for(campaign, self._holder(head), prefer))
            if grant is None:
                self.lines.unclaim(head)  # no line free: it waits at its place for one to free
                count(PACING_WAITS, kind="campaign")
                break
            self._send_dial(head, grant)
            started += 1
        return started

    def _send_dial(self, head: Waiting, grant: Grant) -> None:
        # Sent before the recipient leaves the line: a crash in between sends it again later, and the dial
        # recognises the repeat (the same call leg).
        self.outbox.send([dial_message(head.campaign_id, head.recipient_id, head.dial, grant)])
        self.lines.called(head)

    # -- lines free ----------------------------------------------------------------------------------------------

    def line_freed(self, grant: Grant, campaign_id: str | None) -> None:
        """A call that held `grant` is over: hand its line on (see the module docstring)."""
        if campaign_id is not None:
            try:
                campaign = self.campaign(campaign_id)
            except CampaignNotFoundError:
                campaign = None
            if campaign is not None and campaign.status == "active":
                head = self.lines.next_waiting(campaign_id)
                if head is not None:
                    given = self.lines.hand_over(grant, wanted_for(campaign, self._holder(head)))
                    if given is not None:
                        self._dial_handed_over(head, given)
                        return
                    self.lines.unclaim(head)
        self.lines.release(grant)
        self._offer(grant.caller_id, except_campaign=campaign_id)

    def _dial_handed_over(self, head: Waiting, grant: Grant) -> None:
        """Place the call on the line it was handed, in this process: through the queue the line would stay idle
        until the next poll of `campaign-dial` (up to maxPollingInterval). The message goes first all the same,
        held back for HELD_DIAL_SECONDS, so a crash before the call is placed delays the recipient, never loses
        it; it is withdrawn once the dial is done (were it not, the dial it makes sees the call placed)."""
        if self.dial_here is None or getattr(self._dialling, "active", False):
            self._send_dial(head, grant)
            return
        held = self.outbox.send_held(dial_message(head.campaign_id, head.recipient_id, head.dial, grant),
                                     HELD_DIAL_SECONDS)
        self.lines.called(head)
        self._dialling.active = True
        try:
            self.dial_here(head.campaign_id, head.recipient_id, head.dial, grant)
        except Exception as error:  # whatever went wrong, the held message does the dial again later
            logger.warning("Dial of campaign %s failed here, its message retries it: %r", head.campaign_id, error)
            return
        finally:
            self._dialling.active = False
        self.outbox.withdraw(held)

    def _offer(self, caller_id: str, except_campaign: str | None) -> None:
        """A line of `caller_id` is free: start the campaign that has waited longest among those using it."""
        waiting = self.lines.waiting_campaigns()
        for campaign_id, _ in sorted(waiting.items(), key=lambda item: item[1]):
            if campaign_id == except_campaign:
                continue
            try:
                campaign = self.campaign(campaign_id)
            except CampaignNotFoundError:
                self.lines.done_waiting(campaign_id)
                continue
            if caller_id in campaign.config["callerIds"] and self.kick(campaign, prefer=caller_id, limit=1):
                return

    def _holder(self, head: Waiting) -> str:
        return self.holder_for(head.campaign_id, head.recipient_id, head.dial)

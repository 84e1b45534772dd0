"""Helpers for campaign tests: scripted recipients on the emulator, waiting for a campaign, reading its calls."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.campaigns.store import FINAL_STATUSES, CampaignStore, Recipient

PLAN = {
    "prompt": {"text": "Your appointment is tomorrow. Press 1 to confirm or 2 to cancel."},
    "collect": {"confirmKey": "1", "declineKey": "2", "timeoutSeconds": 2, "maxPrompts": 1},
}
PRESS_ONE = {"answer": "answer", "presses": [{"tones": "1", "afterMs": 400}]}
PRESS_TWO = {"answer": "answer", "presses": [{"tones": "2", "afterMs": 400}]}

# behaviour → (emulator script, expected outcome, expected number of calls)
BEHAVIOURS = {
    "confirms": (PRESS_ONE, "confirmed", 1),
    "declines": (PRESS_TWO, "declined", 1),
    "busy-then-answers": ({"attempts": [{"answer": "busy"}, PRESS_ONE]}, "confirmed", 2),
    "never-answers": ({"answer": "noAnswer"}, "no-answer", 3),
    "unreachable": ({"answer": "unreachable"}, "unreachable", 1),
    "stays-silent": ({"answer": "answer"}, "answered-without-input", 1),
}
MAX_CONCURRENT, PER_CALLER_ID = 15, 6
RETRY = {"maxAttempts": 3, "delaySeconds": 2, "retryOn": ["busy", "no-answer"]}


@dataclass(frozen=True)
class ScriptedRecipient:
    phone_number: str
    behaviour: str

    @property
    def expected_outcome(self) -> str:
        return BEHAVIOURS[self.behaviour][1]

    @property
    def expected_calls(self) -> int:
        return BEHAVIOURS[self.behaviour][2]


def scripted_recipients(emulator, count: int) -> list[ScriptedRecipient]:
    """`count` fresh numbers, behaviours in turn, each scripted on the emulator."""
    prefix = f"+1312{uuid.uuid4().int % 1000:03d}"
    names = list(BEHAVIOURS)
    recipients = []
    for index in range(count):
        recipient = ScriptedRecipient(f"{prefix}{index:04d}", names[index % len(names)])
        answer = emulator.control("PUT", f"/callees/{recipient.phone_number}", json=BEHAVIOURS[recipient.behaviour][0])
        assert answer.status_code == 200, answer.text
        recipients.append(recipient)
    return recipients


def campaign_body(recipients: Iterable[ScriptedRecipient], caller_ids: list[str], **settings) -> dict:
    return {
        "name": "e2e reminders",
        "plan": PLAN,
        "callerIds": caller_ids,
        "pacing": {
            "maxConcurrentCalls": MAX_CONCURRENT,
            "maxConcurrentCallsPerCallerId": PER_CALLER_ID,
            "callsPerSecond": 30,
        },
        "retry": RETRY,
        "recipients": [r.phone_number for r in recipients],
        **settings,
    }


def wait_until_done(store: CampaignStore, campaign_id: str, total: int, timeout: float) -> list[Recipient]:
    deadline = time.monotonic() + timeout
    while True:
        recipients = store.list_recipients(campaign_id)
        if len(recipients) == total and all(r.status in FINAL_STATUSES for r in recipients):
            return recipients
        if time.monotonic() > deadline:
            pending = [(r.phone_number, r.status, r.attempts) for r in recipients if r.status not in FINAL_STATUSES]
            # Stop it, so the calls of a campaign that failed its test do not load the stack for the next tests.
            store.cancel_campaign(campaign_id, datetime.now(UTC).isoformat())
            raise AssertionError(f"{len(recipients)}/{total} admitted, still pending: {pending[:10]}")
        time.sleep(0.5)


def emulator_calls(emulator, numbers: set[str]) -> list[dict]:
    history = emulator.control("GET", "/calls/history").json()["value"]
    return [c for c in history if c["targets"] and c["targets"][0][2:] in numbers]


def peak_overlap(calls: list[dict]) -> int:
    """The most calls live at one instant, from create to end as the emulator saw them."""
    points = []
    for call in calls:
        start = datetime.fromisoformat(call["createdAt"])
        end = datetime.fromisoformat(call["endedAt"]) if call["endedAt"] else datetime.max.replace(tzinfo=start.tzinfo)
        points += [(start, 1), (end, -1)]
    live = peak = 0
    for _, change in sorted(points, key=lambda p: (p[0], p[1])):  # ends sort before starts at the same instant
        live += change
        peak = max(peak, live)
    return peak

"""Poison: a queue message that can never succeed ends in `<queue>-poison`, with the reason logged and recorded
on what it concerned (a call leg, a campaign recipient). Nothing is silently dropped.

Two ways in: a message that is invalid is moved at once (`move_to_poison`); a message that keeps failing is moved
by the host after its last attempt (`maxDequeueCount`, `is_last_attempt`), and the queue function records the end
on what it concerned before that last failure goes back to the host (see shared/queues/handler.py).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import azure.functions as func
from azure.core.exceptions import ResourceExistsError

from shared.calls.legs import TimelineEntry
from shared.calls.store import CallLegStore
from shared.logs import mask_phone_numbers
from shared.settings import Settings
from shared.storage.clients import queue_client

logger = logging.getLogger(__name__)


def move_to_poison(
    settings: Settings,
    queue_name: str,
    message_id: str,
    text: str,
    reason: str,
    *,
    store: CallLegStore | None = None,
    call_leg_id: str | None = None,
    where: str | None = None,
) -> None:
    """Move a message that can never be processed to `<queue>-poison`, with the reason logged (phone numbers
    masked, and `where` it was raised) and recorded on the call leg it concerned, if any."""
    poison_queue = f"{queue_name}-poison"
    raised = f" (raised at {where})" if where else ""
    logger.error("Message %s moved to %s: %s%s", message_id, poison_queue, mask_phone_numbers(reason), raised)
    queue = queue_client(settings, poison_queue)
    try:
        queue.create_queue()
    except ResourceExistsError:
        pass
    queue.send_message(text)
    if store is not None and call_leg_id:
        record_on_leg(store, call_leg_id, queue_name, message_id)(reason)


def record_on_leg(store: CallLegStore, call_leg_id: str, queue_name: str, message_id: str) -> Callable[[str], None]:
    """Puts a poisoned message's reason on the timeline of the leg it was about (if there is such a leg)."""

    def record(reason: str) -> None:
        if store.find(call_leg_id) is None:
            return
        details = {"queue": queue_name, "messageId": message_id, "reason": reason}
        entry = TimelineEntry(store.now(), "messagePoisoned", details, key=f"poison-{message_id}")
        store.append_timeline(call_leg_id, [entry])

    return record


HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"  # the app root, two above shared/queues/
# An app setting overrides host.json this way in Azure (and under func start).
MAX_DEQUEUE_SETTING = "AzureFunctionsJobHost__extensions__queues__maxDequeueCount"
DEFAULT_MAX_DEQUEUE_COUNT = 5


@lru_cache(maxsize=1)
def max_dequeue_count() -> int:
    """How many times the host tries a queue message before moving it to poison, as the host reads it."""
    configured = os.environ.get(MAX_DEQUEUE_SETTING, "").strip()
    if configured.isdigit():
        return int(configured)
    try:
        queues = json.loads(HOST_JSON.read_text()).get("extensions", {}).get("queues", {})
    except (OSError, ValueError):
        return DEFAULT_MAX_DEQUEUE_COUNT
    value = {k.lower(): v for k, v in queues.items()}.get("maxdequeuecount")
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_DEQUEUE_COUNT


def is_last_attempt(msg: func.QueueMessage) -> bool:
    return (msg.dequeue_count or 1) >= max_dequeue_count()



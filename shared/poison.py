"""Moving a queue message that can never succeed to `<queue>-poison`, with the reason logged and, where the
message belongs to a call leg, recorded on its timeline. Nothing is silently dropped."""

from __future__ import annotations

import logging

from azure.core.exceptions import ResourceExistsError

from .call_leg_store import CallLegStore, utc_now
from .call_legs import TimelineEntry
from .settings import Settings
from .storage import queue_client

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
) -> None:
    poison_queue = f"{queue_name}-poison"
    logger.error("Message %s moved to %s: %s", message_id, poison_queue, reason)
    queue = queue_client(settings, poison_queue)
    try:
        queue.create_queue()
    except ResourceExistsError:
        pass
    queue.send_message(text)
    if store is not None and call_leg_id and store.find(call_leg_id) is not None:
        entry = TimelineEntry(
            utc_now(),
            "messagePoisoned",
            {"queue": queue_name, "messageId": message_id, "reason": reason},
            key=f"poison-{message_id}",
        )
        store.append_timeline(call_leg_id, [entry])

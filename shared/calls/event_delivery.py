"""Delivering events to the caller's callbackUri through a queue, so a slow subscriber never delays ACS.

Each queue message carries one CloudEvent and its attempt number. A failed attempt schedules the next one as a
new, delayed message (backoff doubles), never a sleeping function; after the last attempt the failure is
recorded on the call leg.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import requests

from shared.calls.legs import TimelineEntry
from shared.calls.messages.event_delivery import EventDeliveryMessage, InvalidDeliveryMessageError
from shared.calls.store import CallLegStore
from shared.calls.subscriber_events import sign_webhook
from shared.http_environment import new_session
from shared.storage.clients import EVENT_DELIVERY_QUEUE
from shared.storage.outbox import Outbox, OutboxMessage
from shared.telemetry import EVENT_DELIVERIES_FAILED, count

logger = logging.getLogger(__name__)

DELIVERY_TIMEOUT_SECONDS = 10


__all__ = ["DELIVERY_TIMEOUT_SECONDS", "Delivery", "EventDeliverer", "InvalidDeliveryMessageError"]

Delivery = EventDeliveryMessage  # one attempt at delivering one event: the queue message itself


class EventDeliverer:
    def __init__(
        self,
        outbox: Outbox,
        store: CallLegStore,
        *,
        secret: str | None,
        max_attempts: int,
        backoff_seconds: float,
        session: requests.Session | None = None,
    ) -> None:
        self._outbox = outbox
        self._store = store
        self._secret = secret
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._session = session or new_session()

    @staticmethod
    def outbox_messages(call_leg_id: str, url: str | None, events: Iterable[dict[str, Any]]) -> list[OutboxMessage]:
        """The queue messages that deliver `events` to `url` (none when the caller gave no callbackUri)."""
        if not url:
            return []
        return [(EVENT_DELIVERY_QUEUE, Delivery(call_leg_id, url, event).to_message()) for event in events]

    def deliver(self, delivery: Delivery) -> bool:
        """One attempt: True when the subscriber took it, else the next attempt is queued or the failure recorded."""
        outcome = self._post(delivery)
        event_id, event_type = delivery.event["id"], delivery.event.get("type", "")
        details = {"eventId": event_id, "eventType": event_type, "attempt": delivery.attempt, "outcome": outcome}
        if outcome == "delivered":
            self._record(delivery, "eventDelivered", details)
            return True
        if delivery.attempt < self._max_attempts:
            delay = self._backoff * 2 ** (delivery.attempt - 1)
            retry = delivery.retry()
            self._outbox.send([(EVENT_DELIVERY_QUEUE, retry.to_message())], delay_seconds=max(1, round(delay)))
            logger.info("Delivery of %s failed (%s); attempt %d in %.0fs", event_id, outcome, retry.attempt, delay)
        else:
            logger.warning("Delivery of %s failed after %d attempts: %s", event_id, delivery.attempt, outcome)
            count(EVENT_DELIVERIES_FAILED, eventType=event_type)
            self._record(delivery, "eventDeliveryFailed", details)
        return False

    def _post(self, delivery: Delivery) -> str:
        if not self._secret:
            return "WEBHOOK_SECRET is not configured"
        body, headers = sign_webhook(self._secret, delivery.event)
        try:
            response = self._session.post(
                delivery.url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS, allow_redirects=False
            )
        except requests.RequestException as error:
            return f"unreachable ({type(error).__name__})"
        if 200 <= response.status_code < 300:
            return "delivered"
        return f"HTTP {response.status_code}"

    def _record(self, delivery: Delivery, kind: str, details: dict[str, Any]) -> None:
        # Keyed by event id, so a redelivered queue message rewrites the same row instead of adding one.
        entry = TimelineEntry(self._store.now(), kind, details, key=f"{delivery.event['id']}-{kind}")
        self._store.append_timeline(delivery.call_leg_id, [entry])

"""Sending queue messages by queue name, creating each queue the first time it is used.

Work that must follow a state change (deliver an event, record a campaign call's result) is written down with
the change as `(queue, message)` pairs and sent from here afterwards, so a crash in between can be made good
by sending what was written down (see CallLegStore.unsent). Each message goes with the sender's trace context
(a `traceparent` in its JSON, shared/telemetry.py), so the trace goes on where it is received.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from shared.telemetry import with_trace

OutboxMessage = tuple[str, str]  # (queue name, message text)


class Outbox:
    def __init__(self, client_for: Callable[[str], QueueClient]) -> None:
        self._client_for = client_for
        self._clients: dict[str, QueueClient] = {}
        self._lock = threading.Lock()

    def send(self, messages: Iterable[OutboxMessage], *, delay_seconds: int | None = None) -> None:
        for queue_name, text in messages:
            self._client(queue_name).send_message(with_trace(text), visibility_timeout=delay_seconds or None)

    def send_held(self, message: OutboxMessage, hold_seconds: int) -> tuple[str, Any]:
        """Send a message that stays hidden for `hold_seconds`: the fallback for work this process is about to do
        itself. `withdraw` deletes it once that work is done; if the process dies first, the message does it."""
        queue_name, text = message
        return queue_name, self._client(queue_name).send_message(with_trace(text), visibility_timeout=hold_seconds)

    def withdraw(self, held: tuple[str, Any]) -> None:
        queue_name, sent = held
        try:
            self._client(queue_name).delete_message(sent.id, sent.pop_receipt)
        except ResourceNotFoundError:
            pass  # already gone: its receiver found the work done

    def _client(self, queue_name: str) -> QueueClient:
        with self._lock:
            client = self._clients.get(queue_name)
            if client is None:
                client = self._client_for(queue_name)
                try:
                    client.create_queue()
                except ResourceExistsError:
                    pass
                self._clients[queue_name] = client
            return client

"""`event-deliveries`: one CloudEvent for a callbackUri and its attempt number (shared/calls/event_delivery.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from shared import bounded_json
from shared.fields import ValidationError
from shared.ids import is_call_leg_id
from shared.storage.clients import EVENT_DELIVERY_QUEUE


class InvalidDeliveryMessageError(ValidationError):
    def __init__(self, message: str) -> None:
        super().__init__("message", message)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class EventDeliveryMessage:
    queue: ClassVar[str] = EVENT_DELIVERY_QUEUE

    call_leg_id: str
    url: str
    event: dict[str, Any]
    attempt: int = 1

    def to_message(self) -> str:
        return json.dumps(
            {"callLegId": self.call_leg_id, "url": self.url, "event": self.event, "attempt": self.attempt}
        )

    @classmethod
    def from_message(cls, text: str | bytes) -> EventDeliveryMessage:
        try:
            body = bounded_json.loads(text)
        except bounded_json.JsonTooDeepError as error:
            raise InvalidDeliveryMessageError(f"the message is {error}") from None
        except ValueError:
            raise InvalidDeliveryMessageError("not an event delivery message") from None
        try:
            delivery = cls(body["callLegId"], body["url"], body["event"], int(body.get("attempt", 1)))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidDeliveryMessageError("not an event delivery message") from None
        if not isinstance(delivery.call_leg_id, str) or not isinstance(delivery.url, str):
            raise InvalidDeliveryMessageError("not an event delivery message")
        if not isinstance(delivery.event, dict) or not isinstance(delivery.event.get("id"), str):
            raise InvalidDeliveryMessageError("the event has no id")
        return delivery

    def retry(self) -> EventDeliveryMessage:
        return EventDeliveryMessage(self.call_leg_id, self.url, self.event, self.attempt + 1)

    @staticmethod
    def leg_in(text: str | bytes, message_id: str | None = None) -> str | None:
        """The call leg a message is about, even when the rest of it is invalid."""
        try:
            body = bounded_json.loads(text)
        except ValueError:
            return None
        value = body.get("callLegId") if isinstance(body, dict) else None
        return value if is_call_leg_id(value) else None

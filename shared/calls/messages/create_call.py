"""`create-call`: the POST /calls body plus an optional idempotencyKey, from other services (a public format)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from shared.calls.requests import CreateCallRequest, parse_create_call
from shared.fields import ValidationError
from shared.queue_messages import json_object
from shared.storage.clients import CREATE_CALL_QUEUE


@dataclass(frozen=True)
class CreateCallMessage:
    queue: ClassVar[str] = CREATE_CALL_QUEUE

    request: CreateCallRequest

    def to_message(self) -> str:
        request = self.request
        body: dict[str, Any] = {
            "targets": list(request.targets),
            "source": request.source,
            "alternateCallerId": request.alternate_caller_id,
            "subject": request.subject,
            "callbackUri": request.callback_uri,
            "requestedCallEvents": list(request.requested_call_events) or None,
            "idempotencyKey": request.idempotency_key,
            "plan": request.plan.to_dict() if request.plan is not None else None,
        }
        return json.dumps({name: value for name, value in body.items() if value is not None})

    @classmethod
    def from_message(cls, text: str | bytes) -> CreateCallMessage:
        """Read with the app's DEFAULT_CALLER_ID (a phone target needs a caller id, given or by default)."""
        from shared.settings import get_settings

        return cls.parse(text, default_caller_id=get_settings().default_caller_id)

    @classmethod
    def parse(cls, text: str | bytes, *, default_caller_id: str | None) -> CreateCallMessage:
        return cls(parse_create_call(json_object(text), default_caller_id=default_caller_id))

    def idempotency_key(self, message_id: str) -> str:
        """What names the call: the message's idempotencyKey, or without one the queue message's id (delivery is
        at least once, so every message places at most one call)."""
        return self.request.idempotency_key or f"message:{message_id}"

    def named_request(self, message_id: str) -> CreateCallRequest:
        """The request, named by `idempotency_key(message_id)`."""
        return dataclasses.replace(self.request, idempotency_key=self.idempotency_key(message_id))

    @classmethod
    def leg_in(cls, text: str | bytes, message_id: str) -> str | None:
        """The call leg the message places (None for a message that cannot be read)."""
        from shared.calls.context import call_leg_id_for  # calls imports the messages

        try:
            return call_leg_id_for(cls.from_message(text).idempotency_key(message_id))
        except ValidationError:
            return None

"""Reading queue messages from other services: JSON objects, base64-encoded as the Functions host expects."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from shared import bounded_json
from shared.fields import ValidationError


def message_json(msg: func.QueueMessage) -> dict[str, Any]:
    """The message's JSON object; ValidationError when it is not one."""
    return json_object(msg.get_body())


def json_object(text: str | bytes) -> dict[str, Any]:
    """A message text's JSON object; ValidationError (naming `message`) when it is not one."""
    try:
        body = bounded_json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except bounded_json.JsonTooDeepError as error:
        raise ValidationError("message", f"is {error}.") from None
    except ValueError:  # UnicodeDecodeError included
        raise ValidationError("message", "is not UTF-8 JSON.") from None
    if not isinstance(body, dict):
        raise ValidationError("message", "must be a JSON object.")
    body.pop("traceparent", None)  # the sender's trace context (shared/telemetry.py), read by the queue edge
    return body


def message_text(msg: func.QueueMessage) -> str:
    return msg.get_body().decode("utf-8", errors="replace")

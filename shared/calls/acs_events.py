"""ACS callback bodies (a JSON array of CloudEvents 1.0) parsed into plain `AcsEvent`s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import bounded_json

EVENT_TYPE_PREFIX = "Microsoft.Communication."
MAX_EVENTS_PER_CALLBACK = 50
# ACS's strings are ids, raw ids (at most 256 characters) and one-sentence messages. Parts of an event are stored
# as Table properties, which hold at most 32K characters, so a longer string is refused here rather than there.
MAX_EVENT_STRING = 4096


class InvalidCallbackBodyError(ValueError):
    """The callback body is not what ACS sends."""


@dataclass(frozen=True)
class ResultInformation:
    code: int
    sub_code: int
    message: str

    @classmethod
    def from_wire(cls, body: Any) -> ResultInformation | None:
        if not isinstance(body, Mapping):
            return None
        return cls(
            code=_int(body.get("code")), sub_code=_int(body.get("subCode")), message=str(body.get("message", ""))
        )

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "subCode": self.sub_code, "message": self.message}


@dataclass(frozen=True)
class AcsEvent:
    id: str
    name: str  # e.g. "CallConnected": the type without its Microsoft.Communication. prefix
    time: str
    call_connection_id: str | None
    operation_context: str | None
    result: ResultInformation | None
    data: Mapping[str, Any] = field(repr=False)


def parse_callback_body(body: bytes) -> list[AcsEvent]:
    """Parse what ACS posts to a callback URI; raise InvalidCallbackBodyError for anything else."""
    try:
        document = bounded_json.loads(body)
    except bounded_json.JsonTooDeepError as error:
        raise InvalidCallbackBodyError(f"The callback body is {error}.") from None
    except ValueError:  # UnicodeDecodeError included
        raise InvalidCallbackBodyError("The callback body is not valid JSON.") from None
    items = document if isinstance(document, list) else [document]
    if not items or len(items) > MAX_EVENTS_PER_CALLBACK:
        raise InvalidCallbackBodyError(f"A callback carries 1 to {MAX_EVENTS_PER_CALLBACK} events.")
    return [_parse_event(item, index) for index, item in enumerate(items)]


def _parse_event(item: Any, index: int) -> AcsEvent:
    where = f"event {index}"
    if not isinstance(item, Mapping):
        raise InvalidCallbackBodyError(f"{where} is not a JSON object.")
    if _longest_string(item) > MAX_EVENT_STRING:
        raise InvalidCallbackBodyError(f"{where} has a string longer than {MAX_EVENT_STRING} characters.")
    event_id, event_type, data = item.get("id"), item.get("type"), item.get("data")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 200:
        raise InvalidCallbackBodyError(f"{where} has no valid id.")
    if not isinstance(event_type, str) or not event_type.startswith(EVENT_TYPE_PREFIX):
        raise InvalidCallbackBodyError(f"{where} has no Microsoft.Communication.* type.")
    if not isinstance(data, Mapping):
        raise InvalidCallbackBodyError(f"{where} has no data object.")
    context = data.get("operationContext")
    return AcsEvent(
        id=event_id,
        name=event_type[len(EVENT_TYPE_PREFIX) :],
        time=str(item.get("time") or ""),
        call_connection_id=data.get("callConnectionId") if isinstance(data.get("callConnectionId"), str) else None,
        operation_context=context if isinstance(context, str) else None,
        result=ResultInformation.from_wire(data.get("resultInformation")),
        data=data,
    )


def _longest_string(value: Any) -> int:
    """The longest string, key or value, anywhere in a parsed document (its depth bounds the recursion)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return max((max(len(key), _longest_string(item)) for key, item in value.items()), default=0)
    if isinstance(value, list):
        return max(map(_longest_string, value), default=0)
    return 0


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0

"""One behaviour for every queue function: read the message into its dataclass (shared/calls/messages), run the
handler, and end a message that cannot succeed in `<queue>-poison` with its reason, never silently.

- The message cannot be read (`from_message` raised ValidationError), or the handler raised one of the errors it
  names in `poison_on` (not one that says it is transient): it is moved to `<queue>-poison` at once, with the
  reason logged and, when it concerns a call leg, recorded on the leg's timeline.
- Anything else goes back to the host, which tries again. On the host's last try (`maxDequeueCount`), `give_up`
  first ends what the message concerned, with the reason; the host then moves the message to poison.

Each log line names where the error was raised (the traceback's last frame); phone numbers in it are masked.
Everything logged while a message is handled carries the ids it names (`callLegId`, `campaignId`; see
shared/logs.py), and each message is a CONSUMER span, named after the handler, that goes on with the trace the
message's `traceparent` names (shared/telemetry.py).
"""

from __future__ import annotations

import functools
import inspect
import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import azure.functions as func

from shared.fields import ValidationError
from shared.logs import add_to_log_context, log_context, mask_phone_numbers
from shared.queue_messages import message_text
from shared.queues.poison import is_last_attempt, move_to_poison
from shared.telemetry import SpanKind, invocation_span, traceparent_in

logger = logging.getLogger(__name__)

M = TypeVar("M")
_ROOT = Path(__file__).resolve().parents[2]  # the app root: shared/queues/ is two below


Handler = Callable[[M, func.QueueMessage], object]
GiveUp = Callable[[M, func.QueueMessage, str], object]


def queue_handler(
    queue_name: str,
    message_type: Any,
    *,
    give_up: GiveUp | None = None,
    poison_on: tuple[type[Exception], ...] = (),
) -> Callable[[Handler], Callable[[func.QueueMessage], None]]:
    """Wrap `handler(message, msg)` for the queue `queue_name`, whose messages `message_type.from_message` reads.

    `message_type.leg_in(text, message_id)`, where the type has it, names the call leg a message (even an invalid
    one) is about, so that its poisoning is recorded there."""

    def decorate(handler: Handler) -> Callable[[func.QueueMessage], None]:
        @functools.wraps(handler)
        def run(msg: func.QueueMessage) -> None:
            carried = traceparent_in(msg.get_body())  # the sender's trace goes on here
            with log_context(), invocation_span(handler.__name__, SpanKind.CONSUMER, carried=carried) as span:
                span.set_attributes({"messaging.destination.name": queue_name, "messaging.message.id": msg.id or ""})
                handle(msg)

        def handle(msg: func.QueueMessage) -> None:
            message = None
            try:
                message = message_type.from_message(message_text(msg))
                add_to_log_context(**log_ids(message))
                handler(message, msg)
            except Exception as error:
                if isinstance(error, (ValidationError, *poison_on)) and not getattr(error, "is_transient", False):
                    _poison(queue_name, message_type, msg, error)
                    return
                _give_up_if_last(queue_name, msg, message, give_up, error)
                raise  # the host tries again (or, after its last try, moves the message to poison)

        # What the Functions worker (and devhost) read to bind the trigger: one `msg: func.QueueMessage`.
        del run.__wrapped__
        run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("msg", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=func.QueueMessage)],
            return_annotation=None,
        )
        run.__annotations__ = {"msg": func.QueueMessage, "return": None}
        return run

    return decorate


def log_ids(message: Any) -> dict[str, str | None]:
    """The ids a message names, for its log records (shared/logs.py keeps only valid ones)."""
    return {"callLegId": getattr(message, "call_leg_id", None), "campaignId": getattr(message, "campaign_id", None)}


def reason_for(error: BaseException) -> str:
    """Why a message was poisoned, as recorded: a field's problem as it is, anything else with its kind."""
    if isinstance(error, ValidationError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def raised_at(error: BaseException) -> str:
    """`file:line in function` of the traceback's last frame (the file relative to the app, where it is in it)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown"
    frame = frames[-1]
    path = Path(frame.filename)
    try:
        shown = str(path.resolve().relative_to(_ROOT))
    except (ValueError, OSError):
        shown = path.name
    return f"{shown}:{frame.lineno} in {frame.name}"


def _poison(queue_name: str, message_type: Any, msg: func.QueueMessage, error: Exception) -> None:
    text = message_text(msg)
    leg_in = getattr(message_type, "leg_in", None)
    call_leg_id = leg_in(text, msg.id) if leg_in is not None else None
    store = None
    add_to_log_context(callLegId=call_leg_id)
    if call_leg_id is not None:
        from shared.services import get_call_leg_store  # only when there is a leg to record on

        store = get_call_leg_store()
    move_to_poison(_settings(), queue_name, msg.id, text, reason_for(error), store=store, call_leg_id=call_leg_id,
                   where=raised_at(error))


def _give_up_if_last(
    queue_name: str, msg: func.QueueMessage, message: Any, give_up: GiveUp | None, error: Exception
) -> None:
    if not is_last_attempt(msg):
        return
    reason = f"gave up after {msg.dequeue_count} attempts: {type(error).__name__}: {error}"
    logger.error("Message %s of %s goes to %s-poison: %s (raised at %s)", msg.id, queue_name, queue_name,
                 mask_phone_numbers(reason), raised_at(error))
    if give_up is None or message is None:
        return
    try:
        give_up(message, msg, reason)
    except Exception:
        logger.exception("Could not record the end of message %s of %s", msg.id, queue_name)


def _settings():
    from shared.settings import get_settings

    return get_settings()

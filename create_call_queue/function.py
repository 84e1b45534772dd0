"""Queue `create-call`: the POST /calls body plus an optional idempotencyKey, from other services.

Delivery is at least once, so every message places at most one call: its idempotencyKey (or, without one,
the message id) names the call leg.
"""

import dataclasses

import azure.functions as func

from shared.api_models import ValidationError, parse_create_call
from shared.callautomation import CallAutomationError
from shared.poison import final_attempt, move_to_poison
from shared.queue_messages import message_json, message_text
from shared.services import get_call_service
from shared.settings import get_settings
from shared.storage import CREATE_CALL_QUEUE

bp = func.Blueprint()


@bp.function_name("create_call_from_queue")
@bp.queue_trigger(arg_name="msg", queue_name=CREATE_CALL_QUEUE, connection="AzureWebJobsStorage")
def create_call_from_queue(msg: func.QueueMessage) -> None:
    settings = get_settings()
    try:
        request = parse_create_call(message_json(msg), default_caller_id=settings.default_caller_id)
    except ValidationError as error:
        move_to_poison(settings, CREATE_CALL_QUEUE, msg.id, message_text(msg), str(error))
        return
    if request.idempotency_key is None:
        request = dataclasses.replace(request, idempotency_key=f"message:{msg.id}")
    service = get_call_service()
    leg_id = service.leg_id_for(request)

    def give_up(reason: str) -> None:
        if service.store.find(leg_id) is not None:
            service.fail_leg(leg_id, "MessagePoisoned", 0, reason)

    try:
        with final_attempt(msg, CREATE_CALL_QUEUE, give_up):
            service.place_call(request)
    except CallAutomationError as error:
        if error.is_transient:
            raise  # transient: the host retries, then poisons after maxDequeueCount (the leg ended above)
        move_to_poison(
            settings,
            CREATE_CALL_QUEUE,
            msg.id,
            message_text(msg),
            f"ACS refused the call: {error}",
            store=service.store,
            call_leg_id=leg_id,
        )

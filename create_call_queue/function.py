"""Queue `create-call`: the POST /calls body plus an optional idempotencyKey, from other services.

Delivery is at least once, so every message places at most one call: its idempotencyKey (or, without one,
the message id) names the call leg.
"""

import azure.functions as func

from shared.callautomation import CallAutomationError
from shared.calls.messages.create_call import CreateCallMessage
from shared.queues.handler import queue_handler
from shared.services import get_call_service
from shared.storage.clients import CREATE_CALL_QUEUE

bp = func.Blueprint()


def give_up(message: CreateCallMessage, msg: func.QueueMessage, reason: str) -> None:
    """The host gives up: the leg, if the call got that far, ends as failed with the reason."""
    service = get_call_service()
    leg_id = service.leg_id_for(message.named_request(msg.id))
    if service.store.find(leg_id) is not None:
        service.fail_leg(leg_id, "MessagePoisoned", 0, reason)


@bp.function_name("create_call_from_queue")
@bp.queue_trigger(arg_name="msg", queue_name=CREATE_CALL_QUEUE, connection="AzureWebJobsStorage")
@queue_handler(CREATE_CALL_QUEUE, CreateCallMessage, give_up=give_up, poison_on=(CallAutomationError,))
def create_call_from_queue(message: CreateCallMessage, msg: func.QueueMessage) -> None:
    get_call_service().place_call(message.named_request(msg.id))

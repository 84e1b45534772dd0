"""Queue `event-deliveries`: one signed event for a callbackUri per message (shared/calls/event_delivery.py)."""

import azure.functions as func

from shared.calls.messages.event_delivery import EventDeliveryMessage
from shared.queues.handler import queue_handler
from shared.queues.poison import record_on_leg
from shared.services import get_call_leg_store, get_event_deliverer
from shared.storage.clients import EVENT_DELIVERY_QUEUE

bp = func.Blueprint()


def give_up(message: EventDeliveryMessage, msg: func.QueueMessage, reason: str) -> None:
    record_on_leg(get_call_leg_store(), message.call_leg_id, EVENT_DELIVERY_QUEUE, msg.id)(reason)


@bp.function_name("deliver_event")
@bp.queue_trigger(arg_name="msg", queue_name=EVENT_DELIVERY_QUEUE, connection="AzureWebJobsStorage")
@queue_handler(EVENT_DELIVERY_QUEUE, EventDeliveryMessage, give_up=give_up)
def deliver_event(message: EventDeliveryMessage, msg: func.QueueMessage) -> None:
    get_event_deliverer().deliver(message)

"""Queue `event-deliveries`: one signed event for a caller's callbackUri per message (see shared/event_delivery)."""

import azure.functions as func

from shared.event_delivery import Delivery, InvalidDeliveryMessageError
from shared.poison import final_attempt, move_to_poison, record_on_leg
from shared.queue_messages import message_text
from shared.services import get_call_leg_store, get_event_deliverer
from shared.settings import get_settings
from shared.storage import EVENT_DELIVERY_QUEUE

bp = func.Blueprint()


@bp.function_name("deliver_event")
@bp.queue_trigger(arg_name="msg", queue_name=EVENT_DELIVERY_QUEUE, connection="AzureWebJobsStorage")
def deliver_event(msg: func.QueueMessage) -> None:
    try:
        delivery = Delivery.from_message(message_text(msg))
    except InvalidDeliveryMessageError as error:
        move_to_poison(get_settings(), EVENT_DELIVERY_QUEUE, msg.id, message_text(msg), str(error))
        return
    give_up = record_on_leg(get_call_leg_store(), delivery.call_leg_id, EVENT_DELIVERY_QUEUE, msg.id)
    with final_attempt(msg, EVENT_DELIVERY_QUEUE, give_up):
        get_event_deliverer().deliver(delivery)

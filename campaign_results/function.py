"""Queue `campaign-results`: a campaign call ended; record its outcome, free its slot, maybe retry."""

import azure.functions as func

from shared.calls.messages.campaign_results import CampaignResultMessage
from shared.queues.handler import queue_handler
from shared.services import get_campaign_service
from shared.storage.clients import CAMPAIGN_RESULTS_QUEUE

bp = func.Blueprint()


def give_up(message: CampaignResultMessage, msg: func.QueueMessage, reason: str) -> None:
    get_campaign_service().give_up_result(message.campaign_id, message.recipient_id, message.call_leg_id, reason)


@bp.function_name("campaign_results")
@bp.queue_trigger(arg_name="msg", queue_name=CAMPAIGN_RESULTS_QUEUE, connection="AzureWebJobsStorage")
@queue_handler(CAMPAIGN_RESULTS_QUEUE, CampaignResultMessage, give_up=give_up, poison_on=(LookupError,))
def campaign_results(message: CampaignResultMessage, msg: func.QueueMessage) -> None:
    get_campaign_service().record_result(message.campaign_id, message.recipient_id, message.call_leg_id,
                                         message.ended)

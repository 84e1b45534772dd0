"""Queue `campaign-dial`: one campaign call. With the line it was given, place it; without, the recipient's retry
or calling window came due, and it joins the campaign's line (see shared/campaigns/dialing.py)."""

import logging

import azure.functions as func

from shared.campaigns.messages.campaign_dial import CampaignDialMessage
from shared.logs import recipient_label
from shared.queues.handler import queue_handler
from shared.services import get_campaign_service
from shared.storage.clients import CAMPAIGN_DIAL_QUEUE

bp = func.Blueprint()
logger = logging.getLogger(__name__)


def give_up(message: CampaignDialMessage, msg: func.QueueMessage, reason: str) -> None:
    get_campaign_service().give_up_dial(message.campaign_id, message.recipient_id, message.dial, reason,
                                        message.grant)


@bp.function_name("campaign_dial")
@bp.queue_trigger(arg_name="msg", queue_name=CAMPAIGN_DIAL_QUEUE, connection="AzureWebJobsStorage")
@queue_handler(CAMPAIGN_DIAL_QUEUE, CampaignDialMessage, give_up=give_up, poison_on=(LookupError,))
def campaign_dial(message: CampaignDialMessage, msg: func.QueueMessage) -> None:
    service, m = get_campaign_service(), message
    if m.grant is None:
        result = service.ready(m.campaign_id, m.recipient_id, m.dial)
    else:
        result = service.dial(m.campaign_id, m.recipient_id, m.dial, m.grant)
    # A number is masked in the log by shared/logs.py's filter, like every phone number the app logs; an id hashed.
    logger.info("Dial %s #%s of campaign %s: %s", recipient_label(m.recipient_id), m.dial, m.campaign_id, result)

"""Queue `campaign-recipients`: `{"campaignId", "recipients": [...]}` from uploads or other services."""

import azure.functions as func

from shared.campaigns.messages.campaign_recipients import CampaignRecipientsMessage
from shared.campaigns.store import CampaignNotFoundError
from shared.queues.handler import queue_handler
from shared.services import get_campaign_service
from shared.storage.clients import CAMPAIGN_RECIPIENTS_QUEUE

bp = func.Blueprint()


@bp.function_name("admit_campaign_recipients")
@bp.queue_trigger(arg_name="msg", queue_name=CAMPAIGN_RECIPIENTS_QUEUE, connection="AzureWebJobsStorage")
@queue_handler(CAMPAIGN_RECIPIENTS_QUEUE, CampaignRecipientsMessage, poison_on=(CampaignNotFoundError,))
def admit_campaign_recipients(message: CampaignRecipientsMessage, msg: func.QueueMessage) -> None:
    get_campaign_service().admit(message.campaign_id, message.recipients)

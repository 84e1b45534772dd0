"""Queue `campaign-dial`: start one call of a campaign when its window, pacing and state allow."""

import logging

import azure.functions as func

from shared.campaign_store import CampaignNotFoundError
from shared.fields import ValidationError
from shared.ids import is_campaign_id, is_phone_number
from shared.poison import move_to_poison
from shared.queue_messages import message_json, message_text
from shared.services import get_campaign_service
from shared.settings import get_settings
from shared.storage import CAMPAIGN_DIAL_QUEUE

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("campaign_dial")
@bp.queue_trigger(arg_name="msg", queue_name=CAMPAIGN_DIAL_QUEUE, connection="AzureWebJobsStorage")
def campaign_dial(msg: func.QueueMessage) -> None:
    try:
        body = message_json(msg)
        campaign_id, phone_number, dial = body.get("campaignId"), body.get("phoneNumber"), body.get("dial")
        if not (is_campaign_id(campaign_id) and is_phone_number(phone_number) and isinstance(dial, int)):
            raise ValidationError("message", "needs a campaignId, an E.164 phoneNumber and a dial number.")
        waits = body.get("waits") if isinstance(body.get("waits"), int) else 0
        result = get_campaign_service().dial(campaign_id, phone_number, dial, waits=waits)
    except (ValidationError, CampaignNotFoundError, LookupError) as error:
        move_to_poison(get_settings(), CAMPAIGN_DIAL_QUEUE, msg.id, message_text(msg), repr(error))
        return
    logger.info("Dial %s %s #%s: %s", campaign_id, phone_number, dial, result)

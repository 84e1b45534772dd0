"""Queue `campaign-recipients`: `{"campaignId", "recipients": [...]}` from uploads or other services."""

import azure.functions as func

from shared.campaign_store import CampaignNotFoundError
from shared.campaigns import parse_recipients
from shared.fields import ValidationError
from shared.ids import is_campaign_id
from shared.poison import move_to_poison
from shared.queue_messages import message_json, message_text
from shared.services import get_campaign_service
from shared.settings import get_settings
from shared.storage import CAMPAIGN_RECIPIENTS_QUEUE

bp = func.Blueprint()


@bp.function_name("admit_campaign_recipients")
@bp.queue_trigger(arg_name="msg", queue_name=CAMPAIGN_RECIPIENTS_QUEUE, connection="AzureWebJobsStorage")
def admit_campaign_recipients(msg: func.QueueMessage) -> None:
    try:
        body = message_json(msg)
        campaign_id = body.get("campaignId")
        if not is_campaign_id(campaign_id):
            raise ValidationError("campaignId", "must be the id of a campaign.")
        get_campaign_service().admit(campaign_id, parse_recipients(body.get("recipients")))
    except (ValidationError, CampaignNotFoundError) as error:
        move_to_poison(get_settings(), CAMPAIGN_RECIPIENTS_QUEUE, msg.id, message_text(msg), repr(error))

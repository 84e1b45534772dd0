"""Queue `campaign-dial`: one campaign call. With the line it was given, place it; without, the recipient's retry
or calling window came due, and it joins the campaign's line (see shared/dialing.py)."""

import logging

import azure.functions as func

from shared.campaign_store import CampaignNotFoundError
from shared.fields import ValidationError
from shared.ids import is_campaign_id, is_phone_number
from shared.lines import Grant
from shared.poison import final_attempt, move_to_poison
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
        try:
            grant = Grant.from_dict(body["grant"]) if isinstance(body.get("grant"), dict) else None
        except (KeyError, TypeError, ValueError):
            raise ValidationError("grant", "is not a line grant.") from None
        service = get_campaign_service()
        give_up = lambda why: service.give_up_dial(campaign_id, phone_number, dial, why, grant)  # noqa: E731
        with final_attempt(msg, CAMPAIGN_DIAL_QUEUE, give_up):
            if grant is None:
                result = service.ready(campaign_id, phone_number, dial)
            else:
                result = service.dial(campaign_id, phone_number, dial, grant)
    except (ValidationError, CampaignNotFoundError, LookupError) as error:
        move_to_poison(get_settings(), CAMPAIGN_DIAL_QUEUE, msg.id, message_text(msg), repr(error))
        return
    logger.info("Dial %s #%s of campaign %s: %s", phone_number[-4:].rjust(len(phone_number), "*"), dial,
                campaign_id, result)

"""Queue `campaign-results`: a campaign call ended; record its outcome, free its slot, maybe retry."""

import azure.functions as func

from shared.call_legs import CallEnded
from shared.campaign_store import CampaignNotFoundError
from shared.fields import ValidationError
from shared.ids import is_call_leg_id, is_campaign_id, is_phone_number
from shared.poison import final_attempt, move_to_poison
from shared.queue_messages import message_json, message_text
from shared.services import get_campaign_service
from shared.settings import get_settings
from shared.storage import CAMPAIGN_RESULTS_QUEUE

bp = func.Blueprint()


@bp.function_name("campaign_results")
@bp.queue_trigger(arg_name="msg", queue_name=CAMPAIGN_RESULTS_QUEUE, connection="AzureWebJobsStorage")
def campaign_results(msg: func.QueueMessage) -> None:
    try:
        body = message_json(msg)
        fields = [body.get("campaignId"), body.get("phoneNumber"), body.get("callLegId")]
        campaign_id, phone_number, call_leg_id = fields
        if not (is_campaign_id(campaign_id) and is_phone_number(phone_number) and is_call_leg_id(call_leg_id)):
            raise ValidationError("message", "needs a campaignId, an E.164 phoneNumber and a callLegId.")
        service = get_campaign_service()
        with final_attempt(msg, CAMPAIGN_RESULTS_QUEUE, lambda why: service.give_up_result(*fields, why)):
            service.record_result(*fields, CallEnded.from_dict(body.get("ended")))
    except (ValidationError, CampaignNotFoundError, LookupError) as error:
        move_to_poison(get_settings(), CAMPAIGN_RESULTS_QUEUE, msg.id, message_text(msg), repr(error))

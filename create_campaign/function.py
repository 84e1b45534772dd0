"""POST /campaigns: a named batch of recipients sharing a call plan, with pacing, retries and calling windows."""

import azure.functions as func

from shared.campaigns.service import parse_campaign
from shared.http.errors import api_handler, json_response, read_json
from shared.services import get_campaign_service
from shared.settings import get_settings

bp = func.Blueprint()

MAX_BODY_BYTES = 2 * 1024 * 1024  # room for 5,000 recipients


@bp.function_name("create_campaign")
@bp.route(route="campaigns", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def create_campaign(req: func.HttpRequest) -> func.HttpResponse:
    campaign, recipients = parse_campaign(
        read_json(req, max_bytes=MAX_BODY_BYTES), default_caller_id=get_settings().default_caller_id
    )
    get_campaign_service().create(campaign, recipients)
    return json_response({"campaignId": campaign.campaign_id, "submitted": len(recipients)}, 201)

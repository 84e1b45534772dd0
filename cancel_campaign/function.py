"""POST /campaigns/{campaignId}/cancel: no new attempts start; calls in progress finish."""

import azure.functions as func

from shared.http.errors import api_handler, json_response
from shared.services import get_campaign_service

bp = func.Blueprint()


@bp.function_name("cancel_campaign")
@bp.route(route="campaigns/{campaignId}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def cancel_campaign(req: func.HttpRequest) -> func.HttpResponse:
    campaign = get_campaign_service().cancel(req.route_params["campaignId"])
    return json_response({"campaignId": campaign.campaign_id, "status": campaign.status}, 202)

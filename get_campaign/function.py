"""GET /campaigns/{campaignId}: the campaign's summary (progress, outcomes, timings, reach, settings) as JSON.

Reads the campaign and its 16 counter rows: the same cost for 10 recipients or a million."""

from datetime import UTC, datetime

import azure.functions as func

from shared.campaigns.reports import load_campaign, summarize
from shared.http.errors import api_handler, json_response
from shared.services import get_campaign_store

bp = func.Blueprint()


@bp.function_name("get_campaign")
@bp.route(route="campaigns/{campaignId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def get_campaign(req: func.HttpRequest) -> func.HttpResponse:
    campaign, counts = load_campaign(get_campaign_store(), req.route_params["campaignId"])  # 404 if unknown
    return json_response(summarize(campaign, counts, datetime.now(UTC)), headers={"Cache-Control": "no-store"})

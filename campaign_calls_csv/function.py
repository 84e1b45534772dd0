"""GET /campaigns/{campaignId}/calls.csv: one row per recipient (status, outcome, times), as a download."""

import azure.functions as func

from shared.api_errors import api_handler
from shared.campaign_reports import calls_csv, load_campaign
from shared.services import get_campaign_store

bp = func.Blueprint()


@bp.function_name("campaign_calls_csv")
@bp.route(route="campaigns/{campaignId}/calls.csv", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def campaign_calls_csv(req: func.HttpRequest) -> func.HttpResponse:
    campaign, recipients = load_campaign(get_campaign_store(), req.route_params["campaignId"])  # 404 if unknown
    # load_campaign accepted only [A-Za-z0-9-] in the id, so it is safe inside the header.
    filename = f"campaign-{campaign.campaign_id}-calls.csv"
    return func.HttpResponse(
        calls_csv(recipients),
        mimetype="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )

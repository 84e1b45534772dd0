"""GET /campaigns/{campaignId}/report.html: a one-page report for people (numbers, outcomes, a chart)."""

from datetime import UTC, datetime

import azure.functions as func

from shared.api_errors import api_handler
from shared.campaign_reports import load_campaign, report_html, summarize
from shared.services import get_campaign_store

bp = func.Blueprint()

# The page needs nothing but its own inline styles: no scripts, no fetches, no framing by other sites.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"


@bp.function_name("campaign_report")
@bp.route(route="campaigns/{campaignId}/report.html", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def campaign_report(req: func.HttpRequest) -> func.HttpResponse:
    campaign, recipients = load_campaign(get_campaign_store(), req.route_params["campaignId"])  # 404 if unknown
    summary = summarize(campaign, recipients, datetime.now(UTC))
    return func.HttpResponse(
        report_html(campaign, summary, recipients),
        mimetype="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )

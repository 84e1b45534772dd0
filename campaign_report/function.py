"""GET /campaigns/{campaignId}/report.html: a one-page report for people (numbers, outcomes, reach, charts).

Built from the summary and the counter rows only, so it costs the same whatever the campaign's size."""

from datetime import UTC, datetime

import azure.functions as func

from shared.campaigns.reports import load_campaign, report_html, summarize
from shared.http.errors import api_handler
from shared.services import get_campaign_store

bp = func.Blueprint()

# The page needs nothing but its own inline styles: no scripts, no fetches, no framing by other sites.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'"


@bp.function_name("campaign_report")
@bp.route(route="campaigns/{campaignId}/report.html", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def campaign_report(req: func.HttpRequest) -> func.HttpResponse:
    campaign, counts = load_campaign(get_campaign_store(), req.route_params["campaignId"])  # 404 if unknown
    summary = summarize(campaign, counts, datetime.now(UTC))
    return func.HttpResponse(
        report_html(campaign, summary, counts),
        mimetype="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )

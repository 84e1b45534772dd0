"""GET /campaigns/{campaignId}/calls.csv: one row per recipient (status, outcome, times), a page at a time.

`?pageSize=` (1 to 5000, default 1000) rows per page, in a fixed order; while more follow, the answer has a
`Link: <...>; rel="next"` header whose URL (with `continuation=`) gives the next page. Every page starts with
the header row, so each is a CSV of its own; a client joining them drops the repeats. Paging keeps one page
in memory, never the whole campaign."""

from urllib.parse import quote, urlsplit

import azure.functions as func

from shared.campaigns.reports import calls_csv
from shared.campaigns.store import CampaignNotFoundError, InvalidContinuationError
from shared.fields import page_size_field
from shared.http.errors import ApiError, api_handler
from shared.ids import is_campaign_id
from shared.services import get_campaign_store

bp = func.Blueprint()

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 1000, 5000
MAX_CONTINUATION_CHARS = 200  # ours are base64 of a bucket and a phone number: far shorter


@bp.function_name("campaign_calls_csv")
@bp.route(route="campaigns/{campaignId}/calls.csv", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def campaign_calls_csv(req: func.HttpRequest) -> func.HttpResponse:
    campaign_id = req.route_params["campaignId"]
    if not is_campaign_id(campaign_id):
        raise CampaignNotFoundError(campaign_id)  # never sent to storage
    size = page_size_field(req.params.get("pageSize"), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    continuation = req.params.get("continuation") or None
    if continuation is not None and len(continuation) > MAX_CONTINUATION_CHARS:
        raise _bad_continuation()
    store = get_campaign_store()
    store.get_campaign(campaign_id)  # 404 if unknown
    try:
        page, next_token = store.recipients_page(campaign_id, size, continuation)
    except InvalidContinuationError:
        raise _bad_continuation() from None
    # The id has only [A-Za-z0-9-] (checked above), so it is safe inside the headers.
    headers = {
        "Content-Disposition": f'attachment; filename="campaign-{campaign_id}-calls.csv"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if next_token is not None:
        path = urlsplit(req.url).path or f"/api/campaigns/{campaign_id}/calls.csv"
        headers["Link"] = f'<{path}?pageSize={size}&continuation={quote(next_token, safe="")}>; rel="next"'
    return func.HttpResponse(calls_csv(page), mimetype="text/csv", charset="utf-8", headers=headers)


def _bad_continuation() -> ApiError:
    message = "The continuation is not one this endpoint gave; start again without it."
    return ApiError(400, "InvalidContinuation", message)

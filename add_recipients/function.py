"""POST /campaigns/{campaignId}/recipients: more recipients, as JSON or as a CSV upload (text/csv)."""

import azure.functions as func

from shared.campaigns.service import parse_add_recipients, parse_recipients_csv
from shared.http.errors import ApiError, api_handler, json_response, read_json
from shared.services import get_campaign_service

bp = func.Blueprint()

MAX_BODY_BYTES = 2 * 1024 * 1024


@bp.function_name("add_recipients")
@bp.route(route="campaigns/{campaignId}/recipients", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def add_recipients(req: func.HttpRequest) -> func.HttpResponse:
    if "csv" in (req.headers.get("Content-Type") or "").lower():
        body = req.get_body() or b""
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "PayloadTooLarge", f"The body must be at most {MAX_BODY_BYTES} bytes.")
        try:
            recipients = parse_recipients_csv(body.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise ApiError(400, "InvalidRequest", "The CSV must be UTF-8.") from None
    else:
        recipients = parse_add_recipients(read_json(req, max_bytes=MAX_BODY_BYTES))
    submitted = get_campaign_service().submit(req.route_params["campaignId"], recipients)
    return json_response({"submitted": submitted}, 202)

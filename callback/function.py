"""POST /callbacks/{callLegId}?token=...: events from ACS about one call leg.

Only a valid ACS token gets in, only with the leg's own URL token, and only with events about the leg's call;
each event applies once.
"""

import azure.functions as func

from shared.calls.acs_events import parse_callback_body
from shared.http.errors import ApiError, api_handler
from shared.services import get_call_service, get_callback_verifier

bp = func.Blueprint()

MAX_CALLBACK_BYTES = 256 * 1024


@bp.function_name("acs_callback")
@bp.route(route="callbacks/{callLegId}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@api_handler
def acs_callback(req: func.HttpRequest) -> func.HttpResponse:
    call_leg_id = req.route_params["callLegId"]
    get_callback_verifier().verify(req.headers.get("Authorization"), call_leg_id)
    body = req.get_body() or b""
    if len(body) > MAX_CALLBACK_BYTES:
        raise ApiError(413, "PayloadTooLarge", "The callback body is too large.")
    events = parse_callback_body(body)
    get_call_service().receive_callback(call_leg_id, req.params.get("token"), events)
    return func.HttpResponse(status_code=200)

"""POST /calls: place a call and answer its callLegId."""

import azure.functions as func

from shared.calls.requests import parse_create_call
from shared.http.errors import api_handler, json_response, read_json
from shared.services import get_call_service
from shared.settings import get_settings

bp = func.Blueprint()


@bp.function_name("create_call")
@bp.route(route="calls", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def create_call(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_create_call(read_json(req), default_caller_id=get_settings().default_caller_id)
    leg = get_call_service().place_call(request)
    return json_response({"callLegId": leg.call_leg_id})

"""GET /calls/{callId}: the call leg as recorded, with its timeline."""

import azure.functions as func

from shared.http.call_legs import describe_leg
from shared.http.errors import api_handler, json_response
from shared.services import get_call_service

bp = func.Blueprint()


@bp.function_name("get_call")
@bp.route(route="calls/{callId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def get_call(req: func.HttpRequest) -> func.HttpResponse:
    leg, timeline = get_call_service().read(req.route_params["callId"])
    return json_response(describe_leg(leg, timeline))

"""POST /calls/{callId}/Hangup: end the call for everyone."""

import azure.functions as func

from shared.http.errors import api_handler
from shared.services import get_call_service

bp = func.Blueprint()


@bp.function_name("hangup")
@bp.route(route="calls/{callId}/Hangup", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def hangup(req: func.HttpRequest) -> func.HttpResponse:
    get_call_service().hang_up(req.route_params["callId"])
    return func.HttpResponse(status_code=202)

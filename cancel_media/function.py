"""POST /calls/{callId}/CancelMediaProcessing: stop every playing and queued media operation."""

import azure.functions as func

from shared.calls.operations import accepted_operation
from shared.calls.requests import parse_cancel_media
from shared.http.errors import api_handler, json_response, read_json
from shared.services import get_call_service

bp = func.Blueprint()


@bp.function_name("cancel_media_processing")
@bp.route(route="calls/{callId}/CancelMediaProcessing", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def cancel_media_processing(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_cancel_media(read_json(req, required=False))
    operation = get_call_service().cancel_media(req.route_params["callId"], request)
    return json_response(accepted_operation(operation), 202)

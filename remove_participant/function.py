"""DELETE /calls/{callId}/participants/{participantId}: remove a participant (participantId is the raw id)."""

import azure.functions as func

from shared.calls.operations import accepted_operation
from shared.calls.requests import parse_participant_id
from shared.http.errors import api_handler, json_response
from shared.services import get_call_service

bp = func.Blueprint()


@bp.function_name("remove_participant")
@bp.route(route="calls/{callId}/participants/{participantId}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def remove_participant(req: func.HttpRequest) -> func.HttpResponse:
    participant = parse_participant_id(req.route_params["participantId"])
    operation = get_call_service().remove(req.route_params["callId"], participant)
    return json_response(accepted_operation(operation), 202)

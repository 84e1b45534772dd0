"""POST /calls/{callId}/participants: invite participants; InviteParticipantResult follows for each."""

import azure.functions as func

from shared.calls.operations import accepted_operation
from shared.calls.requests import parse_invite_participants
from shared.http.errors import api_handler, json_response, read_json
from shared.services import get_call_service

bp = func.Blueprint()


@bp.function_name("invite_participants")
@bp.route(route="calls/{callId}/participants", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def invite_participants(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_invite_participants(read_json(req))
    operations = get_call_service().invite(req.route_params["callId"], request)
    return json_response({"operations": [accepted_operation(op) for op in operations]}, 202)

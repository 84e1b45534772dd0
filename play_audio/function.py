"""POST /calls/{callId}/PlayAudio: play an audio file into the call; the result follows as PlayAudioResult."""

import azure.functions as func

from shared.calls.operations import accepted_operation
from shared.calls.requests import parse_play_audio
from shared.http.errors import api_handler, json_response, read_json
from shared.services import get_call_service

bp = func.Blueprint()


@bp.function_name("play_audio")
@bp.route(route="calls/{callId}/PlayAudio", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def play_audio(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_play_audio(read_json(req))
    operation = get_call_service().play_audio(req.route_params["callId"], request)
    return json_response(accepted_operation(operation), 202)

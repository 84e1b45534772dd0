"""POST /suppressions: put a number on the suppression list, so no campaign calls it (201; 200 with the entry as
first added when it is on the list already)."""

import azure.functions as func

from shared.calls.suppressions import parse_addition
from shared.http.errors import api_handler, json_response, read_json
from shared.services import get_suppression_store

bp = func.Blueprint()


@bp.function_name("add_suppression")
@bp.route(route="suppressions", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def add_suppression(req: func.HttpRequest) -> func.HttpResponse:
    phone_number, reason = parse_addition(read_json(req))
    entry, added = get_suppression_store().add(phone_number, reason, {"type": "api"})
    return json_response(entry.to_dict(), 201 if added else 200)

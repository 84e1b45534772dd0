"""GET /health/details (function key): storage, ACS, the callback signing keys and every queue's depth, each
check bounded in time (shared/health.py). Always 200 while the app runs; `status` says whether all is well."""

import azure.functions as func

from shared.http.errors import api_handler, json_response
from shared.services import get_health

bp = func.Blueprint()


@bp.function_name("health_details")
@bp.route(route="health/details", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def health_details(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(get_health().details(), headers={"Cache-Control": "no-store"})

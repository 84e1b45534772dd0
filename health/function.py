"""GET /health: anonymous; 200 {"status": "ok"} while the app can serve, 503 StorageUnavailable while storage does
not answer. Nothing else is shown (the details need a key: GET /health/details)."""

import azure.functions as func

from shared.http.errors import ApiError, api_handler, json_response
from shared.services import get_health

bp = func.Blueprint()

NOT_CACHED = {"Cache-Control": "no-store"}


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api_handler
def health(req: func.HttpRequest) -> func.HttpResponse:
    why = get_health().serving()
    if why is not None:
        raise ApiError(503, "StorageUnavailable", why, {"Retry-After": "5", **NOT_CACHED})
    return json_response({"status": "ok"}, headers=NOT_CACHED)

"""DELETE /suppressions/{phoneNumber}: take a number off the suppression list (204; 404 when it is not on it)."""

import azure.functions as func

from shared.fields import phone_number_field
from shared.http.errors import ApiError, api_handler
from shared.services import get_suppression_store

bp = func.Blueprint()


@bp.function_name("remove_suppression")
@bp.route(route="suppressions/{phoneNumber}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def remove_suppression(req: func.HttpRequest) -> func.HttpResponse:
    phone_number = phone_number_field(req.route_params.get("phoneNumber"), "phoneNumber")
    if not get_suppression_store().remove(phone_number):
        raise ApiError(404, "SuppressionNotFound", "The number is not on the suppression list.")
    return func.HttpResponse(status_code=204)

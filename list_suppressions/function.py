"""GET /suppressions: the suppression list in number order, a page at a time (`?pageSize=`, 1 to 1000, default 100;
`?continuationToken=` from the previous page's `continuationToken`, which is null after the last page)."""

import azure.functions as func

from shared.calls.suppressions import InvalidContinuationError
from shared.fields import page_size_field
from shared.http.errors import ApiError, api_handler, json_response
from shared.services import get_suppression_store

bp = func.Blueprint()

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
MAX_CONTINUATION_CHARS = 100  # ours are base64 of a phone number: far shorter


@bp.function_name("list_suppressions")
@bp.route(route="suppressions", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@api_handler
def list_suppressions(req: func.HttpRequest) -> func.HttpResponse:
    size = page_size_field(req.params.get("pageSize"), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    continuation = req.params.get("continuationToken") or None
    try:
        if continuation is not None and len(continuation) > MAX_CONTINUATION_CHARS:
            raise InvalidContinuationError(continuation[:40])
        entries, next_token = get_suppression_store().page(size, continuation)
    except InvalidContinuationError:
        message = "The continuationToken is not one this endpoint gave; start again without it."
        raise ApiError(400, "InvalidContinuation", message) from None
    body = {"suppressions": [entry.to_dict() for entry in entries], "continuationToken": next_token}
    return json_response(body, headers={"Cache-Control": "no-store"})

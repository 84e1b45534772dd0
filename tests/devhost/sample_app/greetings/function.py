"""HTTP routes exercising route templates, methods, auth levels, errors and async handlers."""

import asyncio
import json

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="hello/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params['name']}")


@bp.function_name("item")
@bp.route(route="items/{item_id:int}", methods=["GET", "DELETE"])
def get_or_delete_item(req: func.HttpRequest) -> func.HttpResponse:
    if req.method == "DELETE":
        return func.HttpResponse(status_code=202, headers={"X-Deleted": req.route_params["item_id"]})
    echo = {
        "method": req.method,
        "url": req.url,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "header": req.headers.get("x-sample"),
    }
    return func.HttpResponse(json.dumps(echo), mimetype="application/json")


@bp.route(route="files/{*path}", methods=["GET"], auth_level="anonymous")
def files(req: func.HttpRequest) -> str:
    return f"path={req.route_params.get('path', '')}"


@bp.route(route="pages/{page?}", methods=["GET"], auth_level="anonymous")
def pages(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"page={req.route_params.get('page', 'none')}")


@bp.route(route="ops/status", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def ops_status(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin ok")


@bp.route(route="boom", methods=["GET"], auth_level="anonymous")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom from the sample app")


@bp.route(route="echo-async", methods=["POST"], auth_level="anonymous")
async def echo_async(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0.3)
    return func.HttpResponse(req.get_body(), status_code=201, mimetype="application/octet-stream")

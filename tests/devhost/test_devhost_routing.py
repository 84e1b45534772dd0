"""Route templates, key checks and response conversion (pure functions and werkzeug maps, no server)."""

from __future__ import annotations

import azure.functions as func
import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound

from devhost.http_server import HostKeys, RouteError, build_url_map, to_wsgi_response, translate_route
from devhost.indexing import HttpFunction


@pytest.mark.parametrize(
    ("route", "prefix", "rules"),
    [
        ("calls", "api", ["/api/calls"]),
        ("calls/{call_id}", "api", ["/api/calls/<default:call_id>"]),
        ("items/{id:int}", "", ["/items/<c_int:id>"]),
        ("files/{*rest}", "api", ["/api/files/<path:rest>", "/api/files"]),
        ("pages/{page?}", "v1", ["/v1/pages/<default:page>", "/v1/pages"]),
        ("{name}.{ext}", "api", ["/api/<default:name>.<default:ext>"]),
        ("/leading/slash/", "api", ["/api/leading/slash"]),
    ],
)
def test_translate_route(route: str, prefix: str, rules: list[str]) -> None:
    assert [r.rule for r in translate_route(route, prefix)] == rules


def test_a_default_value_fills_the_absent_parameter() -> None:
    full, short = translate_route("pages/{page=1}", "api")

    assert (full.rule, full.defaults) == ("/api/pages/<default:page>", None)
    assert (short.rule, short.defaults) == ("/api/pages", {"page": "1"})


@pytest.mark.parametrize("route", ["a/{x?}/b", "{*rest}/tail", "a/{x:minlength(3)}", "a/{x:int:min(1)}", "a/{1x}"])
def test_unsupported_templates_fail_clearly(route: str) -> None:
    with pytest.raises(RouteError, match="route"):
        translate_route(route, "api")


def _function(name: str, route: str, methods: tuple[str, ...] | None = None) -> HttpFunction:
    return HttpFunction(
        name=name,
        trigger_arg="req",
        user_function=lambda req: None,
        outputs=(),
        route=route,
        methods=methods,
        auth_level="anonymous",
    )


@pytest.fixture
def adapter():
    url_map = build_url_map(
        [
            _function("item", "items/{id:int}", ("GET",)),
            _function("item_by_name", "items/{name:alpha}", ("GET",)),
            _function("flag", "flags/{on:bool}"),
            _function("doc", "docs/{id:guid}"),
            _function("money", "prices/{value:decimal}"),
            _function("anything", "any"),
        ],
        "api",
    )
    return url_map.bind("localhost")


@pytest.mark.parametrize(
    ("path", "method", "endpoint", "values"),
    [
        ("/api/items/-12", "GET", "item", {"id": "-12"}),
        ("/api/items/abc", "GET", "item_by_name", {"name": "abc"}),
        ("/api/flags/True", "PUT", "flag", {"on": "True"}),
        (
            "/api/docs/0f8fad5b-d9cb-469f-a165-70867728950e",
            "GET",
            "doc",
            {"id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
        ),
        ("/api/prices/9.95", "GET", "money", {"value": "9.95"}),
        ("/api/any/", "PATCH", "anything", {}),  # trailing slash accepted; no methods listed = all methods
    ],
)
def test_matching(adapter, path: str, method: str, endpoint: str, values: dict) -> None:
    assert adapter.match(path, method=method) == (endpoint, values)


@pytest.mark.parametrize("path", ["/api/items/a1", "/api/flags/yes", "/api/docs/not-a-guid", "/items/1"])
def test_constraints_reject(adapter, path: str) -> None:
    with pytest.raises(NotFound):
        adapter.match(path, method="GET")


def test_a_known_path_with_another_method_is_405(adapter) -> None:
    with pytest.raises(MethodNotAllowed):
        adapter.match("/api/items/1", method="POST")


@pytest.mark.parametrize(
    ("keys", "level", "presented", "allowed"),
    [
        (HostKeys(), "function", None, True),  # no keys configured: nothing enforced
        (HostKeys(), "admin", None, True),
        (HostKeys("f", "m"), "anonymous", None, True),
        (HostKeys("f", "m"), "function", None, False),
        (HostKeys("f", "m"), "function", "x", False),
        (HostKeys("f", "m"), "function", "f", True),
        (HostKeys("f", "m"), "function", "m", True),
        (HostKeys("f", "m"), "admin", "f", False),
        (HostKeys("f", "m"), "admin", "m", True),
        (HostKeys("f", None), "admin", "f", False),  # no master key: admin routes stay closed
        (HostKeys(None, "m"), "function", "m", True),
    ],
)
def test_host_keys(keys: HostKeys, level: str, presented: str | None, allowed: bool) -> None:
    assert keys.allows(level, presented) is allowed


def test_host_keys_come_from_app_settings() -> None:
    keys = HostKeys.from_environ({"DEVHOST_FUNCTION_KEY": "f", "DEVHOST_MASTER_KEY": ""})

    assert keys == HostKeys("f", None)


def test_response_conversion_follows_the_worker() -> None:
    text = to_wsgi_response(func.HttpResponse("hi", status_code=201, headers={"X-A": "1"}))
    binary = to_wsgi_response(func.HttpResponse(b"\x00", mimetype="application/octet-stream"))
    explicit = to_wsgi_response(func.HttpResponse("{}", headers={"Content-Type": "application/problem+json"}))
    plain = to_wsgi_response("just text")

    assert (text.status_code, text.headers["X-A"], text.get_data()) == (201, "1", b"hi")
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert binary.headers["Content-Type"] == "application/octet-stream"
    assert explicit.headers.getlist("Content-Type") == ["application/problem+json"]
    assert (plain.status_code, plain.get_data()) == (200, b"just text")


def test_other_return_types_are_an_error() -> None:
    with pytest.raises(TypeError):
        to_wsgi_response({"not": "a response"})

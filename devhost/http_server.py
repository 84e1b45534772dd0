"""HTTP triggers: route templates, key checks, and conversion between WSGI and func.HttpRequest/HttpResponse.

The pipeline is the host's: refuse a request line over 8 KiB (414), match the route (404, or 405 for a known
path with another method), check the key for the function's auth level (401), invoke, then turn the result
into the answer. An unhandled exception becomes a 500 with an empty body, as on the real host; the traceback is
logged by the invoker.
"""

from __future__ import annotations

import hmac
import logging
import re
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import azure.functions as func
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from devhost.indexing import HttpFunction
from devhost.invocation import Invoker

logger = logging.getLogger("devhost")

FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
MASTER_KEY_SETTING = "DEVHOST_MASTER_KEY"
HTTP_REASON = "This function was programmatically called via the host APIs."
MAX_REQUEST_LINE_BYTES = 8192  # Kestrel's default MaxRequestLineSize, which the Functions host keeps
LINGER_SECONDS = 2.0


class RouteError(ValueError):
    """A route template uses syntax devhost cannot translate."""


# ASP.NET route constraints the host supports, as regular expressions. Values reach the function as strings.
_CONSTRAINTS: dict[str, str] = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "float": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "bool": r"(?i:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",
}
CONVERTERS: dict[str, type[BaseConverter]] = {
    f"c_{name}": type(f"{name.title()}Converter", (BaseConverter,), {"regex": pattern})
    for name, pattern in _CONSTRAINTS.items()
}
_PARAMETER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class RouteRule:
    """One werkzeug rule for a route template; optional parameters yield a second, shorter rule."""

    rule: str
    defaults: dict[str, str] | None = None


def translate_route(route: str, route_prefix: str) -> list[RouteRule]:
    """'items/{id:int}' -> '/api/items/<c_int:id>'; '{*rest}' -> '<path:rest>'; '{x?}' and '{x=v}' may be absent.

    Only the last segment may be optional or catch-all, as in ASP.NET routing.
    """
    segments = [segment for segment in route.strip("/").split("/") if segment]
    translated = []
    optional: tuple[str, str | None] | None = None  # (name, default) of an optional last parameter
    for index, segment in enumerate(segments):
        is_last = index == len(segments) - 1
        whole = _PARAMETER.fullmatch(segment)
        if whole:
            text, name, default, may_be_absent = _parameter(whole.group(1), route, is_last)
            if may_be_absent:
                optional = (name, default)
            translated.append(text)
        else:
            # Literal text, possibly mixed with parameters such as '{name}.{ext}'.
            translated.append(_PARAMETER.sub(lambda m: _parameter(m.group(1), route, False)[0], segment))
    full = RouteRule(_join(route_prefix, translated))
    if optional is None:
        return [full]
    name, default = optional
    return [full, RouteRule(_join(route_prefix, translated[:-1]), {name: default} if default is not None else None)]


def _parameter(spec: str, route: str, is_last: bool) -> tuple[str, str, str | None, bool]:
    """Parse '{name:constraint=default?}' -> (werkzeug text, name, default, may be absent)."""
    catch_all = spec.startswith("*")
    spec = spec.lstrip("*")
    optional = spec.endswith("?")
    spec = spec.rstrip("?")
    spec, has_default, default = spec.partition("=")
    name, *constraints = spec.split(":")
    if not name.isidentifier():
        raise RouteError(f"route {route!r}: parameter name {name!r} is not supported by devhost")
    if (catch_all or optional or has_default) and not is_last:
        raise RouteError(f"route {route!r}: only the last segment may be optional or catch-all")
    if len(constraints) > 1 or (constraints and constraints[0] not in _CONSTRAINTS):
        raise RouteError(f"route {route!r}: constraint {':'.join(constraints)!r} is not supported by devhost")
    if catch_all:
        converter = "path"
    else:
        converter = f"c_{constraints[0]}" if constraints else "default"
    text = f"<{converter}:{name}>"
    return text, name, (default if has_default else None), catch_all or optional or bool(has_default)


def _join(route_prefix: str, segments: Iterable[str]) -> str:
    return "/" + "/".join(part for part in (route_prefix.strip("/"), *segments) if part)


def build_url_map(functions: Iterable[HttpFunction], route_prefix: str) -> Map:
    rules = []
    for function in functions:
        for route_rule in translate_route(function.route, route_prefix):
            rules.append(
                Rule(route_rule.rule, endpoint=function.name, methods=function.methods, defaults=route_rule.defaults)
            )
    # The host ignores a trailing slash and never redirects to a canonical URL.
    return Map(rules, converters=CONVERTERS, strict_slashes=False, redirect_defaults=False, merge_slashes=False)


@dataclass(frozen=True)
class HostKeys:
    """Keys from app settings. With none configured nothing is enforced, as under `func start`."""

    function_key: str | None = None
    master_key: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> HostKeys:
        return cls(environ.get(FUNCTION_KEY_SETTING) or None, environ.get(MASTER_KEY_SETTING) or None)

    def allows(self, auth_level: str, presented: str | None) -> bool:
        if auth_level == "anonymous" or (self.function_key is None and self.master_key is None):
            return True
        accepted = [self.master_key] if auth_level == "admin" else [self.function_key, self.master_key]
        # compare_digest against every candidate: no early exit that would leak which key matched.
        matches = [hmac.compare_digest(presented.encode(), key.encode()) for key in accepted if key and presented]
        return any(matches)


class HttpApp:
    """The WSGI application that serves every HTTP-triggered function."""

    def __init__(self, functions: Iterable[HttpFunction], route_prefix: str, invoker: Invoker, keys: HostKeys) -> None:
        self._functions = {function.name: function for function in functions}
        self._map = build_url_map(self._functions.values(), route_prefix)
        self._invoker = invoker
        self._keys = keys

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self._handle(Request(environ))(environ, start_response)

    def _handle(self, request: Request) -> Response:
        try:
            endpoint, route_params = self._map.bind_to_environ(request.environ).match()
        except NotFound:
            return Response(status=404)
        except MethodNotAllowed as exc:
            return Response(status=405, headers={"Allow": ", ".join(exc.valid_methods or [])})
        except HTTPException as exc:
            return Response(status=exc.code or 500)
        function = self._functions[endpoint]
        presented = request.headers.get("x-functions-key") or request.args.get("code")
        if not self._keys.allows(function.auth_level, presented):
            return Response(status=401)
        try:
            result = self._invoker.invoke(function, to_function_request(request, route_params), reason=HTTP_REASON)
        except Exception:
            return Response(status=500)  # the invoker logged the traceback
        try:
            return to_wsgi_response(result)
        except TypeError:
            logger.exception("Function %r returned a value that is not an HTTP response", function.name)
            return Response(status=500)


def to_function_request(request: Request, route_params: Mapping[str, Any]) -> func.HttpRequest:
    # Repeated query keys and headers arrive joined, as the host's StringValues.ToString() does.
    return func.HttpRequest(
        method=request.method,
        url=request.url,
        headers={name: ", ".join(request.headers.getlist(name)) for name in set(request.headers.keys())},
        params={key: ",".join(request.args.getlist(key)) for key in request.args},
        route_params={name: str(value) for name, value in route_params.items()},
        body=request.get_data(),
    )


def to_wsgi_response(result: Any) -> Response:
    """Accept what the worker's HttpResponseConverter accepts: an HttpResponse or a str."""
    if isinstance(result, str):
        return Response(result.encode("utf-8"), status=200, content_type="text/plain; charset=utf-8")
    if result is None:
        return Response(status=204)
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function must return func.HttpResponse or str, not {type(result).__name__}")
    headers = list(result.headers.items())
    if not any(name.lower() == "content-type" for name, _ in headers):
        # The worker's rule: text/* types get the charset appended.
        mimetype = result.mimetype
        headers.append(
            ("Content-Type", f"{mimetype}; charset={result.charset}" if mimetype.startswith("text/") else mimetype)
        )
    return Response(result.get_body(), status=result.status_code, headers=headers)


class _RequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # werkzeug colours its access log with ANSI codes even when the output is a file or a pipe. The query
        # string is left out: it can carry secrets (function keys as ?code=, the app's callback tokens).
        method, _, rest = self.requestline.partition(" ")
        target, _, version = rest.partition(" ")
        logger.info('%s "%s %s %s" %s', self.address_string(), method, target.partition("?")[0], version, code)

    # Over-long request lines are answered as the Functions host answers them on Linux, where Python apps run: the
    # host is ASP.NET Core on Kestrel, configured with nothing but a larger body limit, and Kestrel refuses a
    # request line (method, target, version and CRLF) over MaxRequestLineSize, 8,192 bytes, with 414, an empty
    # body and `Connection: close`, before routing or any function runs. http.server allows 65,536 bytes and
    # answers longer lines with an HTML page. (The 4 KB URL limit in the Functions docs is IIS's, on Windows.)
    def parse_request(self) -> bool:
        if len(self.raw_requestline) > MAX_REQUEST_LINE_BYTES:
            self._refuse_request_line()
            return False
        return super().parse_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code == HTTPStatus.REQUEST_URI_TOO_LONG:  # http.server's own check, for lines over 64 KiB
            self._refuse_request_line()
            return
        super().send_error(code, message, explain)

    def _refuse_request_line(self) -> None:
        self.command, self.request_version = "", "HTTP/1.1"
        start, length = self.raw_requestline[:60].decode("latin-1"), len(self.raw_requestline)
        self.requestline = f"{start}... (at least {length} bytes)"  # for the access log
        self.close_connection = True
        self.send_response(HTTPStatus.REQUEST_URI_TOO_LONG)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        self._read_until_client_closes()

    def _read_until_client_closes(self) -> None:
        """Read and drop what the client still sends (the rest of the line, headers, body) until it closes.

        Closing a socket with unread data makes the kernel reset the connection, and a client that is still
        sending may then lose the 414 it was sent. Bounded, so a client that never stops cannot hold a thread.
        """
        deadline = time.monotonic() + LINGER_SECONDS
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            while time.monotonic() < deadline and self.rfile.read1(64 * 1024):
                pass
        except OSError:
            pass


def start_server(app: HttpApp, host: str, port: int) -> BaseWSGIServer:
    """A threaded server, so slow handlers do not block each other (the host runs requests concurrently)."""
    return make_server(host, port, app, threaded=True, request_handler=_RequestHandler)

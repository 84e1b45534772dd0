"""openapi.json describes the app as it is: the same routes and methods, resolvable references, documented
errors, and example request bodies that the app's own validators accept.

Each check is a helper that returns a list of problems; the tests assert the real spec has none, and the
"canary" tests feed the helpers a broken copy to prove each check can fail.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from shared.acs_events import AcsEvent, ResultInformation, parse_callback_body
from shared.api_errors import call_not_found
from shared.api_models import (
    parse_cancel_media,
    parse_create_call,
    parse_invite_participants,
    parse_participant_id,
    parse_play_audio,
)
from shared.call_legs import CallLeg, Operation, apply_acs_event
from shared.calls import CallService
from shared.operations import accepted_operation

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi.json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_REF = "#/components/schemas/Error"
LEG_ID = "7f3c2a9e-5b1d-4c8e-9a6f-2d4b8e1c0a35"
FUNCTION_KEY_SCHEMES = {"functionKeyHeader", "functionKeyQuery"}

# The app's own validator for each operation's request body (operationId = the function's name).
BODY_PARSERS: dict[str, Callable[[Any], object]] = {
    "create_call": lambda body: parse_create_call(body, default_caller_id=None),
    "play_audio": parse_play_audio,
    "cancel_media_processing": parse_cancel_media,
    "invite_participants": parse_invite_participants,
    "acs_callback": lambda body: parse_callback_body(json.dumps(body).encode()),
}
PATH_PARAMETER_PARSERS: dict[str, Callable[[str], object]] = {"participantId": parse_participant_id}

# `ApiError(404, "CallNotFound", ...)` anywhere in the code the handlers run.
_API_ERROR = re.compile(r"ApiError\(\s*(\d{3}),\s*\"(\w+)\"")


# -- loading ------------------------------------------------------------------------------------------------


def load_spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def route_prefix() -> str:
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")  # the host's default is "api"
    return prefix.strip("/")


def http_functions() -> list[Any]:
    """The app's HTTP-triggered functions, indexed as the Python worker does."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import function_app

    app = function_app.app
    try:
        functions = app.get_functions()
    except ValueError:
        # get_functions() refuses to run twice on one app (it remembers the names it saw); if something else
        # in this process indexed the app already, forget those names and index again. A real duplicate name
        # still fails the second time.
        app.functions_bindings = None
        functions = app.get_functions()
    return [f for f in functions if f.get_trigger() is not None and f.get_trigger().type == "httpTrigger"]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


@pytest.fixture(scope="module")
def functions() -> list[Any]:
    return http_functions()


def full_path(route: str, prefix: str) -> str:
    return "/" + "/".join(part for part in (prefix, route.strip("/")) if part)


def normalise(path: str) -> str:
    """`/calls/{callId}` and `/calls/{id:guid}` are the same route: parameter names and constraints differ."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def app_operations(functions: list[Any], prefix: str) -> dict[tuple[str, str], Any]:
    operations = {}
    for function in functions:
        trigger = function.get_trigger()
        route = trigger.route or function.get_function_name()
        assert trigger.methods, f"{function.get_function_name()} accepts every method; the spec cannot list them"
        for method in trigger.methods:
            operations[(normalise(full_path(route, prefix)), str(method.value).lower())] = function
    return operations


def spec_operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (normalise(path), method): operation
        for path, item in spec.get("paths", {}).items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def iter_operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, item, operation


# -- checks (each returns the problems it found) ------------------------------------------------------------


def route_mismatches(app_ops: set[tuple[str, str]], spec_ops: set[tuple[str, str]]) -> list[str]:
    return [f"{m.upper()} {p} is a route of the app but not in openapi.json" for p, m in sorted(app_ops - spec_ops)] + [
        f"{m.upper()} {p} is in openapi.json but not a route of the app" for p, m in sorted(spec_ops - app_ops)
    ]


def resolve(spec: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise KeyError(f"only local references are used here: {ref}")
    node: Any = spec
    for token in ref[2:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise KeyError(ref)
    return node


def deref(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(spec, node["$ref"])
    return node


def dangling_refs(spec: dict[str, Any]) -> list[str]:
    problems = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    resolve(spec, ref)
                except (KeyError, IndexError, ValueError):
                    problems.append(f"{where}: $ref {ref} does not resolve")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(spec, "#")
    return problems


def error_responses(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The operation's 4xx/5xx responses whose JSON body is the shared Error schema."""
    found = {}
    for status, response in operation.get("responses", {}).items():
        response = deref(spec, response)
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if status[0] in "45" and schema.get("$ref") == ERROR_REF:
            found[status] = response
    return found


def operations_without_4xx_error(spec: dict[str, Any]) -> list[str]:
    return [
        f"{method.upper()} {path} documents no 4xx response with the Error schema"
        for path, method, _, operation in iter_operations(spec)
        if not any(status.startswith("4") for status in error_responses(spec, operation))
    ]


def body_examples(spec: dict[str, Any], operation: dict[str, Any]) -> list[tuple[str, Any]]:
    media = deref(spec, operation.get("requestBody", {})).get("content", {}).get("application/json", {})
    examples = [("example", media["example"])] if "example" in media else []
    for name, example in media.get("examples", {}).items():
        examples.append((name, deref(spec, example)["value"]))
    return examples


def rejected_examples(spec: dict[str, Any]) -> list[str]:
    """Request-body and path-parameter examples the app's own validators refuse (or operations lacking them)."""
    problems = []
    for path, method, item, operation in iter_operations(spec):
        name = operation.get("operationId", f"{method} {path}")
        if "requestBody" in operation:
            parser = BODY_PARSERS.get(name)
            examples = body_examples(spec, operation)
            if parser is None:
                problems.append(f"{name}: has a request body but the test knows no validator for it")
            elif not examples:
                problems.append(f"{name}: the request body has no example")
            for label, example in examples if parser else []:
                try:
                    parser(example)
                except ValueError as error:  # ValidationError, InvalidCallbackBodyError
                    problems.append(f"{name}: example {label!r} is refused: {error}")
        for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
            parameter = deref(spec, parameter)
            check = PATH_PARAMETER_PARSERS.get(parameter["name"])
            values = [deref(spec, e)["value"] for e in parameter.get("examples", {}).values()]
            values += [parameter["example"]] if "example" in parameter else []
            for value in values if check else []:
                try:
                    check(value)
                except ValueError as error:
                    problems.append(f"{name}: example {parameter['name']}={value!r} is refused: {error}")
    return problems


def schema_problems(spec: dict[str, Any], schema: Any, value: Any, where: str = "$") -> list[str]:
    """A small validator for the subset of OpenAPI 3.0 schema keywords openapi.json uses."""
    schema = deref(spec, schema)
    if value is None and schema.get("nullable"):
        return []
    problems: list[str] = []
    for part in schema.get("allOf", []):
        problems += schema_problems(spec, part, value, where)
    if "oneOf" in schema:
        matches = sum(not schema_problems(spec, part, value, where) for part in schema["oneOf"])
        if matches != 1:
            problems.append(f"{where}: matches {matches} of oneOf, not exactly 1")
    if "anyOf" in schema and all(schema_problems(spec, part, value, where) for part in schema["anyOf"]):
        problems.append(f"{where}: matches none of anyOf")
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "integer": int,
        "number": (int, float),
    }
    expected = schema.get("type")
    if expected:
        if not isinstance(value, types[expected]) or (expected in ("integer", "number") and isinstance(value, bool)):
            return [*problems, f"{where}: {value!r} is not of type {expected}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) > schema.get("maxLength", len(value)) or len(value) < schema.get("minLength", 0):
            problems.append(f"{where}: length {len(value)} is out of bounds")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, (int, float)) and value < schema.get("minimum", value):
        problems.append(f"{where}: {value} is below the minimum")
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            problems.append(f"{where}: {len(value)} items is out of bounds")
        for index, item in enumerate(value):
            problems += schema_problems(spec, schema.get("items", {}), item, f"{where}[{index}]")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{where}: {key!r} is required")
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                problems += schema_problems(spec, properties[key], item, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{where}: {key!r} is not allowed")
    return problems


def with_schema_spelling(spec: dict[str, Any], schema: Any, body: Any) -> Any:
    """The app matches a request body's top-level keys case-insensitively; JSON Schema cannot say so."""
    spelling = {name.lower(): name for name in deref(spec, schema).get("properties", {})}
    if not isinstance(body, dict):
        return body
    return {spelling.get(str(key).lower(), key): value for key, value in body.items()}


def examples_against_schemas(spec: dict[str, Any]) -> list[str]:
    """Every request, response and event example must fit the schema it illustrates."""
    problems = []
    for path, method, _, operation in iter_operations(spec):
        for label, example in body_examples(spec, operation):
            media = deref(spec, operation["requestBody"])["content"]["application/json"]
            example = with_schema_spelling(spec, media["schema"], example)
            problems += schema_problems(spec, media["schema"], example, f"{method} {path} body {label}")
        for status, response in operation.get("responses", {}).items():
            for media in deref(spec, response).get("content", {}).values():
                found = [media["example"]] if "example" in media else []
                found += [deref(spec, e)["value"] for e in media.get("examples", {}).values()]
                for example in found:
                    problems += schema_problems(spec, media["schema"], example, f"{method} {path} {status}")
    for name, schema in spec["components"]["schemas"].items():
        if "example" in schema:
            problems += schema_problems(spec, schema, schema["example"], f"schema {name} example")
    return problems


def security_problems(spec: dict[str, Any], functions_by_op: dict[tuple[str, str], Any]) -> list[str]:
    problems = []
    global_schemes = {name for requirement in spec.get("security", []) for name in requirement}
    for key, operation in spec_operations(spec).items():
        function = functions_by_op.get(key)
        if function is None:
            continue
        schemes = {name for requirement in operation.get("security", spec.get("security", [])) for name in requirement}
        anonymous = func.AuthLevel(function.get_trigger().auth_level) is func.AuthLevel.ANONYMOUS
        if anonymous and schemes & (FUNCTION_KEY_SCHEMES | global_schemes):
            problems.append(f"{key}: the route is anonymous but the spec asks for a function key")
        if not anonymous and not FUNCTION_KEY_SCHEMES <= schemes:
            problems.append(f"{key}: the route needs a function key but the spec does not say so")
    return problems


# -- the spec against the app --------------------------------------------------------------------------------


def test_the_spec_is_openapi_3_0_with_events_as_an_extension(spec):
    assert spec["openapi"] == "3.0.3"
    assert "webhooks" not in spec  # OpenAPI 3.1 only
    for name in (
        "CallLegStateChanged",
        "ParticipantsUpdated",
        "DtmfReceived",
        "PlayAudioResult",
        "InviteParticipantResult",
        "RemoveParticipantResult",
    ):
        assert f"{name}Event" in spec["components"]["schemas"]
        assert f"{name}Data" in spec["components"]["schemas"]
        body = spec["x-webhooks"][name]["post"]["requestBody"]["content"]["application/cloudevents+json"]
        assert body["schema"]["$ref"] == f"#/components/schemas/{name}Event"


def test_the_app_has_http_routes_to_compare(functions):
    # Guards against an indexing change that silently finds nothing (the comparison would then be vacuous).
    assert len(functions) >= 8


def test_every_route_of_the_app_is_in_the_spec_and_nothing_else(spec, functions):
    app_ops = set(app_operations(functions, route_prefix()))
    assert route_mismatches(app_ops, set(spec_operations(spec))) == []


def test_operation_ids_are_the_function_names(spec, functions):
    by_op = app_operations(functions, route_prefix())
    for key, operation in spec_operations(spec).items():
        assert operation.get("operationId") == by_op[key].get_function_name(), key


def test_path_parameters_are_declared_and_match_the_route(spec, functions):
    by_op = app_operations(functions, route_prefix())
    for path, method, item, operation in iter_operations(spec):
        route = full_path(by_op[(normalise(path), method)].get_trigger().route, route_prefix())
        template = re.findall(r"\{([^}:?]+)", path)
        assert template == re.findall(r"\{([^}:?]+)", route), f"{path} names its parameters unlike {route}"
        declared = [deref(spec, p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
        in_path = {p["name"] for p in declared if p["in"] == "path"}
        assert in_path == set(template), path
        assert all(p.get("required") for p in declared if p["in"] == "path"), path


def test_security_matches_each_routes_auth_level(spec, functions):
    assert security_problems(spec, app_operations(functions, route_prefix())) == []
    schemes = spec["components"]["securitySchemes"]
    assert schemes["functionKeyHeader"] == schemes["functionKeyHeader"] | {"in": "header", "name": "x-functions-key"}
    assert schemes["functionKeyQuery"] == schemes["functionKeyQuery"] | {"in": "query", "name": "code"}


def test_every_ref_resolves(spec):
    assert dangling_refs(spec) == []


def test_every_operation_documents_a_4xx_with_the_error_schema(spec):
    assert operations_without_4xx_error(spec) == []


def test_every_error_the_code_can_write_is_documented(spec, functions):
    """Each `ApiError(status, "Code")` in shared/ or a handler appears as an example under that status."""
    sources = list((ROOT / "shared").glob("*.py"))
    sources += [Path(sys.modules[f.get_user_function().__module__].__file__) for f in functions]
    in_code = {(int(s), code) for path in sources for s, code in _API_ERROR.findall(path.read_text(encoding="utf-8"))}
    assert ("404", "CallNotFound") not in in_code and (404, "CallNotFound") in in_code  # the regex works

    documented = set()
    for _, _, _, operation in iter_operations(spec):
        for status, response in error_responses(spec, operation).items():
            media = response["content"]["application/json"]
            for example in media.get("examples", {}).values():
                documented.add((int(status), deref(spec, example)["value"]["code"]))
    assert sorted(in_code - documented) == []


def test_retryable_errors_document_retry_after(spec):
    for path, method, _, operation in iter_operations(spec):
        for status, response in error_responses(spec, operation).items():
            if status in ("429", "503"):
                assert "Retry-After" in response.get("headers", {}), f"{method.upper()} {path} {status}"


def test_example_request_bodies_pass_the_apps_validators(spec):
    assert rejected_examples(spec) == []


def test_examples_fit_their_schemas(spec):
    assert examples_against_schemas(spec) == []


# -- canaries: each check can fail ---------------------------------------------------------------------------


def test_a_route_missing_from_the_spec_is_caught(spec, functions):
    broken = copy.deepcopy(spec)
    del broken["paths"]["/calls/{callId}/Hangup"]
    problems = route_mismatches(set(app_operations(functions, route_prefix())), set(spec_operations(broken)))
    assert problems == ["POST /calls/{}/Hangup is a route of the app but not in openapi.json"]


def test_a_route_missing_from_the_app_or_a_wrong_method_is_caught(spec, functions):
    app_ops = set(app_operations(functions, route_prefix()))
    app_ops.discard(("/calls/{}/participants/{}", "delete"))
    assert route_mismatches(app_ops, set(spec_operations(spec))) == [
        "DELETE /calls/{}/participants/{} is in openapi.json but not a route of the app"
    ]
    broken = copy.deepcopy(spec)
    broken["paths"]["/calls/{callId}"]["put"] = broken["paths"]["/calls/{callId}"].pop("get")
    assert len(route_mismatches(set(app_operations(functions, route_prefix())), set(spec_operations(broken)))) == 2


def test_a_route_prefix_is_honoured():
    assert full_path("calls/{callId}", "api") == "/api/calls/{callId}"
    assert full_path("calls/{callId}", "") == "/calls/{callId}"
    assert normalise("/calls/{id:guid}/participants/{p?}") == "/calls/{}/participants/{}"


def test_a_dangling_ref_is_caught(spec):
    broken = copy.deepcopy(spec)
    del broken["components"]["schemas"]["ResultInfo"]
    assert any("#/components/schemas/ResultInfo" in problem for problem in dangling_refs(broken))


def test_an_operation_without_a_documented_error_is_caught(spec):
    broken = copy.deepcopy(spec)
    responses = broken["paths"]["/calls/{callId}"]["get"]["responses"]
    for status in [s for s in responses if s.startswith("4")]:
        del responses[status]
    assert operations_without_4xx_error(broken) == [
        "GET /calls/{callId} documents no 4xx response with the Error schema"
    ]


def test_an_example_the_app_refuses_is_caught(spec):
    broken = copy.deepcopy(spec)
    examples = broken["paths"]["/calls"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    examples["minimal"]["value"] = {"targets": ["+14255550123"]}  # a phone target needs alternateCallerId
    play = broken["paths"]["/calls/{callId}/PlayAudio"]["post"]["requestBody"]["content"]["application/json"]
    play["examples"]["seed"]["value"]["audioFileUri"] = "ftp://example.com/a.wav"
    broken["components"]["parameters"]["participantId"]["examples"]["acsUser"]["value"] = "8:orgid:someone"
    problems = rejected_examples(broken)
    assert len(problems) == 3, problems
    assert "alternateCallerId" in problems[0] and "audioFileUri" in problems[1] and "participantId" in problems[2]


def test_an_example_that_does_not_fit_its_schema_is_caught(spec):
    broken = copy.deepcopy(spec)
    media = broken["paths"]["/calls"]["post"]["responses"]["200"]["content"]["application/json"]
    media["example"] = {"callLegID": "x"}
    assert examples_against_schemas(broken) == ["post /calls 200: 'callLegId' is required"]


def test_a_function_key_on_the_anonymous_callback_is_caught(spec, functions):
    broken = copy.deepcopy(spec)
    del broken["paths"]["/callbacks/{callLegId}"]["post"]["security"]
    assert len(security_problems(broken, app_operations(functions, route_prefix()))) == 1


# -- what the code writes fits the documented schemas ----------------------------------------------------------


def _leg(**changes: Any) -> CallLeg:
    leg = CallLeg(
        call_leg_id=LEG_ID,
        targets=["4:+14255550123", "8:acs:callee"],
        callback_uri="https://contoso.example/events",
        requested_call_events=["participantsUpdated", "dtmfReceived"],
        caller_id="+18005550100",
        created_at="2021-05-05T20:08:38.120512+00:00",
        updated_at="2021-05-05T20:08:38.120512+00:00",
    )
    for name, value in changes.items():
        setattr(leg, name, value)
    return leg


def _event(name: str, data: dict[str, Any], *, context: str | None = None, result: bool = False) -> AcsEvent:
    return AcsEvent(
        id=f"acs-{name}",
        name=name,
        time="2021-05-05T20:08:40+00:00",
        call_connection_id="conn",
        operation_context=context,
        result=ResultInformation(200, 8508 if name == "PlayCanceled" else 0, "done") if result else None,
        data=data,
    )


def produced_events() -> list[dict[str, Any]]:
    """One CloudEvent of each kind, made by the code that makes them for subscribers."""
    now = "2021-05-05T20:08:41+00:00"
    operations = {
        "play": Operation(id="play", kind="playAudio", operation_context="ctx"),
        "invite": Operation(id="invite", kind="inviteParticipant", participant="8:acs:agent"),
        "remove": Operation(id="remove", kind="removeParticipant", participant="8:acs:agent"),
    }
    leg = _leg(operations=operations)
    roster = {"sequenceNumber": 1, "participants": [{"identifier": {"rawId": "4:+14255550123"}}]}
    steps = [
        _event("CallConnected", {"serverCallId": "server-call"}),
        _event("ParticipantsUpdated", roster),
        _event("ContinuousDtmfRecognitionToneReceived", {"tone": "one", "sequenceId": 1}),
        _event("PlayCompleted", {}, context="play", result=True),
        _event("AddParticipantSucceeded", {"participant": {"rawId": "8:acs:agent"}}, context="invite", result=True),
        _event("RemoveParticipantFailed", {"participant": {"rawId": "8:acs:agent"}}, context="remove", result=True),
        _event("CallDisconnected", {}, result=True),
    ]
    events = []
    for step in steps:
        events += [n.to_cloud_event() for n in apply_acs_event(leg, step, now).notifications]
    return events


def test_the_events_the_code_sends_fit_their_schemas(spec):
    events = produced_events()
    names = [event["type"].removeprefix("Microsoft.Communication.") for event in events]
    assert sorted(set(names)) == sorted(spec["x-webhooks"])  # every documented event, and no other
    for name, event in zip(names, events, strict=True):
        assert schema_problems(spec, {"$ref": f"#/components/schemas/{name}Event"}, event, name) == []


def test_the_answers_the_code_writes_fit_their_schemas(spec):
    class Store:
        def get(self, call_leg_id: str) -> CallLeg:
            operation = Operation(id="op", kind="removeParticipant", participant="8:acs:agent")
            return _leg(operations={"op": operation}, end_reason={"event": "CallDisconnected", "code": 0})

        def timeline(self, call_leg_id: str) -> list[dict[str, Any]]:
            return [{"time": "2021-05-05T20:08:38.120512+00:00", "type": "callRequested", "targets": []}]

    described = CallService(store=Store(), acs=None, deliverer=None, callback_base_url="https://x").describe(LEG_ID)
    schemas = "#/components/schemas/"
    assert schema_problems(spec, {"$ref": schemas + "CallLeg"}, described) == []
    assert set(described) == set(spec["components"]["schemas"]["CallLeg"]["properties"])

    accepted = accepted_operation(Operation(id="op", kind="playAudio"))
    assert schema_problems(spec, {"$ref": schemas + "Operation"}, accepted) == []

    error = json.loads(call_not_found(LEG_ID).to_response().get_body())
    assert schema_problems(spec, {"$ref": schemas + "Error"}, error) == []
    assert schema_problems(spec, {"$ref": schemas + "Error"}, {"code": "X"}) == ["$: 'message' is required"]

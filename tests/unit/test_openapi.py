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
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import pytest

from shared.calls.acs_events import AcsEvent, ResultInformation, parse_callback_body
from shared.calls.flow import ASK, THROTTLED, apply_event
from shared.calls.legs import CallLeg, Operation
from shared.calls.operations import accepted_operation
from shared.calls.plans import parse_plan
from shared.calls.requests import (
    parse_cancel_media,
    parse_create_call,
    parse_invite_participants,
    parse_participant_id,
    parse_play_audio,
)
from shared.calls.service import CallService
from shared.calls.suppressions import parse_addition
from shared.campaigns.reports import OUTCOMES
from shared.campaigns.service import parse_campaign, parse_recipients, parse_recipients_csv
from shared.campaigns.store import Recipient
from shared.fields import object_fields, phone_number_field
from shared.http.call_legs import describe_leg
from shared.http.errors import call_not_found
from shared.storage.outbox import Outbox
from tests.support import fakes
from tests.support.app_index import app_functions
from tests.support.fakes import CampaignTables, Queue

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi.json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_REF = "#/components/schemas/Error"
LEG_ID = "7f3c2a9e-5b1d-4c8e-9a6f-2d4b8e1c0a35"
FUNCTION_KEY_SCHEMES = {"functionKeyHeader", "functionKeyQuery"}
JSON = "application/json"
CSV = "text/csv"


def _campaign_id(value: str) -> object:
    """A campaign id as POST /campaigns checks it."""
    return parse_campaign(
        {"campaignId": value, "plan": {"prompt": {"text": "Hello."}}}, default_caller_id="+18005550100"
    )


# The app's own validator for each operation's request body, by (operationId = the function's name, media type);
# each mirrors what the handler does with the body.
BODY_PARSERS: dict[tuple[str, str], Callable[[Any], object]] = {
    ("create_call", JSON): lambda body: parse_create_call(body, default_caller_id=None),
    ("play_audio", JSON): parse_play_audio,
    ("cancel_media_processing", JSON): parse_cancel_media,
    ("invite_participants", JSON): parse_invite_participants,
    ("acs_callback", JSON): lambda body: parse_callback_body(json.dumps(body).encode()),
    ("create_campaign", JSON): lambda body: parse_campaign(body, default_caller_id=None),
    ("add_recipients", JSON): lambda body: parse_recipients(object_fields(body).get("recipients")),
    ("add_recipients", CSV): parse_recipients_csv,
    ("add_suppression", JSON): parse_addition,
}
PATH_PARAMETER_PARSERS: dict[str, Callable[[str], object]] = {
    "participantId": parse_participant_id,
    "campaignId": _campaign_id,
    "phoneNumber": lambda value: phone_number_field(value, "phoneNumber"),
}

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
    functions = app_functions()
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


def takes_input(item: dict[str, Any], operation: dict[str, Any]) -> bool:
    return bool(item.get("parameters") or operation.get("parameters") or operation.get("requestBody"))


def operations_without_4xx_error(spec: dict[str, Any]) -> list[str]:
    """Operations that take input (parameters or a body) but document no 4xx with the Error schema. One that
    takes none (the health probes) has nothing to refuse."""
    return [
        f"{method.upper()} {path} documents no 4xx response with the Error schema"
        for path, method, item, operation in iter_operations(spec)
        if takes_input(item, operation)
        and not any(status.startswith("4") for status in error_responses(spec, operation))
    ]


def body_examples(spec: dict[str, Any], operation: dict[str, Any], media_type: str = JSON) -> list[tuple[str, Any]]:
    media = deref(spec, operation.get("requestBody", {})).get("content", {}).get(media_type, {})
    examples = [("example", media["example"])] if "example" in media else []
    for name, example in media.get("examples", {}).items():
        examples.append((name, deref(spec, example)["value"]))
    return examples


def rejected_examples(spec: dict[str, Any]) -> list[str]:
    """Request-body and path-parameter examples the app's own validators refuse (or operations lacking them)."""
    problems = []
    for path, method, item, operation in iter_operations(spec):
        name = operation.get("operationId", f"{method} {path}")
        for media_type in deref(spec, operation.get("requestBody", {})).get("content", {}):
            parser = BODY_PARSERS.get((name, media_type))
            examples = body_examples(spec, operation, media_type)
            if parser is None:
                problems.append(f"{name}: has a {media_type} request body but the test knows no validator for it")
            elif not examples:
                problems.append(f"{name}: the {media_type} request body has no example")
            for label, example in examples if parser else []:
                try:
                    parser(example)
                except ValueError as error:  # ValidationError, InvalidCallbackBodyError
                    problems.append(f"{name}: {media_type} example {label!r} is refused: {error}")
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
    if isinstance(value, (int, float)) and value > schema.get("maximum", value):
        problems.append(f"{where}: {value} is above the maximum")
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
        additional = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                problems += schema_problems(spec, properties[key], item, f"{where}.{key}")
            elif additional is False:
                problems.append(f"{where}: {key!r} is not allowed")
            elif isinstance(additional, dict):
                problems += schema_problems(spec, additional, item, f"{where}.{key}")
    return problems


def undocumented_properties(spec: dict[str, Any], schema: Any, value: Any, where: str = "$") -> list[str]:
    """Keys of `value` that its schema does not name (where the schema lists properties and allows no others):
    what the code writes must be documented, not merely not contradicted."""
    schema = deref(spec, schema)
    parts = [schema, *(deref(spec, part) for part in schema.get("allOf", []))]
    parts += [
        deref(spec, part)
        for keyword in ("oneOf", "anyOf")
        for part in schema.get(keyword, [])
        if not schema_problems(spec, part, value)
    ]
    problems: list[str] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            for part in parts:
                if "items" in part:
                    problems += undocumented_properties(spec, part["items"], item, f"{where}[{index}]")
    if not isinstance(value, dict):
        return problems
    properties = {name: sub for part in parts for name, sub in part.get("properties", {}).items()}
    additional = [
        part["additionalProperties"] for part in parts if part.get("additionalProperties", False) is not False
    ]
    for key, item in value.items():
        if key in properties:
            problems += undocumented_properties(spec, properties[key], item, f"{where}.{key}")
        elif additional:
            if isinstance(additional[0], dict):
                problems += undocumented_properties(spec, additional[0], item, f"{where}.{key}")
        elif properties:
            problems.append(f"{where}: {key!r} is not documented")
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
        for media_type, media in deref(spec, operation.get("requestBody", {})).get("content", {}).items():
            for label, example in body_examples(spec, operation, media_type):
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


def answer_problems(spec: dict[str, Any], operation_id: str, response: func.HttpResponse) -> list[str]:
    """An answer of the app against the operation's documented response for its status: media type, headers,
    body schema, and for an error the code among that response's examples."""
    operation = next(op for _, _, _, op in iter_operations(spec) if op.get("operationId") == operation_id)
    where = f"{operation_id} {response.status_code}"
    documented = operation.get("responses", {}).get(str(response.status_code))
    if documented is None:
        return [f"{where}: the status is not documented"]
    documented = deref(spec, documented)
    body = response.get_body()
    problems = [
        f"{where}: header {name} is documented but not sent"
        for name, header in documented.get("headers", {}).items()
        if name not in response.headers and header.get("required", True)  # e.g. Link: only while pages follow
    ]
    content = documented.get("content", {})
    if not content:
        return problems + ([f"{where}: answers a body but documents none"] if body else [])
    media = content.get(response.mimetype)
    if media is None:
        return [*problems, f"{where}: {response.mimetype} is not documented"]
    if response.mimetype != JSON:
        return problems + schema_problems(spec, media["schema"], body.decode("utf-8"), where)
    value = json.loads(body)
    problems += schema_problems(spec, media["schema"], value, where)
    problems += undocumented_properties(spec, media["schema"], value, where)
    codes = [deref(spec, example)["value"]["code"] for example in media.get("examples", {}).values()]
    if media["schema"].get("$ref") == ERROR_REF and value.get("code") not in codes:
        problems.append(f"{where}: code {value.get('code')!r} is not among the documented {codes}")
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
    sources = list((ROOT / "shared").rglob("*.py"))
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


def test_nullable_copies_match_the_schemas_they_copy(spec):
    """OpenAPI 3.0 cannot make a $ref nullable, so nullable fields repeat a schema inline: the copies must agree."""
    schemas = spec["components"]["schemas"]
    leg, settings = schemas["CallLeg"]["properties"], schemas["CampaignSettings"]["properties"]
    for copied, original in (
        (leg["endReason"], schemas["EndReason"]),
        (schemas["CallLegOperation"]["properties"]["resultInfo"], schemas["ResultInfo"]),
        (leg["plan"], schemas["CallPlan"]),
        (leg["outcomeCode"], schemas["OutcomeCode"]),
        (settings["pacing"], schemas["CampaignPacing"]),
        (settings["retry"], schemas["CampaignRetry"]),
    ):
        assert copied["properties"] == original["properties"], original.get("description")
    assert leg["outcome"]["enum"] == [*schemas["CallOutcome"]["enum"], None]
    assert sorted(schemas["CallOutcome"]["enum"]) == sorted({*OUTCOMES, THROTTLED})  # every outcome the code records


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
    probe = broken["paths"]["/health"]["get"]
    assert "GET /health documents" not in str(operations_without_4xx_error(broken))  # no input, nothing to refuse
    probe["parameters"] = [{"name": "deep", "in": "query", "schema": {"type": "boolean"}}]
    assert "GET /health documents no 4xx response with the Error schema" in operations_without_4xx_error(broken)


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


def test_a_campaign_example_the_app_refuses_is_caught(spec):
    broken = copy.deepcopy(spec)
    create = broken["paths"]["/campaigns"]["post"]["requestBody"]["content"][JSON]["examples"]
    create["reminders"]["value"]["plan"]["collect"]["declineKey"] = "1"  # the same key as confirmKey
    upload = broken["paths"]["/campaigns/{campaignId}/recipients"]["post"]["requestBody"]["content"]
    upload[CSV]["examples"]["recipients"]["value"] = "number\r\n+14255550103\r\n"  # no phoneNumber column
    upload["application/xml"] = {"schema": {"type": "string"}, "example": "<recipients/>"}
    problems = rejected_examples(broken)
    assert len(problems) == 3, problems
    assert "plan.collect" in problems[0] and "phoneNumber column" in problems[1] and "application/xml" in problems[2]

    broken = copy.deepcopy(spec)
    broken["components"]["parameters"]["campaignId"]["example"] = "spring/2026"
    problems = rejected_examples(broken)
    assert len(problems) == 5 and all("campaignId='spring/2026' is refused" in p for p in problems), problems


def test_an_example_that_does_not_fit_its_schema_is_caught(spec):
    broken = copy.deepcopy(spec)
    media = broken["paths"]["/calls"]["post"]["responses"]["200"]["content"]["application/json"]
    media["example"] = {"callLegID": "x"}
    assert examples_against_schemas(broken) == ["post /calls 200: 'callLegId' is required"]


def test_a_value_above_its_maximum_or_a_wrong_map_value_is_caught(spec):
    summary = copy.deepcopy(spec["paths"]["/campaigns/{campaignId}"]["get"]["responses"]["200"]["content"][JSON])
    summary["example"]["byOutcome"]["confirmed"] = "one"
    summary["example"]["settings"]["retry"]["maxAttempts"] = 11
    assert schema_problems(spec, summary["schema"], summary["example"]) == [
        "$.byOutcome.confirmed: 'one' is not of type integer",
        "$.settings.retry.maxAttempts: 11 is above the maximum",
    ]


def test_an_undocumented_property_is_caught(spec):
    leg = {"$ref": "#/components/schemas/CallLeg"}
    snake_case_plan = {"plan": {"prompt": {"text": "Hello.", "audio_file_uri": None}, "collect": {"confirm_key": "1"}}}
    assert undocumented_properties(spec, leg, snake_case_plan) == [
        "$.plan.prompt: 'audio_file_uri' is not documented",
        "$.plan.collect: 'confirm_key' is not documented",
    ]
    event = {"$ref": "#/components/schemas/CallLegStateChangedEvent"}
    assert undocumented_properties(spec, event, {"data": {"callState": "terminated", "result": "confirmed"}}) == [
        "$.data: 'result' is not documented"
    ]
    summary = {"$ref": "#/components/schemas/CampaignSummary"}
    assert undocumented_properties(spec, summary, {"byOutcome": {"anything": 1}, "timings": {"slowest": 1}}) == [
        "$.timings: 'slowest' is not documented"
    ]


def test_an_answer_unlike_its_documentation_is_caught(spec):
    def answer(status: int, body: str, mimetype: str = JSON, **headers: str) -> func.HttpResponse:
        return func.HttpResponse(body, status_code=status, mimetype=mimetype, headers=headers)

    cancelled = json.dumps({"campaignId": "spring", "status": "cancelled"})
    assert answer_problems(spec, "cancel_campaign", answer(202, cancelled)) == []
    assert answer_problems(spec, "cancel_campaign", answer(200, cancelled)) == [
        "cancel_campaign 200: the status is not documented"
    ]
    assert answer_problems(spec, "cancel_campaign", answer(202, cancelled, "text/plain")) == [
        "cancel_campaign 202: text/plain is not documented"
    ]
    assert answer_problems(
        spec, "cancel_campaign", answer(202, json.dumps({"campaignId": "spring", "status": "active"}))
    ) == ["cancel_campaign 202.status: 'active' is not one of ['cancelled']"]
    extra = json.dumps({"campaignId": "spring", "status": "cancelled", "cancelledAt": "2026-03-02T14:00:00Z"})
    assert answer_problems(spec, "cancel_campaign", answer(202, extra)) == [
        "cancel_campaign 202: 'cancelledAt' is not documented"
    ]
    wrong_code = json.dumps({"code": "CallNotFound", "message": "No call leg with id 'x'."})
    assert answer_problems(spec, "get_campaign", answer(404, wrong_code)) == [
        "get_campaign 404: code 'CallNotFound' is not among the documented ['CampaignNotFound']"
    ]
    csv_headers = {
        "Content-Disposition": "attachment",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    assert answer_problems(spec, "campaign_calls_csv", answer(200, "phoneNumber\r\n", CSV, **csv_headers)) == []
    del csv_headers["Content-Disposition"]
    assert answer_problems(spec, "campaign_calls_csv", answer(200, "phoneNumber\r\n", CSV, **csv_headers)) == [
        "campaign_calls_csv 200: header Content-Disposition is documented but not sent"
    ]


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
    """One CloudEvent of each kind, made by the code that makes them for subscribers (the plan first, as
    CallService.apply_callback_event does, so the final state event carries the call's outcome)."""
    now = "2021-05-05T20:08:41+00:00"
    operations = {
        "play": Operation(id="play", kind="playAudio", operation_context="ctx"),
        "invite": Operation(id="invite", kind="inviteParticipant", participant="8:acs:agent"),
        "remove": Operation(id="remove", kind="removeParticipant", participant="8:acs:agent"),
    }
    leg = _leg(operations=operations, plan=parse_plan({"prompt": {"text": "Press 1."}, "collect": {}}).to_dict())
    roster = {"sequenceNumber": 1, "participants": [{"identifier": {"rawId": "4:+14255550123"}}]}
    steps = [
        _event("CallConnected", {"serverCallId": "server-call"}),
        _event("ParticipantsUpdated", roster),
        _event("ContinuousDtmfRecognitionToneReceived", {"tone": "one", "sequenceId": 1}),
        _event("PlayCompleted", {}, context="play", result=True),
        _event("RecognizeCompleted", {"dtmfResult": {"tones": ["one"]}}, context=ASK, result=True),
        _event("AddParticipantSucceeded", {"participant": {"rawId": "8:acs:agent"}}, context="invite", result=True),
        _event("RemoveParticipantFailed", {"participant": {"rawId": "8:acs:agent"}}, context="remove", result=True),
        _event("CallDisconnected", {}, result=True),
    ]
    events = []
    for step in steps:
        events += [n.to_cloud_event() for n in apply_event(leg, step, now).changes.notifications]
    return events


def test_the_events_the_code_sends_fit_their_schemas(spec):
    events = produced_events()
    names = [event["type"].removeprefix("Microsoft.Communication.") for event in events]
    assert sorted(set(names)) == sorted(spec["x-webhooks"])  # every documented event, and no other
    for name, event in zip(names, events, strict=True):
        assert schema_problems(spec, {"$ref": f"#/components/schemas/{name}Event"}, event, name) == []
        assert undocumented_properties(spec, {"$ref": f"#/components/schemas/{name}Event"}, event, name) == []
    assert events[-1]["data"]["callState"] == "terminated" and events[-1]["data"]["outcome"] == "confirmed"


def _no_queue(queue_name: str) -> Any:
    raise AssertionError(f"nothing should be queued here (asked for queue {queue_name!r})")


def test_the_answers_the_code_writes_fit_their_schemas(spec):
    plan = spec["components"]["schemas"]["CallPlan"]["example"]  # prompt, collect, escalation and goodbye
    legs = {
        "plain": _leg(operations={"op": Operation(id="op", kind="removeParticipant", participant="8:acs:agent")}),
        "campaign": _leg(
            plan=parse_plan(plan).to_dict(),
            end_reason={"event": "CallDisconnected", "code": 0},
            answered_at="2021-05-05T20:08:40+00:00",
            outcome="confirmed",
            outcome_code={"code": 200, "subCode": 8531, "message": "Action completed, max digits received."},
            digits="1",
            campaign_id="spring-reminders",
            attempt=2,
        ),
    }

    class Store:
        def get(self, call_leg_id: str) -> CallLeg:
            return legs[call_leg_id]

        def timeline(self, call_leg_id: str) -> list[dict[str, Any]]:
            return [{"time": "2021-05-05T20:08:38.120512+00:00", "type": "callRequested", "targets": []}]

    service = CallService(store=Store(), acs=None, outbox=Outbox(_no_queue), callback_base_url="https://x")
    schemas = "#/components/schemas/"
    for name in legs:
        described = describe_leg(*service.read(name))
        assert schema_problems(spec, {"$ref": schemas + "CallLeg"}, described) == [], name
        assert undocumented_properties(spec, {"$ref": schemas + "CallLeg"}, described) == [], name
        assert set(described) == set(spec["components"]["schemas"]["CallLeg"]["properties"])
    assert described["plan"]["escalation"]["participant"] == "4:+14255550100"  # stored as a raw id
    assert parse_plan(described["plan"]).to_dict() == described["plan"]  # shown as a request would send it

    accepted = accepted_operation(Operation(id="op", kind="playAudio"))
    assert schema_problems(spec, {"$ref": schemas + "Operation"}, accepted) == []

    error = json.loads(call_not_found(LEG_ID).to_response().get_body())
    assert schema_problems(spec, {"$ref": schemas + "Error"}, error) == []
    assert schema_problems(spec, {"$ref": schemas + "Error"}, {"code": "X"}) == ["$: 'message' is required"]


def test_the_campaign_answers_fit_their_schemas(spec, functions, monkeypatch):
    """The campaign routes' real handlers, on campaigns kept in memory, answer as documented."""
    tables, queue = CampaignTables(), Queue()
    service = fakes.campaign_service(tables, queue=queue)
    handlers = {f.get_function_name(): f.get_user_function() for f in functions}
    for name in (
        "create_campaign",
        "add_recipients",
        "cancel_campaign",
        "get_campaign",
        "campaign_calls_csv",
        "campaign_report",
    ):
        module = sys.modules[handlers[name].__module__]
        for attribute, fake in (
            ("get_campaign_service", lambda: service),
            ("get_campaign_store", lambda: tables),
            ("get_settings", lambda: SimpleNamespace(default_caller_id=None)),
        ):
            if hasattr(module, attribute):
                monkeypatch.setattr(module, attribute, fake)

    def call(name: str, campaign_id: str | None = None, body: Any = None, content_type: str = JSON) -> Any:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode() if body is not None else b""
        request = func.HttpRequest(
            method="GET" if name.startswith(("get_", "campaign_")) else "POST",
            url="http://localhost/campaigns",
            headers={"Content-Type": content_type},
            route_params={"campaignId": campaign_id} if campaign_id else {},
            body=data,
        )
        response = handlers[name](request)
        assert answer_problems(spec, name, response) == [], (name, response.get_body()[:300])
        return response

    create = spec["paths"]["/campaigns"]["post"]["requestBody"]["content"][JSON]["examples"]
    reminders = create["reminders"]["value"]
    assert call("create_campaign", body=reminders).status_code == 201
    assert json.loads(call("create_campaign", body=reminders).get_body())["code"] == "CampaignExists"
    minimal = json.loads(call("create_campaign", body=create["minimal"]["value"]).get_body())["campaignId"]
    upload = spec["paths"]["/campaigns/{campaignId}/recipients"]["post"]["requestBody"]["content"]
    for media_type in (JSON, CSV):
        for example in upload[media_type]["examples"].values():
            assert call("add_recipients", "spring-reminders", example["value"], media_type).status_code == 202
    uploads = sum(len(upload[media_type]["examples"]) for media_type in (JSON, CSV))
    assert len(queue.messages) == 1 + uploads  # one chunk of recipients per request
    assert (
        call("add_recipients", "no-such-campaign", upload[JSON]["examples"]["recipients"]["value"]).status_code == 404
    )

    at = "2026-03-02T14:00:{:02d}+00:00".format
    tables.recipients["spring-reminders"] = [
        Recipient(
            "spring-reminders",
            "+14255550101",
            status="done",
            attempts=1,
            outcome="confirmed",
            outcome_code={"code": 200, "subCode": 0, "message": "ok"},
            call_leg_id=LEG_ID,
            digits="1",
            first_call_at=at(2),
            last_call_at=at(2),
            answered_at=at(9),
            ended_at=at(31),
            duration_seconds=22.0,
        ),
        Recipient(
            "spring-reminders", "+14255550102", status="waiting", attempts=1, outcome="busy", first_call_at=at(3)
        ),
        Recipient("spring-reminders", "=cmd|' /C calc'!A0", status="done", attempts=2, outcome="no-answer"),
        Recipient("spring-reminders", "+14255550104"),
    ]
    for campaign_id in ("spring-reminders", minimal):
        summary = json.loads(call("get_campaign", campaign_id).get_body())
        assert set(summary) == set(spec["components"]["schemas"]["CampaignSummary"]["properties"])
        assert set(summary["settings"]) <= set(spec["components"]["schemas"]["CampaignSettings"]["properties"])
        call("campaign_calls_csv", campaign_id)
        call("campaign_report", campaign_id)
    assert summary["timings"]["firstCallAt"] is None  # the minimal campaign has no recipients yet
    assert json.loads(call("cancel_campaign", "spring-reminders").get_body())["status"] == "cancelled"
    assert json.loads(call("get_campaign", "spring-reminders").get_body())["status"] == "cancelled"
    for name in ("cancel_campaign", "get_campaign", "campaign_calls_csv", "campaign_report"):
        for unknown in ("no-such-campaign", "not a campaign id"):
            assert call(name, unknown).status_code == 404


def test_the_suppression_answers_fit_their_schemas(spec):
    from shared.calls.suppressions import Suppression, opt_out_source

    schemas = "#/components/schemas/"
    at = "2026-03-02T14:00:12+00:00"
    entries = [
        Suppression("+14255550101", "opted-out", opt_out_source("spring-reminders", LEG_ID), at),
        Suppression("+14255550102", "opted-out", opt_out_source(None, LEG_ID), at),
        Suppression("+14255550103", "asked by letter", {"type": "api"}, at),
    ]
    for entry in entries:
        assert schema_problems(spec, {"$ref": schemas + "SuppressionEntry"}, entry.to_dict()) == []
        assert undocumented_properties(spec, {"$ref": schemas + "SuppressionEntry"}, entry.to_dict()) == []
    page = {"suppressions": [e.to_dict() for e in entries], "continuationToken": "KzE0MjU1NTUwMTAz"}
    assert schema_problems(spec, {"$ref": schemas + "SuppressionPage"}, page) == []

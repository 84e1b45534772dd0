"""Random JSON thrown at every route of the app: never a 5xx, always the seed's error body."""

import json

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "targets",
        "source",
        "alternateCallerId",
        "subject",
        "callbackUri",
        "requestedModalities",
        "requestedCallEvents",
        "audioFileUri",
        "loop",
        "operationContext",
        "resourceId",
        "participants",
        "idempotencyKey",
    ]
)
bodies = st.dictionaries(field_names, json_values, max_size=6).map(json.dumps).map(str.encode) | st.binary(max_size=64)
paths = st.sampled_from(
    [
        "/calls",
        "/calls/{id}/PlayAudio",
        "/calls/{id}/participants",
        "/calls/{id}/CancelMediaProcessing",
        "/calls/{id}/Hangup",
        "/callbacks/{id}",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=paths, body=bodies, call_id=st.sampled_from(["00000000-0000-4000-8000-000000000000", "x", "%20"]))
def test_no_input_gets_a_5xx(stack, path, body, call_id):
    answer = requests.post(stack.app_url + path.replace("{id}", call_id), data=body, timeout=15)

    assert answer.status_code < 500, (path, body, answer.status_code, answer.text)
    if answer.status_code >= 400 and answer.content:
        assert set(answer.json()) == {"code", "message"}

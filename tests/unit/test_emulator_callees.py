"""Callee scripts as the control API accepts them: parsing, validation messages and the JSON they answer with."""

from __future__ import annotations

import pytest

from emulator.callees import ScriptError, parse_script, parse_scripts


def test_callbacks_rule_combines_with_the_other_fields_and_round_trips():
    body = {"answer": "answer", "answerAfterMs": 0, "hangUpAfterMs": 5000,
            "presses": [{"tones": "1", "afterMs": 10, "from": "answer"}], "callbacks": {"dropAfter": 2}}
    script = parse_script(body)
    assert script.drop_callbacks_after == 2 and script.hang_up_after_ms == 5000
    assert script.to_json() == {**body, "answerAfterMs": 0.0, "hangUpAfterMs": 5000.0,
                                "presses": [{"tones": "1", "afterMs": 10.0, "from": "answer"}]}


def test_no_callbacks_rule_means_every_callback_is_sent():
    script = parse_script({"answer": "busy"})
    assert script.drop_callbacks_after is None and "callbacks" not in script.to_json()


def test_each_attempt_has_its_own_callbacks_rule():
    first, second = parse_scripts({"attempts": [{"answer": "busy", "callbacks": {"dropAfter": 0}}, {}]})
    assert (first.drop_callbacks_after, second.drop_callbacks_after) == (0, None)


@pytest.mark.parametrize(("body", "field"), [
    ({"callbacks": 3}, "script.callbacks"),
    ({"callbacks": {}}, "script.callbacks"),
    ({"callbacks": {"dropafter": 1}}, "script.callbacks"),
    ({"callbacks": {"dropAfter": 1, "extra": True}}, "script.callbacks"),
    ({"callbacks": {"dropAfter": -1}}, "script.callbacks.dropAfter"),
    ({"callbacks": {"dropAfter": 1.5}}, "script.callbacks.dropAfter"),
    ({"callbacks": {"dropAfter": True}}, "script.callbacks.dropAfter"),
    ({"callbacks": {"dropAfter": 1_000_001}}, "script.callbacks.dropAfter"),
])
def test_invalid_callbacks_rules_name_the_field(body, field):
    with pytest.raises(ScriptError) as caught:
        parse_script(body)
    assert str(caught.value).startswith(field + " must be")


def test_an_invalid_rule_in_an_attempt_names_the_attempt():
    with pytest.raises(ScriptError, match=r"^attempts\[1\]\.callbacks\.dropAfter "):
        parse_scripts({"attempts": [{}, {"callbacks": {"dropAfter": "all"}}]})

"""How simulated callees behave: magic phone numbers and scripts set through the control API.

A script says whether the callee answers (or is busy, declines, ...), when, which keys it presses and when
it hangs up. Scripts apply to createCall targets, participants:add and :transferToParticipant targets.
A control-API script wins over a magic number; anything else answers after --answer-delay-ms.
A script can also make the call lose its callbacks (`"callbacks": {"dropAfter": N}`), as if ACS had given up
delivering them; that part applies to createCall targets only, since the callbacks belong to the call.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .config import EmulatorConfig

ANSWER_KINDS = ("answer", "busy", "noAnswer", "decline", "unreachable")
DTMF_CHARACTERS = set("0123456789*#ABCDabcd")
MAX_DROP_AFTER = 1_000_000


@dataclass(frozen=True)
class Failure:
    """resultInformation of a callee that does not answer (§4.3)."""

    code: int
    sub_code: int
    message: str


FAILURES = {
    "busy": Failure(486, 8539, "Call failed, callee is busy."),
    "noAnswer": Failure(480, 560480, "Call failed, callee did not answer."),
    "decline": Failure(603, 8538, "Call failed, callee declined the call."),
    "unreachable": Failure(480, 10078, "Call failed, callee is not reachable."),
}


@dataclass(frozen=True)
class Press:
    tones: str  # characters 0-9 * # A-D
    after_ms: float
    start: str = "listening"  # "listening" | "answer"


@dataclass(frozen=True)
class Script:
    answer: str = "answer"
    answer_after_ms: float | None = None  # None = the configured default for the outcome
    presses: tuple[Press, ...] = ()
    hang_up_after_ms: float | None = None
    drop_callbacks_after: int | None = None  # the call's first N events go out, later ones never do

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"answer": self.answer}
        if self.answer_after_ms is not None:
            out["answerAfterMs"] = self.answer_after_ms
        if self.presses:
            out["presses"] = [{"tones": p.tones, "afterMs": p.after_ms, "from": p.start} for p in self.presses]
        if self.hang_up_after_ms is not None:
            out["hangUpAfterMs"] = self.hang_up_after_ms
        if self.drop_callbacks_after is not None:
            out["callbacks"] = {"dropAfter": self.drop_callbacks_after}
        return out

    def ring_ms(self, config: EmulatorConfig) -> float:
        """Simulated ms until the callee answers or fails (before --time-scale)."""
        if self.answer_after_ms is not None:
            return self.answer_after_ms
        if self.answer == "answer":
            return config.answer_delay_ms
        if self.answer == "noAnswer":
            return config.ring_timeout_ms
        return config.reject_delay_ms


def _presses_after_listening(tone: str) -> tuple[Press, ...]:
    return (Press(tone, 1000, "listening"),)


MAGIC_NUMBERS: dict[str, tuple[Script, ...]] = {
    "+15005550001": (Script(answer_after_ms=0),),
    "+15005550002": (Script("busy"),),
    "+15005550003": (Script("noAnswer"),),
    "+15005550004": (Script("decline"),),
    "+15005550005": (Script("unreachable"),),
    "+15005550006": (Script(presses=_presses_after_listening("1")),),
    "+15005550007": (Script(presses=_presses_after_listening("2")),),
    "+15005550008": (Script(presses=_presses_after_listening("0")),),
    "+15005550009": (Script(hang_up_after_ms=2000),),
    "+15005550010": (Script("busy"), Script()),
    "+15005550011": (Script(),),
}


class ScriptError(ValueError):
    """A control-API script is invalid; the message names the field."""


def _number(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86_400_000:
        raise ScriptError(f"{field_name} must be a number of milliseconds between 0 and 86400000")
    return float(value)


def parse_drop_after(value: Any, field_name: str) -> int:
    """How many of a call's callback events go out before the rest are dropped (0 = none go out)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DROP_AFTER:
        raise ScriptError(f"{field_name} must be a whole number of events between 0 and {MAX_DROP_AFTER}")
    return value


def _callbacks_rule(value: Any, field_name: str) -> int | None:
    if value is None:
        return None
    # Strict about keys: a misspelt rule that silently delivered everything would defeat its purpose.
    if not isinstance(value, dict) or set(value) != {"dropAfter"}:
        raise ScriptError(f'{field_name} must be an object {{"dropAfter": N}}')
    return parse_drop_after(value["dropAfter"], f"{field_name}.dropAfter")


def parse_script(value: Any, field_name: str = "script") -> Script:
    if not isinstance(value, dict):
        raise ScriptError(f"{field_name} must be an object")
    answer = value.get("answer", "answer")
    if answer not in ANSWER_KINDS:
        raise ScriptError(f"{field_name}.answer must be one of {', '.join(ANSWER_KINDS)}")
    presses = []
    raw_presses = value.get("presses", [])
    if not isinstance(raw_presses, list):
        raise ScriptError(f"{field_name}.presses must be a list")
    for i, press in enumerate(raw_presses):
        where = f"{field_name}.presses[{i}]"
        if not isinstance(press, dict):
            raise ScriptError(f"{where} must be an object")
        tones = press.get("tones")
        if not isinstance(tones, str) or not tones or not set(tones) <= DTMF_CHARACTERS:
            raise ScriptError(f"{where}.tones must be a string of 0-9 * # A-D")
        start = press.get("from", "listening")
        if start not in ("listening", "answer"):
            raise ScriptError(f"{where}.from must be 'listening' or 'answer'")
        presses.append(Press(tones, _number(press.get("afterMs", 0), f"{where}.afterMs"), start))
    answer_after = value.get("answerAfterMs")
    hang_up_after = value.get("hangUpAfterMs")
    return Script(
        answer=answer,
        answer_after_ms=None if answer_after is None else _number(answer_after, f"{field_name}.answerAfterMs"),
        presses=tuple(presses),
        hang_up_after_ms=None if hang_up_after is None else _number(hang_up_after, f"{field_name}.hangUpAfterMs"),
        drop_callbacks_after=_callbacks_rule(value.get("callbacks"), f"{field_name}.callbacks"),
    )


def parse_scripts(value: Any) -> tuple[Script, ...]:
    """One script, or `{"attempts": [script, ...]}` (the n-th call uses attempts[min(n, len-1)])."""
    if isinstance(value, dict) and "attempts" in value:
        attempts = value["attempts"]
        if not isinstance(attempts, list) or not attempts or len(attempts) > 100:
            raise ScriptError("attempts must be a list of 1 to 100 scripts")
        return tuple(parse_script(item, f"attempts[{i}]") for i, item in enumerate(attempts))
    return (parse_script(value),)


def target_key(target: str) -> str:
    """Scripts are keyed by rawId; a bare phone number "+1..." means its rawId "4:+1..."."""
    target = target.strip()
    return "4:" + target if target.startswith("+") else target


@dataclass
class CalleeBook:
    """Scripts set through the control API, and how many calls each target has had (for `attempts`)."""

    scripts: dict[str, tuple[Script, ...]] = field(default_factory=dict)
    calls_made: Counter = field(default_factory=Counter)

    def set(self, target: str, scripts: tuple[Script, ...]) -> None:
        key = target_key(target)
        self.scripts[key] = scripts
        self.calls_made.pop(key, None)  # a new script starts counting attempts afresh

    def get(self, target: str) -> tuple[Script, ...] | None:
        return self.scripts.get(target_key(target))

    def delete(self, target: str) -> bool:
        key = target_key(target)
        self.calls_made.pop(key, None)
        return self.scripts.pop(key, None) is not None

    def clear(self) -> None:
        self.scripts.clear()
        self.calls_made.clear()

    def next_script(self, raw_id: str) -> Script:
        """The script for the next call to `raw_id`, counting the attempt."""
        attempt = self.calls_made[raw_id]
        self.calls_made[raw_id] += 1
        scripts = self.scripts.get(raw_id)
        if scripts is None and raw_id.startswith("4:"):
            scripts = MAGIC_NUMBERS.get(raw_id[2:])
        if not scripts:
            return Script()
        return scripts[min(attempt, len(scripts) - 1)]

"""Outcomes of calls, and the engine that drives a call through its plan.

Pure: `drive_plan` looks at a leg and one ACS event, records the outcome on the leg and returns the actions to
take next (play, ask for a key, invite, hang up). The caller saves the leg, then carries the actions out.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from .acs_events import AcsEvent, ResultInformation
from .call_legs import CallLeg
from .plans import CallPlan, Prompt

# Outcomes a call leg can end with. Silence is never "confirmed".
CONFIRMED, DECLINED, ESCALATED = "confirmed", "declined", "escalated"
ANSWERED, ANSWERED_WITHOUT_INPUT = "answered", "answered-without-input"
BUSY, NO_ANSWER, UNREACHABLE, FAILED = "busy", "no-answer", "unreachable", "failed"
THROTTLED = "throttled"  # ACS refused to start the call for now (8516/8530): not the callee's answer

_TONE_KEYS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "asterisk": "*",
    "pound": "#",
}

ASK, TELL, GOODBYE = "plan:ask", "plan:prompt", "plan:goodbye"


@dataclass(frozen=True)
class Play:
    prompt: Prompt
    context: str


@dataclass(frozen=True)
class AskForKey:
    prompt: Prompt
    timeout_seconds: int
    context: str = ASK


@dataclass(frozen=True)
class Invite:
    participant: str


@dataclass(frozen=True)
class HangUp:
    pass


Action = Play | AskForKey | Invite | HangUp
_ACTIONS = {cls.__name__: cls for cls in (Play, AskForKey, Invite, HangUp)}


def action_to_json(action: Action) -> str:
    """Actions are written down with the event that caused them, so a retried callback can carry them out."""
    fields = {name: getattr(action, name) for name in action.__dataclass_fields__}
    if "prompt" in fields:
        fields["prompt"] = asdict(fields["prompt"])
    return json.dumps({"action": type(action).__name__, **fields})


def action_from_json(text: str) -> Action:
    fields = json.loads(text)
    action_type = _ACTIONS[fields.pop("action")]
    if "prompt" in fields:
        fields["prompt"] = Prompt(**fields["prompt"])
    return action_type(**fields)


def outcome_of_failed_call(result: ResultInformation | None) -> str:
    """What a CreateCallFailed (or a call ended before anyone answered) means for the recipient."""
    if result is None:
        return FAILED
    code, sub_code = result.code, result.sub_code
    if sub_code in (8516, 8530) or code == 429:
        return THROTTLED
    if sub_code in (8539, 8540) or code in (486, 600) or sub_code == 8538 or code == 603:
        return BUSY  # declining a ringing call is reported by carriers as busy
    if sub_code in (10078, 8544, 560484) or code in (404, 484):
        return UNREACHABLE
    if sub_code in (560480, 8541, 10057) or code in (408, 480, 487):
        return NO_ANSWER
    return FAILED


def key_of(tone: Any) -> str:
    return _TONE_KEYS.get(str(tone).lower(), str(tone).upper())


def drive_plan(leg: CallLeg, event: AcsEvent, now: str) -> list[Action]:
    """Advance the leg's plan by one event. Records `outcome` on the leg when it becomes known."""
    if leg.is_ended:
        return []  # a late event: the call is over
    if event.name == "CreateCallFailed":
        _decide(leg, outcome_of_failed_call(event.result), event.result)
        return []
    if event.name == "CallDisconnected":
        if leg.outcome is None:
            _decide(
                leg, ANSWERED_WITHOUT_INPUT if leg.answered_at else outcome_of_failed_call(event.result), event.result
            )
        return []
    if event.name == "CallConnected":
        leg.answered_at = leg.answered_at or event.time or now
    if leg.plan is None or (leg.outcome is not None and leg.flow_step != "goodbye"):
        return []
    plan = CallPlan.from_dict(leg.plan)
    if event.name == "CallConnected" and leg.flow_step is None:
        if plan.collect:
            leg.flow_step, leg.prompts_asked = "asking", 1
            return [AskForKey(plan.prompt, plan.collect.timeout_seconds)]
        leg.flow_step = "telling"
        return [Play(plan.prompt, TELL)]
    if event.operation_context == TELL and event.name in ("PlayCompleted", "PlayFailed"):
        _decide(leg, ANSWERED if event.name == "PlayCompleted" else FAILED, event.result)
        return _finish(leg, plan)
    if event.operation_context == ASK and event.name in ("RecognizeCompleted", "RecognizeFailed"):
        return _answer(leg, plan, event)
    if event.operation_context == GOODBYE and event.name in ("PlayCompleted", "PlayFailed"):
        leg.flow_step = "done"
        return [HangUp()]
    return []


def _answer(leg: CallLeg, plan: CallPlan, event: AcsEvent) -> list[Action]:
    assert plan.collect is not None
    tones = (event.data.get("dtmfResult") or event.data.get("collectTonesResult") or {}).get("tones") or []
    keys = "".join(key_of(t) for t in tones)
    if keys:
        leg.digits = (leg.digits or "") + keys
    key = keys[:1]
    if key and key == plan.collect.confirm_key:
        _decide(leg, CONFIRMED, event.result)
    elif key and key == plan.collect.decline_key:
        _decide(leg, DECLINED, event.result)
    elif key and plan.escalation and key == plan.escalation.key:
        _decide(leg, ESCALATED, event.result)
        leg.flow_step = "escalated"  # a human takes over: the plan stops driving the call
        return [Invite(plan.escalation.participant)]
    elif leg.prompts_asked < plan.collect.max_prompts:
        leg.prompts_asked += 1  # silence or a key we did not offer: ask again
        return [AskForKey(plan.prompt, plan.collect.timeout_seconds)]
    else:
        _decide(leg, ANSWERED_WITHOUT_INPUT, event.result)
    return _finish(leg, plan)


def _finish(leg: CallLeg, plan: CallPlan) -> list[Action]:
    if plan.goodbye and leg.outcome in (CONFIRMED, DECLINED):
        leg.flow_step = "goodbye"
        return [Play(plan.goodbye, GOODBYE)]
    leg.flow_step = "done"
    return [HangUp()]


def _decide(leg: CallLeg, outcome: str, result: ResultInformation | None) -> None:
    if leg.outcome is None:
        leg.outcome = outcome
        leg.outcome_code = result.to_dict() if result else None

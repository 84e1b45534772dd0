"""Outcomes of calls, and the engine that drives a call through its plan.

Pure: `apply_event` takes a leg and one ACS event, changes the leg (state, facts, outcome) and returns what to
tell the caller and the actions to take next (play, ask for a key, invite, hang up). The caller saves the leg,
then carries the actions out.

An outcome is derived from everything the leg has seen, never from the order it was seen in: the first key the
plan offered that the callee pressed (by ACS's event time), else whether the callee answered at all, else how
ACS said the call failed. So the same events in any order, repeated or not, end in the same outcome. The same
holds for a poll's choice (the decisive key's label) and for `voicemail_left` (a completed voicemail play).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.calls.acs_events import AcsEvent, ResultInformation
from shared.calls.legs import (
    CallLeg,
    EventOutcome,
    LegSnapshot,
    LegState,
    TimelineEntry,
    apply_acs_event,
    instant,
    key_of,
    pressed,
    record_press,
    state_changes,
)
from shared.calls.plans import CallPlan, Prompt

# ACS's own ending events: their result says why a call that nobody answered failed.
ACS_ENDINGS = frozenset({"CreateCallFailed", "AnswerFailed", "ConnectFailed", "CallDisconnected"})

# Outcomes a call leg can end with. Silence is never "confirmed".
CONFIRMED, DECLINED, ESCALATED = "confirmed", "declined", "escalated"
CHOSEN = "chosen"  # a poll's callee pressed one of its choice keys (the leg's `choice` says which)
ANSWERED, ANSWERED_WITHOUT_INPUT = "answered", "answered-without-input"
BUSY, NO_ANSWER, UNREACHABLE, FAILED = "busy", "no-answer", "unreachable", "failed"
THROTTLED = "throttled"  # ACS refused to start the call for now (8516/8530): not the callee's answer
OPTED_OUT = "opted-out"  # pressed the plan's opt-out key: the number goes on the suppression list

ASK, TELL, GOODBYE = "plan:ask", "plan:prompt", "plan:goodbye"
VOICEMAIL = "plan:voicemail"
OPT_OUT_CONFIRMATION = "plan:opt-out"


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
    if sub_code == 8538 or code == 603:
        return DECLINED  # the callee rejected the ringing call: an answer, not a line to try again
    if sub_code in (8539, 8540) or code in (486, 600):
        return BUSY
    if sub_code in (10078, 8544, 560484) or code in (404, 484):
        return UNREACHABLE
    if sub_code in (560480, 8541, 10057) or code in (408, 480, 487):
        return NO_ANSWER
    return FAILED


@dataclass
class EventEffects:
    """What one ACS event means: timeline rows and caller events (see call_legs), and the plan's next steps."""

    changes: EventOutcome
    actions: list[Action] = field(default_factory=list)


def apply_event(leg: CallLeg, event: AcsEvent, now: str) -> EventEffects:
    """Apply one ACS event to the leg: its state and facts, the plan's next steps, the outcome."""
    before = LegSnapshot.of(leg)
    had_connected = leg.state is not LegState.ESTABLISHING
    changes = apply_acs_event(leg, event, now)
    plan = CallPlan.from_dict(leg.plan) if leg.plan else None
    if plan is not None:
        _note_plan_facts(leg, plan, event)
    just_connected = not had_connected and leg.state is LegState.ESTABLISHED
    if before.state is LegState.TERMINATED:
        # A call the app gave up on (never confirmed by ACS, reconciled) turned out to be live: end it, so nobody
        # waits on a silent line.
        stray = event.name == "CallConnected" and before.end_reason not in ACS_ENDINGS
        actions: list[Action] = [HangUp()] if stray else []
    else:
        actions = [] if plan is None or leg.is_ended else _next_steps(leg, plan, event, just_connected)
    settle_outcome(leg, plan)
    changes.notifications[:0] = state_changes(leg, before, event.id)
    changes.timeline += [_spoken(action, now) for action in actions if isinstance(action, Play | AskForKey)]
    return EventEffects(changes, actions)


def _spoken(action: Play | AskForKey, now: str) -> TimelineEntry:
    """What the plan says next, as said (a campaign's plan is filled in for its recipient): kept on the leg's
    timeline, which is where a call's content may be; logs never see it."""
    prompt = action.prompt
    said = {"text": prompt.text} if prompt.text is not None else {"audioFileUri": prompt.audio_file_uri}
    voice = {k: v for k, v in (("voice", prompt.voice), ("language", prompt.language)) if v}
    return TimelineEntry(now, "planPrompt", {"operationContext": action.context, **said, **voice})


def settle_outcome(leg: CallLeg, plan: CallPlan | None) -> None:
    """The outcome, its ACS code and the digits, from the facts the leg has gathered."""
    ended_with = {k: v for k, v in (leg.end_reason or {}).items() if k != "event"} or None
    if leg.decision is not None:
        outcome, code = leg.decision["outcome"], leg.decision["code"]
    elif not leg.is_ended:
        outcome, code = None, None
    elif leg.answered_at:
        outcome, code = (ANSWERED_WITHOUT_INPUT if plan else ANSWERED), ended_with
    elif (leg.end_reason or {}).get("event") in ACS_ENDINGS:
        outcome, code = outcome_of_failed_call(ResultInformation.from_wire(ended_with)), ended_with
    else:
        outcome, code = FAILED, ended_with  # the app gave up on it (refused, poisoned, reconciled)
    leg.outcome, leg.outcome_code = outcome, code
    leg.digits = pressed(leg, "ask" if plan and plan.collect else "tone")
    leg.choice = _choice_of(leg.decision, plan)


def _choice_of(decision: dict[str, Any] | None, plan: CallPlan | None) -> dict[str, str] | None:
    """The poll choice the decisive key made, as {key, label}."""
    if not decision or decision["outcome"] != CHOSEN or plan is None or plan.collect is None:
        return None
    key = decision.get("key")
    label = (plan.collect.choices or {}).get(key or "")
    return {"key": key, "label": label} if key and label else None


def _note_plan_facts(leg: CallLeg, plan: CallPlan, event: AcsEvent) -> None:
    """Record what a plan event tells about the outcome, whatever state the leg is in by now."""
    if event.operation_context == TELL and event.name in ("PlayCompleted", "PlayFailed"):
        _decide(leg, ANSWERED if event.name == "PlayCompleted" else FAILED, event)
    if event.operation_context == ASK and event.name == "RecognizeCompleted" and plan.collect:
        tones = (event.data.get("dtmfResult") or event.data.get("collectTonesResult") or {}).get("tones") or []
        keys = "".join(key_of(t) for t in tones)
        record_press(leg, "ask", _order(event), keys)
        if plan.collect.choices:
            offered = dict.fromkeys(plan.collect.choices, CHOSEN)
        else:
            offered = {plan.collect.confirm_key: CONFIRMED, plan.collect.decline_key: DECLINED}
        if plan.escalation:
            offered[plan.escalation.key] = ESCALATED
        if plan.opt_out:
            offered[plan.opt_out.key] = OPTED_OUT
        if keys[:1] in offered:
            _decide(leg, offered[keys[:1]], event, key=keys[:1])
    if event.operation_context == VOICEMAIL and event.name == "PlayCompleted":
        leg.voicemail_left = True  # only a message played to its end was left


def _next_steps(leg: CallLeg, plan: CallPlan, event: AcsEvent, just_connected: bool) -> list[Action]:
    if just_connected and leg.flow_step is None:
        if leg.decision is not None:
            return _finish(leg, plan)  # its answer overtook the news that it connected
        if plan.collect:
            leg.flow_step, leg.prompts_asked = "asking", 1
            return [AskForKey(plan.prompt, plan.collect.timeout_seconds)]
        leg.flow_step = "telling"
        return [Play(plan.prompt, TELL)]
    finished = event.name in ("PlayCompleted", "PlayFailed")
    if leg.flow_step == "telling" and event.operation_context == TELL and finished:
        return _finish(leg, plan)
    if leg.flow_step == "asking" and event.operation_context == ASK and event.name.startswith("Recognize"):
        return _answer(leg, plan)
    if leg.flow_step == "goodbye" and event.operation_context in (GOODBYE, OPT_OUT_CONFIRMATION) and finished:
        leg.flow_step = "done"
        return [HangUp()]
    if leg.flow_step == "voicemail" and event.operation_context == VOICEMAIL and finished:
        leg.flow_step = "done"
        return [HangUp()]
    return []


def _answer(leg: CallLeg, plan: CallPlan) -> list[Action]:
    assert plan.collect is not None
    if leg.decision is not None:
        return _finish(leg, plan)
    if leg.prompts_asked < plan.collect.max_prompts:
        leg.prompts_asked += 1  # silence or a key we did not offer: ask again
        return [AskForKey(plan.prompt, plan.collect.timeout_seconds)]
    if plan.voicemail and pressed(leg, "ask") is None:
        # Not one key after every prompt: likely a machine, so leave the message. Someone who pressed keys the
        # plan does not offer is a person, not a recorder.
        leg.flow_step = "voicemail"
        return [Play(plan.voicemail, VOICEMAIL)]
    leg.flow_step = "done"  # asked often enough: answered, without input
    return [HangUp()]


def _finish(leg: CallLeg, plan: CallPlan) -> list[Action]:
    outcome = (leg.decision or {}).get("outcome")
    if outcome == ESCALATED and plan.escalation:
        leg.flow_step = "escalated"  # a human takes over: the plan stops driving the call
        return [Invite(plan.escalation.participant)]
    if outcome == OPTED_OUT and plan.opt_out:
        leg.flow_step = "goodbye"  # the confirmation is this call's goodbye
        return [Play(plan.opt_out.confirmation, OPT_OUT_CONFIRMATION)]
    if plan.goodbye and outcome in (CONFIRMED, DECLINED, CHOSEN):
        leg.flow_step = "goodbye"
        return [Play(plan.goodbye, GOODBYE)]
    leg.flow_step = "done"
    return [HangUp()]


def _decide(leg: CallLeg, outcome: str, event: AcsEvent, key: str | None = None) -> None:
    """Keep the earliest decisive event (by ACS's time, then id): arrival order does not matter."""
    candidate = {
        "outcome": outcome,
        "code": event.result.to_dict() if event.result else None,
        "time": event.time,
        "eventId": event.id,
    }
    if key is not None and outcome == CHOSEN:
        candidate["key"] = key
    if leg.decision is None or _order(event) < _decision_order(leg.decision):
        leg.decision = candidate


def _order(event: AcsEvent) -> str:
    return f"{instant(event.time).isoformat()}|{event.id}"


def _decision_order(decision: dict[str, Any]) -> str:
    return f"{instant(decision.get('time') or '').isoformat()}|{decision.get('eventId')}"

"""The behaviour of the emulated service: reacts to API requests and timers, and emits callback events.

Everything runs on the event loop: simulated waits are `loop.call_later` timers or tasks sleeping with
`asyncio.sleep`, never threads. Each call owns its timers and tasks, which are cancelled when it ends.
Routes call the public methods below with validated requests (see `bodies`); they raise `AcsError`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp

from . import bodies, errors
from .callbacks import CallbackDeliverer, build_event
from .callees import FAILURES, CalleeBook, Failure, Script
from .calls import Call, CallState, Invitation
from .config import (
    HISTORY_SIZE,
    REMOVE_PARTICIPANT_DELAY_MS,
    SEND_DTMF_MS_PER_TONE,
    TRANSFER_DISCONNECT_DELAY_MS,
    EmulatorConfig,
)
from .identifiers import Identifier
from .media import DtmfCollector, MediaOperation, RecognizeResult, SourceFailure, source_durations_ms, tones_from_keys

log = logging.getLogger("emulator.service")

OK = (200, 0, "")
ACTION_OK = (200, 0, "Action completed successfully.")
CANCELED = (400, 8508, "Action failed, the operation was canceled.")
ENDED_BY_API = (200, 7000, "Call was ended by Azure Communication Service Call Automation API or a server bot. "
                           "DiagCode: 0#7000.@")
ENDED_AFTER_TRANSFER = (200, 7015, "Call ended after the call was transferred. DiagCode: 0#7015.@")
# Documented choice: when the last callee leaves, only the application remains (subCode 5010).
LAST_PARTICIPANT_LEFT = (200, 5010, "Call ended as only one participant remained. DiagCode: 0#5010.@")
PROMPT_FAILED = (500, 8511, "Action failed, encountered failure while trying to play the prompt.")
INVITATION_NOT_FOUND = (400, 8523, "Cancel add participant failed, the invitation was not found or has completed.")
UNEXPECTED = (500, 9999, "Unknown internal server error.")


def _participant_json(identifier: Identifier) -> dict[str, Any]:
    return {"identifier": identifier.to_wire(), "isMuted": False, "isOnHold": False}


def _with_context(context: str | None) -> dict[str, Any]:
    return {"operationContext": context} if context is not None else {}


class CallService:
    def __init__(
        self,
        config: EmulatorConfig,
        callees: CalleeBook,
        deliverer: CallbackDeliverer,
        session: aiohttp.ClientSession,
        clock: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.callees = callees
        self.deliverer = deliverer
        self._session = session
        self._clock = clock
        self._loop = asyncio.get_running_loop()
        self.calls: dict[str, Call] = {}
        self.history: deque[Call] = deque(maxlen=HISTORY_SIZE)
        self._evictions: dict[str, asyncio.TimerHandle] = {}
        self.live_total = 0
        self.peak_total = 0
        self.live_by_caller: Counter[str] = Counter()
        self.peak_by_caller: dict[str, int] = {}
        self.calls_created = 0

    # --- plumbing -----------------------------------------------------------------------------------------
    def _later(self, call: Call, simulated_ms: float, fn: Callable[..., None], *args: Any) -> asyncio.TimerHandle:
        """Run `fn(*args)` after a simulated delay, unless the call has ended by then."""
        handle: asyncio.TimerHandle | None = None

        def run() -> None:
            call.timers.discard(handle)  # type: ignore[arg-type]
            if call.live:
                fn(*args)

        handle = self._loop.call_later(self.config.scaled(simulated_ms), run)
        call.timers.add(handle)
        return handle

    def _spawn(self, call: Call, coro: Any) -> asyncio.Task:
        task = self._loop.create_task(coro)
        call.tasks.add(task)
        task.add_done_callback(call.tasks.discard)
        return task

    def _emit(
        self,
        call: Call,
        event_type: str,
        *,
        result: tuple[int, int, str] | None = OK,
        context: str | None = None,
        callback_uri: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        event = build_event(
            event_type=event_type,
            call_connection_id=call.id,
            server_call_id=call.server_call_id,
            correlation_id=call.correlation_id,
            api_version=call.api_version,
            result=result,
            operation_context=context,
            extra=extra or {},
            now=self._clock(),
        )
        drop = call.count_callback()
        delivery = self.deliverer.enqueue(call.id, callback_uri or call.callback_uri, event, drop=drop)
        call.events.append({"event": event, "delivery": delivery})

    def _participants_updated(self, call: Call) -> None:
        self._emit(call, "ParticipantsUpdated", extra={
            "participants": [_participant_json(p) for p in call.participants.values()],
            "sequenceNumber": call.next_sequence_number(),
        })

    @staticmethod
    def _caller_key(call_or_request: Any) -> str:
        if call_or_request.caller_id:
            return call_or_request.caller_id
        if call_or_request.source is not None:
            return call_or_request.source.raw_id
        return "(none)"

    def _call(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None or not call.live:
            raise errors.call_not_found()
        return call

    def _established(self, call_id: str) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise errors.call_not_found()
        call.require_established()
        return call

    # --- ringing callees ------------------------------------------------------------------------------------
    def _ring(
        self,
        call: Call,
        script: Script,
        timeout_ms: float,
        on_answer: Callable[[], None],
        on_fail: Callable[[Failure], None],
    ) -> asyncio.TimerHandle:
        """Schedule the callee's answer or failure per its script; a callee slower than `timeout_ms` never answers."""
        ring_ms = script.ring_ms(self.config)
        if script.answer == "answer" and ring_ms <= timeout_ms:
            return self._later(call, ring_ms, on_answer)
        if script.answer in ("answer", "noAnswer"):
            return self._later(call, min(ring_ms, timeout_ms), on_fail, FAILURES["noAnswer"])
        return self._later(call, ring_ms, on_fail, FAILURES[script.answer])

    def _after_answer(self, call: Call, callee: Identifier, script: Script) -> None:
        """Start the callee's scripted key presses and hang-up."""
        call.callee_scripts[callee.raw_id] = script
        for press in script.presses:
            if press.start == "answer" or call.listening_started:
                self._later(call, press.after_ms, self._script_press, call, callee.raw_id, press.tones)
        if script.hang_up_after_ms is not None:
            self._later(call, script.hang_up_after_ms, self._participant_left, call, callee.raw_id)

    def _listening_started(self, call: Call) -> None:
        if call.listening_started:
            return
        call.listening_started = True
        for raw_id, script in call.callee_scripts.items():
            for press in script.presses:
                if press.start == "listening":
                    self._later(call, press.after_ms, self._script_press, call, raw_id, press.tones)

    def _script_press(self, call: Call, raw_id: str, keys: str) -> None:
        if raw_id in call.participants:
            for tone in tones_from_keys(keys):
                self._tone(call, tone)

    # --- call lifecycle -------------------------------------------------------------------------------------
    def create_call(self, request: bodies.CreateCall, api_version: str) -> Call:
        limit = self.config.max_concurrent_calls_per_number
        caller = self._caller_key(request)
        if limit and self.live_by_caller[caller] >= limit:
            raise errors.active_calls_limit(limit)
        call = Call.new(
            api_version=api_version,
            callback_uri=request.callback_uri,
            targets=request.targets,
            source=request.source,
            caller_id=request.caller_id,
            source_display_name=request.source_display_name,
            operation_context=request.operation_context,
            now=self._clock(),
        )
        self.calls[call.id] = call
        self.history.append(call)
        self.calls_created += 1
        self.live_total += 1
        self.peak_total = max(self.peak_total, self.live_total)
        self.live_by_caller[caller] += 1
        self.peak_by_caller[caller] = max(self.peak_by_caller.get(caller, 0), self.live_by_caller[caller])
        scripts = [(target, self.callees.next_script(target.raw_id)) for target in request.targets]
        # With several targets the strictest rule wins: a test that asks for lost callbacks gets them.
        rules = [script.drop_callbacks_after for _, script in scripts if script.drop_callbacks_after is not None]
        call.drop_callbacks_after = min(rules, default=None)
        for target, script in scripts:
            self._ring(
                call,
                script,
                self.config.ring_timeout_ms,
                lambda target=target, script=script: self._callee_answered(call, target, script),
                lambda failure, target=target: self._callee_failed(call, failure),
            )
        return call

    def _callee_answered(self, call: Call, callee: Identifier, script: Script) -> None:
        call.pending_callees -= 1
        call.join(callee)
        if call.state == CallState.CONNECTING:
            call.connect(self._clock())
            self._emit(call, "CallConnected", context=call.operation_context)
        self._participants_updated(call)
        self._after_answer(call, callee, script)
        self._pump_media(call)

    def _callee_failed(self, call: Call, failure: Failure) -> None:
        call.pending_callees -= 1
        if call.state == CallState.CONNECTING and call.pending_callees <= 0:
            result = (failure.code, failure.sub_code, failure.message)
            self._emit(call, "CreateCallFailed", result=result, context=call.operation_context)
            # ACS documents CreateCallFailed *and* CallDisconnected for a failed create call, without saying what the
            # second carries; it gets the same resultInformation, so either event tells the app why.
            self._end(call, result)

    def _end(self, call: Call, result: tuple[int, int, str]) -> None:
        """End the call: stop its timers and media, count it out, emit CallDisconnected, evict it later."""
        for handle in list(call.timers):
            handle.cancel()
        call.timers.clear()
        for task in list(call.tasks):
            task.cancel()
        for op in ([call.media_current] if call.media_current else []) + list(call.media_queue):
            op.status, op.phase = "canceled", "done"
        call.media_current = None
        call.media_queue.clear()
        call.invitations.clear()
        call.continuous_dtmf = None
        call.disconnect(self._clock(), *result)
        caller = self._caller_key(call)
        self.live_total -= 1
        self.live_by_caller[caller] -= 1
        if self.live_by_caller[caller] <= 0:
            del self.live_by_caller[caller]
        self._emit(call, "CallDisconnected", result=result)
        self._evictions[call.id] = self._loop.call_later(self.config.retention_seconds, self._evict, call.id)

    def _evict(self, call_id: str) -> None:
        self._evictions.pop(call_id, None)
        call = self.calls.pop(call_id, None)
        if call is not None:  # keep only the compact summary (history) alive
            call.events.clear()
            call.media_log.clear()
            call.callee_scripts.clear()

    def get_call(self, call_id: str) -> Call:
        return self._call(call_id)

    def hang_up(self, call_id: str) -> None:
        self._end(self._call(call_id), ENDED_BY_API)

    def terminate(self, call_id: str) -> None:
        self._end(self._call(call_id), ENDED_BY_API)

    # --- participants ---------------------------------------------------------------------------------------
    def list_participants(self, call_id: str) -> dict[str, Any]:
        call = self._call(call_id)
        return {"value": [_participant_json(p) for p in call.participants.values()]}

    def get_participant(self, call_id: str, raw_id: str) -> dict[str, Any]:
        return _participant_json(self._call(call_id).participant(raw_id))

    def _participant_left(self, call: Call, raw_id: str) -> None:
        if raw_id not in call.participants:
            return
        call.leave(raw_id)
        self._participants_updated(call)
        if not call.participants:
            self._end(call, LAST_PARTICIPANT_LEFT)

    def add_participant(self, call_id: str, request: bodies.AddParticipant) -> dict[str, Any]:
        call = self._established(call_id)
        target, cb = request.participant, request.callback
        invitation = Invitation(str(uuid.uuid4()), target, cb.operation_context, cb.operation_callback_uri)
        script = self.callees.next_script(target.raw_id)
        timeout_ms = self.config.ring_timeout_ms
        if request.invitation_timeout_seconds is not None:
            timeout_ms = request.invitation_timeout_seconds * 1000
        handle = self._ring(
            call,
            script,
            timeout_ms,
            lambda: self._invitation_answered(call, invitation, script),
            lambda failure: self._invitation_failed(call, invitation, failure),
        )
        invitation.timers.append(handle)
        call.invitations[invitation.id] = invitation
        return {"participant": _participant_json(target), "invitationId": invitation.id,
                **_with_context(cb.operation_context)}

    def _invitation_answered(self, call: Call, invitation: Invitation, script: Script) -> None:
        if call.invitations.pop(invitation.id, None) is None:
            return
        call.join(invitation.target)
        self._emit(call, "AddParticipantSucceeded", result=ACTION_OK, context=invitation.operation_context,
                   callback_uri=invitation.callback_uri, extra={"participant": invitation.target.to_wire()})
        self._participants_updated(call)
        self._after_answer(call, invitation.target, script)

    def _invitation_failed(self, call: Call, invitation: Invitation, failure: Failure) -> None:
        if call.invitations.pop(invitation.id, None) is None:
            return
        self._emit(call, "AddParticipantFailed", result=(failure.code, failure.sub_code, failure.message),
                   context=invitation.operation_context, callback_uri=invitation.callback_uri,
                   extra={"participant": invitation.target.to_wire()})

    def cancel_add_participant(self, call_id: str, request: bodies.CancelAddParticipant) -> dict[str, Any]:
        call = self._established(call_id)
        cb = request.callback
        invitation = call.invitations.pop(request.invitation_id, None)
        extra = {"invitationId": request.invitation_id}
        if invitation is not None:
            for handle in invitation.timers:
                handle.cancel()
                call.timers.discard(handle)
            self._emit(call, "CancelAddParticipantSucceeded", result=ACTION_OK, context=cb.operation_context,
                       callback_uri=cb.operation_callback_uri, extra=extra)
        else:
            self._emit(call, "CancelAddParticipantFailed", result=INVITATION_NOT_FOUND, context=cb.operation_context,
                       callback_uri=cb.operation_callback_uri, extra=extra)
        return {"invitationId": request.invitation_id, **_with_context(cb.operation_context)}

    def remove_participant(self, call_id: str, request: bodies.RemoveParticipant) -> dict[str, Any]:
        call = self._established(call_id)
        participant = call.participant(request.participant.raw_id)
        self._later(call, REMOVE_PARTICIPANT_DELAY_MS, self._removed, call, participant, request.callback)
        return _with_context(request.callback.operation_context)

    def _removed(self, call: Call, participant: Identifier, cb: bodies.Callback) -> None:
        extra = {"participant": participant.to_wire()}
        if participant.raw_id not in call.participants:
            self._emit(call, "RemoveParticipantFailed", result=(404, 8522, "Participant not found."),
                       context=cb.operation_context, callback_uri=cb.operation_callback_uri, extra=extra)
            return
        call.leave(participant.raw_id)
        self._emit(call, "RemoveParticipantSucceeded", result=ACTION_OK, context=cb.operation_context,
                   callback_uri=cb.operation_callback_uri, extra=extra)
        self._participants_updated(call)
        if not call.participants:
            self._end(call, LAST_PARTICIPANT_LEFT)

    def transfer(self, call_id: str, request: bodies.Transfer) -> dict[str, Any]:
        call = self._established(call_id)
        transferee = request.transferee
        if transferee is None:
            transferee = next(iter(call.participants.values()), None)
        cb = request.callback
        script = self.callees.next_script(request.target.raw_id)

        def accepted() -> None:
            extra = {"transferTarget": request.target.to_wire()}
            if transferee is not None:
                extra["transferee"] = transferee.to_wire()
            self._emit(call, "CallTransferAccepted", result=ACTION_OK, context=cb.operation_context,
                       callback_uri=cb.operation_callback_uri, extra=extra)
            self._later(call, TRANSFER_DISCONNECT_DELAY_MS, self._end, call, ENDED_AFTER_TRANSFER)

        def failed(failure: Failure) -> None:
            self._emit(call, "CallTransferFailed", result=(failure.code, failure.sub_code, failure.message),
                       context=cb.operation_context, callback_uri=cb.operation_callback_uri)

        self._ring(call, script, self.config.ring_timeout_ms, accepted, failed)
        return _with_context(cb.operation_context)

    # --- media ----------------------------------------------------------------------------------------------
    def play(self, call_id: str, request: bodies.Play) -> None:
        call = self._established(call_id)
        cb = request.callback
        op = MediaOperation(
            id=str(uuid.uuid4()), kind="play", sources=request.sources, operation_context=cb.operation_context,
            callback_uri=cb.operation_callback_uri, loop=request.loop, play_to=[p.raw_id for p in request.play_to],
        )
        self._enqueue_media(call, op, interrupt=request.interrupt)

    def recognize(self, call_id: str, request: bodies.Recognize) -> None:
        call = self._established(call_id)
        cb = request.callback
        scale = self.config.time_scale
        collector = DtmfCollector(
            max_tones=request.max_tones,
            stop_tones=request.stop_tones,
            initial_silence_seconds=request.initial_silence_seconds * scale,
            inter_tone_seconds=request.inter_tone_seconds * scale,
        )
        op = MediaOperation(
            id=str(uuid.uuid4()), kind="recognize", sources=request.prompts, operation_context=cb.operation_context,
            callback_uri=cb.operation_callback_uri, collector=collector, interrupt_prompt=request.interrupt_prompt,
            target=request.target.raw_id, prompt_interrupted=asyncio.Event(),
        )
        self._enqueue_media(call, op, interrupt=request.interrupt_media)

    def cancel_all_media(self, call_id: str) -> None:
        call = self._established(call_id)
        ops = ([call.media_current] if call.media_current else []) + list(call.media_queue)
        call.media_queue.clear()  # first, so finishing the current one starts nothing new
        for op in ops:
            self._cancel_media(call, op)

    def _enqueue_media(self, call: Call, op: MediaOperation, *, interrupt: bool) -> None:
        current = call.media_current
        if interrupt and current is not None:
            call.media_queue.appendleft(op)
            self._cancel_media(call, current)  # its finish starts `op` next
        else:
            call.media_queue.append(op)
            self._pump_media(call)

    def _pump_media(self, call: Call) -> None:
        """Start the next queued operation if nothing is running."""
        if call.media_current is not None or not call.media_queue or call.state != CallState.CONNECTED:
            return
        op = call.media_queue.popleft()
        call.media_current = op
        call.media_log.append(op)
        op.status = "running"
        op.task = self._spawn(call, self._run_play(call, op) if op.kind == "play" else self._run_recognize(call, op))

    def _finish_media(self, call: Call, op: MediaOperation, status: str) -> None:
        op.status, op.phase = status, "done"
        if op.task is not None and op.task is not asyncio.current_task():
            op.task.cancel()
        if call.media_current is op:
            call.media_current = None
            self._pump_media(call)

    def _cancel_media(self, call: Call, op: MediaOperation) -> None:
        event = "PlayCanceled" if op.kind == "play" else "RecognizeCanceled"
        self._emit(call, event, result=CANCELED, context=op.operation_context, callback_uri=op.callback_uri)
        self._finish_media(call, op, "canceled")

    async def _run_play(self, call: Call, op: MediaOperation) -> None:
        try:
            op.phase = "preparing"
            durations = await source_durations_ms(op.sources, self.config, self._session)
            if isinstance(durations, SourceFailure):
                self._emit(call, "PlayFailed", result=(durations.code, durations.sub_code, durations.message),
                           context=op.operation_context, callback_uri=op.callback_uri,
                           extra={"failedPlaySourceIndex": durations.index})
                self._finish_media(call, op, "failed")
                return
            op.phase = "playing"
            self._emit(call, "PlayStarted", result=ACTION_OK, context=op.operation_context,
                       callback_uri=op.callback_uri)
            # A looped play never completes; it waits to be canceled (a floor keeps empty loops from spinning).
            total = max(self.config.scaled(sum(durations)), 0.01 if op.loop else 0.0)
            while True:
                await asyncio.sleep(total)
                if not op.loop:
                    break
            self._emit(call, "PlayCompleted", result=ACTION_OK, context=op.operation_context,
                       callback_uri=op.callback_uri)
            self._finish_media(call, op, "completed")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("play failed unexpectedly")
            self._emit(call, "PlayFailed", result=UNEXPECTED, context=op.operation_context,
                       callback_uri=op.callback_uri, extra={"failedPlaySourceIndex": 0})
            self._finish_media(call, op, "failed")

    async def _run_recognize(self, call: Call, op: MediaOperation) -> None:
        collector = op.collector
        assert collector is not None and op.prompt_interrupted is not None
        # Scripted callees start pressing when the first recognize actually starts (they hear the prompt),
        # not when it was queued behind other media.
        self._listening_started(call)
        try:
            if op.sources:
                op.phase = "preparing"
                durations = await source_durations_ms(op.sources, self.config, self._session)
                if isinstance(durations, SourceFailure):
                    self._emit(call, "RecognizeFailed", result=PROMPT_FAILED, context=op.operation_context,
                               callback_uri=op.callback_uri, extra={"failedPlaySourceIndex": durations.index})
                    self._finish_media(call, op, "failed")
                    return
                op.phase = "prompt"
                if not (op.interrupt_prompt and op.buffered_tones):
                    try:
                        await asyncio.wait_for(op.prompt_interrupted.wait(), self.config.scaled(sum(durations)))
                    except TimeoutError:
                        pass
            # Tones pressed during the prompt count from here on (an interrupting key press ends the prompt).
            op.phase = "listening"
            collector.start(self._loop.time())
            buffered, op.buffered_tones = op.buffered_tones, []
            for tone in buffered:
                result = collector.press(tone, self._loop.time())
                if result is not None:
                    self._recognized(call, op, result)
                    return
            while True:
                assert collector.deadline is not None
                await asyncio.sleep(max(0.0, collector.deadline - self._loop.time()))
                result = collector.expire(self._loop.time())
                if result is not None:
                    self._recognized(call, op, result)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recognize failed unexpectedly")
            self._emit(call, "RecognizeFailed", result=UNEXPECTED, context=op.operation_context,
                       callback_uri=op.callback_uri)
            self._finish_media(call, op, "failed")

    def _recognized(self, call: Call, op: MediaOperation, result: RecognizeResult) -> None:
        extra: dict[str, Any] = {}
        if result.event == "RecognizeCompleted":
            extra = {"recognitionType": "dtmf", "dtmfResult": {"tones": list(result.tones)}}
        self._emit(call, result.event, result=(result.code, result.sub_code, result.message),
                   context=op.operation_context, callback_uri=op.callback_uri, extra=extra)
        self._finish_media(call, op, "completed" if result.event == "RecognizeCompleted" else "failed")

    def _tone(self, call: Call, tone: str) -> None:
        """A participant pressed a key: continuous recognition reports it; a running recognize collects it."""
        if call.state != CallState.CONNECTED:
            return
        if call.continuous_dtmf is not None:
            self._emit(call, "ContinuousDtmfRecognitionToneReceived", context=call.continuous_dtmf["context"],
                       callback_uri=call.continuous_dtmf["callbackUri"],
                       extra={"sequenceId": call.next_tone_sequence_id(), "tone": tone})
        op = call.media_current
        if op is None or op.kind != "recognize" or op.status != "running" or op.collector is None:
            return
        if op.phase == "listening":
            result = op.collector.press(tone, self._loop.time())
            if result is not None:
                self._recognized(call, op, result)
        else:
            op.buffered_tones.append(tone)
            if op.interrupt_prompt and op.prompt_interrupted is not None:
                op.prompt_interrupted.set()

    def start_continuous_dtmf(self, call_id: str, request: bodies.ContinuousDtmf) -> None:
        call = self._established(call_id)
        call.continuous_dtmf = {"context": request.callback.operation_context,
                                "callbackUri": request.callback.operation_callback_uri}
        self._listening_started(call)

    def stop_continuous_dtmf(self, call_id: str, request: bodies.ContinuousDtmf) -> None:
        call = self._established(call_id)
        call.continuous_dtmf = None
        self._emit(call, "ContinuousDtmfRecognitionStopped", result=ACTION_OK,
                   context=request.callback.operation_context,
                   callback_uri=request.callback.operation_callback_uri)

    def send_dtmf(self, call_id: str, request: bodies.SendDtmf) -> dict[str, Any]:
        call = self._established(call_id)
        cb = request.callback
        self._later(call, len(request.tones) * SEND_DTMF_MS_PER_TONE, lambda: self._emit(
            call, "SendDtmfTonesCompleted", result=ACTION_OK, context=cb.operation_context,
            callback_uri=cb.operation_callback_uri))
        return _with_context(cb.operation_context)

    # --- control API --------------------------------------------------------------------------------------
    def press_keys(self, call_id: str, keys: str) -> None:
        """A participant presses keys now (control API)."""
        call = self._established(call_id)
        for tone in tones_from_keys(keys):
            self._tone(call, tone)

    def participant_hangs_up(self, call_id: str, raw_id: str | None) -> None:
        """One participant (or, with None, everybody) hangs up now (control API)."""
        call = self._call(call_id)
        if raw_id is None:
            if call.state == CallState.CONNECTING:
                self._end(call, LAST_PARTICIPANT_LEFT)
                return
            for participant in list(call.participants):
                if call.live:
                    self._participant_left(call, participant)
            return
        call.participant(raw_id)  # 404 when not in the call
        self._participant_left(call, raw_id)

    def drop_callbacks(self, call_id: str, after: int | None) -> dict[str, Any]:
        """Lose the call's callbacks from now on (control API): those numbered above `after`, counted from the
        call's first event, or with None every event not emitted yet. Events already emitted are not affected."""
        call = self._call(call_id)
        call.drop_callbacks_after = call.callbacks_emitted if after is None else after
        return call.callbacks_view()

    def deliver_callbacks(self, call_id: str) -> dict[str, Any]:
        """Send the call's later callbacks again (control API)."""
        call = self._call(call_id)
        call.drop_callbacks_after = None
        return call.callbacks_view()

    def stats(self) -> dict[str, Any]:
        return {
            "liveCalls": self.live_total,
            "peakConcurrentCalls": self.peak_total,
            "liveCallsByCallerId": dict(self.live_by_caller),
            "peakConcurrentCallsByCallerId": dict(self.peak_by_caller),
            "callsCreated": self.calls_created,
            "callsInMemory": len(self.calls),
            "callbacksDelivered": self.deliverer.delivered,
            "callbacksFailed": self.deliverer.failed,
            "callbacksDropped": self.deliverer.dropped,
            "callbacksPending": self.deliverer.pending,
        }

    def shutdown(self) -> None:
        """Cancel every timer and task (no events)."""
        for call in self.calls.values():
            for handle in call.timers:
                handle.cancel()
            call.timers.clear()
            for task in call.tasks:
                task.cancel()
        for handle in self._evictions.values():
            handle.cancel()
        self._evictions.clear()

    def reset(self) -> None:
        """Forget every call, the history and the statistics (control API)."""
        self.shutdown()
        self.calls.clear()
        self.history.clear()
        self.live_total = self.peak_total = self.calls_created = 0
        self.live_by_caller.clear()
        self.peak_by_caller.clear()

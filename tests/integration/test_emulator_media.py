"""Media: play durations (real WAVs served on loopback, defaults, TTS), play failures, loop and cancel, the
media queue, DTMF recognize rules, continuous DTMF and sendDtmfTones."""

from __future__ import annotations

import io
import wave
from datetime import datetime

import pytest

from devstack.processes import free_ports
from tests.support.acs import action, connected_call, event_types, phone, unique_number

SCALE = 0.05  # the session emulator's --time-scale


def _wav(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(rate)
        wav.writeframes(b"\x80" * int(seconds * rate))
    return buffer.getvalue()


def _file(uri: str) -> dict:
    return {"kind": "file", "file": {"uri": uri}}


def _text(text: str) -> dict:
    return {"kind": "text", "text": {"text": text, "sourceLocale": "en-US", "voiceName": "en-US-JennyNeural"}}


def _played_seconds(sink, call_id: str, context: str) -> float:
    started = sink.wait_for(lambda: [e for e in sink.events(call_id, "PlayStarted")
                                     if e["data"].get("operationContext") == context])[0]
    completed = sink.wait_for(lambda: [e for e in sink.events(call_id, "PlayCompleted")
                                       if e["data"].get("operationContext") == context])[0]
    return (datetime.fromisoformat(completed["time"]) - datetime.fromisoformat(started["time"])).total_seconds()


def _play(emulator, call_id, sources, **extra):
    response = action(emulator, call_id, "play", {"playSources": sources, **extra})
    assert response.status_code == 202, response.text
    assert response.content == b""
    return response



def test_wav_on_loopback_plays_for_its_real_duration(emulator, callback_sink):
    long_wav = callback_sink.add_file("/media/long.wav", _wav(20.0))  # 20 s x 0.05 = 1.0 s
    call_id = connected_call(emulator, callback_sink)
    _play(emulator, call_id, [_file(long_wav)], operationContext="wav")
    _play(emulator, call_id, [_file("https://media.example.com/remote.wav")], operationContext="remote")
    _play(emulator, call_id, [_text("x" * 200)], operationContext="tts")  # 200 x 60 ms x 0.05 = 0.6 s
    assert 0.9 <= _played_seconds(callback_sink, call_id, "wav") <= 1.4
    assert 0.07 <= _played_seconds(callback_sink, call_id, "remote") <= 0.4  # --play-default-ms 2000 x 0.05
    assert 0.55 <= _played_seconds(callback_sink, call_id, "tts") <= 0.95
    completed = callback_sink.events(call_id, "PlayCompleted")[0]
    assert completed["data"]["resultInformation"] == {"code": 200, "subCode": 0,
                                                      "message": "Action completed successfully."}
    action(emulator, call_id, "terminate", None)


def test_multiple_sources_play_in_sequence(emulator, callback_sink):
    wav = callback_sink.add_file("/media/half.wav", _wav(10.0))  # 0.5 s each
    call_id = connected_call(emulator, callback_sink)
    _play(emulator, call_id, [_file(wav), _file(wav)], operationContext="two")
    assert 0.95 <= _played_seconds(callback_sink, call_id, "two") <= 1.5
    action(emulator, call_id, "terminate", None)


def test_file_that_is_not_a_wav_fails_with_8535(emulator, callback_sink):
    bad = callback_sink.add_file("/media/not.wav", b"this is not audio", "text/plain")
    good = callback_sink.add_file("/media/short.wav", _wav(0.1))
    call_id = connected_call(emulator, callback_sink)
    _play(emulator, call_id, [_file(good), _file(bad)], operationContext="bad")
    failed = callback_sink.wait_for_event("PlayFailed", call_connection_id=call_id)
    assert failed["data"]["resultInformation"] == {"code": 400, "subCode": 8535,
                                                   "message": "Action failed, file format is invalid."}
    assert failed["data"]["failedPlaySourceIndex"] == 1 and failed["data"]["operationContext"] == "bad"
    action(emulator, call_id, "terminate", None)


@pytest.mark.parametrize("where", ["missing", "refused"])
def test_file_that_cannot_be_fetched_fails_with_8536(emulator, callback_sink, where):
    uri = (callback_sink.url + "/media/missing.wav" if where == "missing"
           else f"http://127.0.0.1:{free_ports()[0]}/x.wav")
    call_id = connected_call(emulator, callback_sink)
    _play(emulator, call_id, [_file(uri)])
    failed = callback_sink.wait_for_event("PlayFailed", call_connection_id=call_id)
    assert (failed["data"]["resultInformation"]["code"], failed["data"]["resultInformation"]["subCode"]) == (400, 8536)
    assert failed["data"]["failedPlaySourceIndex"] == 0
    assert "PlayStarted" not in event_types(callback_sink, call_id)
    action(emulator, call_id, "terminate", None)


def test_empty_text_fails_with_8582(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    _play(emulator, call_id, [_text("   ")])
    failed = callback_sink.wait_for_event("PlayFailed", call_connection_id=call_id)
    assert failed["data"]["resultInformation"]["subCode"] == 8582
    action(emulator, call_id, "terminate", None)


def test_invalid_play_bodies_name_the_field(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    response = action(emulator, call_id, "play", {"playSources": [{"kind": "file", "file": {"uri": "nope"}}]})
    assert response.status_code == 400 and "playSources[0].file.uri" in response.json()["error"]["message"]
    response = action(emulator, call_id, "play", {"playSources": [{"kind": "video"}]})
    assert response.status_code == 400 and "playSources[0].kind" in response.json()["error"]["message"]
    action(emulator, call_id, "terminate", None)


def test_loop_plays_until_canceled_and_cancel_covers_queued_operations(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    _play(emulator, call_id, [_file("https://media.example.com/hold.wav")], playOptions={"loop": True},
          operationContext="loop")
    _play(emulator, call_id, [_text("queued")], operationContext="queued")
    action(emulator, call_id, "recognize", {"recognizeInputType": "dtmf", "operationContext": "queued-recognize",
                                            "recognizeOptions": {"targetParticipant": phone("+14255550123")}})
    callback_sink.wait_for_event("PlayStarted", call_connection_id=call_id)
    detail = emulator.control("GET", f"/calls/{call_id}").json()
    assert detail["media"]["current"]["loop"] is True and len(detail["media"]["queued"]) == 2
    # A clock that says when several loop lengths have passed: on another call, a prompt as long as eight loops
    # (2000 ms each by --play-default-ms; a text plays 60 ms a character), started after the loop.
    clock = connected_call(emulator, callback_sink)
    _play(emulator, clock, [_text("x" * (8 * 2000 // 60 + 1))], operationContext="clock")
    callback_sink.wait_for_event("PlayCompleted", call_connection_id=clock)
    assert "PlayCompleted" not in event_types(callback_sink, call_id)  # the loop is still playing
    action(emulator, clock, "terminate", None)
    assert action(emulator, call_id, "cancelAllMediaOperations", None).status_code == 202
    canceled = callback_sink.wait_for(lambda: [e["data"]["operationContext"] for e in callback_sink.events(call_id)
                                               if e["type"].endswith("Canceled")][2:] and
                                      [e for e in callback_sink.events(call_id) if e["type"].endswith("Canceled")])
    assert [(e["type"].split(".")[-1], e["data"]["operationContext"]) for e in canceled] == [
        ("PlayCanceled", "loop"), ("PlayCanceled", "queued"), ("RecognizeCanceled", "queued-recognize")]
    assert all(e["data"]["resultInformation"]["subCode"] == 8508 for e in canceled)
    assert emulator.control("GET", f"/calls/{call_id}").json()["media"]["current"] is None
    action(emulator, call_id, "terminate", None)


def test_interrupt_cancels_the_current_operation_and_runs_first(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    _play(emulator, call_id, [_file("https://media.example.com/hold.wav")], playOptions={"loop": True},
          operationContext="background")
    callback_sink.wait_for_event("PlayStarted", call_connection_id=call_id)
    _play(emulator, call_id, [_text("urgent")], interruptCallMediaOperation=True, operationContext="urgent")
    callback_sink.wait_for_event("PlayCompleted", call_connection_id=call_id)
    ops = [(t, e["data"].get("operationContext")) for t, e in zip(event_types(callback_sink, call_id),
                                                                  callback_sink.events(call_id), strict=True)]
    assert ops[-3:] == [("PlayCanceled", "background"), ("PlayStarted", "urgent"), ("PlayCompleted", "urgent")]
    action(emulator, call_id, "terminate", None)


def _recognize(emulator, call_id, *, prompt=None, interrupt_prompt=False, silence=60, **dtmf):
    # Generous timeouts (60 s x 0.05 = 3 s) unless a test is about them: presses come from separate requests.
    dtmf.setdefault("interToneTimeoutInSeconds", 60)
    body = {"recognizeInputType": "dtmf", "operationContext": "menu",
            "recognizeOptions": {"targetParticipant": phone("+14255550123"), "interruptPrompt": interrupt_prompt,
                                 "initialSilenceTimeoutInSeconds": silence, "dtmfOptions": dtmf}}
    if prompt:
        body["playPrompt"] = prompt
    response = action(emulator, call_id, "recognize", body)
    assert response.status_code == 202, response.text


def _press(emulator, call_id, tones):
    assert emulator.control("POST", f"/calls/{call_id}/dtmf", json={"tones": tones}).status_code == 202


def _result(event):
    info = event["data"]["resultInformation"]
    return info["code"], info["subCode"]


def test_recognize_max_tones_and_stop_tone(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    _recognize(emulator, call_id, maxTonesToCollect=3)
    _press(emulator, call_id, "1")
    _press(emulator, call_id, "23")
    done = callback_sink.wait_for_event("RecognizeCompleted", call_connection_id=call_id)
    assert _result(done) == (200, 8531) and done["data"]["dtmfResult"]["tones"] == ["one", "two", "three"]
    assert done["data"]["recognitionType"] == "dtmf" and done["data"]["operationContext"] == "menu"

    _recognize(emulator, call_id, maxTonesToCollect=10, stopTones=["pound", "asterisk"])
    _press(emulator, call_id, "45*")
    done = callback_sink.wait_for(lambda: callback_sink.events(call_id, "RecognizeCompleted")[1:])[0]
    assert _result(done) == (200, 8514) and done["data"]["dtmfResult"]["tones"] == ["four", "five"]
    action(emulator, call_id, "terminate", None)


def test_recognize_timeouts(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    _recognize(emulator, call_id, silence=2)  # 100 ms
    failed = callback_sink.wait_for_event("RecognizeFailed", call_connection_id=call_id)
    assert _result(failed) == (400, 8510) and "dtmfResult" not in failed["data"]

    _recognize(emulator, call_id, maxTonesToCollect=4, interToneTimeoutInSeconds=2)  # 100 ms between tones
    _press(emulator, call_id, "78")
    done = callback_sink.wait_for_event("RecognizeCompleted", call_connection_id=call_id)
    assert _result(done) == (400, 8532) and done["data"]["dtmfResult"]["tones"] == ["seven", "eight"]
    action(emulator, call_id, "terminate", None)


def test_key_press_interrupts_an_interruptible_prompt(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    _recognize(emulator, call_id, prompt=_text("y" * 2000), interrupt_prompt=True, maxTonesToCollect=2)  # 6 s
    callback_sink.wait_for(lambda: emulator.control("GET", f"/calls/{call_id}").json()["media"]["current"]["phase"]
                           == "prompt")
    _press(emulator, call_id, "9")
    _press(emulator, call_id, "0")
    done = callback_sink.wait_for_event("RecognizeCompleted", call_connection_id=call_id, timeout=3)
    assert done["data"]["dtmfResult"]["tones"] == ["nine", "zero"]
    action(emulator, call_id, "terminate", None)


def test_recognize_with_a_broken_prompt_fails(emulator, callback_sink):
    call_id = connected_call(emulator, callback_sink)
    _recognize(emulator, call_id, prompt=_file(callback_sink.url + "/media/none.wav"))
    failed = callback_sink.wait_for_event("RecognizeFailed", call_connection_id=call_id)
    assert _result(failed) == (500, 8511) and failed["data"]["failedPlaySourceIndex"] == 0
    action(emulator, call_id, "terminate", None)


def test_continuous_dtmf_and_send_dtmf(emulator, callback_sink):
    number = unique_number()
    call_id = connected_call(emulator, callback_sink, number)
    operation_callback = callback_sink.new_url("/ops")
    start = action(emulator, call_id, "startContinuousDtmfRecognition",
                   {"targetParticipant": phone(number), "operationContext": "cont",
                    "operationCallbackUri": operation_callback})
    assert start.status_code == 200 and start.content == b""
    _press(emulator, call_id, "1#")
    tones = callback_sink.wait_for(lambda: callback_sink.events(call_id, "ContinuousDtmfRecognitionToneReceived")[1:]
                                   and callback_sink.events(call_id, "ContinuousDtmfRecognitionToneReceived"))
    assert [(e["data"]["sequenceId"], e["data"]["tone"]) for e in tones] == [(1, "one"), (2, "pound")]
    assert all(e["data"]["operationContext"] == "cont" for e in tones)
    assert callback_sink.requests_for(operation_callback.removeprefix(callback_sink.url))
    stop = action(emulator, call_id, "stopContinuousDtmfRecognition", {"targetParticipant": phone(number)})
    assert stop.status_code == 200
    callback_sink.wait_for_event("ContinuousDtmfRecognitionStopped", call_connection_id=call_id)
    _press(emulator, call_id, "5")
    send = action(emulator, call_id, "sendDtmfTones", {"tones": ["one", "two"], "targetParticipant": phone(number),
                                                       "operationContext": "send"})
    assert send.status_code == 202 and send.json() == {"operationContext": "send"}
    callback_sink.wait_for_event("SendDtmfTonesCompleted", call_connection_id=call_id)
    assert len(callback_sink.events(call_id, "ContinuousDtmfRecognitionToneReceived")) == 2
    action(emulator, call_id, "terminate", None)

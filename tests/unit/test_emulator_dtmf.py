"""DTMF collection rules of `:recognize`, with time passed in."""

from __future__ import annotations

import pytest

from emulator.media import DtmfCollector, tones_from_keys


def _collector(**kw) -> DtmfCollector:
    collector = DtmfCollector(**{"max_tones": 3, "initial_silence_seconds": 5, "inter_tone_seconds": 2, **kw})
    collector.start(now=100.0)
    return collector


def test_initial_silence_timeout_fails_with_8510():
    collector = _collector()
    assert collector.expire(104.9) is None
    result = collector.expire(105.0)
    assert (result.event, result.code, result.sub_code, result.tones) == ("RecognizeFailed", 400, 8510, ())


def test_max_tones_completes_with_8531():
    collector = _collector()
    assert collector.press("one", 101) is None
    assert collector.press("two", 102) is None
    result = collector.press("three", 103)
    assert (result.event, result.code, result.sub_code) == ("RecognizeCompleted", 200, 8531)
    assert result.tones == ("one", "two", "three")


def test_default_single_tone_completes_at_once():
    collector = DtmfCollector()
    collector.start(0)
    assert collector.press("five", 1).tones == ("five",)


def test_stop_tone_completes_with_8514_without_the_stop_tone():
    collector = _collector(stop_tones=frozenset({"pound"}))
    collector.press("four", 101)
    result = collector.press("pound", 101.5)
    assert (result.code, result.sub_code, result.tones) == (200, 8514, ("four",))


def test_inter_tone_timeout_after_a_tone_completes_with_8532_and_the_tones_so_far():
    collector = _collector()
    collector.press("seven", 101)
    assert collector.expire(102.9) is None  # the deadline moved from 105 to 103
    result = collector.expire(103.0)
    assert (result.event, result.code, result.sub_code, result.tones) == ("RecognizeCompleted", 400, 8532, ("seven",))


def test_nothing_expires_before_listening_starts():
    assert DtmfCollector().expire(10_000) is None


def test_keys_map_to_tone_names():
    assert tones_from_keys("0123456789*#AbCd") == [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "asterisk", "pound", "a", "b", "c", "d",
    ]


def test_unknown_key_is_rejected():
    with pytest.raises(ValueError):
        tones_from_keys("1x")

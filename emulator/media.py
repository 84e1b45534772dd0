"""Media building blocks: tone names, how long a play source lasts, and the DTMF collection rules.

`DtmfCollector` is pure (time is passed in), so the recognize rules are unit-testable:
initial silence → 400/8510, max tones → 200/8531, stop tone → 200/8514 (stop tone not included),
inter-tone timeout after ≥1 tone → 400/8532 with the tones so far.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import wave
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .config import FILE_FETCH_MAX_BYTES, FILE_FETCH_TIMEOUT_SECONDS, EmulatorConfig

# Tone enum values (lowercase, §1.2) ↔ keypad characters.
TONE_BY_CHAR = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four",
    "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine",
    "a": "a", "b": "b", "c": "c", "d": "d", "#": "pound", "*": "asterisk",
}  # fmt: skip
TONES = frozenset(TONE_BY_CHAR.values())


def tones_from_keys(keys: str) -> list[str]:
    """"12#" → ["one", "two", "pound"]; raises ValueError for other characters."""
    try:
        return [TONE_BY_CHAR[ch.lower()] for ch in keys]
    except KeyError as exc:
        raise ValueError(f"not a DTMF key: {exc.args[0]!r}") from None


# --- play sources -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaySource:
    kind: str  # "file" | "text" | "ssml"
    uri: str = ""  # file
    text: str = ""  # text or SSML
    source_locale: str | None = None  # text: as asked for, so tests can see which language and voice was used
    voice_name: str | None = None
    voice_kind: str | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "uri": self.uri, "text": self.text}
        if self.kind == "text":
            out.update(sourceLocale=self.source_locale, voiceName=self.voice_name, voiceKind=self.voice_kind)
        return out


@dataclass(frozen=True)
class SourceFailure:
    index: int
    code: int
    sub_code: int
    message: str


FILE_DOWNLOAD_FAILED = (400, 8536, "Action failed, file could not be downloaded.")
FILE_FORMAT_INVALID = (400, 8535, "Action failed, file format is invalid.")
TEXT_EMPTY = (400, 8582, "Action failed, play source text or SSML is empty.")


def is_loopback_url(uri: str) -> bool:
    """Only files on this machine are fetched; anything else plays for --play-default-ms."""
    try:
        host = urlsplit(uri).hostname
    except ValueError:
        return False
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def wav_duration_ms(content: bytes) -> float:
    """Duration of a WAV file; raises ValueError when it cannot be decoded."""
    try:
        with wave.open(io.BytesIO(content), "rb") as wav:
            rate = wav.getframerate()
            if rate <= 0:
                raise ValueError("zero frame rate")
            return wav.getnframes() * 1000.0 / rate
    except (wave.Error, EOFError, ValueError) as exc:
        raise ValueError(f"not a WAV file: {exc}") from None


async def _fetch(session: aiohttp.ClientSession, uri: str) -> bytes | None:
    """The file's bytes, or None when it cannot be fetched (connection error, timeout, non-2xx)."""
    try:
        timeout = aiohttp.ClientTimeout(total=FILE_FETCH_TIMEOUT_SECONDS)
        async with session.get(uri, timeout=timeout, allow_redirects=False) as response:
            if not 200 <= response.status < 300:
                return None
            chunks, size = [], 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > FILE_FETCH_MAX_BYTES:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError):
        return None


async def source_durations_ms(
    sources: list[PlaySource], config: EmulatorConfig, session: aiohttp.ClientSession
) -> list[float] | SourceFailure:
    """Simulated duration of each source (before --time-scale), or the first source that cannot play."""
    durations: list[float] = []
    for index, source in enumerate(sources):
        if source.kind == "file":
            if not is_loopback_url(source.uri):
                durations.append(config.play_default_ms)
                continue
            content = await _fetch(session, source.uri)
            if content is None:
                return SourceFailure(index, *FILE_DOWNLOAD_FAILED)
            try:
                durations.append(wav_duration_ms(content))
            except ValueError:
                return SourceFailure(index, *FILE_FORMAT_INVALID)
        else:
            if not source.text.strip():
                return SourceFailure(index, *TEXT_EMPTY)
            durations.append(len(source.text) * config.tts_ms_per_char)
    return durations


# --- DTMF collection ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecognizeResult:
    event: str  # "RecognizeCompleted" | "RecognizeFailed"
    code: int
    sub_code: int
    message: str
    tones: tuple[str, ...] = ()


MAX_TONES_RECEIVED = "Action completed, max digits received."
STOP_TONE_DETECTED = "Action completed as stop tone was detected."
INTER_TONE_TIMEOUT = "Action failed, inter-digit silence timeout reached."
INITIAL_SILENCE_TIMEOUT = "Action failed, initial silence timeout reached."


@dataclass
class DtmfCollector:
    """Collects tones for one `:recognize` (times in seconds, from any monotonic clock)."""

    max_tones: int = 1
    stop_tones: frozenset[str] = frozenset()
    initial_silence_seconds: float = 5.0
    inter_tone_seconds: float = 2.0
    tones: list[str] = field(default_factory=list)
    deadline: float | None = None  # None until listening starts

    def start(self, now: float) -> None:
        self.deadline = now + self.initial_silence_seconds

    def press(self, tone: str, now: float) -> RecognizeResult | None:
        """Feed one tone; a result when recognition is complete."""
        if tone in self.stop_tones:
            return RecognizeResult("RecognizeCompleted", 200, 8514, STOP_TONE_DETECTED, tuple(self.tones))
        self.tones.append(tone)
        if len(self.tones) >= self.max_tones:
            return RecognizeResult("RecognizeCompleted", 200, 8531, MAX_TONES_RECEIVED, tuple(self.tones))
        self.deadline = now + self.inter_tone_seconds
        return None

    def expire(self, now: float) -> RecognizeResult | None:
        """The timeout result if the current deadline has passed, else None."""
        if self.deadline is None or now < self.deadline:
            return None
        if not self.tones:
            return RecognizeResult("RecognizeFailed", 400, 8510, INITIAL_SILENCE_TIMEOUT)
        return RecognizeResult("RecognizeCompleted", 400, 8532, INTER_TONE_TIMEOUT, tuple(self.tones))


# --- media operations queued on a call ----------------------------------------------------------------------


@dataclass
class MediaOperation:
    """A queued `:play` or `:recognize`; the service runs one at a time per call, in order."""

    id: str
    kind: str  # "play" | "recognize"
    sources: list[PlaySource]
    operation_context: str | None
    callback_uri: str | None
    loop: bool = False
    play_to: list[str] = field(default_factory=list)  # rawIds; empty = everyone
    collector: DtmfCollector | None = None
    interrupt_prompt: bool = False
    target: str | None = None  # rawId of the recognize target
    status: str = "queued"  # queued | running | completed | failed | canceled
    phase: str = "queued"  # queued | preparing | playing | prompt | listening | done
    buffered_tones: list[str] = field(default_factory=list)
    prompt_interrupted: asyncio.Event | None = None
    task: asyncio.Task | None = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "status": self.status, "phase": self.phase}
        out["operationContext"] = self.operation_context
        out["sources"] = [s.summary() for s in self.sources]
        if self.kind == "play":
            out["loop"] = self.loop
            out["playTo"] = self.play_to
        if self.collector is not None:
            out["tones"] = list(self.collector.tones)
        return out

"""Every setting of the emulator and its default, in one place.

Each flag also reads the environment variable `ACS_EMULATOR_<FLAG>` (upper case, dashes → underscores);
a flag on the command line wins.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

# The well-known development key (public, like Azurite's): base64 of "acs-emulator-well-known-dev-key!".
WELL_KNOWN_ACCESS_KEY = "YWNzLWVtdWxhdG9yLXdlbGwta25vd24tZGV2LWtleSE="
DEFAULT_RESOURCE_ID = "0e4f6a51-7c0d-4b8e-9a3e-ac5e00000001"
DEFAULT_ISSUER = "https://acscallautomation.communication.azure.com"

# 2025-06-15 and 2026-03-12 are the stable versions the Python SDK 1.6.0 lists beyond the newest published swagger
# (2025-05-15); their paths are the same, so the emulator treats all of these alike.
SUPPORTED_API_VERSIONS = ("2024-09-15", "2025-05-15", "2025-06-15", "2026-03-12")

# Fixed behaviour of the service (not flags).
REPEATABILITY_WINDOW_SECONDS = 300  # §7.2: tracked for 5 minutes
REPEATABILITY_MAX_ENTRIES = 20_000
MAX_SEND_DTMF_TONES = 18
SEND_DTMF_MS_PER_TONE = 100  # simulated; scaled by --time-scale
REMOVE_PARTICIPANT_DELAY_MS = 100  # simulated; scaled
TRANSFER_DISCONNECT_DELAY_MS = 100  # CallTransferAccepted → CallDisconnected; scaled
DEFAULT_INITIAL_SILENCE_SECONDS = 5
DEFAULT_INTER_TONE_SECONDS = 2
DEFAULT_MAX_TONES = 1
FILE_FETCH_TIMEOUT_SECONDS = 3
FILE_FETCH_MAX_BYTES = 50 * 1024 * 1024
JWT_LIFETIME_SECONDS = 300
REQUEST_LOG_SIZE = 5_000
CALLBACK_LOG_SIZE = 10_000
HISTORY_SIZE = 10_000
EVENTS_PER_CALL_LOG = 500
MAX_REQUEST_BODY_BYTES = 1024 * 1024
CALLBACK_CONNECTION_LIMIT = 100


@dataclass(frozen=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 7081
    access_key: str = WELL_KNOWN_ACCESS_KEY
    resource_id: str = DEFAULT_RESOURCE_ID
    issuer: str = DEFAULT_ISSUER
    time_scale: float = 1.0
    answer_delay_ms: float = 1000.0
    reject_delay_ms: float = 300.0
    ring_timeout_ms: float = 30000.0
    play_default_ms: float = 2000.0
    tts_ms_per_char: float = 60.0
    max_concurrent_calls_per_number: int = 0
    retention_seconds: float = 300.0
    callback_retries: int = 3
    callback_backoff_ms: float = 500.0
    callback_timeout_seconds: float = 10.0
    clock_skew_seconds: float = 900.0
    log_level: str = "info"

    def scaled(self, milliseconds: float) -> float:
        """A simulated duration in ms → real seconds, after --time-scale."""
        return max(0.0, milliseconds) * self.time_scale / 1000.0


_HELP = {
    "host": "interface to bind",
    "port": "port to bind; 0 picks a free port",
    "access_key": "base64 access key clients sign with",
    "resource_id": "immutable resource id (the JWT audience of callbacks)",
    "issuer": "JWT issuer of callbacks",
    "time_scale": "multiplies every simulated duration",
    "answer_delay_ms": "a default callee answers after this",
    "reject_delay_ms": "busy / decline / unreachable callees fail after this",
    "ring_timeout_ms": "a callee that never answers fails after this",
    "play_default_ms": "duration of a file that is not fetched (non-loopback URL)",
    "tts_ms_per_char": "duration of text / SSML prompts per character",
    "max_concurrent_calls_per_number": "0 = unlimited; else 429 (8530) above this many live calls per caller id",
    "retention_seconds": "ended calls are evicted from memory after this",
    "callback_retries": "retries of a failing webhook delivery (after the first try)",
    "callback_backoff_ms": "first retry delay, doubling",
    "callback_timeout_seconds": "per delivery attempt",
    "clock_skew_seconds": "accepted x-ms-date skew",
    "log_level": "debug, info, warning, error",
}


def parse_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> EmulatorConfig:
    """Flags → EmulatorConfig; each flag's default comes from ACS_EMULATOR_<FLAG> if set."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Local ACS Call Automation emulator")
    defaults = EmulatorConfig()
    for spec in fields(EmulatorConfig):
        flag = "--" + spec.name.replace("_", "-")
        env_name = "ACS_EMULATOR_" + spec.name.upper()
        kind = type(getattr(defaults, spec.name))
        default = environ.get(env_name, getattr(defaults, spec.name))
        try:
            default = kind(default)
        except ValueError:
            parser.error(f"{env_name}={default!r} is not a valid {kind.__name__}")
        parser.add_argument(flag, type=kind, default=default, help=f"{_HELP[spec.name]} (env {env_name})")
    args = parser.parse_args(argv)
    config = EmulatorConfig(**vars(args))
    if config.time_scale < 0 or config.callback_retries < 0 or config.port < 0:
        parser.error("--time-scale, --callback-retries and --port must not be negative")
    return config

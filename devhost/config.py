"""Read the two files `func start` reads: host.json (routing and queue settings) and local.settings.json.

Defaults are the host's own (learn.microsoft.com: functions-bindings-storage-queue, "host.json settings"), with
the values Core Tools uses for local development where they differ (maxPollingInterval is 2 s locally).
Keys are matched case-insensitively because the host reads host.json through .NET configuration.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_HTTP_PORT = 7071
MAX_BATCH_SIZE = 32  # the queue service returns at most 32 messages per request
MIN_POLLING_INTERVAL = 0.1
LOCAL_MAX_POLLING_INTERVAL = 2.0  # Core Tools runs in Development, where the host polls at most every 2 s
MESSAGE_ENCODINGS = ("base64", "none")

# .NET TimeSpan text: [d.]hh:mm:ss[.fraction]
_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)$")


class ConfigError(ValueError):
    """host.json or local.settings.json is missing, unreadable or holds a value the host would reject."""


@dataclass(frozen=True)
class QueueSettings:
    """`extensions.queues` in host.json; times are in seconds."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    max_polling_interval: float = LOCAL_MAX_POLLING_INTERVAL
    message_encoding: str = "base64"

    @property
    def max_in_flight(self) -> int:
        """The host fetches a new batch once in-flight work drops to newBatchThreshold."""
        return self.batch_size + self.new_batch_threshold


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = DEFAULT_ROUTE_PREFIX
    queues: QueueSettings = field(default_factory=QueueSettings)


@dataclass(frozen=True)
class LocalSettings:
    values: dict[str, str] = field(default_factory=dict)
    local_http_port: int | None = None


def parse_timespan(text: str) -> float:
    """'00:00:30' -> 30.0 seconds; '1.00:00:00' -> one day; fractions of a second are kept."""
    match = _TIMESPAN.match(str(text).strip())
    if not match:
        raise ConfigError(f"not a TimeSpan (expected [d.]hh:mm:ss[.fff]): {text!r}")
    days = int(match["days"] or 0)
    return days * 86400 + int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])


HOST_OVERRIDE_PREFIX = "azurefunctionsjobhost__"


def load_host_config(
    app_dir: Path, *, cpu_count: int | None = None, environ: Mapping[str, str] | None = None
) -> HostConfig:
    """Read DIR/host.json. The file is required, as it is for `func start`. App settings named
    `AzureFunctionsJobHost__<path>` override its values, as in Azure (e.g.
    `AzureFunctionsJobHost__extensions__queues__maxDequeueCount=2`)."""
    path = Path(app_dir) / "host.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found: is {app_dir} a Function App folder?")
    return parse_host_json(with_overrides(_read_json(path), environ or {}), cpu_count=cpu_count)


def with_overrides(document: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """host.json with the `AzureFunctionsJobHost__a__b` settings applied (keys case-insensitive, as in .NET)."""
    merged: dict[str, Any] = json.loads(json.dumps(document))
    for name, value in environ.items():
        if not name.lower().startswith(HOST_OVERRIDE_PREFIX):
            continue
        *parents, leaf = name[len(HOST_OVERRIDE_PREFIX):].split("__")
        node = merged
        for part in parents:
            existing = next((k for k in node if k.lower() == part.lower()), part)
            if not isinstance(node.get(existing), dict):
                node[existing] = {}
            node = node[existing]
        node[next((k for k in node if k.lower() == leaf.lower()), leaf)] = value
    return merged


def parse_host_json(document: Mapping[str, Any], *, cpu_count: int | None = None) -> HostConfig:
    """Build a HostConfig from a parsed host.json, applying the host's defaults for absent settings."""
    extensions = _get(document, "extensions") or {}
    http = _get(extensions, "http") or {}
    route_prefix = _get(http, "routePrefix")
    queues = _get(extensions, "queues") or {}
    return HostConfig(
        route_prefix=DEFAULT_ROUTE_PREFIX if route_prefix is None else str(route_prefix).strip("/"),
        queues=_parse_queue_settings(queues, cpu_count=cpu_count or os.cpu_count() or 1),
    )


def _parse_queue_settings(queues: Mapping[str, Any], *, cpu_count: int) -> QueueSettings:
    batch_size = _int_setting(queues, "batchSize", QueueSettings.batch_size)
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ConfigError(f"extensions.queues.batchSize must be between 1 and {MAX_BATCH_SIZE}: {batch_size}")
    # The host's default threshold is batchSize/2 per processor (QueuesOptions.NewBatchThreshold).
    new_batch_threshold = _int_setting(queues, "newBatchThreshold", cpu_count * batch_size // 2)
    if new_batch_threshold < 0:
        raise ConfigError(f"extensions.queues.newBatchThreshold must not be negative: {new_batch_threshold}")
    max_dequeue_count = _int_setting(queues, "maxDequeueCount", QueueSettings.max_dequeue_count)
    if max_dequeue_count < 1:
        raise ConfigError(f"extensions.queues.maxDequeueCount must be at least 1: {max_dequeue_count}")
    encoding = str(_get(queues, "messageEncoding") or QueueSettings.message_encoding).lower()
    if encoding not in MESSAGE_ENCODINGS:
        raise ConfigError(f"extensions.queues.messageEncoding must be one of {MESSAGE_ENCODINGS}: {encoding!r}")
    return QueueSettings(
        batch_size=batch_size,
        new_batch_threshold=new_batch_threshold,
        visibility_timeout=_timespan_setting(queues, "visibilityTimeout", QueueSettings.visibility_timeout),
        max_dequeue_count=max_dequeue_count,
        max_polling_interval=max(
            MIN_POLLING_INTERVAL,
            _timespan_setting(queues, "maxPollingInterval", QueueSettings.max_polling_interval),
        ),
        message_encoding=encoding,
    )


def load_local_settings(app_dir: Path) -> LocalSettings:
    """Read DIR/local.settings.json if present (it is optional and never deployed)."""
    path = Path(app_dir) / "local.settings.json"
    if not path.is_file():
        return LocalSettings()
    return parse_local_settings(_read_json(path))


def parse_local_settings(document: Mapping[str, Any]) -> LocalSettings:
    values = _get(document, "Values") or {}
    for name, value in values.items():
        # Core Tools rejects non-string values too; failing here beats a confusing type error later.
        if not isinstance(value, str):
            raise ConfigError(f"local.settings.json Values.{name} must be a string, got {type(value).__name__}")
    port = _get(_get(document, "Host") or {}, "LocalHttpPort")
    return LocalSettings(values=dict(values), local_http_port=int(port) if port is not None else None)


def apply_settings(values: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Export Values as environment variables; variables already set win, as with `func start`."""
    applied = []
    for name, value in values.items():
        if name not in environ:
            environ[name] = value
            applied.append(name)
    return applied


def _read_json(path: Path) -> dict[str, Any]:
    try:
        # utf-8-sig: files saved by Windows editors often start with a BOM.
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return document


def _get(mapping: Mapping[str, Any], key: str) -> Any:
    """Case-insensitive lookup, like .NET configuration."""
    if not isinstance(mapping, Mapping):
        return None
    wanted = key.lower()
    for name, value in mapping.items():
        if name.lower() == wanted:
            return value
    return None


def _int_setting(mapping: Mapping[str, Any], key: str, default: int) -> int:
    value = _get(mapping, key)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"extensions.queues.{key} must be an integer: {value!r}") from exc


def _timespan_setting(mapping: Mapping[str, Any], key: str, default: float) -> float:
    value = _get(mapping, key)
    return default if value is None else parse_timespan(value)

"""host.json and local.settings.json parsing (pure functions, no processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.config import (
    ConfigError,
    apply_settings,
    load_host_config,
    load_local_settings,
    parse_host_json,
    parse_local_settings,
    parse_timespan,
    with_overrides,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:00:30", 30.0), ("00:01:00", 60.0), ("00:00:00.500", 0.5), ("1.02:00:01", 93601.0), ("0:0:2", 2.0)],
)
def test_timespans(text: str, seconds: float) -> None:
    assert parse_timespan(text) == seconds


@pytest.mark.parametrize("text", ["30", "00:30", "soon", "00:00:xx"])
def test_bad_timespans_are_rejected(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_timespan(text)


def test_defaults_when_host_json_has_no_extensions() -> None:
    config = parse_host_json({"version": "2.0"}, cpu_count=2)

    assert config.route_prefix == "api"
    queues = config.queues
    assert (queues.batch_size, queues.new_batch_threshold, queues.max_in_flight) == (16, 16, 32)
    assert (queues.visibility_timeout, queues.max_dequeue_count) == (0.0, 5)
    assert queues.max_polling_interval == 2.0  # Core Tools' local default, not the 1 minute of Azure
    assert queues.message_encoding == "base64"


def test_explicit_settings_are_read_case_insensitively() -> None:
    config = parse_host_json(
        {
            "Extensions": {
                "HTTP": {"routePrefix": "/v1/"},
                "queues": {
                    "BatchSize": 4,
                    "newBatchThreshold": 2,
                    "visibilityTimeout": "00:00:05",
                    "maxDequeueCount": 3,
                    "maxPollingInterval": "00:00:10",
                    "messageEncoding": "None",
                },
            }
        },
        cpu_count=8,
    )

    assert config.route_prefix == "v1"
    q = config.queues
    assert (q.batch_size, q.new_batch_threshold, q.max_in_flight) == (4, 2, 6)
    assert (q.visibility_timeout, q.max_dequeue_count, q.max_polling_interval) == (5.0, 3, 10.0)
    assert q.message_encoding == "none"


def test_an_empty_route_prefix_is_allowed() -> None:
    assert parse_host_json({"extensions": {"http": {"routePrefix": ""}}}).route_prefix == ""


def test_polling_interval_has_the_host_minimum_of_100_ms() -> None:
    config = parse_host_json({"extensions": {"queues": {"maxPollingInterval": "00:00:00.010"}}})

    assert config.queues.max_polling_interval == 0.1


@pytest.mark.parametrize(
    "queues",
    [{"batchSize": 0}, {"batchSize": 33}, {"maxDequeueCount": 0}, {"messageEncoding": "utf8"}, {"batchSize": "x"}],
)
def test_values_the_host_rejects_are_rejected(queues: dict) -> None:
    with pytest.raises(ConfigError):
        parse_host_json({"extensions": {"queues": queues}})


def test_host_json_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"host\.json"):
        load_host_config(tmp_path)


def test_local_settings_are_optional(tmp_path: Path) -> None:
    settings = load_local_settings(tmp_path)

    assert (settings.values, settings.local_http_port) == ({}, None)


def test_local_settings_values_and_port(tmp_path: Path) -> None:
    # Files saved on Windows often start with a BOM; the host reads them anyway.
    document = {"IsEncrypted": False, "Values": {"A": "1"}, "Host": {"LocalHttpPort": 7080}}
    (tmp_path / "local.settings.json").write_text(json.dumps(document), encoding="utf-8-sig")

    settings = load_local_settings(tmp_path)

    assert (settings.values, settings.local_http_port) == ({"A": "1"}, 7080)


def test_non_string_values_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"Values\.PORT"):
        parse_local_settings({"Values": {"PORT": 5}})


def test_values_do_not_override_the_environment() -> None:
    environ = {"KEEP": "from-env"}

    applied = apply_settings({"KEEP": "from-file", "NEW": "from-file"}, environ)

    assert environ == {"KEEP": "from-env", "NEW": "from-file"}
    assert applied == ["NEW"]


def test_app_settings_override_host_json_like_the_host():
    document = {"extensions": {"queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:10"}}}
    environ = {
        "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "2",
        "AZUREFUNCTIONSJOBHOST__Extensions__Queues__VisibilityTimeout": "00:00:01",
        "AzureFunctionsJobHost__extensions__http__routePrefix": "v1",
        "OTHER__extensions__queues__batchSize": "1",
    }

    config = parse_host_json(with_overrides(document, environ), cpu_count=2)

    assert config.queues.max_dequeue_count == 2
    assert config.queues.visibility_timeout == 1.0
    assert config.route_prefix == "v1"
    assert config.queues.batch_size == 16  # only AzureFunctionsJobHost__ settings count
    assert document["extensions"]["queues"]["maxDequeueCount"] == 5  # the file's own values are left alone

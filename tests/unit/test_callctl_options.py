"""callctl as users run it: every campaign field the API takes has a submit option, and `| head` ends quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from callctl import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAPI = json.loads((REPO_ROOT / "openapi.json").read_text(encoding="utf-8"))
PLAN = {"prompt": {"text": "Press 1."}, "collect": {"confirmKey": "1"}}
# Fields set otherwise than by an option of their own: the plan file, and the recipients CSV.
NOT_OPTIONS = {"plan", "recipients"}
EVERY_OPTION = (
    "--name Spring --campaign-id spring-1 --caller-id +18005550100 --callback-uri https://hooks.example/events"
    " --call-event dtmfReceived --call-event participantsUpdated --max-concurrent 20 --per-caller-id 3"
    " --calls-per-second 2.5 --max-attempts 4 --retry-delay 600 --retry-on busy --retry-on failed"
    " --expires-at 2026-12-01T18:00:00Z --emergency --window-start 09:00 --window-end 20:00 --window-days mon,FRI"
    " --time-zone America/New_York --language es-US"
)


def _schema(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node or "allOf" in node:
        ref = node["$ref"] if "$ref" in node else node["allOf"][0]["$ref"]
        node = OPENAPI
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    return node


def _fields(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """The field paths of a schema: an object's own fields, and those of the objects inside it."""
    paths = set()
    for name, node in schema.get("properties", {}).items():
        if not prefix and name in NOT_OPTIONS:
            continue
        inner = _schema(node)
        paths |= _fields(inner, f"{prefix}{name}.") if inner.get("type") == "object" else {prefix + name}
    return paths


def _present(body: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for name, value in body.items():
        paths |= _present(value, f"{prefix}{name}.") if isinstance(value, dict) and name != "plan" else {prefix + name}
    return paths


def _submit(tmp_path: Path, options: str) -> dict[str, Any]:
    people, plan = tmp_path / "people.csv", tmp_path / "plan.json"
    people.write_text("phoneNumber\n+14255550001\n", encoding="utf-8")
    plan.write_text(json.dumps(PLAN), encoding="utf-8")
    args = cli.parse_args(["campaign", "submit", str(people), "--plan", str(plan), *options.split()])
    return cli.campaign_settings(args, cli.read_plan(args.plan))


def test_every_campaign_field_of_the_api_has_a_submit_option(tmp_path: Path):
    api_fields = _fields(_schema(OPENAPI["components"]["schemas"]["CreateCampaignRequest"]))
    body = _submit(tmp_path, EVERY_OPTION)
    # One field is set two ways: --time-zone is the window's zone with a window, else the campaign's.
    without_window = _submit(tmp_path, "--time-zone Europe/Paris")

    assert _present(body) | _present(without_window) == api_fields | {"plan"}  # the plan: from --plan
    assert body["retry"]["retryOn"] == ["busy", "failed"]
    assert body["callingWindow"]["days"] == ["mon", "fri"]
    assert body["requestedCallEvents"] == ["dtmfReceived", "participantsUpdated"]
    assert _submit(tmp_path, "--retry-on never")["retry"] == {"retryOn": []}


def test_submit_help_lists_every_option():
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["campaign"]
    submit = help_text._subparsers._group_actions[0].choices["submit"].format_help()
    for option in {word for word in EVERY_OPTION.split() if word.startswith("--")} | {"--settings", "--plan"}:
        assert option in submit, option


def test_a_settings_file_gives_fields_the_options_override(tmp_path: Path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"callbackUri": "https://a.example/e", "pacing": {"maxConcurrentCalls": 5,
                                    "callsPerSecond": 1}, "recipients": [{"phoneNumber": "+1"}]}), encoding="utf-8")
    people, plan = tmp_path / "people.csv", tmp_path / "plan.json"
    people.write_text("phoneNumber\n+14255550001\n", encoding="utf-8")
    plan.write_text(json.dumps(PLAN), encoding="utf-8")
    args = cli.parse_args(["campaign", "submit", str(people), "--plan", str(plan), "--settings", str(settings),
                           "--max-concurrent", "9"])
    args.settings_file = cli.read_json_object(args.settings, "settings")
    body = cli.campaign_settings(args, PLAN)

    assert body["callbackUri"] == "https://a.example/e" and "recipients" not in body
    assert body["pacing"] == {"maxConcurrentCalls": 9, "callsPerSecond": 1}


@pytest.fixture
def big_summary_app() -> Iterator[str]:
    """An app whose campaign summary is far larger than a pipe's buffer."""
    body = json.dumps({"campaignId": "c-1", "status": "running", "padding": ["x" * 100] * 5000}).encode()

    class App(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_output_into_a_pipe_closed_early_ends_quietly(big_summary_app: str):
    """As `callctl ... | head` once head has gone: the reader is closed before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "callctl", "campaign", "status", "c-1", "--json", "--url",
                               big_summary_app], cwd=REPO_ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=60, check=False)
    finally:
        os.close(write_end)
    assert done.stderr == ""  # no traceback, no "Exception ignored"
    assert done.returncode == 141  # 128 + SIGPIPE, as a tool killed by SIGPIPE reports


def test_a_real_head_gets_its_lines_and_nothing_complains(big_summary_app: str):
    command = f"{sys.executable} -m callctl campaign status c-1 --json --url {big_summary_app} | head -n 2"
    done = subprocess.run(command, shell=True, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stdout.splitlines() == ["{", '  "campaignId": "c-1",'] and done.stderr == ""

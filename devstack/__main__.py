"""`make run`: Azurite, the ACS emulator, a demo subscriber and the app under devhost, wired together.

Everything runs in the foreground; Ctrl-C stops each process this started, by its PID. Values in
local.settings.json win over the defaults below, so a developer can point the app elsewhere.

The log is short by default: every line of the subscriber (the events), and of the others only errors, warnings
and tracebacks. `--verbose` shows every line of every process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devstack.processes import Child, Echo, print_line, start
from shared.telemetry import SPAN_LINE_PREFIX

ROOT = Path(__file__).resolve().parents[1]
APP_PORT, EMULATOR_PORT, SUBSCRIBER_PORT = 7071, 7081, 7090
AZURITE_PORTS = (10000, 10001, 10002)
WELL_KNOWN_ACS_KEY = "YWNzLWVtdWxhdG9yLXdlbGwta25vd24tZGV2LWtleSE="
WELL_KNOWN_RESOURCE_ID = "0e4f6a51-7c0d-4b8e-9a3e-ac5e00000001"
DEV_WEBHOOK_SECRET = "whsec_ZGV2LW9ubHktd2ViaG9vay1zZWNyZXQtbm90LWZvci1wcm9k"  # noqa: S105 - public dev value

APP_DEFAULTS = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "ACS_CONNECTION_STRING": f"endpoint=http://127.0.0.1:{EMULATOR_PORT}/;accesskey={WELL_KNOWN_ACS_KEY}",
    "ACS_RESOURCE_ID": WELL_KNOWN_RESOURCE_ID,
    "ACS_CALLBACK_JWKS_URL": f"http://127.0.0.1:{EMULATOR_PORT}/calling/keys",
    "CALLBACK_BASE_URL": f"http://127.0.0.1:{APP_PORT}",
    "DEFAULT_CALLER_ID": "+18005550100",
    "WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
    "RECONCILE_SCHEDULE": "*/15 * * * * *",
    "RECONCILE_AFTER_SECONDS": "60",
    "DISPATCH_SCHEDULE": "*/5 * * * * *",
}


def local_settings() -> dict[str, str]:
    path = ROOT / "local.settings.json"
    return json.loads(path.read_text()).get("Values", {}) if path.exists() else {}


def app_settings() -> dict[str, str]:
    """The defaults, less whatever local.settings.json sets (devhost reads that file itself)."""
    configured = local_settings()
    return {name: value for name, value in APP_DEFAULTS.items() if name not in configured}


# What a quiet log keeps of the processes other than the subscriber: trouble, and the traceback lines around it.
NOTEWORTHY = re.compile(
    r"error|warn|fail|traceback|exception|cannot|refused|poison"
    r"|^  File \"|^    \S|^\S+: ",  # a traceback's frames, its code lines and its last line
    re.IGNORECASE,
)
ALWAYS_SHOWN = ("subscriber",)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack", description="Run the local stack (`make run`).")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="show every line each process prints (default: the subscriber's events, errors, warnings)")
    return parser.parse_args(argv)


def shown(name: str, line: str, *, verbose: bool) -> bool:
    """Whether the stack's log shows this line of the named process (the app's spans, with OTEL_TRACES_EXPORTER=console,
    are asked for)."""
    return verbose or name in ALWAYS_SHOWN or bool(NOTEWORTHY.search(line)) or line.startswith(SPAN_LINE_PREFIX)


def log_filter(verbose: bool) -> Echo:
    def echo(name: str, line: str) -> None:
        if shown(name, line, verbose=verbose):
            print_line(name, line)

    return echo


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    echo = log_filter(args.verbose)
    children: list[Child] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    python = sys.executable
    try:
        azurite = ROOT / "node_modules" / ".bin" / "azurite"
        children.append(start("azurite", [str(azurite), "--silent", "--location", str(ROOT / ".azurite"),
                                          "--skipApiVersionCheck", "--loose", "--disableTelemetry"], echo=echo))
        for port in AZURITE_PORTS:
            children[-1].wait_for_port(port)
        children.append(start("acs", [python, "-m", "emulator", "--port", str(EMULATOR_PORT)], echo=echo))
        children[-1].wait_for_port(EMULATOR_PORT)
        secret = local_settings().get("WEBHOOK_SECRET") or DEV_WEBHOOK_SECRET  # the one the app signs with
        children.append(start("subscriber", [python, "-m", "devstack.subscriber", "--port", str(SUBSCRIBER_PORT)],
                              env={"WEBHOOK_SECRET": secret}, echo=echo))
        children[-1].wait_for_port(SUBSCRIBER_PORT)
        children.append(start("app", [python, "-m", "devhost", "--app-dir", str(ROOT), "--port", str(APP_PORT)],
                              env=app_settings(), echo=echo))
        children[-1].wait_for_line("devhost is ready", timeout=60)
        print(_banner(), flush=True)
        while not stopping and all(child.process.poll() is None for child in children):
            time.sleep(0.2)
        failed = [child.name for child in children if child.process.poll() not in (None, 0)]
        return 1 if failed and not stopping else 0
    except RuntimeError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            child.stop()


def _banner() -> str:
    example = (
        f"curl -s -X POST http://127.0.0.1:{APP_PORT}/calls -H 'Content-Type: application/json' -d "
        "'{\"targets\": [\"+15005550006\"], \"callbackUri\": \"http://127.0.0.1:7090/events\", "
        "\"requestedCallEvents\": [\"participantsUpdated\", \"dtmfReceived\"]}'"
    )
    return f"""
Local stack is running (Ctrl-C stops everything):
  app (the seed's API)   http://127.0.0.1:{APP_PORT}/calls
  ACS emulator           http://127.0.0.1:{EMULATOR_PORT}   (control API: /emulator/calls)
  event subscriber       http://127.0.0.1:{SUBSCRIBER_PORT}/events   (prints every verified event)
  Azurite                http://127.0.0.1:10000-10002   (UseDevelopmentStorage=true)

Place a call (the magic number +15005550006 answers and presses 1):
  {example}
"""


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())

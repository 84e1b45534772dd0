"""The README's curl examples, run as written with the real curl against the stack, answer the status they show.

Each `curl` command of a ```sh block carries a `# → <status>` marker. The local addresses of `make run` become the
stack's, and the placeholders the README lists under "The examples are run" are filled in: `$LEG` (a connected call
leg), `$CAMPAIGN` (a campaign), `$KEY` (the function key of an app instance that enforces one). What an example
creates (a call leg, a campaign, a callee script) is ended again afterwards.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

import pytest
import requests

from devstack.processes import free_ports
from tests.e2e.conftest import REPO_ROOT, Stack
from tests.support.devhost_process import RunningDevhost, running_devhost
from tests.support.readme import README, Block, Command, curl_examples

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the examples are run with the real curl")

EXAMPLES = curl_examples(README.read_text())
FUNCTION_KEY = "readme-examples-" + secrets.token_hex(8)

# Every argument curl gets that is a URL must be one of this machine's: an example never reaches out.
CURL = r"""
set -u
curl() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      http://127.0.0.1:*) ;;
      http://*|https://*) echo "refusing a URL off this machine: $arg" >&2; return 97 ;;
    esac
  done
  command curl --noproxy '*' --max-time 30 --write-out '\n%{http_code}' "$@"
}
"""
KNOWN_VARIABLES = {"LEG", "CAMPAIGN", "KEY"}


def _example_id(example: tuple[Block, Command]) -> str:
    block, command = example
    words = re.sub(r"[^a-z0-9]+", "-", block.section.lower()).strip("-")
    return f"{words}-line{block.line + command.line}"


@dataclass
class Cleanup:
    """What an example made, ended after it (so the session's other tests find the stack as it was)."""

    stack: Stack
    legs: list[str] = field(default_factory=list)
    campaigns: list[str] = field(default_factory=list)
    callees: list[str] = field(default_factory=list)

    def note(self, command: str, body: str) -> None:
        for target in re.findall(r"-X PUT \S*/emulator/callees/([^\s\"']+)", command):
            self.callees.append(unquote(target))
        try:
            answer = json.loads(body)
        except ValueError:
            return
        if isinstance(answer, dict):
            if isinstance(answer.get("callLegId"), str):
                self.legs.append(answer["callLegId"])
            if isinstance(answer.get("campaignId"), str):
                self.campaigns.append(answer["campaignId"])

    def run(self) -> None:
        for leg in self.legs:
            self.stack.post(f"/calls/{leg}/Hangup")  # 202, or 409 for a leg that ended by itself
        for campaign in self.campaigns:
            self.stack.post(f"/campaigns/{campaign}/cancel")
        for target in self.callees:
            self.stack.emulator.control("DELETE", f"/callees/{requests.utils.quote(target, safe='')}")


@pytest.fixture(scope="module")
def keyed_app(stack: Stack) -> Iterator[RunningDevhost]:
    """One more instance of the app on the stack's storage and emulator, enforcing a function key as Azure does."""
    env = {**stack.app_env, "DEVHOST_FUNCTION_KEY": FUNCTION_KEY}
    with running_devhost(REPO_ROOT, port=free_ports()[0], env=env) as app:
        yield app


def _unique_number() -> str:
    return "+1425" + "".join(secrets.choice("0123456789") for _ in range(7))  # answers, presses nothing


def _connected_leg(stack: Stack, cleanup: Cleanup) -> str:
    leg = stack.place_call(_unique_number())
    cleanup.legs.append(leg)
    stack.wait_for_call(leg, lambda seen: seen["state"] == "established" and bool(seen["participants"]))
    return leg


def _invite(stack: Stack, leg: str, participant: str) -> None:
    answer = stack.post(f"/calls/{leg}/participants", {"participants": [participant]})
    assert answer.status_code == 202, answer.text
    stack.wait_for_call(leg, lambda seen: participant in seen["participants"])


def _campaign(stack: Stack, cleanup: Cleanup) -> str:
    answer = stack.post("/campaigns", {"name": "README example", "plan": {"prompt": {"text": "Hello."}}})
    assert answer.status_code == 201, answer.text
    cleanup.campaigns.append(answer.json()["campaignId"])
    return answer.json()["campaignId"]


def _local(command: str, stack: Stack, keyed: RunningDevhost | None) -> str:
    """The command with make run's addresses replaced by the stack's (and Azure's by the keyed instance)."""
    replaced = (
        command.replace("http://127.0.0.1:7090/events", stack.subscriber_url)
        .replace("https://example.com/your-webhook", stack.subscriber_url)
        .replace("http://127.0.0.1:7071", stack.app_url.rstrip("/"))
        .replace("http://127.0.0.1:7081", stack.emulator.endpoint.rstrip("/"))
    )
    if keyed is not None:
        for azure in ("https://$APP.azurewebsites.net", "$(azd env get-value SERVICE_API_URI)"):
            replaced = replaced.replace(azure, keyed.base_url.rstrip("/"))
    return replaced


def test_every_curl_example_is_found():
    """The README has curl examples in every part that shows some, so a parser that finds none fails here."""
    sections = {block.section for block, _ in EXAMPLES}
    assert len(EXAMPLES) >= 10
    assert any("POST /calls" in name for name in sections) and "Submit" in sections
    assert "The ACS emulator" in sections and "After `azd up`" in sections


@pytest.mark.parametrize("example", EXAMPLES, ids=[_example_id(e) for e in EXAMPLES])
def test_a_readme_curl_example_answers_the_status_it_shows(example, stack, request, tmp_path):
    block, command = example
    where = f"README.md line {block.line + command.line} ({block.section})"
    assert command.program == "curl", f"{where}: curl must start its command to be run: {command.text}"
    expected = command.expected_status
    assert expected is not None, f"{where}: a curl example needs a '# → <status>' marker"

    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", command.text)) - {"APP"}
    assert used <= KNOWN_VARIABLES, f"{where}: the test does not know how to fill in {used - KNOWN_VARIABLES}"
    azure = "$APP" in command.text or "azd env get-value" in command.text or "KEY" in used
    keyed = request.getfixturevalue("keyed_app") if azure else None

    cleanup = Cleanup(stack)
    try:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
        if "LEG" in used:
            env["LEG"] = _connected_leg(stack, cleanup)
            removed = re.search(r"-X DELETE \S*/participants/([^\s\"']+)", command.text)
            if removed:  # as in the README, the participant is the one the invitation example brought in
                _invite(stack, env["LEG"], unquote(removed.group(1)))
        if "CAMPAIGN" in used:
            env["CAMPAIGN"] = _campaign(stack, cleanup)
        if "KEY" in used:
            env["KEY"] = FUNCTION_KEY
        if "@recipients.csv" in command.text:
            (tmp_path / "recipients.csv").write_text(f"phoneNumber,timeZone\n{_unique_number()},America/Chicago\n"
                                                      f"{_unique_number()},\n")
        script = _local(command.text, stack, keyed)
        assert "127.0.0.1:70" not in script.replace(stack.app_url, ""), f"{where}: an address was left: {script}"

        ran = subprocess.run(["bash", "-c", CURL + script], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60, check=False)
        *body_lines, status = (ran.stdout.rstrip("\n").split("\n") or [""])
        body = "\n".join(body_lines)
        cleanup.note(script, body)

        assert ran.returncode == 0, f"{where}: exit {ran.returncode}\n{ran.stderr}\n{ran.stdout}"
        assert status == str(expected), f"{where}: answered {status}, the README shows {expected}:\n{body}"
    finally:
        cleanup.run()


def test_the_azure_examples_need_their_key(stack, keyed_app):
    """The key in the Azure examples is what lets them in: without it the keyed instance answers 401."""
    answer = requests.post(f"{keyed_app.base_url}/calls", data=json.dumps({"targets": [_unique_number()]}),
                           timeout=15)
    assert answer.status_code == 401

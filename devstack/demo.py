"""`make demo`: two campaigns on the local stack, run with the real CLI, checked against their scripts.

1. Start Azurite (in memory), the ACS emulator (with a time scale) and the app under devhost, each on a free port,
   so a running `make run` is left alone.
2. Appointment reminders to 50 contacts, each with its own id, name and appointment time, in English or Spanish:
   they confirm, decline, are busy then answer, never answer, are unreachable, stay silent (voicemail), opt out
   (key 9), or are unreachable on their mobile and answer at home (a second number). Their scripts go to the
   emulator; recipients.csv and the plan (templates in two languages) to a temporary folder.
3. Run `python -m callctl campaign submit ...` as a user would (it shows its progress and summary), then
   `python -m callctl campaign report ...` to save report.html and calls.csv.
4. A storm poll ("press 1 if your power is on, 2 if not") the same way, to fresh numbers and to everyone who opted
   out of the reminders: those must not be called (they end `suppressed`).
5. Check every recipient's outcome, number of calls, answer, voicemail and answering number against its script,
   and the emulator's peak concurrency against the caps. Exit 1 when anything differs.

Every process this starts is stopped by its own PID when the demo ends, fails or is interrupted (Ctrl-C).
`local_stack()` is also what `bench/campaign_bench.py` runs on."""

from __future__ import annotations

import argparse
import csv
import io
import json
import shlex
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from devstack.__main__ import DEV_WEBHOOK_SECRET, WELL_KNOWN_ACS_KEY, WELL_KNOWN_RESOURCE_ID
from devstack.processes import Child, free_ports, print_line, start

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
# Azurite's well-known development account (public, the same for every Azurite).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
APP_LOG_LINES = 100_000  # kept in memory, to explain a call that went wrong (a few lines per call)
# Settings from the developer's shell that would point the app somewhere other than this stack.
FOREIGN_SETTINGS = ("ACS_ENDPOINT", "AzureWebJobsStorage__accountName", "AzureWebJobsStorage__clientId")


# -- the local stack on free ports ------------------------------------------------------------------------------


Service = Child  # a child process of the stack whose output is kept (the last lines) rather than printed


@dataclass
class LocalStack:
    app_url: str
    emulator_url: str
    storage_connection_string: str
    time_scale: float
    services: list[Service]

    def emulator(self, method: str, path: str, *, timeout: float = 30, **kwargs: Any) -> requests.Response:
        """The emulator's control API: `emulator("GET", "/calls/history")` → GET /emulator/calls/history."""
        answer = requests.request(method, f"{self.emulator_url}/emulator{path}", timeout=timeout, **kwargs)
        answer.raise_for_status()
        return answer

    def service(self, name: str) -> Service:
        return next(service for service in self.services if service.name == name)

    def check_running(self) -> None:
        for service in self.services:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited with code {service.process.returncode}")


def start_service(
    name: str,
    command: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    verbose: bool = False,
    keep_lines: int = 300,
) -> Service:
    """Start a child in its own session (Ctrl-C reaches only us, and we stop it by its PID), keeping the last
    `keep_lines` lines of its output."""
    return start(name, command, env=env, unset_env=FOREIGN_SETTINGS, cwd=cwd, keep_lines=keep_lines,
                 echo=print_line if verbose else None)


@dataclass
class LocalServices:
    """What the app runs against: Azurite (in memory) and the ACS emulator, on free ports."""

    emulator_url: str
    issuer: str  # the emulator's callback token issuer
    blob_port: int
    queue_port: int
    table_port: int
    time_scale: float
    services: list[Service]

    def storage_connection_string(self, account: str = AZURITE_ACCOUNT) -> str:
        return azurite_connection_string(self.blob_port, self.queue_port, self.table_port, account)


@contextmanager
def local_services(
    *,
    time_scale: float,
    verbose: bool = False,
    workdir: Path | None = None,
    accounts: Sequence[str] = (),
    emulator_args: Sequence[str] = (),
) -> Iterator[LocalServices]:
    """Azurite and the emulator on free ports, stopped by PID on exit. `accounts`: storage accounts Azurite serves
    beside the well-known one (same key), so that apps run one after the other need not share tables and queues."""
    blob, queue, table, emulator_port = free_ports(4)
    python = sys.executable
    services: list[Service] = []
    try:
        azurite = ROOT / "node_modules" / ".bin" / "azurite"
        ports = {"blob": blob, "queue": queue, "table": table}
        command = [str(azurite), "--silent", "--inMemoryPersistence", "--skipApiVersionCheck", "--loose",
                   "--disableTelemetry"]  # fmt: skip
        for kind, port in ports.items():
            command += [f"--{kind}Host", HOST, f"--{kind}Port", str(port)]
        env = {}
        if accounts:
            env["AZURITE_ACCOUNTS"] = ";".join(f"{name}:{AZURITE_KEY}" for name in (AZURITE_ACCOUNT, *accounts))
        services.append(start_service("azurite", command, env=env, cwd=workdir or ROOT, verbose=verbose))
        for port in ports.values():
            services[-1].wait_for_port(port)

        emulator_command = [python, "-m", "emulator", "--port", str(emulator_port), "--time-scale", str(time_scale),
                            "--log-level", "warning", *emulator_args]  # fmt: skip
        services.append(start_service("acs", emulator_command, verbose=verbose))
        services[-1].wait_for_port(emulator_port)
        emulator_url = f"http://{HOST}:{emulator_port}"
        issuer = requests.get(f"{emulator_url}/emulator/health", timeout=10).json()["issuer"]
        yield LocalServices(emulator_url, issuer, blob, queue, table, time_scale, services)
    except RuntimeError:
        _print_output(services)
        raise
    finally:
        for service in reversed(services):
            service.stop()


@contextmanager
def app_service(
    local: LocalServices,
    *,
    storage_connection_string: str | None = None,
    app_dir: Path = ROOT,
    name: str = "app",
    verbose: bool = False,
) -> Iterator[LocalStack]:
    """The app under devhost on a free port, against `local`; stopped by PID on exit. `app_dir`: the checkout
    whose app and devhost run (its own folder is the working directory, so its own code is imported)."""
    (app_port,) = free_ports(1)
    storage = storage_connection_string or local.storage_connection_string()
    app_env = {
        "AzureWebJobsStorage": storage,
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "ACS_CONNECTION_STRING": f"endpoint={local.emulator_url}/;accesskey={WELL_KNOWN_ACS_KEY}",
        "ACS_RESOURCE_ID": WELL_KNOWN_RESOURCE_ID,
        "ACS_CALLBACK_ISSUER": local.issuer,
        "ACS_CALLBACK_JWKS_URL": f"{local.emulator_url}/calling/keys",
        "CALLBACK_BASE_URL": f"http://{HOST}:{app_port}",
        "DEFAULT_CALLER_ID": "+18005550100",
        "WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
        "RECONCILE_SCHEDULE": "*/15 * * * * *",
        "RECONCILE_AFTER_SECONDS": "60",
        "DISPATCH_SCHEDULE": "*/5 * * * * *",
    }
    app_command = [sys.executable, "-m", "devhost", "--app-dir", str(app_dir), "--port", str(app_port)]
    app = start_service(name, app_command, env=app_env, cwd=app_dir, verbose=verbose, keep_lines=APP_LOG_LINES)
    try:
        app.wait_for_output("devhost is ready", timeout=90)
        yield LocalStack(f"http://{HOST}:{app_port}", local.emulator_url, storage, local.time_scale,
                         [*local.services, app])  # fmt: skip
    except RuntimeError:
        _print_output([app])
        raise
    finally:
        app.stop()


@contextmanager
def local_stack(*, time_scale: float, verbose: bool = False, workdir: Path | None = None) -> Iterator[LocalStack]:
    """Azurite (in memory), the emulator and the app under devhost on free ports; all stopped by PID on exit."""
    with (
        local_services(time_scale=time_scale, verbose=verbose, workdir=workdir) as local,
        app_service(local, verbose=verbose) as stack,
    ):
        yield stack


def azurite_connection_string(blob: int, queue: int, table: int, account: str = AZURITE_ACCOUNT) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://{HOST}:{blob}/{account};"
        f"QueueEndpoint=http://{HOST}:{queue}/{account};"
        f"TableEndpoint=http://{HOST}:{table}/{account};"
    )


def _print_output(services: Iterable[Service]) -> None:
    for service in services:
        if service.output():
            print(f"--- last output of {service.name} ---\n{service.output()}", file=sys.stderr)


# -- reading the emulator's call log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EmulatedCall:
    """One call as the emulator saw it (a row of GET /emulator/calls/history)."""

    target: str  # the phone number, without the `4:` raw-id prefix
    caller_id: str | None
    created_at: datetime
    ended_at: datetime | None
    call_connection_id: str = ""

    @classmethod
    def from_history(cls, row: Mapping[str, Any]) -> EmulatedCall:
        target = row["targets"][0] if row.get("targets") else ""
        return cls(
            target=target[2:] if target.startswith("4:") else target,
            caller_id=row.get("callerId"),
            created_at=datetime.fromisoformat(row["createdAt"]),
            ended_at=datetime.fromisoformat(row["endedAt"]) if row.get("endedAt") else None,
            call_connection_id=row.get("callConnectionId", ""),
        )

    @property
    def seconds(self) -> float:
        return (self.ended_at - self.created_at).total_seconds() if self.ended_at else 0.0


def emulated_calls(stack: LocalStack, numbers: Iterable[str]) -> list[EmulatedCall]:
    wanted = set(numbers)
    rows = stack.emulator("GET", "/calls/history").json()["value"]
    return [call for call in map(EmulatedCall.from_history, rows) if call.target in wanted]


def peak_overlap(calls: Sequence[EmulatedCall]) -> int:
    """The most calls live at one instant, from creation to end (an end and a start at the same instant do not
    overlap); a call that has not ended counts as live from its start on."""
    changes: list[tuple[datetime, int]] = []
    for call in calls:
        changes.append((call.created_at, 1))
        if call.ended_at is not None:
            changes.append((call.ended_at, -1))
    live = peak = 0
    for _, change in sorted(changes):  # -1 sorts before +1 at the same instant
        live += change
        peak = max(peak, live)
    return peak


# -- the scripted recipients ------------------------------------------------------------------------------------


def press(key: str) -> dict[str, Any]:
    return {"answer": "answer", "presses": [{"tones": key, "afterMs": 800}]}


SILENT = {"answer": "answer"}


@dataclass(frozen=True)
class Behaviour:
    name: str
    script: dict[str, Any]  # PUT /emulator/callees/{number}: the recipient's (last) number
    outcome: str  # what the campaign must record
    calls: int  # how many calls the recipient must get (with the demo's retry settings), on all its numbers
    first_numbers: tuple[dict[str, Any], ...] = ()  # scripts of the numbers a contact lists before that one
    choice: str = ""  # a poll's answer

    @property
    def leaves_voicemail(self) -> bool:
        return self.outcome == "answered-without-input"


BEHAVIOURS = (
    Behaviour("confirms", press("1"), "confirmed", 1),
    Behaviour("declines", press("2"), "declined", 1),
    Behaviour("busy, then answers and confirms", {"attempts": [{"answer": "busy"}, press("1")]}, "confirmed", 2),
    Behaviour("never answers", {"answer": "noAnswer"}, "no-answer", 3),
    Behaviour("unreachable", {"answer": "unreachable"}, "unreachable", 1),
    Behaviour("answers, silent: voicemail", SILENT, "answered-without-input", 1),
    Behaviour("opts out (presses 9)", press("9"), "opted-out", 1),
    Behaviour("mobile unreachable, home confirms", press("1"), "confirmed", 2,
              first_numbers=({"answer": "unreachable"},)),
)
LANGUAGES = ("en-US", "es-US")  # recipients take them in turn
NAMES = ("Ana", "Ben", "Chloé", "Dev", "Eun-ji", "Femi", "Gus", "Hana", "Iván", "Jo")
PLAN = {
    "prompt": {"text": "Hello {{name}}, this is Contoso Clinic about your visit on {{appointmentAt|datetime}}. "
                       "Press 1 to confirm, 2 to cancel, 9 to stop these calls."},
    "collect": {"confirmKey": "1", "declineKey": "2", "timeoutSeconds": 5, "maxPrompts": 2},
    "goodbye": {"text": "Thank you, {{name}}. Goodbye."},
    "voicemail": {"text": "Hello {{name}}, Contoso Clinic reminding you of your visit on {{appointmentAt|datetime}}."},
    "optOut": {"key": "9", "confirmation": {"text": "You will not be called again. Goodbye."}},
    "languages": {"es-US": {
        "prompt": {"text": "Hola {{name}}, le llama Contoso Clinic por su cita del {{appointmentAt|datetime}}. "
                           "Pulse 1 para confirmar, 2 para cancelar, 9 para no recibir más llamadas."},
        "goodbye": {"text": "Gracias, {{name}}. Adiós."},
        "voicemail": {"text": "Hola {{name}}, Contoso Clinic le recuerda su cita del {{appointmentAt|datetime}}."},
        "optOutConfirmation": {"text": "No le volveremos a llamar. Adiós."},
    }},
}
# The second campaign: a poll after a storm, to fresh numbers and to everyone who opted out of the reminders
# (who must not be called: they end `suppressed`).
POLL_BEHAVIOURS = (
    Behaviour("has power (presses 1)", press("1"), "chosen", 1, choice="1"),
    Behaviour("no power (presses 2)", press("2"), "chosen", 1, choice="2"),
    Behaviour("answers, silent: voicemail", SILENT, "answered-without-input", 1),
)
SUPPRESSED = Behaviour("opted out of the reminders", press("9"), "suppressed", 0)
POLL_PLAN = {
    "prompt": {"text": "City Power, after the storm: press 1 if your power is on, 2 if it is off."},
    "collect": {"choices": {"1": "Power on", "2": "No power"}, "timeoutSeconds": 5, "maxPrompts": 2},
    "goodbye": {"text": "Thank you."},
    "voicemail": {"text": "City Power checking on your supply after the storm. Call 311 if you have no power."},
    "languages": {"es-US": {
        "prompt": {"text": "City Power, después de la tormenta: pulse 1 si tiene luz, 2 si no la tiene."},
        "goodbye": {"text": "Gracias."},
        "voicemail": {"text": "City Power comprueba su suministro tras la tormenta. Llame al 311 si no tiene luz."},
    }},
}
POLL_SIZE = 12
CALLER_IDS = ("+18005550101", "+18005550102", "+18005550103")
MAX_CONCURRENT, PER_CALLER_ID, CALLS_PER_SECOND = 6, 3, 5
MAX_ATTEMPTS, RETRY_DELAY_SECONDS = 3, 3
TIME_ZONE = "America/Chicago"


@dataclass(frozen=True)
class ScriptedRecipient:
    recipient_id: str
    numbers: tuple[str, ...]  # in the order the campaign tries them
    behaviour: Behaviour
    language: str = "en-US"
    name: str = ""

    @property
    def phone_number(self) -> str:
        return self.numbers[0]

    def scripts(self) -> list[tuple[str, dict[str, Any]]]:
        """(number, script) for the emulator: the numbers tried first, then the one the behaviour names."""
        return list(zip(self.numbers, [*self.behaviour.first_numbers, self.behaviour.script], strict=True))


def scripted_recipients(
    count: int, first_number: int = 13125550100, behaviours: Sequence[Behaviour] = BEHAVIOURS, prefix: str = "patient"
) -> list[ScriptedRecipient]:
    """`count` contacts, the behaviours and languages in turn, each with as many numbers (in a row) as it needs."""
    recipients, number = [], first_number
    for i in range(count):
        behaviour = behaviours[i % len(behaviours)]
        numbers = tuple(f"+{number + k}" for k in range(len(behaviour.first_numbers) + 1))
        number += len(numbers)
        recipients.append(ScriptedRecipient(f"{prefix}-{i + 1:03d}", numbers, behaviour, LANGUAGES[i % len(LANGUAGES)],
                                            NAMES[i % len(NAMES)]))
    return recipients


def poll_recipients(reminded: Sequence[ScriptedRecipient], first_number: int = 13125560100) -> list[ScriptedRecipient]:
    """The poll's recipients: POLL_SIZE fresh ones, then everyone who opted out of the reminders."""
    fresh = scripted_recipients(POLL_SIZE, first_number, POLL_BEHAVIOURS, prefix="home")
    opted_out = [ScriptedRecipient(r.recipient_id, r.numbers, SUPPRESSED, r.language, r.name)
                 for r in reminded if r.behaviour.outcome == "opted-out"]
    return [*fresh, *opted_out]


def appointment_at(now: datetime) -> str:
    """Tomorrow at 15:30 UTC, the appointment every reminder names (said in each recipient's language and zone)."""
    return (now + timedelta(days=1)).replace(hour=15, minute=30, second=0, microsecond=0).isoformat()


def recipients_csv(recipients: Iterable[ScriptedRecipient], appointment: str = "2026-12-04T15:30:00+00:00") -> str:
    """recipientId, the number (or the numbers, in order), and the data the plan's texts are filled from."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["recipientId", "phoneNumber", "phoneNumbers", "name", "appointmentAt", "language", "timeZone"])
    for r in recipients:
        one, several = (r.numbers[0], "") if len(r.numbers) == 1 else ("", ";".join(r.numbers))
        writer.writerow([r.recipient_id, one, several, r.name, appointment, r.language, TIME_ZONE])
    return out.getvalue()


def submit_command(
    recipients_file: Path, plan_file: Path, app_url: str, campaign_id: str, name: str = "Appointment reminders (demo)"
) -> list[str]:
    """`python -m callctl campaign submit ...` as a user would type it (after `python`)."""
    command = ["-m", "callctl", "campaign", "submit", str(recipients_file), "--plan", str(plan_file),
               "--url", app_url, "--name", name, "--campaign-id", campaign_id]  # fmt: skip
    for caller_id in CALLER_IDS:
        command += ["--caller-id", caller_id]
    command += ["--max-concurrent", str(MAX_CONCURRENT), "--per-caller-id", str(PER_CALLER_ID),
                "--calls-per-second", str(CALLS_PER_SECOND), "--max-attempts", str(MAX_ATTEMPTS),
                "--retry-delay", str(RETRY_DELAY_SECONDS), "--interval", "1"]  # fmt: skip
    return command


def report_command(app_url: str, campaign_id: str, csv_file: Path, html_file: Path) -> list[str]:
    return ["-m", "callctl", "campaign", "report", campaign_id, "--url", app_url,
            "--csv", str(csv_file), "--html", str(html_file)]  # fmt: skip


def as_typed(arguments: Sequence[str]) -> str:
    """`python -m callctl ...` for the screen: each option on its own continued line."""
    words = ["python", *arguments]
    lines: list[list[str]] = [[]]
    for word in words:
        if word.startswith("--"):
            lines.append([])
        lines[-1].append(word)
    return " \\\n      ".join(shlex.join(line) for line in lines if line)


# -- checking the results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    recipient_id: str
    behaviour: str
    expected: str
    got: str


def check_outcomes(
    recipients: Sequence[ScriptedRecipient], calls_csv: str, calls: Sequence[EmulatedCall]
) -> list[Mismatch]:
    """Each recipient's recorded outcome, attempts, answer and voicemail (calls.csv) and the calls the emulator saw
    (`calls`: this campaign's), against the script; an empty list when everything matches."""
    rows = {row["recipientId"]: row for row in csv.DictReader(io.StringIO(calls_csv))}
    seen = Counter(call.target for call in calls)
    problems = []
    for recipient in recipients:
        want = recipient.behaviour
        row = rows.get(recipient.recipient_id)
        expected = _expected(recipient)
        if row is None:
            problems.append(Mismatch(recipient.recipient_id, want.name, expected, "not in calls.csv"))
            continue
        got = _recorded(row, recipient)
        called = sum(seen[number] for number in recipient.numbers)
        if called != int(row["attempts"] or 0):
            got += f" but the emulator saw {called}"
        if got != expected:
            problems.append(Mismatch(recipient.recipient_id, want.name, expected, got))
    return problems


def _expected(recipient: ScriptedRecipient) -> str:
    want = recipient.behaviour
    text = f"done, {want.outcome}, {want.calls} call(s)"
    if want.choice:
        text += f", chose {want.choice}"
    if want.leaves_voicemail:
        text += ", voicemail left"
    if want.first_numbers:
        text += f", answered on number {len(recipient.numbers)}"
    return text


def _recorded(row: Mapping[str, str], recipient: ScriptedRecipient) -> str:
    text = f"{row['status']}, {row['outcome'] or '-'}, {row['attempts']} call(s)"
    if row.get("choice"):
        text += f", chose {row['choice']}"
    if row.get("voicemailLeft") == "true":
        text += ", voicemail left"
    if recipient.behaviour.first_numbers:
        answered = row.get("answeredNumber") or ""
        text += (f", answered on number {recipient.numbers.index(answered) + 1}" if answered in recipient.numbers
                 else ", answered on no number")
    return text


GREETINGS = {"en-US": "Hello", "es-US": "Hola"}  # how the reminder plan's prompt starts in each language


def check_spoken(recipients: Sequence[ScriptedRecipient], said: Mapping[str, list[str]]) -> list[Mismatch]:
    """Each reminded recipient who picked up heard its own name, in its language (`said`: the texts the emulator was
    asked to play, by number, in order)."""
    problems = []
    for recipient in recipients:
        if recipient.behaviour.outcome in ("no-answer", "unreachable", "suppressed"):
            continue
        heard = said.get(recipient.numbers[-1]) or [""]
        greeting = f"{GREETINGS[recipient.language]} {recipient.name},"
        if not heard[0].startswith(greeting):
            problems.append(Mismatch(recipient.recipient_id, recipient.behaviour.name, f"a prompt starting "
                                     f"{greeting!r}", repr(heard[0][:40])))
    return problems


def check_caps(calls: Sequence[EmulatedCall], stats: Mapping[str, Any]) -> list[str]:
    """The caps, from the call log (overlap of [createdAt, endedAt]) and from the emulator's own peak counters."""
    lines = [
        _cap_line("all caller ids, from the call log", peak_overlap(calls), MAX_CONCURRENT),
        _cap_line("all caller ids, /emulator/stats", stats["peakConcurrentCalls"], MAX_CONCURRENT),
    ]
    for caller_id in CALLER_IDS:
        logged = peak_overlap([c for c in calls if c.caller_id == caller_id])
        counted = stats["peakConcurrentCallsByCallerId"].get(caller_id, 0)
        shown = f"{logged} / {counted}"
        lines.append(_cap_line(f"{caller_id}, log / stats", max(logged, counted), PER_CALLER_ID, shown))
    return lines


def _cap_line(label: str, peak: int, cap: int, shown: str | None = None) -> str:
    return f"  {'ok  ' if peak <= cap else 'OVER'} peak concurrency {label}: {shown or peak} (cap {cap})"


def behaviour_table(recipients: Sequence[ScriptedRecipient], problems: Sequence[Mismatch]) -> str:
    wrong = Counter(p.behaviour for p in problems)
    lines = [f"  {'behaviour':<36}{'recipients':>10}  {'expected outcome':<24}{'calls':>5}  result"]
    # By name: a behaviour holds its scripts (dicts), so it cannot be hashed.
    for behaviour in {r.behaviour.name: r.behaviour for r in recipients}.values():
        count = sum(1 for r in recipients if r.behaviour.name == behaviour.name)
        good = count - wrong[behaviour.name]
        verdict = "ok" if good == count else "MISMATCH"
        lines.append(
            f"  {behaviour.name:<36}{count:>10}  {behaviour.outcome:<24}{behaviour.calls:>5}  {good}/{count} {verdict}"
        )
    return "\n".join(lines)


# -- the demo ---------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50, help="how many scripted recipients (default 50)")
    parser.add_argument(
        "--time-scale", type=float, default=0.2, help="the emulator's --time-scale (default 0.2: about a minute)"
    )
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds (default 300)")
    parser.add_argument("--verbose", action="store_true", help="show the output of Azurite, the emulator and the app")
    args = parser.parse_args(argv)
    if args.recipients < 1 or args.time_scale <= 0:
        parser.error("--recipients must be at least 1 and --time-scale more than 0")
    return args


@dataclass(frozen=True)
class DemoCampaign:
    name: str
    plan: dict[str, Any]
    recipients: list[ScriptedRecipient]
    files: str  # the prefix of its files in the demo's folder


@dataclass
class CampaignResult:
    campaign: DemoCampaign
    calls: list[EmulatedCall]  # the emulator's calls of this campaign
    problems: list[Mismatch]
    csv_file: Path
    html_file: Path


def run_demo(args: argparse.Namespace, workdir: Path) -> int:
    reminded = scripted_recipients(args.recipients)
    campaigns = (
        DemoCampaign("Appointment reminders (demo)", PLAN, reminded, "reminders"),
        DemoCampaign("Storm poll (demo)", POLL_PLAN, poll_recipients(reminded), "poll"),
    )
    print(f"Starting the local stack on free ports (emulator time scale {args.time_scale:g})...", flush=True)
    with local_stack(time_scale=args.time_scale, verbose=args.verbose, workdir=workdir) as stack:
        print(f"  app {stack.app_url} · ACS emulator {stack.emulator_url} · Azurite in memory\n")
        results = []
        for campaign in campaigns:
            result = _run_campaign(stack, campaign, workdir, args.timeout)
            if result is None:
                return 1
            results.append(result)
        stats = stack.emulator("GET", "/stats").json()

    failed = False
    for result in results:
        print(f"\n{result.campaign.name}\n  Report:    {result.html_file}\n  Calls CSV: {result.csv_file}\n")
        print(f"Every recipient against its script ({len(result.calls)} calls on the emulator):")
        print(behaviour_table(result.campaign.recipients, result.problems))
        for problem in result.problems:
            print(f"  {problem.recipient_id} ({problem.behaviour}): expected {problem.expected}, got {problem.got}")
        failed = failed or bool(result.problems)
    cap_lines = check_caps([call for result in results for call in result.calls], stats)
    print("\n".join(["", "Caps:", *cap_lines]))
    if failed or any("OVER" in line for line in cap_lines):
        print("\ndemo: FAILED: the campaigns did not do what the scripts say", file=sys.stderr)
        return 1
    print("\nAll recipients ended as scripted, within the caps: each reminded one who picked up was greeted by name "
          "in its\nlanguage, the contacts unreachable on their mobile were reached at home, and nobody who opted out "
          "was called again.")
    return 0


def _run_campaign(stack: LocalStack, campaign: DemoCampaign, workdir: Path, timeout: float) -> CampaignResult | None:
    """Script its callees, write its files, submit it and download its report with the CLI, check it."""
    recipients = campaign.recipients
    for recipient in recipients:
        for number, script in recipient.scripts():
            stack.emulator("PUT", f"/callees/{number}", json=script)
    recipients_file, plan_file = workdir / f"{campaign.files}.csv", workdir / f"{campaign.files}-plan.json"
    recipients_file.write_text(recipients_csv(recipients, appointment_at(datetime.now(UTC))), encoding="utf-8")
    plan_file.write_text(_json(campaign.plan), encoding="utf-8")
    csv_file, html_file = workdir / f"{campaign.files}-calls.csv", workdir / f"{campaign.files}-report.html"
    counts = Counter(r.behaviour.name for r in recipients)
    print(f"{campaign.name}: {len(recipients)} recipients scripted on the emulator")
    print("".join(f"  {count:>3}  {name}\n" for name, count in counts.items()))
    print(f"Wrote {recipients_file}\n      {plan_file}\n")

    numbers = [number for r in recipients for number in r.numbers]
    before = {call.call_connection_id for call in emulated_calls(stack, numbers)}
    campaign_id = f"demo-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    code = _run_cli(submit_command(recipients_file, plan_file, stack.app_url, campaign_id, campaign.name), stack,
                    timeout)
    if code != 0:
        print(f"\ndemo: the CLI exited with code {code}", file=sys.stderr)
        return None
    print(f"\n(the campaign took {time.monotonic() - started:.0f}s)\n")
    if _run_cli(report_command(stack.app_url, campaign_id, csv_file, html_file), stack, 60) != 0:
        print("\ndemo: downloading the report failed", file=sys.stderr)
        return None
    calls = [call for call in emulated_calls(stack, numbers) if call.call_connection_id not in before]
    problems = check_outcomes(recipients, csv_file.read_text(encoding="utf-8"), calls)
    if campaign.plan is PLAN:
        problems += check_spoken(recipients, _texts_played(stack, calls))
    return CampaignResult(campaign, calls, problems, csv_file, html_file)


def _texts_played(stack: LocalStack, calls: Sequence[EmulatedCall]) -> dict[str, list[str]]:
    """What the emulator was asked to say on each number's last call, in order."""
    said = {}
    for call in sorted(calls, key=lambda c: c.created_at):
        media = stack.emulator("GET", f"/calls/{call.call_connection_id}").json()["media"]["recent"]
        said[call.target] = [source.get("text") or "" for operation in media for source in operation["sources"]]
    return said


def _run_cli(arguments: list[str], stack: LocalStack, timeout: float) -> int:
    """Show the command as typed, run it with this Python (output straight to the terminal), stop it by PID."""
    print(f"$ {as_typed(arguments)}\n", flush=True)
    cli = start("callctl", [sys.executable, *arguments], cwd=ROOT, capture=False)
    process = cli.process
    try:
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            stack.check_running()
            if time.monotonic() > deadline:
                live = [c for c in stack.emulator("GET", "/calls").json()["value"] if not c.get("endedAt")]
                print(f"\ndemo: gave up after {timeout:.0f}s; calls still live on the emulator:", file=sys.stderr)
                for call in live:
                    print(f"  {call['callConnectionId']} {call['targets']} since {call['createdAt']}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return process.returncode
    finally:
        cli.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    try:
        workdir = Path(tempfile.mkdtemp(prefix="callctl-demo-"))  # kept afterwards: it holds the report
        return run_demo(args, workdir)
    except KeyboardInterrupt:
        print("\ndemo: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    except (RuntimeError, requests.RequestException) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1


def _json(value: object) -> str:
    return json.dumps(value, indent=2) + "\n"


if __name__ == "__main__":
    sys.exit(main())

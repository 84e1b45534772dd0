"""`python -m callctl campaign submit|watch|status|cancel|report`: argument parsing and the commands."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .api import ApiError, CampaignApi
from .display import printable, summary_table
from .recipients import E164, RecipientsError, chunks, read_recipients, to_csv
from .watch import watch

DEFAULT_URL = "http://127.0.0.1:7071"
KEY_VARIABLE = "CALLCTL_FUNCTION_KEY"
URL_VARIABLE = "CALLCTL_URL"
CAMPAIGN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}")
HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
RECIPIENTS_PER_UPLOAD = 1000  # the app takes at most 5000 a request
CALL_EVENTS = ("participantsUpdated", "dtmfReceived")
RETRY_OUTCOMES = ("busy", "no-answer", "failed", "unreachable", "declined")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class UsageError(Exception):
    """A problem with what was asked for (a file, a value), found before anything was sent."""


# -- arguments ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callctl", description="Run and follow calling campaigns.")
    groups = parser.add_subparsers(dest="group", required=True, metavar="campaign")
    campaign = groups.add_parser("campaign", help="submit, watch, inspect, cancel and report on campaigns")
    commands = campaign.add_subparsers(dest="command", required=True)

    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument(
        "--url",
        default=os.environ.get(URL_VARIABLE, DEFAULT_URL),
        help=f"the app's base URL (default ${URL_VARIABLE} or {DEFAULT_URL})",
    )
    connection.add_argument(
        "--key", default=None, help=f"the function key (better: set ${KEY_VARIABLE}; it is never printed)"
    )
    watching = argparse.ArgumentParser(add_help=False)
    watching.add_argument("--interval", type=_seconds, default=2.0, help="seconds between polls (default 2)")

    submit = commands.add_parser("submit", parents=[connection, watching], help="create a campaign and call a list")
    submit.add_argument("recipients", type=Path, help="CSV with a phoneNumber (or phoneNumbers: '+1...;+1...') "
                        "column, and optionally recipientId, timeZone, language, notBefore, notAfter and data "
                        "columns such as name")
    submit.add_argument("--plan", type=Path, required=True, help="JSON file with the plan (prompt, collect, ...)")
    submit.add_argument("--settings", type=Path, metavar="FILE",
                        help="JSON file with any fields of POST /campaigns (options below win over it)")
    submit.add_argument("--name", help="a name people recognise (default: the CSV file's name)")
    submit.add_argument("--campaign-id", type=_campaign_id, help="your own id; submitting again with it resumes")
    submit.add_argument(
        "--caller-id",
        action="append",
        type=_phone,
        dest="caller_ids",
        metavar="+1...",
        help="a number to call from (repeat for a pool)",
    )
    submit.add_argument("--callback-uri", type=_http_url, metavar="URL", help="where every call's events are sent")
    submit.add_argument("--call-event", action="append", dest="call_events", choices=CALL_EVENTS,
                        help="an optional event to receive besides the state changes (repeat for more)")
    submit.add_argument("--max-concurrent", type=_positive_int, help="calls live at once, in all")
    submit.add_argument("--per-caller-id", type=_positive_int, help="calls live at once per caller id")
    submit.add_argument("--calls-per-second", type=_positive_float, help="call starts per second")
    submit.add_argument("--max-attempts", type=_positive_int, help="calls per recipient at most")
    submit.add_argument("--retry-delay", type=_positive_float, metavar="SECONDS", help="wait before a retry")
    submit.add_argument("--retry-on", action="append", choices=[*RETRY_OUTCOMES, "never"], metavar="OUTCOME",
                        help=f"an outcome tried again (repeat; {', '.join(RETRY_OUTCOMES)}; 'never': none)")
    submit.add_argument("--expires-at", type=_instant, metavar="ISO", help="no call starts after this time")
    submit.add_argument("--emergency", action="store_true", help="mark the campaign as emergency calls")
    submit.add_argument("--window-start", type=_hh_mm, metavar="HH:MM", help="calling window opens (local time)")
    submit.add_argument("--window-end", type=_hh_mm, metavar="HH:MM", help="calling window closes (local time)")
    submit.add_argument("--window-days", type=_days, metavar="mon,tue,...", help="days the window is open")
    submit.add_argument("--time-zone", metavar="TZ", help="IANA zone of the window, e.g. America/New_York")
    submit.add_argument("--language", metavar="BCP47", help="language of recipients without one, e.g. es-US")
    submit.add_argument("--no-watch", action="store_true", help="return once the recipients are submitted")

    for name, text in (
        ("watch", "follow progress until done"),
        ("status", "show the summary once"),
        ("cancel", "start no new calls"),
    ):
        command = commands.add_parser(name, parents=[connection, *([watching] if name == "watch" else [])], help=text)
        command.add_argument("campaign_id", type=_campaign_id, metavar="ID")
    commands.choices["status"].add_argument("--json", action="store_true", help="the summary as the API gives it")

    report = commands.add_parser("report", parents=[connection], help="download calls.csv and/or report.html")
    report.add_argument("campaign_id", type=_campaign_id, metavar="ID")
    report.add_argument("--csv", metavar="FILE", help="write the calls CSV here ('-' for stdout)")
    report.add_argument("--html", metavar="FILE", help="write the HTML report here ('-' for stdout)")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "submit" and (args.window_start is None) != (args.window_end is None):
        parser.error("--window-start and --window-end go together")
    if args.command == "submit" and args.window_start and args.window_start >= args.window_end:
        parser.error("--window-end must be after --window-start (windows do not cross midnight)")
    if args.command == "submit" and args.window_days and not args.window_start:
        parser.error("--window-days goes with --window-start and --window-end")
    if args.command == "submit" and args.retry_on and "never" in args.retry_on and len(set(args.retry_on)) > 1:
        parser.error("--retry-on never stands alone")
    return args


def campaign_settings(args: argparse.Namespace, plan: dict[str, Any]) -> dict[str, Any]:
    """The body of POST /campaigns for `submit` (recipients are uploaded separately)."""
    settings: dict[str, Any] = dict(getattr(args, "settings_file", None) or {})  # --settings; options win
    settings.pop("recipients", None)  # they come from the CSV
    settings["campaignId"] = args.campaign_id or settings.get("campaignId") or str(uuid.uuid4())  # always ours,
    settings["name"] = args.name or settings.get("name") or args.recipients.stem  # so a retry cannot make two
    settings["plan"] = plan
    if args.caller_ids:
        settings["callerIds"] = args.caller_ids
    if args.callback_uri:
        settings["callbackUri"] = args.callback_uri
    if args.call_events:
        settings["requestedCallEvents"] = list(dict.fromkeys(args.call_events))
    pacing = _present(
        maxConcurrentCalls=args.max_concurrent,
        maxConcurrentCallsPerCallerId=args.per_caller_id,
        callsPerSecond=args.calls_per_second,
    )
    retry_on = None if not args.retry_on else [o for o in dict.fromkeys(args.retry_on) if o != "never"]
    retry = _present(maxAttempts=args.max_attempts, delaySeconds=_whole(args.retry_delay), retryOn=retry_on)
    if pacing:
        settings["pacing"] = {**settings.get("pacing", {}), **pacing}
    if retry:
        settings["retry"] = {**settings.get("retry", {}), **retry}
    if args.window_start:
        window = _present(start=args.window_start, end=args.window_end, days=args.window_days, timeZone=args.time_zone)
        settings["callingWindow"] = {**settings.get("callingWindow", {}), **window}
    elif args.time_zone:
        settings["timeZone"] = args.time_zone
    if args.expires_at:
        settings["expiresAt"] = args.expires_at
    if args.emergency:
        settings["emergency"] = True
    if args.language:
        settings["language"] = args.language
    return settings


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read the {what} {path}: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"the {what} {path} must be a JSON object")
    return value


def read_plan(path: Path) -> dict[str, Any]:
    """The plan object; a file holding `{"plan": {...}}` is accepted too."""
    plan = read_json_object(path, "plan")
    if set(plan) == {"plan"}:
        plan = plan["plan"]
    if not isinstance(plan, dict):
        raise UsageError(f"the plan {path} must be a JSON object")
    return plan


# -- commands -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """The `callctl` entry point. Output cut short by a closed pipe (`callctl ... | head`) ends it quietly, as the
    Python docs advise for SIGPIPE: the rest goes to devnull and the exit code is 141 (128 + SIGPIPE)."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # inside the try, so a pipe closed early shows here and not at interpreter exit
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13  # SIGPIPE


def _main(argv: list[str] | None) -> int:
    args = parse_args(argv)
    try:
        api = CampaignApi(_base_url(args.url), args.key or os.environ.get(KEY_VARIABLE))
        return COMMANDS[args.command](api, args)
    except ApiError as error:
        print(printable(f"error: {error.code}: {error.message}"), file=sys.stderr)
    except (UsageError, RecipientsError) as error:
        print(printable(f"error: {error}"), file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopped watching; the campaign carries on", file=sys.stderr)
        return 130
    return 1


def submit(api: CampaignApi, args: argparse.Namespace) -> int:
    recipients = read_recipients(args.recipients)
    if not recipients:
        raise UsageError(f"{args.recipients} lists no recipients")
    args.settings_file = read_json_object(args.settings, "settings") if args.settings else None
    settings = campaign_settings(args, read_plan(args.plan))
    campaign_id = settings["campaignId"]
    try:
        api.create_campaign(settings)
        print(printable(f"campaign {campaign_id} created"))
    except ApiError as error:
        if error.status != 409:
            raise
        print(printable(f"campaign {campaign_id} exists already: adding the recipients to it"), file=sys.stderr)
    submitted = 0
    for part in chunks(recipients, RECIPIENTS_PER_UPLOAD):
        submitted += int(api.add_recipients_csv(campaign_id, to_csv(part)).get("submitted", 0))
    print(f"{submitted} recipients submitted (each number is called once, however often it is submitted)")
    if args.no_watch:
        print(f"follow it with: python -m callctl campaign watch {campaign_id}")
        return 0
    # Recipients are admitted in the background: until all are counted, "every recipient done" is not the end.
    return _watch(api, campaign_id, args.interval, min_recipients=len(recipients))


def watch_command(api: CampaignApi, args: argparse.Namespace) -> int:
    return _watch(api, args.campaign_id, args.interval)


def status(api: CampaignApi, args: argparse.Namespace) -> int:
    summary = api.summary(args.campaign_id)
    print(json.dumps(summary, indent=2) if args.json else summary_table(summary))
    return 0


def cancel(api: CampaignApi, args: argparse.Namespace) -> int:
    api.cancel(args.campaign_id)
    print(f"campaign {args.campaign_id} cancelled: no new calls start; calls in progress finish")
    return 0


def report(api: CampaignApi, args: argparse.Namespace) -> int:
    wanted = {"calls.csv": args.csv, "report.html": args.html}
    if not any(wanted.values()):
        wanted = {name: f"campaign-{args.campaign_id}-{name}" for name in wanted}
    for name, target in wanted.items():
        if not target:
            continue
        # A part (a page of calls.csv) at a time: a large campaign's CSV is never held whole.
        parts = api.download_parts(args.campaign_id, name)
        if target == "-":
            for content in parts:
                sys.stdout.buffer.write(content)
            sys.stdout.flush()
        else:
            written = 0
            with Path(target).open("wb") as out:
                for content in parts:
                    written += out.write(content)
            print(f"wrote {target} ({written} bytes)", file=sys.stderr)
    return 0


def _watch(api: CampaignApi, campaign_id: str, interval: float, min_recipients: int = 0) -> int:
    tty = sys.stdout.isatty()
    columns = shutil.get_terminal_size().columns
    summary = watch(
        api, campaign_id, sys.stdout, tty=tty, interval=interval, columns=columns, min_recipients=min_recipients
    )
    print()
    print(summary_table(summary))
    return 0


COMMANDS = {"submit": submit, "watch": watch_command, "status": status, "cancel": cancel, "report": report}


def _base_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not one)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.username:
        raise UsageError("--url must be the app's base URL, e.g. http://127.0.0.1:7071 (the key goes in --key)")
    return url


# -- argument types -----------------------------------------------------------------------------------------


def _campaign_id(text: str) -> str:
    if not CAMPAIGN_ID.fullmatch(text):
        raise argparse.ArgumentTypeError("must be 1 to 40 letters, digits or dashes, starting with a letter or digit")
    return text


def _phone(text: str) -> str:
    if not E164.fullmatch(text):
        raise argparse.ArgumentTypeError("must be an E.164 number such as +18005550100")
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _hh_mm(text: str) -> str:
    if not HH_MM.fullmatch(text):
        raise argparse.ArgumentTypeError("must be a time of day as HH:MM, e.g. 09:00")
    return text


def _instant(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError("must be an ISO 8601 time such as 2026-12-01T18:00:00Z") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("needs a time zone offset (Z or +01:00)")
    return text


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError("must be an http(s) URL")
    return text


def _days(text: str) -> list[str]:
    days = [day.strip().lower() for day in text.split(",") if day.strip()]
    if not days or any(day not in WEEKDAYS for day in days):
        raise argparse.ArgumentTypeError(f"must be days from {','.join(WEEKDAYS)}, separated by commas")
    return list(dict.fromkeys(days))


def _present(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _whole(value: float | None) -> float | int | None:
    return int(value) if value is not None and value.is_integer() else value

"""callctl: argument parsing, reading recipients, the progress line, and whole commands over real HTTP against a
small stand-in for the campaign API (a local server on a free port; its summaries come from the app's own code)."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from callctl import cli
from callctl.api import ApiError, CampaignApi
from callctl.display import fit, printable, progress_line, summary_table
from callctl.recipients import Recipient, RecipientsError, chunks, parse_recipients, read_recipients, to_csv
from callctl.watch import CLEAR_TO_END, finished, watch
from shared.campaigns.reports import calls_csv, report_html, summarize
from shared.campaigns.store import Campaign
from shared.campaigns.store import Recipient as StoredRecipient

KEY = "test-function-key-0123456789"
PLAN = {"prompt": {"text": "Press 1 to confirm, 2 to cancel."}, "collect": {"confirmKey": "1", "declineKey": "2"}}
OUTCOMES = ("confirmed", "declined", "no-answer", "confirmed")


# -- a stand-in for the app ---------------------------------------------------------------------------------


class FakeApp:
    """Campaigns in memory. Every GET of a summary moves the campaign on: calls end, queued recipients are called."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.campaigns: dict[str, Campaign] = {}
        self.recipients: dict[str, list[StoredRecipient]] = {}
        self.requests: list[dict[str, Any]] = []
        self.failures_to_serve: list[int] = []  # statuses to answer the next summary GETs with, once each

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        with self.lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "body": body})
            if headers.get("x-functions-key") != KEY:
                return 401, "text/plain", b""
            parts = path.strip("/").split("/")
            if method == "POST" and parts == ["campaigns"]:
                return self._create(json.loads(body))
            if len(parts) < 2 or parts[0] != "campaigns" or parts[1] not in self.campaigns:
                return _error(404, "CampaignNotFound", "No campaign with this id.")
            campaign_id, rest = parts[1], parts[2:]
            if method == "POST" and rest == ["recipients"]:
                return self._add(campaign_id, headers.get("content-type", ""), body.decode())
            if method == "POST" and rest == ["cancel"]:
                self.campaigns[campaign_id].status = "cancelled"
                return 202, "application/json", b"{}"
            if method == "GET" and not rest:
                if self.failures_to_serve:
                    return _error(self.failures_to_serve.pop(0), "Busy", "Try again.")
                self._advance(campaign_id)
                return _json(200, self._summary(campaign_id))
            if method == "GET" and rest == ["calls.csv"]:
                return 200, "text/csv", calls_csv(self.recipients[campaign_id]).encode()
            if method == "GET" and rest == ["report.html"]:
                campaign, recipients = self.campaigns[campaign_id], self.recipients[campaign_id]
                return 200, "text/html", report_html(campaign, self._summary(campaign_id), recipients).encode()
            return _error(405, "MethodNotAllowed", "No.")

    def _create(self, body: dict[str, Any]) -> tuple[int, str, bytes]:
        campaign_id = body["campaignId"]
        if campaign_id in self.campaigns:
            return _error(409, "CampaignExists", f"Campaign {campaign_id!r} exists.")
        config = {k: v for k, v in body.items() if k not in ("campaignId", "name")}
        self.campaigns[campaign_id] = Campaign(campaign_id, body["name"], config, created_at=_now())
        self.recipients[campaign_id] = []
        return _json(201, {"campaignId": campaign_id, "submitted": 0})

    def _add(self, campaign_id: str, content_type: str, text: str) -> tuple[int, str, bytes]:
        if not content_type.startswith("text/csv"):
            return _error(415, "UnsupportedMediaType", "Send text/csv.")
        known = {r.phone_number for r in self.recipients[campaign_id]}
        rows = list(csv.DictReader(io.StringIO(text)))
        for row in (row for row in rows if row["phoneNumber"] not in known):
            recipient = StoredRecipient(campaign_id, row["phoneNumber"], time_zone=row.get("timeZone") or None)
            self.recipients[campaign_id].append(recipient)
        return _json(202, {"submitted": len(rows)})

    def _advance(self, campaign_id: str) -> None:
        cancelled = self.campaigns[campaign_id].status == "cancelled"
        for index, recipient in enumerate(self.recipients[campaign_id]):
            if recipient.status == "calling":
                recipient.status, recipient.outcome, recipient.ended_at = "done", OUTCOMES[index % 4], _now()
                recipient.duration_seconds = 10.0
            elif recipient.status == "queued" and cancelled:
                recipient.status = "cancelled"
        queued = [r for r in self.recipients[campaign_id] if r.status == "queued"]
        for recipient in queued[:2]:
            recipient.status, recipient.attempts, recipient.first_call_at = "calling", 1, _now()

    def _summary(self, campaign_id: str) -> dict[str, Any]:
        return summarize(self.campaigns[campaign_id], self.recipients[campaign_id], datetime.now(UTC))


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json(status: int, body: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode()


def _error(status: int, code: str, message: str) -> tuple[int, str, bytes]:
    return _json(status, {"code": code, "message": message})


@pytest.fixture
def app() -> Iterator[tuple[FakeApp, str]]:
    fake = FakeApp()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, content_type, payload = fake.handle(self.command, self.path, headers, body)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if status in (429, 503):
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # port 0: a free port
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    people = tmp_path / "spring reminders.csv"
    people.write_text(
        "\ufeffPhoneNumber , timeZone\n+14255550001,America/Chicago\n+14255550002,\n\n+14255550003,\n"
        "+14255550001,Europe/Paris\n+14255550004,\n+14255550005,\n",
        encoding="utf-8",
    )
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN), encoding="utf-8")
    return people, plan


@pytest.fixture(autouse=True)
def key_in_environment(monkeypatch) -> None:
    monkeypatch.setenv(cli.KEY_VARIABLE, KEY)
    monkeypatch.delenv(cli.URL_VARIABLE, raising=False)


# -- arguments ----------------------------------------------------------------------------------------------


def test_submit_options_become_the_campaign_settings(files):
    people, plan = files
    options = (
        "--name Spring --campaign-id spring-1 --caller-id +18005550100 --caller-id +18005550101 --max-concurrent 20"
        " --per-caller-id 3 --calls-per-second 2.5 --max-attempts 4 --retry-delay 600 --expires-at 2026-12-01T18:00:00Z"
        " --emergency --window-start 09:00 --window-end 20:00 --time-zone America/New_York --no-watch"
    )
    args = cli.parse_args(["campaign", "submit", str(people), "--plan", str(plan), *options.split()])

    assert cli.campaign_settings(args, cli.read_plan(args.plan)) == {
        "campaignId": "spring-1",
        "name": "Spring",
        "plan": PLAN,
        "callerIds": ["+18005550100", "+18005550101"],
        "pacing": {"maxConcurrentCalls": 20, "maxConcurrentCallsPerCallerId": 3, "callsPerSecond": 2.5},
        "retry": {"maxAttempts": 4, "delaySeconds": 600},
        "callingWindow": {"start": "09:00", "end": "20:00", "timeZone": "America/New_York"},
        "expiresAt": "2026-12-01T18:00:00Z",
        "emergency": True,
    }
    assert args.no_watch and args.url == cli.DEFAULT_URL and args.key is None


def test_submit_defaults_send_only_what_was_asked(files):
    people, plan = files
    args = cli.parse_args(["campaign", "submit", str(people), "--plan", str(plan), "--time-zone", "Europe/Paris"])
    settings = cli.campaign_settings(args, PLAN)

    assert set(settings) == {"campaignId", "name", "plan", "timeZone"}
    assert settings["name"] == "spring reminders"  # the file's name
    assert cli.CAMPAIGN_ID.fullmatch(settings["campaignId"])  # made up here, so a retried POST is harmless
    assert settings["timeZone"] == "Europe/Paris"  # no window: the campaign's own time zone


@pytest.mark.parametrize(
    "extra",
    [
        ["--window-start", "09:00"],
        ["--window-start", "18:00", "--window-end", "09:00"],
        ["--window-start", "9am", "--window-end", "17:00"],
        ["--caller-id", "18005550100"],
        ["--max-concurrent", "0"],
        ["--calls-per-second", "-1"],
        ["--expires-at", "2026-12-01T18:00:00"],  # no offset
        ["--campaign-id", "../etc"],
    ],
)
def test_bad_submit_options_are_refused_before_anything_is_sent(files, extra, capsys):
    people, plan = files
    with pytest.raises(SystemExit) as exit_:
        cli.parse_args(["campaign", "submit", str(people), "--plan", str(plan), *extra])
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_every_command_parses():
    assert cli.parse_args(["campaign", "watch", "c-1", "--interval", "0.5"]).interval == 0.5
    assert cli.parse_args(["campaign", "status", "c-1", "--json"]).json
    assert cli.parse_args(["campaign", "cancel", "c-1", "--url", "https://app.example"]).url == "https://app.example"
    args = cli.parse_args(["campaign", "report", "c-1", "--csv", "out.csv"])
    assert (args.campaign_id, args.csv, args.html) == ("c-1", "out.csv", None)


def test_a_plan_file_may_wrap_the_plan(tmp_path):
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"plan": PLAN}), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")

    assert cli.read_plan(wrapped) == PLAN
    with pytest.raises(cli.UsageError, match="cannot read the plan"):
        cli.read_plan(broken)


# -- recipients CSV -----------------------------------------------------------------------------------------


def test_reading_recipients(files):
    people, _ = files
    assert read_recipients(people) == [
        Recipient("+14255550001", "America/Chicago"),  # listed twice: the first one counts
        Recipient("+14255550002"),
        Recipient("+14255550003"),
        Recipient("+14255550004"),
        Recipient("+14255550005"),
    ]


def test_bad_recipient_files_say_what_and_where():
    with pytest.raises(RecipientsError, match="phoneNumber column"):
        parse_recipients("number\n+14255550001\n")
    with pytest.raises(RecipientsError, match=r"line 3: '4255550002' is not an E.164"):
        parse_recipients("phoneNumber\n+14255550001\n4255550002\n")
    with pytest.raises(RecipientsError, match="phoneNumber column"):
        parse_recipients("")
    with pytest.raises(RecipientsError):
        read_recipients("/nonexistent/people.csv")


def test_recipients_are_sent_as_the_apps_csv():
    people = [Recipient("+14255550001", "America/Chicago"), Recipient("+14255550002")]
    assert to_csv(people) == "phoneNumber,timeZone\n+14255550001,America/Chicago\n+14255550002,\n"
    assert to_csv(people[1:]) == "phoneNumber\n+14255550002\n"
    assert parse_recipients(to_csv(people)) == people
    assert chunks(list(range(5)), 2) == [[0, 1], [2, 3], [4]]


def test_language_and_data_columns_go_to_the_app_as_they_are():
    people = parse_recipients("phoneNumber,name,language\n+14255550001,Ana,es-US\n+14255550002,,\n")

    assert people[0].columns == (("name", "Ana"), ("language", "es-US")) and people[1].columns == ()
    assert to_csv(people) == "phoneNumber,name,language\n+14255550001,Ana,es-US\n+14255550002,,\n"


def test_contacts_are_told_apart_by_their_own_id_and_keep_their_numbers_in_order():
    people = parse_recipients(
        "recipientId,phoneNumber,phoneNumbers,name\n"
        "appt-1,+14255550001,,Ana\n"
        "appt-2,+14255550001,,Ben\n"  # the same number, another appointment: called too
        "appt-1,+14255550009,,Ana\n"  # the same id again: the first one counts
        "pat-7,,+14255550002;+14255550003|+14255550004,Cy\n"
    )

    assert [(p.key, p.phone_number, p.phone_numbers) for p in people] == [
        ("appt-1", "+14255550001", ()),
        ("appt-2", "+14255550001", ()),
        ("pat-7", "+14255550002", ("+14255550002", "+14255550003", "+14255550004")),
    ]
    sent = to_csv(people)
    assert sent.splitlines() == [
        "recipientId,phoneNumber,phoneNumbers,name",
        "appt-1,+14255550001,,Ana",
        "appt-2,+14255550001,,Ben",
        "pat-7,,+14255550002;+14255550003;+14255550004,Cy",
    ]
    assert parse_recipients(sent) == people


def test_a_contacts_numbers_are_checked_one_by_one():
    with pytest.raises(RecipientsError, match=r"line 2: '4255550003' is not an E.164"):
        parse_recipients("phoneNumbers\n+14255550002;4255550003\n")
    with pytest.raises(RecipientsError, match="line 2: give phoneNumber or phoneNumbers, not both"):
        parse_recipients("phoneNumber,phoneNumbers\n+14255550001,+14255550002\n")
    assert parse_recipients("phoneNumbers\n+14255550002\n")[0].phone_numbers == ("+14255550002",)


# -- the progress line --------------------------------------------------------------------------------------


def _summary(done: int, calling: int, queued: int, outcomes: dict[str, int], status: str = "active") -> dict:
    return {
        "campaignId": "c-1",
        "name": "Spring",
        "status": status,
        "recipients": done + calling + queued,
        "progress": {"queued": queued, "inProgress": calling, "done": done},
        "byStatus": {"queued": queued, "calling": calling, "done": done},
        "byOutcome": outcomes,
        "attempts": done + calling,
        "timings": {
            "firstCallAt": None,
            "lastEndedAt": None,
            "elapsedSeconds": 75,
            "meanCallSeconds": 12.5,
            "meanAttemptsPerRecipient": 1.2,
        },
    }


def test_the_progress_line():
    summary = _summary(37, 3, 10, {"confirmed": 20, "declined": 5, "no-answer": 12})

    assert progress_line(summary) == (
        "[#######...] 37/50 done · 3 in progress · 10 queued · confirmed 20 declined 5 no-answer 12"
    )
    assert progress_line(summary, width=4).startswith("[##..] 37/50")
    assert progress_line(_summary(0, 0, 0, {})) == "[..........] 0/0 done · 0 in progress · 0 queued"
    assert progress_line(_summary(5, 0, 0, {"confirmed": 5})).startswith("[##########] 5/5 done")


def test_the_progress_line_fits_the_terminal_and_shows_no_control_characters():
    line = progress_line(_summary(1, 0, 1, {"\x1b[31mred\x1b]0;title\x07": 1}))
    assert "\x1b" not in line and "\x07" not in line
    assert fit("x" * 100, 40) == "x" * 38 + "…" and len(fit("x" * 100, 40)) < 40
    assert fit("short", 40) == "short"
    assert printable("a\nb\rc", keep_newlines=True) == "a\nb?c"


def test_the_summary_table():
    table = summary_table(_summary(4, 0, 0, {"confirmed": 3, "declined": 1}, status="completed"))
    lines = table.splitlines()

    assert lines[0].split() == ["Campaign", "Spring", "(c-1)"]
    assert "completed" in lines[1]
    assert "1m 15s" in table and "12.5s" in table and "1.2 per recipient called" in table
    assert lines[-3].split() == ["confirmed", "3", "75%"]
    assert lines[-1].split() == ["Total", "done", "4", "100%"]


def test_a_campaign_is_finished_when_cancelled_or_completed_with_everyone_submitted():
    completed = _summary(4, 0, 0, {"confirmed": 4}, status="completed")
    assert finished(completed) and finished(completed, min_recipients=4)
    assert not finished(completed, min_recipients=5)  # one is still being admitted
    assert finished(_summary(1, 1, 3, {}, status="cancelled"), min_recipients=10)
    assert not finished(_summary(1, 1, 3, {}))


# -- whole commands over HTTP -------------------------------------------------------------------------------


def _submit(url: str, files: tuple[Path, Path], campaign_id: str, *options: str) -> int:
    people, plan = files
    return cli.main(
        ["campaign", "submit", str(people), "--plan", str(plan), "--campaign-id", campaign_id, "--url", url, *options]
    )


def test_submit_creates_uploads_and_watches_to_the_end(app, files, capsys):
    fake, url = app

    code = _submit(url, files, "spring-1", "--caller-id", "+18005550100", "--interval", "0")
    out, err = capsys.readouterr()

    assert code == 0, err
    create, upload = fake.requests[0], fake.requests[1]
    assert (create["method"], create["path"]) == ("POST", "/campaigns")
    assert json.loads(create["body"]) == {
        "campaignId": "spring-1",
        "name": "spring reminders",
        "plan": PLAN,
        "callerIds": ["+18005550100"],
    }
    assert (upload["method"], upload["path"]) == ("POST", "/campaigns/spring-1/recipients")
    assert upload["headers"]["content-type"].startswith("text/csv")
    assert upload["body"].decode() == (
        "phoneNumber,timeZone\n+14255550001,America/Chicago\n+14255550002,\n+14255550003,\n+14255550004,\n"
        "+14255550005,\n"
    )
    polls = fake.requests[2:]
    assert len(polls) >= 3 and {(r["method"], r["path"]) for r in polls} == {("GET", "/campaigns/spring-1")}
    assert all(r["headers"]["x-functions-key"] == KEY for r in fake.requests)

    assert "campaign spring-1 created" in out and "5 recipients submitted" in out
    progress = [line for line in out.splitlines() if line.startswith("[")]
    assert progress[0].startswith("[..........] 0/5 done · 2 in progress · 3 queued")  # not a TTY: plain lines
    assert progress[-1].startswith("[##########] 5/5 done · 0 in progress · 0 queued · confirmed ")
    assert len(progress) == len(set(progress))  # a line only when something changed
    assert "completed" in out and "Total done" in out
    assert KEY not in out + err


def test_submitting_again_with_the_same_id_adds_only_new_recipients(app, files, capsys, monkeypatch):
    fake, url = app
    monkeypatch.setattr(cli, "RECIPIENTS_PER_UPLOAD", 2)

    assert _submit(url, files, "again", "--no-watch") == 0
    assert [r["path"] for r in fake.requests].count("/campaigns/again/recipients") == 3  # 5 in parts of 2
    assert _submit(url, files, "again", "--no-watch") == 0
    out, err = capsys.readouterr()

    assert "exists already: adding the recipients to it" in err
    assert "5 recipients submitted" in out
    assert len(fake.recipients["again"]) == 5


def test_watch_redraws_one_line_on_a_terminal(app, files):
    _, url = app
    assert _submit(url, files, "tty", "--no-watch") == 0
    out = io.StringIO()

    summary = watch(CampaignApi(url, KEY), "tty", out, tty=True, interval=0, columns=60, sleep=lambda _: None)

    frames = out.getvalue().split("\r")[1:]
    assert summary["status"] == "completed" and len(frames) >= 3
    assert all(frame.split(CLEAR_TO_END)[0] and len(frame.split(CLEAR_TO_END)[0]) < 60 for frame in frames)
    assert out.getvalue().endswith(CLEAR_TO_END + "\n") and out.getvalue().count("\n") == 1
    assert frames[-1].startswith("[##########] 5/5 done")


def test_watch_waits_out_passing_trouble_and_stops_when_cancelled(app, files, capsys):
    fake, url = app
    assert _submit(url, files, "stop", "--no-watch") == 0
    assert cli.main(["campaign", "cancel", "stop", "--url", url]) == 0
    fake.failures_to_serve = [503, 503, 503, 503]  # beyond the client's own two retries: watch waits too
    sleeps: list[float] = []

    summary = watch(CampaignApi(url, KEY), "stop", io.StringIO(), tty=False, interval=0.25, sleep=sleeps.append)

    assert summary["status"] == "cancelled" and summary["byStatus"]["cancelled"] == 5
    assert sleeps == [0.25]  # one failed poll (three 503s inside it), then the finished summary
    assert "cancelled: no new calls start" in capsys.readouterr().out


def test_status_prints_a_table_or_the_raw_json(app, files, capsys):
    _, url = app
    assert _submit(url, files, "s", "--no-watch") == 0
    capsys.readouterr()

    assert cli.main(["campaign", "status", "s", "--url", url, "--json"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert raw["campaignId"] == "s" and raw["progress"] == {"queued": 3, "inProgress": 2, "done": 0}
    assert cli.main(["campaign", "status", "s", "--url", url]) == 0
    assert capsys.readouterr().out.startswith("Campaign    spring reminders (s)")


def test_report_downloads_the_csv_and_the_html(app, files, tmp_path, capsys, monkeypatch):
    _, url = app
    assert _submit(url, files, "r", "--no-watch") == 0

    assert cli.main(["campaign", "report", "r", "--url", url, "--csv", str(tmp_path / "calls.csv")]) == 0
    assert (tmp_path / "calls.csv").read_text(encoding="utf-8").startswith("phoneNumber,status,outcome")
    assert not (tmp_path / "campaign-r-report.html").exists()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["campaign", "report", "r", "--url", url]) == 0
    assert (tmp_path / "campaign-r-calls.csv").exists()
    assert "<title>Campaign report: spring reminders</title>" in (tmp_path / "campaign-r-report.html").read_text()
    assert "wrote campaign-r-report.html" in capsys.readouterr().err


def test_api_errors_are_printed_with_their_code_and_exit_1(app, capsys):
    _, url = app

    assert cli.main(["campaign", "status", "missing", "--url", url]) == 1
    assert capsys.readouterr().err == "error: CampaignNotFound: No campaign with this id.\n"


def test_a_wrong_key_is_reported_but_never_printed(app, capsys, monkeypatch):
    _, url = app
    monkeypatch.setenv(cli.KEY_VARIABLE, "wrong-key-abcdef")

    assert cli.main(["campaign", "status", "c-1", "--url", url]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: HTTP401: Unauthorized") and "CALLCTL_FUNCTION_KEY" in err
    assert "wrong-key-abcdef" not in out + err
    assert cli.main(["campaign", "status", "c-1", "--url", url, "--key", KEY]) == 1  # --key wins; then 404
    assert KEY not in "".join(capsys.readouterr())


def test_an_unreachable_app_is_an_error_without_the_key(capsys):
    api = CampaignApi("http://127.0.0.1:9", KEY, timeout=2, retries=0)
    with pytest.raises(ApiError) as error:
        api.summary("c-1")
    assert error.value.code == "ConnectionError" and error.value.transient
    assert KEY not in str(error.value)
    assert cli.main(["campaign", "status", "c-1", "--url", "http://127.0.0.1:9/?code=" + KEY]) == 1
    assert KEY not in "".join(capsys.readouterr())

"""Campaign summaries, the calls CSV and the HTML report: pure functions of a campaign, its recipients and a time;
and the three GET handlers that serve them."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import azure.functions as func
import pytest

from shared.campaigns.counters import Counts
from shared.campaigns.reports import (
    bucket_seconds,
    calls_csv,
    campaign_status,
    display_zone,
    load_campaign,
    outcome_chart,
    report_html,
    summarize,
)
from shared.campaigns.store import Campaign, CampaignNotFoundError, Recipient
from tests.support.fakes import CampaignTables

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CONFIG = {
    "plan": {"prompt": {"text": "Press 1 to confirm."}},
    "callerIds": ["+18005550100"],
    "pacing": {"maxConcurrentCalls": 10, "maxConcurrentCallsPerCallerId": 2, "callsPerSecond": 5.0},
    "retry": {"maxAttempts": 3, "delaySeconds": 300, "retryOn": ["busy", "no-answer"]},
}


def _campaign(**changes) -> Campaign:
    values = {
        "campaign_id": "spring-2026",
        "name": "Spring reminders",
        "config": json.loads(json.dumps(CONFIG)),
        "created_at": "2026-03-02T13:55:00+00:00",
    }
    values.update(changes)
    return Campaign(**values)


def _at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


def _done(number: str, outcome: str, ended: float, *, attempts: int = 1, duration: float | None = None, **more):
    return Recipient(
        "spring-2026",
        number,
        status="done",
        attempts=attempts,
        outcome=outcome,
        outcome_code={"code": 200, "subCode": 0, "message": "ok"},
        call_leg_id=f"leg-{number[-4:]}",
        first_call_at=_at(ended - 1),
        last_call_at=_at(ended - 1),
        ended_at=_at(ended),
        duration_seconds=duration,
        **more,
    )


def _mixed() -> list[Recipient]:
    return [
        _done("+14255550001", "confirmed", 2, duration=20, answered_at=_at(1.5), digits="1"),
        _done("+14255550002", "confirmed", 5, duration=30, answered_at=_at(4.5), digits="1"),
        _done("+14255550003", "declined", 7, duration=10, digits="2"),
        _done("+14255550004", "no-answer", 40, attempts=3),
        Recipient("spring-2026", "+14255550005", status="calling", attempts=1, first_call_at=_at(0)),
        Recipient("spring-2026", "+14255550006", status="waiting", attempts=1, first_call_at=_at(3), outcome="busy"),
        Recipient("spring-2026", "+14255550007"),
        Recipient("spring-2026", "+14255550008", status="expired"),
    ]


# -- summary ------------------------------------------------------------------------------------------------


def test_a_summary_counts_progress_statuses_outcomes_and_attempts():
    summary = summarize(_campaign(), _mixed(), NOW)

    assert summary["campaignId"] == "spring-2026"
    assert summary["name"] == "Spring reminders"
    assert summary["status"] == "active"
    assert summary["createdAt"] == "2026-03-02T13:55:00+00:00"
    assert summary["recipients"] == 8
    assert summary["progress"] == {"queued": 2, "inProgress": 1, "done": 5}
    assert summary["byStatus"] == {"queued": 1, "waiting": 1, "calling": 1, "done": 4, "cancelled": 0, "expired": 1}
    # Only done recipients, in the fixed order; the waiting recipient's interim "busy" is not final.
    assert summary["byOutcome"] == {"confirmed": 2, "declined": 1, "no-answer": 1}
    assert list(summary["byOutcome"]) == ["confirmed", "declined", "no-answer"]
    assert summary["attempts"] == 1 + 1 + 1 + 3 + 1 + 1
    json.dumps(summary)  # JSON-ready


def test_timings_while_active_run_to_now():
    timings = summarize(_campaign(), _mixed(), NOW)["timings"]

    assert timings == {
        "firstCallAt": "2026-03-02T14:00:00+00:00",
        "lastEndedAt": "2026-03-02T14:40:00+00:00",
        "elapsedSeconds": 3600,  # a call is still live: first call to now
        "meanCallSeconds": 20.0,
        "meanAttemptsPerRecipient": 1.33,  # over the 6 recipients called at least once
    }


def test_a_finished_campaigns_elapsed_time_stops_at_the_last_end():
    recipients = [r for r in _mixed() if r.status == "done"]

    summary = summarize(_campaign(), recipients, NOW + timedelta(days=3))

    assert summary["status"] == "completed"
    assert summary["timings"]["elapsedSeconds"] == 39 * 60  # 14:01 to 14:40


def test_completed_needs_every_recipient_final_and_at_least_one():
    final = [
        _done("+14255550001", "confirmed", 1),
        Recipient("spring-2026", "+14255550002", status="expired"),
        Recipient("spring-2026", "+14255550003", status="cancelled"),
    ]
    assert campaign_status(_campaign(), final) == "completed"
    assert (
        campaign_status(_campaign(), [*final, Recipient("spring-2026", "+14255550004", status="waiting")]) == "active"
    )
    assert campaign_status(_campaign(), []) == "active"  # recipients may still be on their way
    assert campaign_status(_campaign(status="cancelled", cancelled_at=_at(3)), final) == "cancelled"
    assert campaign_status(_campaign(status="cancelled"), [Recipient("spring-2026", "+14255550005")]) == "cancelled"


def test_settings_are_the_config_without_the_plan_and_a_copy():
    campaign = _campaign()
    summary = summarize(campaign, [], NOW)

    assert summary["settings"] == {k: v for k, v in CONFIG.items() if k != "plan"}
    summary["settings"]["pacing"]["maxConcurrentCalls"] = 99
    assert campaign.config["pacing"]["maxConcurrentCalls"] == 10


def test_an_empty_campaign():
    summary = summarize(_campaign(), [], NOW)

    assert summary["status"] == "active"
    assert summary["recipients"] == 0 and summary["attempts"] == 0
    assert summary["progress"] == {"queued": 0, "inProgress": 0, "done": 0}
    assert set(summary["byStatus"].values()) == {0}
    assert summary["byOutcome"] == {}
    assert summary["timings"] == {
        "firstCallAt": None,
        "lastEndedAt": None,
        "elapsedSeconds": None,
        "meanCallSeconds": None,
        "meanAttemptsPerRecipient": None,
    }
    assert calls_csv([]).splitlines() == [calls_csv([]).splitlines()[0]]
    page = report_html(_campaign(), summary, [])
    assert "No calls have ended yet." in page and "<svg" not in page


def test_a_done_recipient_without_an_outcome_and_unknown_outcomes_are_still_counted():
    recipients = [
        _done("+14255550001", "confirmed", 1),
        _done("+14255550002", "zapped", 2),
        Recipient("spring-2026", "+14255550003", status="done"),
    ]
    assert summarize(_campaign(), recipients, NOW)["byOutcome"] == {"confirmed": 1, "unknown": 1, "zapped": 1}


# -- CSV ----------------------------------------------------------------------------------------------------


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_has_a_row_per_recipient_with_every_column():
    text = calls_csv(_mixed())
    rows = _rows(text)

    assert text.splitlines()[0] == (
        "phoneNumber,status,outcome,outcomeCode,attempts,firstCallAt,lastCallAt,answeredAt,endedAt,"
        "durationSeconds,digits,choice,choiceLabel,voicemailLeft,callLegId,language,data,recipientId,answeredNumber"
    )
    assert len(rows) == 8
    assert rows[0] == {
        "phoneNumber": "+14255550001",
        "status": "done",
        "outcome": "confirmed",
        "outcomeCode": "200/0",
        "attempts": "1",
        "firstCallAt": _at(1),
        "lastCallAt": _at(1),
        "answeredAt": _at(1.5),
        "endedAt": _at(2),
        "durationSeconds": "20",
        "digits": "1",
        "choice": "",
        "choiceLabel": "",
        "voicemailLeft": "false",
        "callLegId": "leg-0001",
        "language": "",
        "data": "",
        "recipientId": "+14255550001",  # without an id of its own: its number
        "answeredNumber": "",
    }
    assert rows[6] == {**dict.fromkeys(rows[0], ""), "phoneNumber": "+14255550007", "status": "queued", "attempts": "0",
                       "recipientId": "+14255550007"}


def test_the_csv_keeps_phone_numbers_exact_and_defuses_formulas_in_text():
    hostile = Recipient(
        "c",
        "+14255550009",
        status="done",
        outcome='=HYPERLINK("http://evil")',
        digits="+1",
        call_leg_id="@x",
        ended_at="-1",
        outcome_code={"code": 487, "subCode": 0, "message": "=cmd"},
        duration_seconds=12.3456,
    )
    odd_number = Recipient("c", "=1+2", status="queued")
    rows = _rows(calls_csv([hostile, odd_number]))

    assert rows[0]["phoneNumber"] == "+14255550009"  # E.164 written as is
    assert rows[0]["outcome"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["digits"] == "'+1" and rows[0]["callLegId"] == "'@x" and rows[0]["endedAt"] == "'-1"
    assert rows[0]["outcomeCode"] == "487/0" and rows[0]["durationSeconds"] == "12.346"
    assert rows[1]["phoneNumber"] == "'=1+2"  # not a phone number: treated as text
    assert rows[1]["recipientId"] == "'=1+2"
    for row in rows:
        for name, cell in row.items():
            assert (name in ("phoneNumber", "recipientId") and cell.startswith("+")) or not cell.startswith(
                ("=", "+", "-", "@"))


# -- HTML ---------------------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    return collector


def test_the_report_escapes_everything_users_wrote():
    evil = '<script>alert("x")</script>'
    campaign = _campaign(name=evil, config={**CONFIG, "callbackUri": 'https://x/"><img src=x onerror=alert(1)>'})
    recipients = [_done("+14255550001", "<b>odd</b>", 2)]
    page = report_html(campaign, summarize(campaign, recipients, NOW), recipients)
    parsed = _parse(page)

    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert evil in "".join(parsed.text)  # shown as text
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "img", "link", "iframe")]
    assert not [attrs for _, attrs in parsed.tags if any(name.startswith("on") for name in attrs)]
    assert not [attrs for _, attrs in parsed.tags if {"src", "href"} & set(attrs)]  # self-contained: nothing to fetch


def test_the_report_shows_headline_numbers_an_outcome_table_progress_and_timings():
    recipients = _mixed()
    page = report_html(_campaign(), summarize(_campaign(), recipients, NOW), recipients)
    text = " ".join(" ".join(_parse(page).text).split())

    assert "Recipients 8" in text and "Done 62%" in text  # 5 of 8
    assert "Confirmed 2 50% of done" in text and "Declined 1 25% of done" in text and "No answer 1" in text
    assert re.search(r"confirmed 2 50%.*declined 1 25%.*no-answer 1 25%.*Total done 4 100%", text)
    assert "Elapsed 1h" in text and "Mean answered call 20s" in text
    assert "Press 1" not in text  # the plan is not a setting


def test_the_report_does_not_show_a_callback_urls_query():
    campaign = _campaign(config={**CONFIG, "callbackUri": "https://hooks.example/events?code=s3cret#x"})
    page = report_html(campaign, summarize(campaign, [], NOW), [])

    assert "s3cret" not in page and "https://hooks.example/events?…" in page
    assert summarize(campaign, [], NOW)["settings"]["callbackUri"].endswith("?code=s3cret#x")  # the API is exact


def test_the_chart_has_a_bar_per_outcome_present_and_a_legend():
    recipients = _mixed()
    page = report_html(_campaign(), summarize(_campaign(), recipients, NOW), recipients)
    parsed = _parse(page)
    bars = [attrs for tag, attrs in parsed.tags if tag == "rect" and attrs.get("class") == "bar"]

    assert {bar["data-outcome"] for bar in bars} == {"confirmed", "declined", "no-answer"}
    assert sum(float(b["height"]) > 0 for b in bars) == len(bars)
    legend = page[page.index('<ul class="legend">') :]
    assert [o for o in ("confirmed", "declined", "no-answer") if o in legend] == ["confirmed", "declined", "no-answer"]
    colours = {bar["data-outcome"]: bar["fill"] for bar in bars}
    assert len(set(colours.values())) == 3


def test_the_chart_stacks_outcomes_that_end_in_the_same_bucket():
    recipients = [
        _done(f"+1425555000{i}", outcome, 1 + i / 10)
        for i, outcome in enumerate(["confirmed", "confirmed", "declined", "busy"])
    ]
    bars = [a for t, a in _parse(outcome_chart(recipients)).tags if t == "rect"]

    assert [b["data-outcome"] for b in bars] == ["confirmed", "declined", "busy"]
    assert len({b["x"] for b in bars}) == 1  # one bucket
    heights = [float(b["height"]) for b in bars]
    assert heights[0] == pytest.approx(2 * heights[1]) == pytest.approx(2 * heights[2])


@pytest.mark.parametrize(
    ("span", "size"),
    [
        (0, 60),
        (23 * 60, 60),
        (30 * 60, 120),
        (2 * 3600, 600),
        (20 * 3600, 3600),
        (3 * 86400, 21600),
        (30 * 86400, 172800),
        (400 * 86400, 604800 * 3),
    ],
)
def test_the_bucket_size_follows_the_span(span, size):
    assert bucket_seconds(span) == size
    assert span / size + 1 <= 24


def test_the_chart_reads_times_in_the_campaigns_time_zone():
    campaign = _campaign(
        config={**CONFIG, "callingWindow": {"start": "09:00", "end": "17:00", "timeZone": "America/New_York"}}
    )
    assert str(display_zone(campaign.config)) == "America/New_York"
    assert display_zone({"timeZone": "Not/AZone"}) is UTC
    recipients = [_done("+14255550001", "confirmed", 2)]
    page = report_html(campaign, summarize(campaign, recipients, NOW), recipients)
    assert "Outcomes over time (America/New_York)" in page and "Mar 02 09:02" in page  # 14:02 UTC


# -- loading and the HTTP handlers --------------------------------------------------------------------------


class _Store(CampaignTables):
    """The in-memory campaign tables, noting which campaigns were asked for."""

    def __init__(self, campaign: Campaign, recipients: list[Recipient]) -> None:
        super().__init__()
        self.campaign, self.asked = campaign, []
        self.create_campaign(campaign)
        for recipient in recipients:
            self.add_recipient(recipient)

    def get_campaign(self, campaign_id: str) -> Campaign:
        self.asked.append(campaign_id)
        return super().get_campaign(campaign_id)


def test_a_malformed_id_is_not_found_without_asking_storage():
    store = _Store(_campaign(), [])
    for bad in ("", "a/b", "x'y", "-lead", "a" * 41, "a b"):
        with pytest.raises(CampaignNotFoundError):
            load_campaign(store, bad)
    assert store.asked == []
    assert load_campaign(store, "spring-2026") == (store.campaign, Counts())


@pytest.fixture
def store(monkeypatch) -> _Store:
    import campaign_calls_csv.function
    import campaign_report.function
    import get_campaign.function

    store = _Store(_campaign(name="Spring <reminders>"), _mixed())
    for module in (get_campaign.function, campaign_calls_csv.function, campaign_report.function):
        monkeypatch.setattr(module, "get_campaign_store", lambda: store)
    return store


def _get(handler, campaign_id: str) -> func.HttpResponse:
    request = func.HttpRequest(
        "GET", f"http://localhost/campaigns/{campaign_id}", body=b"", route_params={"campaignId": campaign_id}
    )
    return handler(request)


def test_the_handlers_answer_json_csv_and_html(store):
    from campaign_calls_csv.function import campaign_calls_csv
    from campaign_report.function import campaign_report
    from get_campaign.function import get_campaign

    summary = _get(get_campaign, "spring-2026")
    assert summary.status_code == 200 and summary.mimetype == "application/json"
    assert json.loads(summary.get_body())["progress"] == {"queued": 2, "inProgress": 1, "done": 5}

    calls = _get(campaign_calls_csv, "spring-2026")
    assert calls.status_code == 200 and calls.mimetype == "text/csv" and calls.charset == "utf-8"
    assert calls.headers["Content-Disposition"] == 'attachment; filename="campaign-spring-2026-calls.csv"'
    assert len(_rows(calls.get_body().decode())) == 8

    page = _get(campaign_report, "spring-2026")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "Spring &lt;reminders&gt;" in page.get_body().decode()


@pytest.mark.parametrize("campaign_id", ["nope", "a/b", "%00"])
def test_the_handlers_answer_404_for_an_unknown_campaign(store, campaign_id):
    from campaign_calls_csv.function import campaign_calls_csv
    from campaign_report.function import campaign_report
    from get_campaign.function import get_campaign

    for handler in (get_campaign, campaign_calls_csv, campaign_report):
        answer = _get(handler, campaign_id)
        assert answer.status_code == 404
        assert json.loads(answer.get_body()) == {"code": "CampaignNotFound", "message": "No campaign with this id."}

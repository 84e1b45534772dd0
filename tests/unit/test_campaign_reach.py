"""Counter arithmetic, time to reach and the paged calls.csv: pure computations and the handler on the fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from shared.campaigns import counters
from shared.campaigns.reach import effective_concurrency, ideal_seconds, reach, reached_after, timeline
from shared.campaigns.reports import summarize
from shared.campaigns.store import Campaign, Recipient
from tests.support.fakes import CampaignTables, campaign_service

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CONFIG = {
    "callerIds": ["+18005550100", "+18005550101"],
    "pacing": {"maxConcurrentCalls": 10, "maxConcurrentCallsPerCallerId": 2, "callsPerSecond": 5.0},
    "retry": {"maxAttempts": 3, "delaySeconds": 300, "retryOn": ["busy", "no-answer"]},
}


def _done(i: int, outcome: str, minute: float, duration: float | None = 30.0) -> Recipient:
    return Recipient("c1", f"+1425555{i:04d}", status="done", attempts=1, outcome=outcome,
                     first_call_at=START.isoformat(), ended_at=(START + timedelta(minutes=minute)).isoformat(),
                     duration_seconds=duration)


def test_the_concurrency_is_the_lower_of_the_campaign_cap_and_its_numbers():
    assert effective_concurrency(CONFIG) == 4  # 2 numbers x 2 each, under the cap of 10
    assert effective_concurrency({**CONFIG, "pacing": {**CONFIG["pacing"], "maxConcurrentCalls": 3}}) == 3
    assert effective_concurrency({}) == 1


def test_the_ideal_is_recipients_times_the_mean_call_over_the_concurrency_or_the_rate_cap():
    assert ideal_seconds(100, 30.0, CONFIG) == 750.0  # 100 x 30 / 4
    assert ideal_seconds(100, 30.0, CONFIG, 0.5) == 375.0
    assert ideal_seconds(100, 0.1, CONFIG) == 20.0  # 100 calls at 5 per second take 20 s whatever their length
    assert ideal_seconds(0, 30.0, CONFIG) is None and ideal_seconds(10, None, CONFIG) is None


def test_milestones_are_when_the_share_was_crossed_since_the_first_call():
    recipients = [_done(i, "confirmed", minute=i) for i in range(1, 11)]  # one reached each minute
    counts = counters.counts_of(recipients)
    points = timeline(counts)
    assert reached_after(points, 10, 0.5, START, None) == 6 * 60  # 5th ends in minute 5: known by its end
    assert reached_after(points, 10, 0.9, START, START + timedelta(minutes=9, seconds=10)) == 9 * 60 + 10
    assert reached_after(points, 20, 0.9, START, None) is None  # only half were reached


def test_only_picked_up_outcomes_count_as_reached():
    recipients = [_done(1, "confirmed", 1), _done(2, "declined", 2), _done(3, "no-answer", 3, None),
                  _done(4, "answered-without-input", 4), Recipient("c1", "+14255550099")]
    block = reach(counters.counts_of(recipients), CONFIG, START, START + timedelta(minutes=5), 30.0, 60)
    assert block["reached"] == 3 and block["reachedShare"] == 0.6 and block["doneShare"] == 0.8
    assert [m["share"] for m in block["milestones"]] == [0.5, 0.9]
    # The 3rd reached ended at 14:04:00, the campaign's last end: no later than that, though its minute runs on.
    assert block["milestones"][0]["reachedAfterSeconds"] == 4 * 60
    assert block["milestones"][1]["reachedAfterSeconds"] is None
    assert block["ideal"] == {"concurrency": 4, "meanCallSeconds": 30.0, "seconds": 37.5}
    shares = [p["reachedShare"] for p in block["overTime"]]
    assert shares == sorted(shares) and shares[-1] == 0.6 and len(shares) == 5


def test_a_summary_has_the_reach_of_its_counts():
    recipients = [_done(i, "confirmed", minute=i) for i in range(1, 5)]
    summary = summarize(Campaign("c1", "c", CONFIG), recipients, START + timedelta(hours=1))
    assert summary["reach"]["reached"] == 4 and summary["reach"]["milestones"][1]["reachedAfterSeconds"] == 240
    json.dumps(summary)


def test_counts_add_and_take_back_and_survive_their_entity_form():
    a, b = _done(1, "confirmed", 1), _done(2, "busy", 700)
    counts = counters.counts_of([a, b])
    again = counters.from_entity(counters.to_entity("c1-00", counters.counter_row(0), counts))
    assert again == counts
    counts.add(counters.contribution(b), -1)
    assert counts.by_outcome == {"confirmed": 1} and counts.recipients == 1 and len(counts.ended) == 1


def test_a_long_timeline_is_coarsened_to_fit_the_entity():
    counts = counters.Counts(ended={m: {"confirmed": 1, "no-answer": 2} for m in range(0, 60_000 * 4, 4)})
    entity = counters.to_entity("c1-00", counters.counter_row(0), counts)
    assert entity["binMinutes"] > 1 and entity["endedChunks"] <= counters.MAX_CHUNKS
    back = counters.from_entity(entity)
    assert sum(o["no-answer"] for o in back.ended.values()) == 120_000  # nothing lost, only coarser


def test_the_fake_counts_every_transition_of_the_service():
    tables = CampaignTables()
    service = campaign_service(tables)
    campaign = Campaign("c1", "c", {**CONFIG, "plan": {"prompt": {"text": "hi"}}}, created_at=START.isoformat())
    tables.create_campaign(campaign)
    from shared.campaigns.service import RecipientEntry

    service.admit("c1", [RecipientEntry(f"+1425555{i:04d}") for i in range(5)])
    service.admit("c1", [RecipientEntry(f"+1425555{i:04d}") for i in range(5)])  # redelivered
    service.cancel("c1")
    assert tables.read_counts("c1") == counters.counts_of(tables.list_recipients("c1"))
    assert tables.read_counts("c1").recipients == 5


# -- calls.csv pages ------------------------------------------------------------------------------------------


@pytest.fixture
def store(monkeypatch) -> CampaignTables:
    import campaign_calls_csv.function

    tables = CampaignTables()
    tables.create_campaign(Campaign("c1", "c", CONFIG))
    for i in range(23):
        tables.add_recipient(Recipient("c1", f"+1425555{i:04d}"))
    monkeypatch.setattr(campaign_calls_csv.function, "get_campaign_store", lambda: tables)
    return tables


def _get(params: dict[str, str]) -> func.HttpResponse:
    from campaign_calls_csv.function import campaign_calls_csv

    request = func.HttpRequest("GET", "http://localhost/api/campaigns/c1/calls.csv", body=b"", params=params,
                               route_params={"campaignId": "c1"})
    return campaign_calls_csv(request)


def test_calls_csv_pages_follow_the_link_header_to_every_row_once(store):
    rows, params, pages = [], {"pageSize": "5"}, 0
    while True:
        answer = _get(params)
        assert answer.status_code == 200
        lines = answer.get_body().decode().strip().split("\r\n")
        assert lines[0].startswith("phoneNumber,")  # every page is a CSV of its own
        rows += lines[1:]
        pages += 1
        link = answer.headers.get("Link")
        if not link:
            break
        assert link.startswith("</api/campaigns/c1/calls.csv?pageSize=5&continuation=") and link.endswith('rel="next"')
        params = dict(p.split("=", 1) for p in link[1 : link.index(">")].split("?", 1)[1].split("&"))
    assert pages == 5 and len(rows) == 23 and len(set(rows)) == 23


@pytest.mark.parametrize(
    ("params", "code"),
    [({"pageSize": "0"}, "InvalidRequest"), ({"pageSize": "x"}, "InvalidRequest"),
     ({"pageSize": "5001"}, "InvalidRequest"), ({"continuation": "!!"}, "InvalidContinuation"),
     ({"continuation": "OTk6KzE"}, "InvalidContinuation"), ({"continuation": "a" * 500}, "InvalidContinuation")],
)
def test_a_bad_page_size_or_continuation_is_a_400_with_a_code(store, params, code):
    answer = _get(params)
    assert answer.status_code == 400 and json.loads(answer.get_body())["code"] == code

"""Campaign counter rows on Azurite: kept exactly once with every recipient transition, and a summary whose
storage requests and time do not grow with the campaign."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.data.tables import TableClient, UpdateMode

from shared.campaigns import counters
from shared.campaigns.reports import load_campaign, report_html, summarize
from shared.campaigns.store import (
    BUCKETS,
    CALLING,
    CANCELLED,
    DONE,
    WAITING,
    CallsStoppedError,
    Campaign,
    CampaignStore,
    Recipient,
    _recipient_entity,
    counter_row_of,
    recipient_partition,
)

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CONFIG = {
    "callerIds": ["+18005550100", "+18005550101"],
    "pacing": {"maxConcurrentCalls": 10, "maxConcurrentCallsPerCallerId": 2, "callsPerSecond": 5.0},
    "retry": {"maxAttempts": 3, "delaySeconds": 300, "retryOn": ["busy", "no-answer"]},
}
OUTCOMES = ("confirmed", "declined", "no-answer", "busy", "answered", "failed")


class CountingPolicy(SansIOHTTPPolicy):
    """Counts the HTTP requests sent to storage (per retry: every request that goes on the wire)."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()

    def on_request(self, request) -> None:
        with self._lock:
            self.requests += 1


@pytest.fixture
def tables(azurite, storage_names) -> Iterator[tuple[TableClient, TableClient, CountingPolicy]]:
    policy = CountingPolicy()

    def client(name: str) -> TableClient:
        return TableClient.from_connection_string(
            azurite.connection_string, storage_names.table(name), per_retry_policies=[policy]
        )

    campaigns, recipients = client("campaigns"), client("recipients")
    CampaignStore(campaigns, recipients).ensure_tables()
    yield campaigns, recipients, policy


def _store(tables) -> CampaignStore:
    return CampaignStore(tables[0], tables[1])


def _campaign(store: CampaignStore) -> Campaign:
    campaign = Campaign("c" + uuid.uuid4().hex[:12], "Counts", dict(CONFIG), created_at=START.isoformat())
    return store.create_campaign(campaign)


def _number(i: int) -> str:
    return f"+1425{i:07d}"


def _stored_counts(store: CampaignStore, campaign_id: str) -> counters.Counts:
    return store.read_counts(campaign_id)


def test_every_transition_is_counted_once_and_a_repeat_changes_nothing(tables):
    store = _store(tables)
    campaign = _campaign(store)
    cid = campaign.campaign_id
    numbers = [_number(i) for i in range(40)]

    added = store.add_recipients([Recipient(cid, n, submitted_at=START.isoformat()) for n in numbers])
    again = store.add_recipients([Recipient(cid, n) for n in numbers[:5]] + [Recipient(cid, _number(99))])
    assert added == [True] * 40 and again == [False] * 5 + [True]
    assert store.add_recipient(Recipient(cid, numbers[0])) is False

    def call(r: Recipient) -> None:
        if r.status == "queued":
            r.status, r.attempts, r.first_call_at = CALLING, r.attempts + 1, START.isoformat()

    def end(r: Recipient) -> None:
        if r.status == CALLING:
            r.status, r.outcome = DONE, "confirmed"
            r.ended_at, r.duration_seconds = (START + timedelta(minutes=3)).isoformat(), 20.0

    for number in numbers[:10]:
        store.update_recipient(cid, number, call)
        store.update_recipient(cid, number, end)
        store.update_recipient(cid, number, end)  # a redelivered result: the recipient is done already
    requests_before = tables[2].requests
    store.update_recipient(cid, numbers[0], end)
    assert tables[2].requests - requests_before == 1  # only the read: nothing changed, nothing is written

    expected = counters.counts_of(store.list_recipients(cid))
    assert _stored_counts(store, cid) == expected
    assert expected.by_status == {"queued": 31, "done": 10} and expected.by_outcome == {"confirmed": 10}
    assert expected.attempts == 10 and expected.duration_count == 10


def test_a_cancel_stops_every_dial_not_marked_yet_even_where_an_instance_holds_the_counter_row(tables):
    store, other_instance = _store(tables), _store(tables)
    cid = _campaign(store).campaign_id
    numbers = [_number(i) for i in range(24)]  # spread over most of the 16 partitions
    store.add_recipients([Recipient(cid, n, submitted_at=START.isoformat()) for n in numbers])

    def dial(r: Recipient) -> None:
        r.status, r.attempts = CALLING, r.attempts + 1

    def finish(r: Recipient) -> None:
        r.status = CANCELLED if r.status == "queued" else r.status

    # The other instance has just written (and so caches) the counter rows of half the recipients.
    for number in numbers[:12]:
        other_instance.update_recipient(cid, number, dial, unless_stopped=True)
    counts_before = _stored_counts(store, cid)

    store.cancel_campaign(cid, START.isoformat())
    store.cancel_campaign(cid, START.isoformat())  # a repeated cancel changes nothing more

    for number in numbers[12:]:
        for instance in (store, other_instance):
            with pytest.raises(CallsStoppedError):
                instance.update_recipient(cid, number, dial, unless_stopped=True)
    after = _stored_counts(store, cid)
    assert after.stopped and (after.by_status, after.attempts) == (counts_before.by_status, counts_before.attempts)
    assert all(store.get_recipient(cid, n).status == "queued" for n in numbers[12:])  # nothing was marked

    # Everything else goes on: results of calls already placed, and finishing those that never were.
    for number in numbers:
        other_instance.update_recipient(cid, number, finish)
    expected = counters.counts_of(store.list_recipients(cid))
    assert _stored_counts(store, cid).by_status == expected.by_status == {"calling": 12, "cancelled": 12}


def test_concurrent_writers_on_one_partition_keep_the_counts_exact(tables):
    store = _store(tables)
    cid = _campaign(store).campaign_id
    # Numbers of one partition and one counter row, so every writer contends for it. A store per writer: each
    # acts as its own instance, with its own copy of the counter row going stale.
    numbers = [
        n for n in (_number(i) for i in range(20_000))
        if recipient_partition(cid, n).endswith("-03") and counter_row_of(n) == "~counts-5"
    ][:24]
    store.add_recipients([Recipient(cid, n) for n in numbers])

    def dial_and_finish(number: str) -> None:
        s = _store(tables)
        def dial(r: Recipient) -> None:
            r.attempts, r.status = r.attempts + 1, WAITING

        def finish(r: Recipient) -> None:
            r.status, r.outcome = DONE, "declined"

        s.update_recipient(cid, number, dial)
        s.update_recipient(cid, number, finish)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(dial_and_finish, numbers))

    assert _stored_counts(store, cid) == counters.counts_of(store.list_recipients(cid))
    assert _stored_counts(store, cid).by_status == {DONE: 24}


def test_one_instance_reads_a_counter_row_once_and_then_writes_from_what_it_wrote(tables):
    store = _store(tables)
    cid = _campaign(store).campaign_id
    numbers = [n for n in (_number(i) for i in range(2000)) if recipient_partition(cid, n).endswith("-07")][:30]
    store.add_recipients([Recipient(cid, n) for n in numbers])
    def call(r: Recipient) -> None:
        r.status = CALLING

    def end_as(outcome: str) -> Callable[[Recipient], None]:
        def end(r: Recipient) -> None:
            r.status, r.outcome = DONE, outcome

        return end

    for number in numbers:  # warm: every counter row of the partition read or written once
        store.update_recipient(cid, number, call)

    before = tables[2].requests
    for number in numbers:
        store.update_recipient(cid, number, end_as("busy"))
    assert tables[2].requests - before == 2 * len(numbers)  # per write: the recipient's read and one transaction

    other = _store(tables)  # another instance moves a counter row on: this one's copy is stale, and it recovers
    other.update_recipient(cid, numbers[0], end_as("declined"))
    same_row = next(n for n in numbers[1:] if counter_row_of(n) == counter_row_of(numbers[0]))
    store.update_recipient(cid, same_row, end_as("no-answer"))
    assert _stored_counts(store, cid) == counters.counts_of(store.list_recipients(cid))


def test_the_calls_csv_pages_through_every_recipient_once(tables):
    store = _store(tables)
    cid = _campaign(store).campaign_id
    numbers = [_number(i) for i in range(250)]
    store.add_recipients([Recipient(cid, n) for n in numbers])

    seen, token, pages = [], None, 0
    while True:
        page, token = store.recipients_page(cid, 37, token)
        assert len(page) <= 37
        seen += [r.phone_number for r in page]
        pages += 1
        if token is None:
            break
    assert sorted(seen) == sorted(numbers) and len(seen) == len(set(seen))  # the counter rows are not rows
    assert pages >= 250 // 37


# -- constant cost ----------------------------------------------------------------------------------------------


def _recipient(cid: str, i: int, count: int) -> Recipient:
    """A varied but deterministic recipient: most done, some waiting or queued. Ends are spread over the same
    10 hours whatever the count, so both campaigns' timelines have as many minutes: only the rows differ."""
    number = _number(i)
    if i % 10 == 9:
        return Recipient(cid, number)
    first = START + timedelta(seconds=i * 36000 // count)
    outcome = OUTCOMES[i % len(OUTCOMES)]
    status = WAITING if outcome == "busy" else DONE
    ended = first + timedelta(seconds=30)
    return Recipient(cid, number, status=status, attempts=1 + i % 2, outcome=outcome, first_call_at=first.isoformat(),
                     ended_at=ended.isoformat(), duration_seconds=25.0 if outcome != "no-answer" else None)


def _bulk_insert(table: TableClient, cid: str, count: int) -> None:
    """Rows straight in, 100 per transaction over several threads, then each partition's counter row."""
    groups: dict[str, list[Recipient]] = {}
    for i in range(count):
        r = _recipient(cid, i, count)
        groups.setdefault(recipient_partition(cid, r.phone_number), []).append(r)
    batches = [
        [("upsert", _recipient_entity(r), {"mode": UpdateMode.REPLACE}) for r in rows[start : start + 100]]
        for rows in groups.values()
        for start in range(0, len(rows), 100)
    ]
    # Four writers keep Azurite (one Node process) busy. On a loaded machine it still resets a connection now and
    # then, after the batch may have been applied: upserts make sending a batch again harmless.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda batch: _submit_until_sent(table, batch), batches))
    for partition, rows in groups.items():
        shards: dict[str, list[Recipient]] = {}
        for r in rows:
            shards.setdefault(counter_row_of(r.phone_number), []).append(r)
        for row, counted in shards.items():
            entity = counters.to_entity(partition, row, counters.counts_of(counted))
            table.upsert_entity(entity, mode=UpdateMode.REPLACE)


def _submit_until_sent(table: TableClient, batch: list, attempts: int = 5) -> None:
    for attempt in range(attempts):
        try:
            table.submit_transaction(batch)
            return
        except (ServiceRequestError, ServiceResponseError, ConnectionError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def _summary_cost(tables, cid: str) -> tuple[int, float, dict]:
    store, policy = _store(tables), tables[2]
    times, requests = [], set()
    for _ in range(5):
        before, started = policy.requests, time.perf_counter()
        campaign, counts = load_campaign(store, cid)
        summary = summarize(campaign, counts, START + timedelta(hours=12))
        report_html(campaign, summary, counts)
        times.append(time.perf_counter() - started)
        requests.add(policy.requests - before)
    assert len(requests) == 1
    return requests.pop(), statistics.median(times), summary


@pytest.mark.timeout(600)  # the 100,000 rows take a minute to insert on a quiet machine, more on a busy one
def test_a_summary_reads_the_same_for_a_thousand_and_a_hundred_thousand_recipients(tables, capsys):
    store = _store(tables)
    small, large = _campaign(store).campaign_id, _campaign(store).campaign_id
    started = time.perf_counter()
    _bulk_insert(tables[1], small, 1_000)
    _bulk_insert(tables[1], large, 100_000)
    inserted = time.perf_counter() - started

    small_requests, small_time, small_summary = _summary_cost(tables, small)
    large_requests, large_time, large_summary = _summary_cost(tables, large)

    with capsys.disabled():
        print(f"\nsummary of 1,000: {small_requests} requests, {small_time * 1000:.1f} ms; of 100,000: "
              f"{large_requests} requests, {large_time * 1000:.1f} ms (insert took {inserted:.1f} s)")
    assert small_requests == large_requests == 1 + BUCKETS  # the campaign, and one counter row per partition
    assert large_time < 3 * small_time
    assert small_summary["recipients"] == 1_000 and large_summary["recipients"] == 100_000
    assert large_summary["byStatus"]["queued"] == 10_000
    assert large_summary["reach"]["reached"] == sum(large_summary["byOutcome"].get(o, 0) for o in
                                                    ("confirmed", "declined", "answered"))
    # The counter rows add up to the rows themselves.
    assert small_summary["byOutcome"] == summarize(
        store.get_campaign(small), store.list_recipients(small), START + timedelta(hours=12)
    )["byOutcome"]

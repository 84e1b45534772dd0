"""Lines on Azurite: per-number caps shared by everyone, campaign seats, hand-over, leases, the waiting line, and
how acquisitions scale across processes."""

from __future__ import annotations

import math
import multiprocessing
import time
import uuid
from datetime import UTC, datetime

import pytest
from azure.data.tables import TableServiceClient

from shared.lines import Grant, Lines, Waiting, Wanted


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))  # whole seconds: exact through datetime and back

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@pytest.fixture
def table(azurite):
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    client = service.get_table_client("lines" + uuid.uuid4().hex[:10])
    client.create_table()
    yield client
    service.delete_table(client.table_name)


def _number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def _campaign(lines: Lines, cap: int) -> str:
    campaign_id = "c" + uuid.uuid4().hex[:12]
    lines.open_campaign(campaign_id, cap)
    return campaign_id


def _wanted(holder: str, numbers: list[str], campaign_id: str | None = None, cap: int | None = None, **kw) -> Wanted:
    return Wanted(holder, numbers, campaign_id=campaign_id, campaign_cap=cap, **kw)


def test_a_numbers_lines_are_shared_by_every_campaign_and_single_call(table):
    lines = Lines(table, lines_per_number=2)
    number = _number()
    first, second = _campaign(lines, 5), _campaign(lines, 5)

    a = lines.acquire(_wanted("a", [number], first, 5))
    b = lines.acquire(_wanted("b", [number], second, 5))
    single = lines.acquire(_wanted("single", [number]))

    assert a and b and single is None  # two lines, whoever asks
    assert lines.busy([number]) == {number: 2}
    lines.release(a)
    assert lines.acquire(_wanted("single", [number])) is not None


def test_a_campaign_keeps_to_its_own_cap_and_its_per_number_limit(table):
    lines = Lines(table, lines_per_number=10)
    numbers = [_number(), _number()]
    campaign_id = _campaign(lines, 3)

    grants = [lines.acquire(_wanted(f"h{i}", numbers, campaign_id, 3, per_number=2)) for i in range(5)]

    assert [g is not None for g in grants] == [True, True, True, False, False]  # 4 lines allowed, 3 seats
    assert lines.busy(numbers, campaign_id)["campaign"] == 3


def test_a_campaign_whose_numbers_cannot_exceed_its_cap_takes_no_seat(table):
    lines = Lines(table, lines_per_number=10)
    numbers = [_number(), _number()]
    campaign_id = _campaign(lines, 3)

    grants = [lines.acquire(_wanted(f"h{i}", numbers, campaign_id, 3, per_number=1)) for i in range(4)]

    assert [g is not None for g in grants] == [True, True, False, False]  # one line per number for this campaign
    assert {g.caller_id for g in grants if g} == set(numbers)
    assert lines.busy(numbers, campaign_id)["campaign"] == 0 and all(g.seat is None for g in grants if g)


def test_nothing_is_held_when_a_call_cannot_start(table):
    lines = Lines(table, lines_per_number=1)
    numbers = [_number(), _number(), _number()]
    campaign_id = _campaign(lines, 2)  # 2 seats for 3 lines: the seats bind
    assert lines.acquire(_wanted("single-1", numbers[:1])) and lines.acquire(_wanted("single-2", numbers[1:2]))
    assert lines.acquire(_wanted("first", numbers, campaign_id, 2))

    assert lines.acquire(_wanted("second", numbers, campaign_id, 2)) is None  # a seat, but no line

    assert lines.busy(numbers, campaign_id) == {**dict.fromkeys(numbers, 1), "campaign": 1}  # the seat went back


def test_a_line_is_handed_over_without_a_moment_free(table):
    lines = Lines(table, lines_per_number=1)
    number = _number()
    campaign_id = _campaign(lines, 1)
    ended = lines.acquire(_wanted("ended", [number, _number()], campaign_id, 1))

    given = lines.hand_over(ended, _wanted("next", [number], campaign_id, 1))

    assert given is not None and given.holder == "next" and given.line == ended.line and given.seat == ended.seat
    assert lines.holds(given) and not lines.holds(ended)
    assert given.seat is not None and lines.hand_over(ended, _wanted("third", [number], campaign_id, 1)) is None
    assert lines.release(ended) == 0 and lines.release(given) == 2


def test_the_rate_is_shared_out_over_the_numbers(table):
    clock = Clock()
    lines = Lines(table, lines_per_number=10, clock=clock)
    numbers = [_number(), _number()]
    campaign_id = _campaign(lines, 10)
    wanted = lambda holder: _wanted(holder, numbers, campaign_id, 10, calls_per_second=1.0, per_number=2)  # noqa: E731

    starts = sorted(lines.acquire(wanted(f"h{i}")).start_at - clock.now for i in range(4))

    # 1 call/s over 2 numbers: each number starts one call every 2 s
    assert starts == pytest.approx([0, 0, 2, 2])


def test_a_lease_lapses_unless_renewed(table):
    clock = Clock()
    lines = Lines(table, lines_per_number=1, lease_seconds=10, clock=clock)
    number = _number()
    long_call = lines.acquire(_wanted("long", [number]))

    clock.now += 8
    assert lines.renew(long_call)
    clock.now += 8  # 16 s after it was taken, 8 after the renewal
    assert lines.acquire(_wanted("other", [number])) is None
    clock.now += 3  # the renewal has lapsed: as when the instance holding it died
    taken = lines.acquire(_wanted("other", [number]))
    assert taken is not None
    assert not lines.renew(long_call) and lines.release(long_call) == 0  # late: the line is someone else's


def test_the_waiting_line_is_served_oldest_first_and_a_claim_comes_back(table):
    clock = Clock()
    lines = Lines(table, clock=clock)
    campaign_id = "c" + uuid.uuid4().hex[:12]
    entries = [Waiting(campaign_id, f"+1555000000{i}", 1, f"2026-12-01T10:00:0{i}+00:00") for i in (3, 1, 2)]
    lines.wait(entries)
    lines.wait(entries[:1])  # a repeat takes the same place

    first = lines.next_waiting(campaign_id)
    assert first.recipient_id == "+15550000001"
    lines.called(first)
    second = lines.next_waiting(campaign_id)  # claimed, but its dial never sent (the instance died)
    assert second.recipient_id == "+15550000002"
    assert lines.next_waiting(campaign_id).recipient_id == "+15550000003"
    assert lines.next_waiting(campaign_id) is None
    clock.now += 61
    assert lines.next_waiting(campaign_id).recipient_id == "+15550000002"  # back in line after the claim lapsed
    assert campaign_id in lines.waiting_campaigns()


def test_a_grant_survives_its_message(table):
    lines = Lines(table)
    grant = lines.acquire(_wanted("h", [_number()], _campaign(lines, 1), 1))

    assert Grant.from_dict(grant.to_dict()) == grant


# -- contention across processes ---------------------------------------------------------------------------------


def _acquirer(connection_string: str, table_name: str, numbers: list[str], seconds: float, results) -> None:
    table = TableServiceClient.from_connection_string(connection_string).get_table_client(table_name)
    lines = Lines(table, lines_per_number=2)
    acquired = misses = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        holder = uuid.uuid4().hex
        grant = lines.acquire(Wanted(holder, numbers))
        if grant is None:
            misses += 1
            continue
        acquired += 1
        lines.release(grant)
    results.put((acquired, misses))


def _run(azurite, table, processes: int, numbers: int, seconds: float = 3.0) -> tuple[float, float]:
    pool = [_number() for _ in range(numbers)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_acquirer, args=(azurite.connection_string, table.table_name, pool, seconds, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    counts = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    acquired = sum(c[0] for c in counts)
    misses = sum(c[1] for c in counts)
    return acquired / seconds, misses / max(1, acquired + misses)


@pytest.mark.slow
def test_acquisitions_scale_with_the_numbers_not_one_hot_row(azurite, table):
    """Acquirers in several processes: on one number they mostly find it full; spread over as many numbers as
    acquirers, nearly every attempt gets a line. The figures are printed (run with -s)."""
    table_rows = []
    for processes, numbers in ((1, 1), (4, 1), (4, 8)):
        rate, missed = _run(azurite, table, processes, numbers)
        table_rows.append((processes, numbers, rate, missed))
        print(f"{processes} process(es), {numbers} number(s): {rate:.0f} acquisitions/s, {missed:.0%} found none")
    (_, _, alone, _), (_, _, crowded, crowded_missed), (_, _, spread, spread_missed) = table_rows
    assert crowded_missed > 0.2  # four acquirers and two lines: many find them taken
    assert spread_missed < crowded_missed / 2  # more numbers, fewer misses: no shared row serialises them
    assert spread > 0.5 * crowded and math.isfinite(spread) and alone > 0


def test_a_line_says_when_to_check_on_its_call_and_a_renewal_moves_it(table):
    clock = Clock()
    lines = Lines(table, lines_per_number=2, lease_seconds=600, check_after_seconds=60, clock=clock)
    number = _number()
    early = lines.acquire(_wanted("early", [number]))
    clock.now += 10
    late = lines.acquire(_wanted("late", [number]))

    assert lines.due_for_check() == []
    clock.now += 55  # 65 s after the first, 55 after the second
    assert lines.due_for_check() == [("early", early.line)]
    clock.now += 10
    assert lines.due_for_check() == [("early", early.line), ("late", late.line)]  # oldest first

    assert lines.renew(early, check_after=clock.now + 100)
    lines.release(late)  # a free line names nobody
    assert lines.due_for_check() == []
    clock.now += 100
    assert lines.due_for_check() == [("early", early.line)]


def test_a_line_naming_no_call_is_freed_only_once_its_lease_lapsed(table):
    clock = Clock()
    lines = Lines(table, lines_per_number=1, lease_seconds=100, check_after_seconds=30, clock=clock)
    number = _number()
    grant = lines.acquire(_wanted("dial-on-its-way", [number]))

    clock.now += 31
    lines.settle("dial-on-its-way", grant.line)
    assert lines.holds(grant) and lines.due_for_check() == []  # looked at again later
    clock.now += 70
    lines.settle("dial-on-its-way", grant.line)
    assert not lines.holds(grant) and lines.acquire(_wanted("next", [number])) is not None

"""The measuring parts of `make bench` (bench/): reaction times and idle slots from the emulator's logs, the
storage proxy's reading of requests, devhost's invocation lines, process CPU, and the side-by-side report."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bench.app_log import Invocations, invocations
from bench.campaign_bench import Cost, Run, report
from bench.campaign_bench import parse_args as bench_args
from bench.process_cpu import tree_cpu_seconds
from bench.storage_proxy import (
    batch_failed,
    batched_requests,
    count_exchange,
    queue_request,
    read_message,
    table_request,
)
from bench.timings import answer_times, percentile, reaction_times, slot_idle_times
from devstack.demo import EmulatedCall

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def call(start: float, end: float | None, connection_id: str = "") -> EmulatedCall:
    ended = T0 + timedelta(seconds=end) if end is not None else None
    return EmulatedCall("+13125550100", "+18005550101", T0 + timedelta(seconds=start), ended, connection_id)


def delivery(call_id: str, event: str, started: float, completed: float, status: str = "delivered") -> dict:
    return {"callConnectionId": call_id, "type": f"Microsoft.Communication.{event}", "status": status,
            "attemptStartedAt": at(started), "completedAt": at(completed)}  # fmt: skip


def request(call_id: str, operation: str, received: float) -> dict:
    return {"callConnectionId": call_id, "operation": operation, "receivedAt": at(received)}


# -- timings ----------------------------------------------------------------------------------------------------


def test_reaction_time_runs_from_the_attempt_that_delivered_to_the_first_request_after_it():
    deliveries = [
        delivery("a", "CallConnected", 1.0, 1.3),
        delivery("b", "CallConnected", 2.0, 2.1),
        delivery("c", "CallConnected", 3.0, 3.1, status="failed"),  # never delivered: no reaction to measure
        delivery("a", "PlayCompleted", 5.0, 5.2),
    ]
    requests = [
        request("a", "createCall", 0.0),
        request("a", "play", 1.25),
        request("a", "play", 4.0),  # a later play is not the reaction
        request("b", "play", 1.5),  # before the attempt that delivered (an earlier try's): not counted
        request("b", "play", 2.5),
        request("c", "play", 3.2),
        request("a", "terminate", 5.1),
        request("x", "play", 1.1),  # not a call of this campaign
    ]

    assert reaction_times(deliveries, requests, "CallConnected", {"play"}, {"a", "b", "c"}) == pytest.approx(
        [0.25, 0.5]
    )
    assert reaction_times(deliveries, requests, "PlayCompleted", {"terminate", "hangUp"}, {"a"}) == pytest.approx([0.1])
    assert answer_times(deliveries, {"a", "b"}) == pytest.approx([0.3, 0.1, 0.2])


def test_a_slot_freed_at_the_cap_is_idle_until_the_next_call_is_created():
    cap = 2
    calls = [
        call(0, 4),  # ends at 4 with 2 live: idle until the call created at 5
        call(1, 6),  # ends at 6 with 2 live (the one from 5): idle until 6.5
        call(5, 9),  # ends at 9 with 2 live, but no call comes after it: nobody was waiting
        call(6.5, 9.5),  # ends with 1 live: the cap was not full, so not counted
    ]

    assert slot_idle_times(calls, cap) == pytest.approx([1.0, 0.5])
    assert slot_idle_times(calls, 3) == []  # the cap was never full


def test_percentiles_interpolate_between_ranks():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (3.0, pytest.approx(4.8), 5.0)
    assert percentile([7.0], 95) == 7.0


# -- the storage proxy's reading of requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target", "headers", "expected"),
    [
        ("GET", "/devstoreaccount1/pacing()?$filter=PartitionKey%20eq%20%27c%27", {}, ("query", "pacing")),
        ("GET", "/devstoreaccount1/callLegs(PartitionKey='p',RowKey='r')", {}, ("get", "callLegs")),
        ("POST", "/devstoreaccount1/recipients", {}, ("insert", "recipients")),
        ("PUT", "/acct/recipients(PartitionKey='p',RowKey='r')", {"if-match": 'W/"x"'}, ("update", "recipients")),
        ("PATCH", "/acct/recipients(PartitionKey='p',RowKey='r')", {"if-match": "*"}, ("update", "recipients")),
        ("PUT", "/acct/callLegs(PartitionKey='p',RowKey='r')", {}, ("upsert", "callLegs")),
        ("MERGE", "/acct/callLegs(PartitionKey='p',RowKey='r')", {}, ("upsert", "callLegs")),
        ("DELETE", "/acct/callLegs(PartitionKey='p',RowKey='r')", {"if-match": "*"}, ("delete", "callLegs")),
        ("POST", "/acct/Tables", {}, ("table", "Tables")),
        ("POST", "/acct/$batch", {}, ("batch", "$batch")),
    ],
)
def test_table_requests_are_told_apart_by_method_keys_and_if_match(method, target, headers, expected):
    assert table_request(method, target, headers) == expected


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("POST", "/acct/campaign-dial/messages?visibilitytimeout=3", "send"),
        ("GET", "/acct/campaign-dial/messages?numofmessages=16&visibilitytimeout=600", "receive"),
        ("GET", "/acct/campaign-dial/messages?peekonly=true", "peek"),
        ("DELETE", "/acct/campaign-dial/messages/abc?popreceipt=x", "delete"),
        ("PUT", "/acct/campaign-dial/messages/abc?popreceipt=x&visibilitytimeout=10", "update"),
        ("DELETE", "/acct/campaign-dial/messages", "clear"),
        ("PUT", "/acct/campaign-dial", "queue"),
    ],
)
def test_queue_requests_are_told_apart_by_path_and_method(method, target, expected):
    assert queue_request(method, target) == (expected, "campaign-dial")


BATCH = (
    b"--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n"
    b"--changeset_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"PUT http://127.0.0.1:1/acct/pacing(PartitionKey='c',RowKey='slot-global-001') HTTP/1.1\r\n"
    b'If-Match: W/"datetime\'1\'"\r\nContent-Type: application/json\r\n\r\n{"holder": "x"}\r\n'
    b"--changeset_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"POST http://127.0.0.1:1/acct/pacing HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}\r\n"
    b"--changeset_1--\r\n--batch_1--\r\n"
)


def test_the_operations_inside_a_batch_are_read_and_a_failed_changeset_is_seen_in_the_answer():
    assert batched_requests(BATCH) == [("update", "pacing"), ("insert", "pacing")]
    assert batch_failed(b"--batchresponse\r\nHTTP/1.1 412 Precondition Failed\r\n\r\n")
    assert not batch_failed(b"--batchresponse\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 201 Created\r\n")


def _read(data: bytes, answering: str | None = None):
    async def go():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await read_message(reader, answering=answering), await read_message(reader, answering=answering)

    return asyncio.run(go())


def test_messages_are_read_whole_whether_sized_or_chunked_and_passed_on_as_they_came():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n"
    answer, after = _read(chunked + b"HTTP/1.1 204 No Content\r\n\r\n", answering="GET")
    assert (answer.status, answer.body, answer.raw) == (200, b"Wikipedia", chunked)
    assert after.status == 204 and after.body == b""

    sized = b"POST /acct/q/messages HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    sent, nothing = _read(sized)
    assert (sent.method, sent.target, sent.body, sent.closes) == ("POST", "/acct/q/messages", b"hello", True)
    assert nothing is None


def test_an_exchange_counts_its_kind_its_failures_its_batched_operations_and_received_messages():
    batch, _ = _read(b"POST /acct/$batch HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(BATCH) + BATCH)
    lost, _ = _read(b"HTTP/1.1 202 Accepted\r\nContent-Length: 12\r\n\r\nHTTP/1.1 412", answering="POST")
    counts = count_exchange("table", batch, lost, 0.002)
    assert counts[("table", "requests", "batch", "pacing")] == 1  # counted on the table it wrote to
    assert counts[("table", "failed", "batch", "pacing")] == 1
    assert counts[("table", "batched", "update", "pacing")] == counts[("table", "batched", "insert", "pacing")] == 1
    assert counts[("table", "ms", "batch", "pacing")] == pytest.approx(2.0)

    poll, _ = _read(b"GET /acct/q/messages?numofmessages=16 HTTP/1.1\r\n\r\n")
    body = b"<QueueMessagesList><QueueMessage>a</QueueMessage><QueueMessage>b</QueueMessage></QueueMessagesList>"
    messages, _ = _read(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body, answering="GET")
    assert count_exchange("queue", poll, messages, 0.001)[("queue", "messages", "receive", "q")] == 2


# -- devhost's log, CPU time, costs -----------------------------------------------------------------------------


def test_invocations_are_counted_by_function_within_the_window():
    lines = [
        "[2026-01-05 12:00:00,100] Executed 'Functions.campaign_dial' (Succeeded, Id=1, Duration=40ms)",
        "[2026-01-05 12:00:01,000] Executing 'Functions.campaign_dial' (Reason='x', Id=2)",
        "[2026-01-05 12:00:01,200] Executed 'Functions.campaign_dial' (Failed, Id=2, Duration=60ms): Boom: no",
        "[2026-01-05 12:00:02,000] Executed 'Functions.acs_callback' (Succeeded, Id=3, Duration=5ms)",
        "[2026-01-05 11:59:59,000] Executed 'Functions.acs_callback' (Succeeded, Id=0, Duration=5ms)",  # before
    ]
    found = invocations(lines, datetime(2026, 1, 5, 12, 0), datetime(2026, 1, 5, 12, 0, 3))
    assert found == {"campaign_dial": Invocations(2, 1, 100), "acs_callback": Invocations(1, 0, 5)}


def test_cpu_time_of_this_process_grows_with_work():
    before = tree_cpu_seconds(os.getpid())
    sum(i * i for i in range(3_000_000))
    assert tree_cpu_seconds(os.getpid()) > before > 0


def test_a_cost_less_n_polls_never_goes_below_zero():
    spent = Cost(2.0, Counter({("table", "requests", "query", "recipients"): 40, ("table", "requests", "get", "x"): 5}))
    poll = Cost(0.1, Counter({("table", "requests", "query", "recipients"): 16}))
    left = spent.minus(poll, 3)
    assert left.cpu_seconds == pytest.approx(1.7)
    assert left.count("table") == 5  # 40 - 3 x 16 queries would be negative: none are left
    assert Cost().minus(poll).cpu_seconds == 0


def test_two_runs_are_shown_side_by_side_with_the_ratio_of_new_to_old():
    settings = bench_args(["--cap", "2"])
    calls = [call(0, 2, "a"), call(0, 2, "b"), call(2, 4, "c"), call(2, 4, "d")]
    costs = [Cost(0.4, Counter({("table", "requests", "get", "t"): 40})), Cost(0.2, Counter({("table", "requests",
             "get", "t"): 20}))]  # fmt: skip
    runs = [Run(label, 4, 2, T0, 4.0, calls, {"peakConcurrentCalls": 2}, {"answered": 4}, cost=cost)
            for label, cost in zip(("old", "new"), costs, strict=True)]  # fmt: skip

    text, all_well = report(settings, runs)

    assert all_well
    header = next(line for line in text.splitlines() if line.strip().startswith("old"))
    assert header.split() == ["old", "new", "new/old"]
    cpu = next(line for line in text.splitlines() if "CPU ms" in line)
    assert cpu.split()[-3:] == ["100", "50", "0.50"]
    tables = next(line for line in text.splitlines() if line.strip().startswith("Table requests"))
    assert tables.split()[-3:] == ["10.0", "5.0", "0.50"]

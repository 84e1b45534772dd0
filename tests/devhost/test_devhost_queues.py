"""Queue triggers run by a real devhost process against Azurite.

The sample app's host.json: batchSize 4, newBatchThreshold 2, visibilityTimeout 1 s, maxDequeueCount 3,
maxPollingInterval 0.5 s, messageEncoding base64. The `work` function records each invocation.
"""

from __future__ import annotations

import uuid

from azure.core.exceptions import ResourceNotFoundError

from tests.devhost.sample_host import SampleHost, wait_until

WORK = "WORK_QUEUE"


def _poison_texts(host: SampleHost) -> list[str]:
    """Texts in the work queue's poison queue, which devhost creates on first use."""
    try:
        return [m.content for m in host.queue(host.queues[WORK] + "-poison").peek_messages(max_messages=32)]
    except ResourceNotFoundError:
        return []


def _unique(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def test_a_message_is_processed_once_and_deleted(sample_host: SampleHost) -> None:
    message_id = _unique("ok")
    sample_host.send_base64(WORK, {"id": message_id})

    wait_until(lambda: sample_host.invocations("work", id=message_id, event="end"))
    queue = sample_host.queue(sample_host.queues[WORK])
    # Deleted, not merely invisible: the queue's count drops to zero.
    wait_until(lambda: queue.get_queue_properties().approximate_message_count == 0, timeout=5)

    starts = sample_host.invocations("work", id=message_id, event="start")
    assert len(starts) == 1
    assert starts[0]["dequeue_count"] == 1
    assert starts[0]["has_times"] is True  # insertion/expiration times and pop receipt were passed


def test_a_failing_message_is_retried_then_moved_to_poison_with_its_original_text(sample_host: SampleHost) -> None:
    message_id = _unique("fail")
    sent_text = sample_host.send_base64(WORK, {"id": message_id, "fail": True})

    wait_until(lambda: sent_text in _poison_texts(sample_host), timeout=15)

    attempts = sample_host.invocations("work", id=message_id, event="start")
    assert [a["dequeue_count"] for a in attempts] == [1, 2, 3]  # maxDequeueCount 3
    # The retry waited for visibilityTimeout (1 s) each time.
    assert attempts[1]["t"] - attempts[0]["t"] >= 0.9
    assert _poison_texts(sample_host).count(sent_text) == 1
    output = sample_host.devhost.wait_for_output(f"failing on purpose: {message_id}")
    assert f"to queue '{sample_host.queues[WORK]}-poison'. Reason: ValueError: failing on purpose" in output


def test_a_message_that_is_not_base64_goes_to_poison_at_once(sample_host: SampleHost) -> None:
    message_id = _unique("plain")
    raw_text = f'{{"id": "{message_id}"}}'  # what a QueueClient without an encode policy sends

    sample_host.queue(sample_host.queues[WORK]).send_message(raw_text)

    # At once: well before a single retry (visibilityTimeout 1 s) could have happened.
    wait_until(lambda: raw_text in _poison_texts(sample_host), timeout=10)
    assert _poison_texts(sample_host).count(raw_text) == 1
    assert "Reason: message is not valid base64" in sample_host.devhost.output()
    assert sample_host.invocations("work", id=message_id) == []


def test_messages_are_processed_concurrently_up_to_batch_size_plus_threshold(sample_host: SampleHost) -> None:
    # 10 messages of 0.8 s each: one at a time would take 8 s; the host allows 4 + 2 = 6 at once.
    ids = [_unique(f"slow{i}") for i in range(10)]
    for message_id in ids:
        sample_host.send_base64(WORK, {"id": message_id, "sleep": 0.8})

    ends = wait_until(
        lambda: (
            (found := [r for r in sample_host.invocations("work", event="end") if r["id"] in ids])
            and len(found) == len(ids)
            and found
        ),
        timeout=15,
    )

    starts = {r["id"]: r["t"] for r in sample_host.invocations("work", event="start") if r["id"] in ids}
    intervals = [(starts[r["id"]], r["t"]) for r in ends]
    peak = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert 4 <= peak <= 6
    assert max(e for _, e in intervals) - min(s for s, _ in intervals) < 5

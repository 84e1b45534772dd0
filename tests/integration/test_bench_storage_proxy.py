"""The bench's counting proxy (bench/storage_proxy.py) in front of a real Azurite: the Azure SDKs work through it
unchanged, and each request is counted by its kind, the entity operations inside batches too."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from azure.core import MatchConditions
from azure.data.tables import TableClient, TableTransactionError, UpdateMode
from azure.storage.queue import QueueClient

from bench import storage_proxy
from bench.storage_proxy import StorageProxy
from devstack.demo import azurite_connection_string
from tests.support.azurite_process import RunningAzurite


@pytest.fixture
def proxy(azurite: RunningAzurite) -> Iterator[StorageProxy]:
    with StorageProxy({"table": azurite.table_port, "queue": azurite.queue_port}) as running:
        yield running


def _through(proxy: StorageProxy, azurite: RunningAzurite) -> str:
    return azurite_connection_string(azurite.blob_port, proxy.ports["queue"], proxy.ports["table"])


def _requests(counts: Counter, service: str, measure: str = "requests") -> dict[str, int]:
    found: Counter[str] = Counter()
    for (counted_service, counted_measure, kind, _), value in counts.items():
        if (counted_service, counted_measure) == (service, measure):
            found[kind] += value
    return dict(found)


def test_table_requests_are_counted_by_kind_with_batches_opened(proxy, azurite, storage_names):
    table = TableClient.from_connection_string(_through(proxy, azurite), storage_names.table("proxied"))
    table.create_table()
    created = table.create_entity({"PartitionKey": "p", "RowKey": "a", "n": 1})
    table.upsert_entity({"PartitionKey": "p", "RowKey": "b", "n": 2})
    table.update_entity({"PartitionKey": "p", "RowKey": "a", "n": 3}, mode=UpdateMode.REPLACE,
                        etag=created["etag"], match_condition=MatchConditions.IfNotModified)  # fmt: skip
    assert table.get_entity("p", "a")["n"] == 3
    assert sorted(e["RowKey"] for e in table.query_entities("PartitionKey eq 'p'")) == ["a", "b"]
    table.submit_transaction([("upsert", {"PartitionKey": "p", "RowKey": "c"}), ("delete", {"PartitionKey": "p",
                              "RowKey": "b"})])  # fmt: skip
    stale = [("update", {"PartitionKey": "p", "RowKey": "a", "n": 4}, {"mode": UpdateMode.REPLACE,
              "etag": created["etag"], "match_condition": MatchConditions.IfNotModified})]  # fmt: skip
    with pytest.raises(TableTransactionError):
        table.submit_transaction(stale)  # a lost race: the row changed since that ETag
    table.delete_entity("p", "c")

    counts = proxy.snapshot()
    assert _requests(counts, "table") == {"table": 1, "insert": 1, "upsert": 1, "update": 1, "get": 1, "query": 1,
                                          "batch": 2, "delete": 1}  # fmt: skip
    assert _requests(counts, "table", "batched") == {"upsert": 1, "delete": 1, "update": 1}
    assert _requests(counts, "table", "failed") == {"batch": 1}
    assert all(key[3] == storage_names.table("proxied") for key in counts if key[2] not in ("table", "batch"))


def test_queue_requests_and_received_messages_are_counted_as_devhost_polls_them(proxy, azurite, storage_names):
    queue = QueueClient.from_connection_string(_through(proxy, azurite), storage_names.queue("proxied"))
    queue.create_queue()
    for text in ("one", "two"):
        queue.send_message(text)
    # As devhost's poller asks: one page of up to 16 messages, no SDK retries.
    page = list(next(queue.receive_messages(messages_per_page=16, visibility_timeout=60, retry_total=0).by_page()))
    assert sorted(m.content for m in page) == ["one", "two"]
    queue.update_message(page[0].id, pop_receipt=page[0].pop_receipt, visibility_timeout=0)
    queue.delete_message(page[1], pop_receipt=page[1].pop_receipt)
    assert [m.content for m in queue.peek_messages()] == [page[0].content]
    assert [m.content for m in next(queue.receive_messages(visibility_timeout=1).by_page())] == [page[0].content]

    counts = proxy.snapshot()
    assert _requests(counts, "queue") == {"queue": 1, "send": 2, "receive": 2, "update": 1, "delete": 1, "peek": 1}
    assert _requests(counts, "queue", "messages") == {"receive": 3}
    assert not _requests(counts, "queue", "failed")


@pytest.mark.parametrize("reuse_for", [2.0, 3600.0])
def test_a_client_connection_idle_longer_than_azurite_keeps_its_own_still_works(
    proxy, azurite, storage_names, monkeypatch, reuse_for
):
    """Azurite closes idle keep-alive connections after about 5 s; the client's connection to the proxy stays open,
    so the proxy must open a new one to Azurite (after its own idle limit, or once it sees Azurite's close)."""
    monkeypatch.setattr(storage_proxy, "IDLE_SECONDS", reuse_for)
    queue = QueueClient.from_connection_string(_through(proxy, azurite), storage_names.queue("idle"))
    queue.create_queue()
    time.sleep(6)
    queue.send_message("after a pause", retry_total=0)  # no SDK retry to hide a connection closed without an answer

    assert _requests(proxy.snapshot(), "queue") == {"queue": 1, "send": 1}

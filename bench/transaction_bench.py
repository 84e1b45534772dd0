"""CPU per Table request through the app's storage client, with azure-core's own multipart helpers (`email`-based)
as the baseline and shared.storage.multipart as the change, measured in the same run against one Azurite.

    .venv/bin/python -m bench.transaction_bench [--rounds 1000]

Prints, for a point read and for transactions of 2 and 8 operations (what the app sends most: a recipient and its
counter row; a call leg, its timeline rows and an event marker), the CPU milliseconds per request of this process
for each codec, and their ratio. On demand, not part of `make test`.
"""

from __future__ import annotations

import argparse
import email
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from azure.core.pipeline.transport import _base as _transport_base
from azure.core.rest import _helpers as _rest_helpers
from azure.core.utils import _pipeline_transport_rest_shared as azure_shared
from azure.data.tables import TableClient, TableServiceClient

from devstack.demo import local_services
from shared.storage import clients

WARM_UP = 50


@contextmanager
def azure_cores_codec() -> Iterator[None]:
    """azure-core's own body writer and answer parser for the duration (the rest of the app's patch stays)."""
    saved = (_rest_helpers._prepare_multipart_body_helper, _transport_base._prepare_multipart_body_helper,
             azure_shared.message_parser)  # fmt: skip
    original_writer = azure_shared._prepare_multipart_body_helper
    _rest_helpers._prepare_multipart_body_helper = original_writer
    _transport_base._prepare_multipart_body_helper = original_writer
    azure_shared.message_parser = email.message_from_bytes
    try:
        yield
    finally:
        (_rest_helpers._prepare_multipart_body_helper, _transport_base._prepare_multipart_body_helper,
         azure_shared.message_parser) = saved  # fmt: skip


def cpu_ms_per_call(work: Callable[[], object], rounds: int) -> float:
    for _ in range(WARM_UP):
        work()
    start = time.process_time()
    for _ in range(rounds):
        work()
    return (time.process_time() - start) / rounds * 1000


def workloads(table: TableClient) -> dict[str, Callable[[], object]]:
    table.upsert_entity({"PartitionKey": "p", "RowKey": "leg", "state": "connected", "notes": "x" * 400})

    def transaction(operations: int) -> Callable[[], object]:
        rows = [{"PartitionKey": "p", "RowKey": f"row-{n}", "n": n, "text": "y" * 200} for n in range(operations)]
        return lambda: table.submit_transaction([("upsert", row) for row in rows])

    return {
        "get (no multipart: unchanged)": lambda: table.get_entity("p", "leg"),
        "transaction of 2 operations": transaction(2),
        "transaction of 8 operations": transaction(8),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000, help="requests per workload and codec")
    args = parser.parse_args(argv)
    with local_services(time_scale=1.0) as local:
        clients._prepare_transactions_in_order()  # what the app's table_client does first
        service = TableServiceClient.from_connection_string(
            local.storage_connection_string(), transport=clients.storage_transport()
        )
        table = service.get_table_client("bench" + uuid.uuid4().hex[:8])
        table.create_table()
        print(f"CPU ms per request of this process, {args.rounds} requests each, Azurite on this machine")
        print(f"{'':34}{'azure-core':>12}{'ours':>10}{'ours/azure-core':>18}")
        for name, work in workloads(table).items():
            with azure_cores_codec():
                baseline = cpu_ms_per_call(work, args.rounds)
            ours = cpu_ms_per_call(work, args.rounds)
            print(f"{name:34}{baseline:12.3f}{ours:10.3f}{ours / baseline:18.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

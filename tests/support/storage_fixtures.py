"""pytest fixtures for tests against Azure Storage (Azurite). Import them into a conftest.py:

    from tests.support.storage_fixtures import azurite, storage_names  # noqa: F401

* `azurite` (session): one Azurite on free ports for the whole run; `azurite.connection_string` is what an
  app setting such as AzureWebJobsStorage should hold.
* `storage_names` (function): unique queue and table names for one test, removed after it, so tests never
  see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from tests.support.azurite_process import RunningAzurite, running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[RunningAzurite]:
    with running_azurite() as running:
        yield running


@dataclass(frozen=True)
class StorageNames:
    """Names valid for both services: lowercase letters and digits, starting with a letter."""

    prefix: str

    def queue(self, name: str) -> str:
        """'orders' -> 't1a2b3c4d5e6-orders' (queue names allow hyphens)."""
        return f"{self.prefix}-{name}"

    def table(self, name: str) -> str:
        """'calls' -> 't1a2b3c4d5e6calls' (table names are alphanumeric only)."""
        return f"{self.prefix}{''.join(ch for ch in name if ch.isalnum())}"


@pytest.fixture
def storage_names(azurite: RunningAzurite) -> Iterator[StorageNames]:
    names = StorageNames(prefix="t" + uuid.uuid4().hex[:12])
    yield names
    with QueueServiceClient.from_connection_string(azurite.connection_string) as queues:
        for item in queues.list_queues(name_starts_with=names.prefix):
            queues.delete_queue(item.name)
    with TableServiceClient.from_connection_string(azurite.connection_string) as tables:
        for table in tables.list_tables():
            if table.name.startswith(names.prefix):
                tables.delete_table(table.name)

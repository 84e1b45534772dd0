"""The Azurite helper refuses clearly when `npm ci` has not been run, and builds a usable command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.azurite_process import RunningAzurite, azurite_command, running_azurite
from tests.support.storage_fixtures import StorageNames


def test_missing_azurite_tells_to_run_npm_ci(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="npm ci"):
        with running_azurite(tmp_path / "node_modules" / ".bin" / "azurite"):
            pass


def test_command_uses_free_ports_and_skips_the_api_version_check() -> None:
    command = azurite_command(Path("azurite"))

    assert "--skipApiVersionCheck" in command and "--inMemoryPersistence" in command
    assert [command[i + 1] for i, arg in enumerate(command) if arg.endswith("Port")] == ["0", "0", "0"]


def test_the_running_instance_answers_on_its_ports(azurite: RunningAzurite) -> None:
    from azure.storage.queue import QueueClient

    assert f"QueueEndpoint=http://127.0.0.1:{azurite.queue_port}/devstoreaccount1" in azurite.connection_string
    client = QueueClient.from_connection_string(azurite.connection_string, "azurite-helper-check")
    client.create_queue()
    client.send_message("hello")
    assert [m.content for m in client.peek_messages()] == ["hello"]
    client.delete_queue()


def test_storage_names_are_valid_queue_and_table_names(azurite: RunningAzurite, storage_names: StorageNames) -> None:
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    queue_name, table_name = storage_names.queue("play-audio"), storage_names.table("call_state")

    QueueServiceClient.from_connection_string(azurite.connection_string).create_queue(queue_name)
    TableServiceClient.from_connection_string(azurite.connection_string).create_table(table_name)

    assert queue_name.startswith(storage_names.prefix) and table_name.startswith(storage_names.prefix)
    assert table_name.isalnum()

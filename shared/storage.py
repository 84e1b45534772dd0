"""Storage clients from settings: a connection string locally (Azurite), account name + managed identity in Azure.

The Functions host reads the same `AzureWebJobsStorage` settings, so the app and its triggers always agree on
which account they use.
"""

from __future__ import annotations

from azure.data.tables import TableClient, TableServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from .settings import ConfigurationError, Settings

# Queue names the triggers listen on (fixed in the trigger decorators as well).
CREATE_CALL_QUEUE = "create-call"
PLAY_AUDIO_QUEUE = "play-audio"
EVENT_DELIVERY_QUEUE = "event-deliveries"
CAMPAIGN_RECIPIENTS_QUEUE = "campaign-recipients"
CAMPAIGN_DIAL_QUEUE = "campaign-dial"
CAMPAIGN_RESULTS_QUEUE = "campaign-results"


def _credential(settings: Settings):
    # Imported lazily: only Azure deployments without a connection string need azure-identity's chain.
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.storage_client_id)


def table_client(settings: Settings, table_name: str) -> TableClient:
    if settings.storage_connection_string:
        service = TableServiceClient.from_connection_string(settings.storage_connection_string)
    elif settings.storage_account_name:
        service = TableServiceClient(
            f"https://{settings.storage_account_name}.table.core.windows.net", credential=_credential(settings)
        )
    else:
        raise ConfigurationError("Set AzureWebJobsStorage (connection string) or AzureWebJobsStorage__accountName.")
    return service.get_table_client(table_name)


def queue_client(settings: Settings, queue_name: str) -> QueueClient:
    """A queue client whose messages the Functions queue trigger can read (base64, the host's default)."""
    policies = {"message_encode_policy": TextBase64EncodePolicy(), "message_decode_policy": TextBase64DecodePolicy()}
    if settings.storage_connection_string:
        return QueueClient.from_connection_string(settings.storage_connection_string, queue_name, **policies)
    if settings.storage_account_name:
        return QueueClient(
            f"https://{settings.storage_account_name}.queue.core.windows.net",
            queue_name,
            credential=_credential(settings),
            **policies,
        )
    raise ConfigurationError("Set AzureWebJobsStorage (connection string) or AzureWebJobsStorage__accountName.")

"""Storage clients from settings: a connection string locally (Azurite), account name + managed identity in Azure.

The Functions host reads the same `AzureWebJobsStorage` settings, so the app and its triggers always agree on
which account they use.
"""

from __future__ import annotations

from typing import Any

from azure.core.pipeline import Pipeline, PipelineContext, PipelineRequest
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
    _prepare_transactions_in_order()
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


def _prepare_transactions_in_order() -> None:
    """Run the policies over an entity-group transaction's parts in this thread.

    azure-core prepares the parts of every batch request (each operation of a Table transaction) through a
    ThreadPoolExecutor made for that one request. Per call that is several thread pools, a third of the
    callback threads' time spent waiting on them, and under load here (dozens of concurrent transactions)
    thread starts that never returned and hung invocations for good. The parts only need their headers signed
    and set, which takes microseconds each: done in order, as below, with the same policies. Hand-written
    because azure-core has no option for it; remove once it does.
    """
    if getattr(Pipeline, "_parts_in_order", False):
        return

    def prepare(request: Any) -> None:
        info = getattr(request, "multipart_mixed_info", None)
        if not info:
            return
        requests, policies, _, options = info[0], info[1], info[2], info[3]
        for part in requests:
            prepare(part)  # a changeset holds the operations of one transaction
            pipeline_request = PipelineRequest(part, PipelineContext(None, **options))
            for policy in policies:
                policy.on_request(pipeline_request)

    Pipeline._prepare_multipart_mixed_request = staticmethod(prepare)  # type: ignore[method-assign]
    Pipeline._parts_in_order = True  # type: ignore[attr-defined]

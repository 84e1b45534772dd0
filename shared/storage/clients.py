"""Storage clients from settings: a connection string locally (Azurite), an identity-based connection in Azure.

The Functions host reads the same `AzureWebJobsStorage` settings, so the app and its triggers always agree on
which account they use: a connection string, or `__tableServiceUri` / `__queueServiceUri` (or `__accountName`)
with `__credential` and `__clientId`.
"""

from __future__ import annotations

from typing import Any

from azure.core.pipeline import Pipeline, PipelineContext, PipelineRequest, PipelineResponse
from azure.core.pipeline.transport import RequestsTransport
from azure.core.pipeline.transport import _base as _transport_base
from azure.core.rest import _helpers as _rest_helpers
from azure.core.rest import _http_response_impl
from azure.core.utils import _pipeline_transport_rest_shared as _multipart_shared
from azure.data.tables import TableClient, TableServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from shared.http_environment import certificate_verification, environment_configures_http
from shared.settings import ConfigurationError, Settings
from shared.storage import multipart

# Queue names the triggers listen on (fixed in the trigger decorators as well).
CREATE_CALL_QUEUE = "create-call"
PLAY_AUDIO_QUEUE = "play-audio"
EVENT_DELIVERY_QUEUE = "event-deliveries"
CAMPAIGN_RECIPIENTS_QUEUE = "campaign-recipients"
CAMPAIGN_DIAL_QUEUE = "campaign-dial"
CAMPAIGN_RESULTS_QUEUE = "campaign-results"
# Every queue the app uses; a message that can never succeed ends in `<queue>-poison` (GET /health/details counts
# both).
APP_QUEUES = (CREATE_CALL_QUEUE, PLAY_AUDIO_QUEUE, EVENT_DELIVERY_QUEUE, CAMPAIGN_RECIPIENTS_QUEUE,
              CAMPAIGN_DIAL_QUEUE, CAMPAIGN_RESULTS_QUEUE)


_MISSING = (
    "Set AzureWebJobsStorage (connection string), AzureWebJobsStorage__tableServiceUri and __queueServiceUri, "
    "or AzureWebJobsStorage__accountName."
)


def _credential(settings: Settings):
    # Imported lazily: only Azure deployments without a connection string need azure-identity.
    if (settings.storage_credential or "").lower() == "managedidentity":
        # What the host does for `__credential=managedidentity`: that identity only, no other chain member.
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=settings.storage_client_id)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.storage_client_id)


def _service_uri(settings: Settings, service: str) -> str | None:
    configured = settings.storage_table_uri if service == "table" else settings.storage_queue_uri
    if configured:
        return configured.rstrip("/")
    if settings.storage_account_name:
        return f"https://{settings.storage_account_name}.{service}.core.windows.net"
    return None


def storage_transport() -> RequestsTransport:
    """The HTTP transport for a storage client (see http_environment)."""
    return RequestsTransport(
        use_env_settings=environment_configures_http(), connection_verify=certificate_verification()
    )


def table_client(settings: Settings, table_name: str) -> TableClient:
    _prepare_transactions_in_order()
    if settings.storage_connection_string:
        service = TableServiceClient.from_connection_string(
            settings.storage_connection_string, transport=storage_transport()
        )
    elif endpoint := _service_uri(settings, "table"):
        service = TableServiceClient(endpoint, credential=_credential(settings), transport=storage_transport())
    else:
        raise ConfigurationError(_MISSING)
    return service.get_table_client(table_name)


def queue_client(settings: Settings, queue_name: str) -> QueueClient:
    """A queue client whose messages the Functions queue trigger can read (base64, the host's default)."""
    options = {"message_encode_policy": TextBase64EncodePolicy(), "message_decode_policy": TextBase64DecodePolicy(),
               "transport": storage_transport()}
    if settings.storage_connection_string:
        return QueueClient.from_connection_string(settings.storage_connection_string, queue_name, **options)
    if endpoint := _service_uri(settings, "queue"):
        return QueueClient(endpoint, queue_name, credential=_credential(settings), **options)
    raise ConfigurationError(_MISSING)


def _prepare_transactions_in_order() -> None:
    """Run the policies over an entity-group transaction's parts in this thread.

    azure-core prepares the parts of every batch request (each operation of a Table transaction) through a
    ThreadPoolExecutor made for that one request. Per call that is several thread pools, a third of the
    callback threads' time spent waiting on them, and under load here (dozens of concurrent transactions)
    thread starts that never returned and hung invocations for good. The parts only need their headers signed
    and set, which takes microseconds each: done in order, as below, with the same policies; and the same for
    the parts of the answer. Hand-written because azure-core has no option for it; remove once it does.
    The bodies themselves are written and read by shared.storage.multipart instead of the `email` package (why:
    there).
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

    def parts(response: Any) -> Any:
        # The same for the answer: azure-core runs the policies over its parts in a thread pool made for it.
        if not response.content_type or not response.content_type.startswith("multipart/mixed"):
            raise ValueError("You can't get parts if the response is not multipart/mixed")
        responses = response._get_raw_parts()
        if response.request.multipart_mixed_info:
            policies = response.request.multipart_mixed_info[1]
            for part in responses:
                context = PipelineContext(None)
                pipeline_request = PipelineRequest(part.request, context)
                pipeline_response = PipelineResponse(part.request, part, context=context)
                for policy in policies:
                    policy.on_response(pipeline_request, pipeline_response)
        return responses

    Pipeline._prepare_multipart_mixed_request = staticmethod(prepare)  # type: ignore[method-assign]
    for module in (_http_response_impl, _transport_base):
        module._parts_helper = parts  # type: ignore[attr-defined]
    for module in (_rest_helpers, _transport_base):
        module._prepare_multipart_body_helper = multipart.prepare_multipart_body  # type: ignore[attr-defined]
    _multipart_shared.message_parser = multipart.parse_message  # type: ignore[attr-defined]
    Pipeline._parts_in_order = True  # type: ignore[attr-defined]

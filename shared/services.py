"""The app's long-lived collaborators, built once per process from settings.

Kept apart from the domain code so tests can build the services from their own parts.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from shared import health
from shared.callautomation import CallAutomationClient
from shared.callautomation.client import RetryPolicy
from shared.calls.callback_auth import CallbackTokenVerifier
from shared.calls.context import call_leg_id_for
from shared.calls.event_delivery import EventDeliverer
from shared.calls.reconciliation import Reconciler
from shared.calls.service import CallService
from shared.calls.store import CallLegStore
from shared.calls.suppressions import TABLE_NAME as SUPPRESSIONS_TABLE
from shared.calls.suppressions import SuppressionStore
from shared.campaigns.dialing import Dispatcher, idempotency_key
from shared.campaigns.service import CampaignService
from shared.campaigns.store import CampaignStore
from shared.lines import TABLE_NAME as LINES_TABLE
from shared.lines import Lines
from shared.settings import ConfigurationError, Settings, get_settings
from shared.storage.clients import APP_QUEUES, queue_client, table_client
from shared.storage.outbox import Outbox


def acs_client(settings: Settings, **options: Any) -> CallAutomationClient:
    """The ACS client; `options` are CallAutomationClient's (timeout, retry)."""
    if settings.acs_connection_string:
        return CallAutomationClient.from_connection_string(settings.acs_connection_string, **options)
    if settings.acs_endpoint:
        from azure.identity import DefaultAzureCredential  # managed identity in Azure

        return CallAutomationClient(settings.acs_endpoint, DefaultAzureCredential(), **options)
    raise ConfigurationError("Set ACS_CONNECTION_STRING, or ACS_ENDPOINT with a managed identity.")


@lru_cache(maxsize=1)
def get_outbox() -> Outbox:
    settings = get_settings()
    return Outbox(lambda queue_name: queue_client(settings, queue_name))


@lru_cache(maxsize=1)
def get_call_leg_store() -> CallLegStore:
    settings = get_settings()
    store = CallLegStore(table_client(settings, settings.call_legs_table))
    store.ensure_table()
    return store


@lru_cache(maxsize=1)
def get_event_deliverer() -> EventDeliverer:
    settings = get_settings()
    return EventDeliverer(
        get_outbox(),
        get_call_leg_store(),
        secret=settings.webhook_secret,
        max_attempts=settings.event_delivery_attempts,
        backoff_seconds=settings.event_delivery_backoff_seconds,
    )


@lru_cache(maxsize=1)
def get_call_service() -> CallService:
    settings = get_settings()
    return CallService(
        store=get_call_leg_store(),
        acs=acs_client(settings),
        outbox=get_outbox(),
        callback_base_url=settings.require("callback_base_url"),
        default_caller_id=settings.default_caller_id,
        cognitive_services_endpoint=settings.cognitive_services_endpoint,
        reconcile_after_seconds=settings.reconcile_after_seconds,
        dispatcher=get_dispatcher(),
        suppressions=get_suppression_store(),
    )


@lru_cache(maxsize=1)
def get_suppression_store() -> SuppressionStore:
    store = SuppressionStore(table_client(get_settings(), SUPPRESSIONS_TABLE))
    store.ensure_table()
    return store


@lru_cache(maxsize=1)
def get_lines() -> Lines:
    settings = get_settings()
    lines = Lines(
        table_client(settings, LINES_TABLE),
        lines_per_number=settings.lines_per_caller_id,
        resource_cap=settings.max_concurrent_calls,
        lease_seconds=settings.pacing_lease_seconds,
        check_after_seconds=settings.reconcile_after_seconds,
    )
    lines.ensure_table()
    lines.open_resource()
    return lines


@lru_cache(maxsize=1)
def get_dispatcher() -> Dispatcher:
    return Dispatcher(
        lines=get_lines(),
        outbox=get_outbox(),
        read_campaign=get_campaign_store().get_campaign,
        holder_for=lambda campaign_id, recipient, dial: call_leg_id_for(idempotency_key(campaign_id, recipient, dial)),
        # Looked up when used: the campaign service is built on this dispatcher.
        dial_here=lambda *dial: get_campaign_service().dial(*dial),
    )


@lru_cache(maxsize=1)
def get_reconciler() -> Reconciler:
    settings = get_settings()
    calls = get_call_service()
    return Reconciler(
        calls, calls.store, calls.acs, after_seconds=settings.reconcile_after_seconds, lines=get_lines()
    )


@lru_cache(maxsize=1)
def get_campaign_store() -> CampaignStore:
    settings = get_settings()
    store = CampaignStore(table_client(settings, "campaigns"), table_client(settings, "recipients"))
    store.ensure_tables()
    return store


@lru_cache(maxsize=1)
def get_campaign_service() -> CampaignService:
    return CampaignService(
        campaigns=get_campaign_store(),
        calls=get_call_service(),
        legs=get_call_leg_store(),
        dispatcher=get_dispatcher(),
        outbox=get_outbox(),
        suppressions=get_suppression_store(),
        suppression_emergency_bypass=get_settings().suppression_emergency_bypass,
    )


@lru_cache(maxsize=1)
def get_callback_verifier() -> CallbackTokenVerifier:
    settings = get_settings()
    return CallbackTokenVerifier(
        settings.acs_callback_jwks_url,
        audience=settings.require("acs_resource_id"),
        issuer=settings.acs_callback_issuer,
    )


HEALTH_TIMEOUT_SECONDS = 3.0


@lru_cache(maxsize=1)
def get_health() -> health.Health:
    """The health checks on this app's storage, ACS and callback keys. Clients are made at the first check, so
    a missing setting is that check's error, not the route's."""
    settings = get_settings()
    timeout = HEALTH_TIMEOUT_SECONDS

    @cache
    def queue(name: str):
        return queue_client(settings, name)

    @lru_cache(maxsize=1)
    def table():
        return table_client(settings, settings.call_legs_table)

    @lru_cache(maxsize=1)
    def acs() -> CallAutomationClient:  # one try, answered within the checks' time
        return acs_client(settings, timeout=(timeout / 2, timeout / 2), retry=RetryPolicy(max_attempts=1))

    return health.Health(
        tables=lambda: health.read_table(table(), timeout),
        queue_depth=lambda name: health.queue_depth(queue(name), timeout),
        acs=lambda: health.ping_acs(acs()),
        callback_keys=lambda: get_callback_verifier().keys_state(),
        queues=APP_QUEUES,
        timeout_seconds=timeout,
    )

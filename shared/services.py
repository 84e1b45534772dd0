"""The app's long-lived collaborators, built once per process from settings.

Kept apart from the domain code so tests can build the services from their own parts.
"""

from __future__ import annotations

from functools import lru_cache

from shared.callautomation import CallAutomationClient
from shared.calls.callback_auth import CallbackTokenVerifier
from shared.calls.context import call_leg_id_for
from shared.calls.event_delivery import EventDeliverer
from shared.calls.reconciliation import Reconciler
from shared.calls.service import CallService
from shared.calls.store import CallLegStore
from shared.campaigns.dialing import Dispatcher, idempotency_key
from shared.campaigns.service import CampaignService
from shared.campaigns.store import CampaignStore
from shared.lines import TABLE_NAME as LINES_TABLE
from shared.lines import Lines
from shared.settings import ConfigurationError, Settings, get_settings
from shared.storage.clients import queue_client, table_client
from shared.storage.outbox import Outbox


def acs_client(settings: Settings) -> CallAutomationClient:
    if settings.acs_connection_string:
        return CallAutomationClient.from_connection_string(settings.acs_connection_string)
    if settings.acs_endpoint:
        from azure.identity import DefaultAzureCredential  # managed identity in Azure

        return CallAutomationClient(settings.acs_endpoint, DefaultAzureCredential())
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
    )


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
        holder_for=lambda campaign_id, phone, dial: call_leg_id_for(idempotency_key(campaign_id, phone, dial)),
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
    )


@lru_cache(maxsize=1)
def get_callback_verifier() -> CallbackTokenVerifier:
    settings = get_settings()
    return CallbackTokenVerifier(
        settings.acs_callback_jwks_url,
        audience=settings.require("acs_resource_id"),
        issuer=settings.acs_callback_issuer,
    )

"""The app's long-lived collaborators, built once per process from settings.

Kept apart from the domain code so tests can build a `CallService` from their own parts.
"""

from __future__ import annotations

from functools import lru_cache

from azure.core.exceptions import ResourceExistsError

from .call_leg_store import CallLegStore
from .callautomation import CallAutomationClient
from .callback_auth import CallbackTokenVerifier
from .calls import CallService
from .campaign_store import CampaignStore
from .event_delivery import EventDeliverer
from .settings import ConfigurationError, Settings, get_settings
from .storage import EVENT_DELIVERY_QUEUE, queue_client, table_client


def acs_client(settings: Settings) -> CallAutomationClient:
    if settings.acs_connection_string:
        return CallAutomationClient.from_connection_string(settings.acs_connection_string)
    if settings.acs_endpoint:
        from azure.identity import DefaultAzureCredential  # managed identity in Azure

        return CallAutomationClient(settings.acs_endpoint, DefaultAzureCredential())
    raise ConfigurationError("Set ACS_CONNECTION_STRING, or ACS_ENDPOINT with a managed identity.")


def call_leg_store(settings: Settings) -> CallLegStore:
    store = CallLegStore(table_client(settings, settings.call_legs_table))
    store.ensure_table()
    return store


def event_deliverer(settings: Settings, store: CallLegStore) -> EventDeliverer:
    queue = queue_client(settings, EVENT_DELIVERY_QUEUE)
    try:
        queue.create_queue()
    except ResourceExistsError:
        pass
    return EventDeliverer(
        queue,
        store,
        secret=settings.webhook_secret,
        max_attempts=settings.event_delivery_attempts,
        backoff_seconds=settings.event_delivery_backoff_seconds,
    )


@lru_cache(maxsize=1)
def get_call_service() -> CallService:
    settings = get_settings()
    store = call_leg_store(settings)
    return CallService(
        store=store,
        acs=acs_client(settings),
        deliverer=event_deliverer(settings, store),
        callback_base_url=settings.require("callback_base_url"),
        default_caller_id=settings.default_caller_id,
    )


@lru_cache(maxsize=1)
def get_callback_verifier() -> CallbackTokenVerifier:
    settings = get_settings()
    return CallbackTokenVerifier(
        settings.acs_callback_jwks_url,
        audience=settings.require("acs_resource_id"),
        issuer=settings.acs_callback_issuer,
    )


@lru_cache(maxsize=1)
def get_campaign_store() -> CampaignStore:
    settings = get_settings()
    store = CampaignStore(table_client(settings, "campaigns"), table_client(settings, "recipients"))
    store.ensure_tables()
    return store

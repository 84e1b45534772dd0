"""App settings, read once from the environment (local.settings.json Values locally, app settings in Azure).

Secrets are kept out of `repr` so a logged Settings never shows them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

ACS_ISSUER = "https://acscallautomation.communication.azure.com"
ACS_JWKS_URL = "https://acscallautomation.communication.azure.com/calling/keys"


class ConfigurationError(RuntimeError):
    """A required setting is missing or unusable. The message names the setting, never its value."""


@dataclass(frozen=True)
class Settings:
    acs_connection_string: str | None = field(default=None, repr=False)
    acs_endpoint: str | None = None
    acs_resource_id: str | None = None  # immutable resource id: the audience of ACS callback tokens
    acs_callback_issuer: str = ACS_ISSUER
    acs_callback_jwks_url: str = ACS_JWKS_URL
    callback_base_url: str | None = None  # the public base URL ACS posts callbacks to
    default_caller_id: str | None = None  # caller id for phone targets when a request gives none
    cognitive_services_endpoint: str | None = None  # Azure AI services, needed by ACS for text prompts
    webhook_secret: str | None = field(default=None, repr=False)  # Standard Webhooks secret, whsec_...
    storage_connection_string: str | None = field(default=None, repr=False)
    storage_account_name: str | None = None
    storage_client_id: str | None = None
    storage_credential: str | None = None  # "managedidentity": the host's identity-based connection
    storage_table_uri: str | None = None  # https://<account>.table.core.windows.net (wins over the account name)
    storage_queue_uri: str | None = None  # https://<account>.queue.core.windows.net (wins over the account name)
    call_legs_table: str = "callLegs"
    event_delivery_attempts: int = 6
    event_delivery_backoff_seconds: float = 5.0
    pacing_lease_seconds: float = 900.0  # a call slot comes back by itself after this if its end is never seen
    reconcile_after_seconds: float = 300.0  # a live leg ACS has told nothing about for this long is checked
    lines_per_caller_id: int = 2  # live calls ACS allows per caller number (2 unless ACS raised your limit)
    max_concurrent_calls: int | None = None  # an optional cap on live calls across the whole ACS resource
    suppression_emergency_bypass: bool = False  # emergency campaigns call numbers on the suppression list too

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)

        def value(name: str) -> str | None:
            text = env.get(name, "").strip()
            return text or None

        return cls(
            acs_connection_string=value("ACS_CONNECTION_STRING"),
            acs_endpoint=value("ACS_ENDPOINT"),
            acs_resource_id=value("ACS_RESOURCE_ID"),
            acs_callback_issuer=value("ACS_CALLBACK_ISSUER") or ACS_ISSUER,
            acs_callback_jwks_url=value("ACS_CALLBACK_JWKS_URL") or ACS_JWKS_URL,
            callback_base_url=_callback_base_url(value("CALLBACK_BASE_URL"), value("WEBSITE_HOSTNAME")),
            default_caller_id=value("DEFAULT_CALLER_ID"),
            cognitive_services_endpoint=value("ACS_COGNITIVE_SERVICES_ENDPOINT"),
            webhook_secret=value("WEBHOOK_SECRET"),
            storage_connection_string=value("AzureWebJobsStorage"),
            storage_account_name=value("AzureWebJobsStorage__accountName"),
            storage_client_id=value("AzureWebJobsStorage__clientId"),
            storage_credential=value("AzureWebJobsStorage__credential"),
            storage_table_uri=value("AzureWebJobsStorage__tableServiceUri"),
            storage_queue_uri=value("AzureWebJobsStorage__queueServiceUri"),
            call_legs_table=value("CALL_LEGS_TABLE") or "callLegs",
            event_delivery_attempts=int(value("EVENT_DELIVERY_ATTEMPTS") or 6),
            event_delivery_backoff_seconds=float(value("EVENT_DELIVERY_BACKOFF_SECONDS") or 5.0),
            pacing_lease_seconds=float(value("PACING_LEASE_SECONDS") or 900.0),
            reconcile_after_seconds=float(value("RECONCILE_AFTER_SECONDS") or 300.0),
            lines_per_caller_id=int(value("CALLER_ID_MAX_CALLS") or 2),
            max_concurrent_calls=int(value("MAX_CONCURRENT_CALLS") or 0) or None,
            suppression_emergency_bypass=_flag("SUPPRESSION_EMERGENCY_BYPASS", value("SUPPRESSION_EMERGENCY_BYPASS")),
        )

    def require(self, name: str) -> str:
        text = getattr(self, name)
        if not text:
            raise ConfigurationError(f"The app setting for {name} is not configured.")
        return text


def _callback_base_url(configured: str | None, website_hostname: str | None) -> str | None:
    # Azure sets WEBSITE_HOSTNAME to the app's own host name, which is where ACS must post callbacks.
    if configured:
        return configured.rstrip("/")
    return f"https://{website_hostname}" if website_hostname else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings. Tests that change the environment call `get_settings.cache_clear()`."""
    return Settings.from_environment()


def _flag(name: str, text: str | None) -> bool:
    if text is None or text.lower() in ("false", "0"):
        return False
    if text.lower() in ("true", "1"):
        return True
    raise ConfigurationError(f"{name} must be true or false.")

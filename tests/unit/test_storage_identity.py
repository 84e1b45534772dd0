"""Identity-based storage connections: the endpoints and the identity the host itself would use."""

import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from shared import http_environment
from shared.settings import ConfigurationError, Settings
from shared.storage import clients as storage
from shared.storage.clients import queue_client, table_client

CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"
AZURE = {
    "AzureWebJobsStorage__tableServiceUri": "https://stexample.table.core.windows.net/",
    "AzureWebJobsStorage__queueServiceUri": "https://stexample.queue.core.windows.net/",
    "AzureWebJobsStorage__blobServiceUri": "https://stexample.blob.core.windows.net/",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": CLIENT_ID,
}


def test_service_uris_and_the_user_assigned_identity_are_used():
    settings = Settings.from_environment(AZURE)

    table = table_client(settings, "callLegs")
    queue = queue_client(settings, "create-call")

    assert table.url.startswith("https://stexample.table.core.windows.net")
    assert table.table_name == "callLegs"
    assert queue.url == "https://stexample.queue.core.windows.net/create-call"
    for client in (table, queue):
        assert isinstance(client.credential, ManagedIdentityCredential)


def test_without_credential_setting_the_default_chain_gets_the_client_id():
    env = {k: v for k, v in AZURE.items() if not k.endswith("__credential")}

    queue = queue_client(Settings.from_environment(env), "play-audio")

    assert isinstance(queue.credential, DefaultAzureCredential)


def test_account_name_alone_still_gives_the_public_cloud_endpoints():
    settings = Settings.from_environment({"AzureWebJobsStorage__accountName": "stother"})

    assert table_client(settings, "t").url.startswith("https://stother.table.core.windows.net")
    assert queue_client(settings, "q").url == "https://stother.queue.core.windows.net/q"


def test_a_connection_string_wins_over_identity_settings():
    env = dict(AZURE, AzureWebJobsStorage="UseDevelopmentStorage=true")

    queue = queue_client(Settings.from_environment(env), "q")

    assert queue.url.startswith("http://127.0.0.1:10001/")


def test_no_storage_setting_names_the_settings_to_set():
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage__tableServiceUri"):
        table_client(Settings.from_environment({}), "t")
    with pytest.raises(ConfigurationError, match="__queueServiceUri"):
        queue_client(Settings.from_environment({}), "q")


def _clear_http_environment(monkeypatch):
    for setting in http_environment.ENVIRONMENT_SETTINGS:
        monkeypatch.delenv(setting, raising=False)
        monkeypatch.delenv(setting.lower(), raising=False)


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "NETRC"])
def test_storage_requests_look_at_the_environment_only_when_it_configures_something(monkeypatch, name):
    _clear_http_environment(monkeypatch)
    assert storage.storage_transport()._use_env_settings is False  # no ~/.netrc or proxy lookups per request

    monkeypatch.setenv(name, "http://proxy.example:3128")
    assert storage.storage_transport()._use_env_settings is True


@pytest.mark.parametrize("name", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_is_read_once_not_looked_up_per_request(monkeypatch, name):
    _clear_http_environment(monkeypatch)
    assert storage.storage_transport().connection_config.verify is True

    monkeypatch.setenv(name, "/etc/ssl/inspecting-proxy.pem")
    transport = storage.storage_transport()
    assert transport._use_env_settings is False
    assert transport.connection_config.verify == "/etc/ssl/inspecting-proxy.pem"
    session = http_environment.new_session()
    assert (session.trust_env, session.verify) == (False, "/etc/ssl/inspecting-proxy.pem")


def test_requests_prefers_requests_ca_bundle_over_curl_ca_bundle(monkeypatch):
    _clear_http_environment(monkeypatch)
    monkeypatch.setenv("CURL_CA_BUNDLE", "/curl.pem")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/requests.pem")
    assert http_environment.certificate_verification() == "/requests.pem"


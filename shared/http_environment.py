"""Whether outgoing HTTP should consult the environment (proxies, ~/.netrc) on every request.

requests looks these up on every request when its session may (`trust_env`), including file-system checks for
~/.netrc: 15% of the app's CPU under load. When the environment configures no proxy and no netrc file there is
nothing to find, so sessions and transports are told not to look. A CA bundle (`REQUESTS_CA_BUNDLE`,
`CURL_CA_BUNDLE`, as set where TLS is inspected) needs no per-request lookup: it is read once, here, and handed
to the session or transport. Proxies are left to requests, which alone knows how to apply `NO_PROXY` per URL.
"""

from __future__ import annotations

import os

import requests

PER_REQUEST_SETTINGS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "NETRC")
CA_BUNDLE_SETTINGS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests' own order of preference
ENVIRONMENT_SETTINGS = PER_REQUEST_SETTINGS + CA_BUNDLE_SETTINGS


def _setting(name: str) -> str | None:
    return os.environ.get(name) or os.environ.get(name.lower())


def environment_configures_http() -> bool:
    """True when requests must look at the environment on each request (a proxy or a netrc file is set)."""
    return any(_setting(name) for name in PER_REQUEST_SETTINGS)


def certificate_verification() -> bool | str:
    """What to verify TLS servers against: the configured CA bundle, else the default (True)."""
    return next((os.environ[name] for name in CA_BUNDLE_SETTINGS if os.environ.get(name)), True)


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = environment_configures_http()
    if not session.trust_env:
        session.verify = certificate_verification()
    return session

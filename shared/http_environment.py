"""Whether outgoing HTTP should consult the environment (proxies, a CA bundle, ~/.netrc) at all.

requests looks all of these up on every request when its session may (`trust_env`), including file-system checks
for ~/.netrc: 15% of the app's CPU under load. When the environment configures none of them there is nothing to
find, so sessions and transports are told not to look; set any of them and they are honoured as usual.
"""

from __future__ import annotations

import os

import requests

ENVIRONMENT_SETTINGS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                        "NETRC")


def environment_configures_http() -> bool:
    return any(os.environ.get(name) or os.environ.get(name.lower()) for name in ENVIRONMENT_SETTINGS)


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = environment_configures_http()
    return session

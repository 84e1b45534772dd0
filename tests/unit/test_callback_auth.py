"""Callback tokens: only an RS256 token from the configured issuer, for our resource, unexpired, gets in."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.calls.callback_auth import CallbackAuthError, CallbackTokenVerifier, KeysUnavailableError

ISSUER = "https://acscallautomation.communication.azure.com"
AUDIENCE = "0e4f6a51-7c0d-4b8e-9a3e-ac5e00000001"
TRUSTED = rsa.generate_private_key(public_exponent=65537, key_size=2048)
STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url():
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(TRUSTED.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "trusted", "use": "sig", "alg": "RS256"}]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/calling/keys"
    server.shutdown()


def _token(key=TRUSTED, kid="trusted", **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 300, **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def _verifier(url: str) -> CallbackTokenVerifier:
    return CallbackTokenVerifier(url, audience=AUDIENCE, issuer=ISSUER)


def test_a_token_from_acs_is_accepted(jwks_url):
    claims = _verifier(jwks_url).verify("Bearer " + _token())

    assert claims["aud"] == AUDIENCE


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwdw==",
        "Bearer not.a.jwt",
        "Bearer " + _token(key=STRANGER),
        "Bearer " + _token(key=STRANGER, kid="unknown"),
        "Bearer " + _token(aud="another-resource"),
        "Bearer " + _token(iss="https://evil.example.com"),
        "Bearer " + _token(exp=int(time.time()) - 120),
        "Bearer " + jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300}, "s" * 32,
                               algorithm="HS256", headers={"kid": "trusted"}),
    ],
)
def test_anything_else_is_refused(jwks_url, authorization):
    with pytest.raises(CallbackAuthError):
        _verifier(jwks_url).verify(authorization)


def test_unreachable_keys_are_not_blamed_on_the_caller():
    with pytest.raises(KeysUnavailableError):
        _verifier("http://127.0.0.1:9/calling/keys").verify("Bearer " + _token())


def test_the_keys_cache_state_shows_what_is_cached_without_fetching(jwks_url):
    verifier = _verifier(jwks_url)
    assert verifier.keys_state() | {"jwksHost": None} == {
        "ok": True, "jwksHost": None, "cached": False, "keys": 0, "ageSeconds": None, "expired": False,
        "lifespanSeconds": 3600, "lastFetchError": None,
    }

    verifier.verify("Bearer " + _token())

    state = verifier.keys_state()
    assert state["ok"] and state["cached"] and state["keys"] == 1 and not state["expired"]
    assert 0 <= state["ageSeconds"] < 60 and state["jwksHost"] == jwks_url.split("/")[2]


def test_the_keys_cache_state_says_why_the_keys_could_not_be_fetched():
    verifier = _verifier("http://127.0.0.1:9/calling/keys")
    with pytest.raises(KeysUnavailableError):
        verifier.verify("Bearer " + _token())

    state = verifier.keys_state()
    assert not state["ok"] and not state["cached"]
    assert state["error"] == state["lastFetchError"] == (
        "PyJWKClientConnectionError: the keys could not be fetched from 127.0.0.1:9")

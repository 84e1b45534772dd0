"""Verifying that a callback really comes from ACS: the RS256 JWT in its Authorization header.

ACS signs a fresh five-minute token for every event; we check it against the keys published at the JWKS URL
(cached, refetched when a new key id appears), the issuer, the audience (our ACS resource id) and expiry.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import jwt

from shared.calls.callback_binding import note_rejected

ALGORITHMS = ["RS256"]
LEEWAY_SECONDS = 30  # clocks of two machines never agree exactly


class CallbackAuthError(Exception):
    """The token is missing, forged, expired or meant for someone else. Answer 401."""


class KeysUnavailableError(Exception):
    """The signing keys could not be fetched; nobody can be verified right now. Answer 503."""


class CallbackTokenVerifier:
    def __init__(self, jwks_url: str, *, audience: str, issuer: str, cache_seconds: int = 3600) -> None:
        self._keys = jwt.PyJWKClient(jwks_url, cache_jwk_set=True, lifespan=cache_seconds, timeout=5)
        self._audience = audience
        self._issuer = issuer
        self._jwks_host = urlsplit(jwks_url).netloc
        self._last_fetch_error: str | None = None  # why the last attempt to get the keys failed, if it did

    def keys_state(self) -> dict[str, Any]:
        """The cached signing keys as an operator sees them (GET /health/details); asks nothing of the network.

        The keys are fetched at the first callback and again when the cache expires or a new key id appears;
        `lastFetchError` says why the last attempt to get them failed (cleared by the next that works)."""
        cache = self._keys.jwk_set_cache
        cached = cache.jwk_set_with_timestamp if cache is not None else None
        age = time.monotonic() - cached.get_timestamp() if cached is not None else None
        return {
            "ok": self._last_fetch_error is None,
            "jwksHost": self._jwks_host,
            "cached": cached is not None,
            "keys": len(cached.get_jwk_set().keys) if cached is not None else 0,
            "ageSeconds": round(age, 1) if age is not None else None,
            "expired": bool(cache is not None and cache.is_expired()),
            "lifespanSeconds": cache.lifespan if cache is not None else None,
            "lastFetchError": self._last_fetch_error,
            **({"error": self._last_fetch_error} if self._last_fetch_error else {}),
        }

    def verify(self, authorization: str | None, call_leg_id: str = "") -> dict[str, Any]:
        """The token's claims, or CallbackAuthError (counted and logged) / KeysUnavailableError."""
        try:
            return self._verify(authorization)
        except CallbackAuthError as error:
            note_rejected("acs-token", call_leg_id, str(error))
            raise

    def _verify(self, authorization: str | None) -> dict[str, Any]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise CallbackAuthError("A Bearer token is required.")
        try:
            signing_key = self._keys.get_signing_key_from_jwt(token.strip())
        except jwt.PyJWKClientConnectionError as error:
            self._last_fetch_error = f"{type(error).__name__}: the keys could not be fetched from {self._jwks_host}"
            raise KeysUnavailableError("The ACS signing keys could not be fetched.") from error
        except jwt.PyJWTError as error:
            raise CallbackAuthError(f"The token's signing key is unknown ({type(error).__name__}).") from None
        self._last_fetch_error = None
        try:
            return jwt.decode(
                token.strip(),
                signing_key.key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise CallbackAuthError(f"The token is not valid ({type(error).__name__}).") from None

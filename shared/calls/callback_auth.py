"""Verifying that a callback really comes from ACS: the RS256 JWT in its Authorization header.

ACS signs a fresh five-minute token for every event; we check it against the keys published at the JWKS URL
(cached, refetched when a new key id appears), the issuer, the audience (our ACS resource id) and expiry.
"""

from __future__ import annotations

from typing import Any

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
            raise KeysUnavailableError("The ACS signing keys could not be fetched.") from error
        except jwt.PyJWTError as error:
            raise CallbackAuthError(f"The token's signing key is unknown ({type(error).__name__}).") from None
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

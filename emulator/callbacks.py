"""Callback events: CloudEvent building (§4.1), JWT signing (§5.1) and ordered delivery with retries.

Every callback is a JSON array holding one CloudEvent, posted with `Authorization: Bearer <JWT>` (RS256,
signed with a key generated at start, served as JWKS at /calling/keys). Events of one call go out strictly in
order through one worker per call; different calls are delivered in parallel. A failing webhook is retried
with doubling backoff, then recorded as failed, and the call's later events still go out.

An event enqueued with `drop=True` (a lost callback, see `Call.count_callback`) is never posted. It still takes
its turn in the call's queue, so a `dropped` record also says that every earlier event of the call is settled.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .config import CALLBACK_LOG_SIZE, JWT_LIFETIME_SECONDS, EmulatorConfig

log = logging.getLogger("emulator.callbacks")
EVENT_PREFIX = "Microsoft.Communication."


def cloud_event_time(moment: datetime) -> str:
    """'2024-04-10T19:10:42.4046861+00:00': 7 fractional digits and +00:00, as the service writes them."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0+00:00"


def build_event(
    *,
    event_type: str,
    call_connection_id: str,
    server_call_id: str,
    correlation_id: str,
    api_version: str,
    result: tuple[int, int, str] | None,
    operation_context: str | None,
    extra: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """One CloudEvent 1.0 exactly as §4.1 shows it; `event_type` without the prefix, e.g. "CallConnected"."""
    full_type = EVENT_PREFIX + event_type
    data: dict[str, Any] = dict(extra)
    data["version"] = api_version
    data["callConnectionId"] = call_connection_id
    data["serverCallId"] = server_call_id
    data["correlationId"] = correlation_id
    if operation_context is not None:
        data["operationContext"] = operation_context
    if result is not None:
        code, sub_code, message = result
        data["resultInformation"] = {"code": code, "subCode": sub_code, "message": message}
    data["publicEventType"] = full_type
    subject = f"calling/callConnections/{call_connection_id}"
    return {
        "id": str(uuid.uuid4()),
        "source": subject,
        "type": full_type,
        "data": data,
        "time": cloud_event_time(now),
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "subject": subject,
    }


class JwtSigner:
    """RS256 tokens for callbacks, and the JWKS / OpenID configuration that verify them."""

    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_numbers = self._key.public_key().public_numbers()
        n_bytes = public_numbers.n.to_bytes((public_numbers.n.bit_length() + 7) // 8, "big")
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(n_bytes).digest()[:16]).decode().rstrip("=")

    def token(self, now: datetime) -> str:
        issued = int(now.timestamp())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + JWT_LIFETIME_SECONDS,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        key = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        key.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [key]}

    def openid_configuration(self, base_url: str) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{base_url}/calling/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
        }


@dataclass
class Delivery:
    """The record of one event's delivery (shown by /emulator/callbacks and /emulator/calls/{id})."""

    event_id: str
    event_type: str
    call_connection_id: str
    url: str
    queued_at: str
    attempts: int = 0
    status: str = "pending"  # pending | delivered | failed | dropped
    http_status: int | None = None
    error: str | None = None
    completed_at: str | None = None
    # When the latest attempt started; once delivered, the start of the attempt that succeeded. Measured from
    # here, not from queuedAt, the app's reaction time leaves out the wait behind the call's earlier events.
    attempt_started_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "type": self.event_type,
            "callConnectionId": self.call_connection_id,
            "url": self.url,
            "queuedAt": self.queued_at,
            "attempts": self.attempts,
            "status": self.status,
            "httpStatus": self.http_status,
            "error": self.error,
            "completedAt": self.completed_at,
            "attemptStartedAt": self.attempt_started_at,
        }


class CallbackDeliverer:
    """One FIFO and one worker task per call; retries with doubling backoff; bounded delivery log."""

    def __init__(
        self,
        config: EmulatorConfig,
        signer: JwtSigner,
        session: aiohttp.ClientSession,
        clock: Callable[[], datetime],
    ) -> None:
        self._config = config
        self._signer = signer
        self._session = session
        self._clock = clock
        self._queues: dict[str, deque[tuple[str, dict[str, Any], Delivery, bool]]] = {}
        self._workers: dict[str, asyncio.Task] = {}
        self.log: deque[Delivery] = deque(maxlen=CALLBACK_LOG_SIZE)
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def enqueue(self, call_id: str, url: str, event: dict[str, Any], *, drop: bool = False) -> Delivery:
        delivery = Delivery(event["id"], event["type"], call_id, url, self._clock().isoformat())
        self.log.append(delivery)
        self._queues.setdefault(call_id, deque()).append((url, event, delivery, drop))
        if call_id not in self._workers:
            self._workers[call_id] = asyncio.get_running_loop().create_task(self._drain(call_id))
        return delivery

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def _drain(self, call_id: str) -> None:
        queue = self._queues[call_id]
        try:
            while queue:
                url, event, delivery, drop = queue.popleft()
                if drop:
                    self._drop(delivery)
                else:
                    await self._deliver(url, event, delivery)
        finally:
            # No await between the emptiness check above and here, so nothing can slip in unseen.
            self._workers.pop(call_id, None)
            if not queue:
                self._queues.pop(call_id, None)

    async def _deliver(self, url: str, event: dict[str, Any], delivery: Delivery) -> None:
        body = json.dumps([event]).encode()
        timeout = aiohttp.ClientTimeout(total=self._config.callback_timeout_seconds)
        backoff = self._config.callback_backoff_ms / 1000.0
        for attempt in range(1 + self._config.callback_retries):
            if attempt:
                await asyncio.sleep(backoff)
                backoff *= 2
            delivery.attempts = attempt + 1
            delivery.attempt_started_at = self._clock().isoformat()
            headers = {
                "Content-Type": "application/json",
                "Authorization": "Bearer " + self._signer.token(self._clock()),  # fresh token per attempt
            }
            try:
                async with self._session.post(url, data=body, headers=headers, timeout=timeout) as response:
                    await response.read()
                    delivery.http_status = response.status
                    if 200 <= response.status < 300:
                        delivery.status, delivery.error = "delivered", None
                        break
                    delivery.error = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                delivery.http_status = None
                delivery.error = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
        else:
            delivery.status = "failed"
            log.warning("callback %s to %s failed after %d attempts: %s", delivery.event_type, url,
                        delivery.attempts, delivery.error)
        if delivery.status == "delivered":
            self.delivered += 1
        else:
            self.failed += 1
        delivery.completed_at = self._clock().isoformat()

    def _drop(self, delivery: Delivery) -> None:
        delivery.status = "dropped"
        delivery.completed_at = self._clock().isoformat()
        self.dropped += 1

    def clear_log(self) -> None:
        self.log.clear()

    async def close(self) -> None:
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


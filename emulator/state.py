"""Everything one running emulator holds, wired together once (the app's single piece of shared state)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from .callbacks import CallbackDeliverer, JwtSigner
from .callees import CalleeBook
from .config import REQUEST_LOG_SIZE, EmulatorConfig
from .faults import FaultBook
from .repeatability import RepeatabilityCache
from .service import CallService


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class EmulatorState:
    config: EmulatorConfig
    signer: JwtSigner
    deliverer: CallbackDeliverer
    service: CallService
    callees: CalleeBook
    faults: FaultBook = field(default_factory=FaultBook)
    repeatability: RepeatabilityCache = field(default_factory=RepeatabilityCache)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    clock: Callable[[], datetime] = utc_now
    monotonic: Callable[[], float] = time.monotonic
    started_at: datetime = field(default_factory=utc_now)
    tls_certificate: Path | None = None  # PEM a client can trust for https on the same port

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def base_url(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    def record_request(
        self,
        request: web.Request,
        status: int,
        operation: str | None,
        call_id: str | None,
        repeatability_request_id: str | None,
        repeatability_result: str | None,
        received_at: datetime | None = None,
    ) -> None:
        answered_at = self.clock()
        self.requests.append({
            "time": answered_at.isoformat(),
            "receivedAt": (received_at or answered_at).isoformat(),
            "method": request.method,
            "path": request.raw_path.partition("?")[0][:500],
            "operation": operation,
            "status": status,
            "callConnectionId": call_id,
            "repeatabilityRequestId": repeatability_request_id,
            "repeatabilityResult": repeatability_result,
            "clientRequestId": request.headers.get("x-ms-client-request-id", "")[:100] or None,
        })

    def reset(self) -> None:
        self.service.reset()
        self.callees.clear()
        self.faults.clear()
        self.repeatability.clear()
        self.requests.clear()
        self.deliverer.clear_log()

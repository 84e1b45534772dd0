"""Injected faults: make the next N requests of an operation fail (429/500/503) or wait first.

A fault with a status answers that status and does not execute the operation; a fault with only a delay
waits, then lets the request run normally.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

FAULT_STATUSES = (429, 500, 503)


@dataclass
class Fault:
    id: str
    operation: str  # an operation name or "*"
    status: int | None
    remaining: int
    retry_after_seconds: float | None
    delay_ms: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "status": self.status,
            "count": self.remaining,
            "retryAfterSeconds": self.retry_after_seconds,
            "delayMs": self.delay_ms,
        }


def parse_fault(value: Any, operations: frozenset[str]) -> Fault:
    """A control-API fault body; raises ValueError naming the field."""
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    operation = value.get("operation", "*")
    if operation != "*" and operation not in operations:
        raise ValueError(f"operation must be '*' or one of {', '.join(sorted(operations))}")
    status = value.get("status")
    if status is not None and status not in FAULT_STATUSES:
        raise ValueError("status must be 429, 500 or 503 (or omitted for a pure delay)")
    count = value.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1_000_000:
        raise ValueError("count must be a whole number ≥ 1")
    retry_after = value.get("retryAfterSeconds", 1 if status == 429 else None)
    if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int | float)
                                    or not 0 <= retry_after <= 3600):
        raise ValueError("retryAfterSeconds must be a number of seconds between 0 and 3600")
    delay = value.get("delayMs", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= 600_000:
        raise ValueError("delayMs must be a number of milliseconds between 0 and 600000")
    if status is None and not delay:
        raise ValueError("a fault needs a status, a delayMs, or both")
    return Fault(str(uuid.uuid4()), operation, status, count, retry_after, float(delay))


class FaultBook:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def take(self, operation: str) -> Fault | None:
        """The first fault matching `operation`, consuming one of its requests."""
        for fault in self._faults:
            if fault.operation in ("*", operation):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def list(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._faults]

    def clear(self) -> None:
        self._faults.clear()

"""One clock for everything that depends on the time: a callable that answers the current instant, aware and in
UTC. Services take one (the system clock by default) and tests pass their own, so no test waits for real time.

Instants are datetimes in the domain; records kept in storage and sent on the wire hold them as ISO 8601 text
(`iso`), and Table storage queries compare seconds since the epoch (`timestamp`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """The storage and wire form of an instant: ISO 8601 in UTC, to the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def timestamp(clock: Clock) -> float:
    """The clock's instant as seconds since the epoch (what lease and check times are compared in)."""
    return clock().timestamp()

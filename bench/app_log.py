"""Function invocations read from devhost's log: how often each function ran, how long, and how often it failed.

devhost logs every invocation as the Functions host does:
`[2026-12-01 23:50:59,246] Executed 'Functions.campaign_dial' (Succeeded, Id=..., Duration=158ms)`.
A failed queue invocation leaves its message to come back after the queue's visibilityTimeout, so failures cost
time as well as work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

_EXECUTED = re.compile(
    r"^\[(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] Executed 'Functions\.(?P<name>[^']+)' "
    r"\((?P<result>Succeeded|Failed), Id=[^,]*, Duration=(?P<ms>\d+)ms\)"
)


@dataclass
class Invocations:
    """One function's invocations."""

    count: int = 0
    failed: int = 0
    milliseconds: int = 0  # their durations added up (wall time, not CPU)


def invocations(lines: Iterable[str], start: datetime, end: datetime) -> dict[str, Invocations]:
    """Invocations that ended between `start` and `end` (naive local times, as devhost writes them), by function."""
    found: dict[str, Invocations] = {}
    for line in lines:
        match = _EXECUTED.match(line)
        if match is None:
            continue
        at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f")
        if not start <= at <= end:
            continue
        tally = found.setdefault(match["name"], Invocations())
        tally.count += 1
        tally.failed += match["result"] == "Failed"
        tally.milliseconds += int(match["ms"])
    return found

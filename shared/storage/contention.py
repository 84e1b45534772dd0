"""Backing off between optimistic-concurrency attempts (ETag races on one entity or one counter row).

Writers that lose a race and retry at once tend to lose again together: under load every instance reads the same
row, the fastest one wins and the rest come back in step. A short random pause after the first lost race spreads
them out (full jitter, as in the AWS architecture note "Exponential Backoff And Jitter"); the first retry is
immediate because one lost race is the normal case and costs nothing to retry. Hand-written because the SDK's
retry policies retry HTTP failures, not a read-change-write loop of ours.
"""

from __future__ import annotations

import random
import time

FIRST_PAUSE_SECONDS = 0.005
LONGEST_PAUSE_SECONDS = 0.25


def pause_before(attempt: int) -> float:
    """How long to wait before try number `attempt` (0 = the first): nothing, then up to 5, 10, 20 ... ms, capped."""
    if attempt < 2:
        return 0.0
    ceiling = min(LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2 ** (attempt - 2))
    return random.uniform(0, ceiling)  # noqa: S311 - spreading writers out, not a secret


def back_off(attempt: int) -> None:
    """Sleep before try number `attempt` of a read-change-write loop."""
    pause = pause_before(attempt)
    if pause:
        time.sleep(pause)

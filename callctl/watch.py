"""Following a campaign until it is completed or cancelled: a bar redrawn in place on a terminal, plain lines
(when something changed, and now and then) anywhere else."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from .api import ApiError, CampaignApi
from .display import fit, progress_line

CLEAR_TO_END = "\x1b[K"


def finished(summary: dict[str, Any], min_recipients: int = 0) -> bool:
    """Cancelled, or completed with (at least) every recipient the caller submitted."""
    completed = summary["status"] == "completed" and summary["recipients"] >= min_recipients
    return completed or summary["status"] == "cancelled"


def watch(
    api: CampaignApi,
    campaign_id: str,
    out: TextIO,
    *,
    tty: bool,
    interval: float = 2.0,
    min_recipients: int = 0,
    columns: int = 120,
    heartbeat: float = 60.0,
    max_failures: int = 5,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll GET /campaigns/{id} until the campaign is finished; its last summary. A campaign counts as completed
    only once it has `min_recipients` (the app admits uploaded recipients in the background). Passing trouble
    (the app unreachable, 429, 5xx) is waited out `max_failures` times in a row; anything else is raised."""
    shown, shown_at, failures = "", float("-inf"), 0
    try:
        while True:
            try:
                summary = api.summary(campaign_id)
                failures = 0
            except ApiError as error:
                failures += 1
                if not error.transient or failures > max_failures:
                    raise
                sleep(interval)
                continue
            line = progress_line(summary)
            if tty:
                out.write("\r" + fit(line, columns) + CLEAR_TO_END)
            elif line != shown or clock() - shown_at >= heartbeat:
                out.write(line + "\n")
                shown_at = clock()
            shown = line
            out.flush()
            if finished(summary, min_recipients):
                return summary
            sleep(interval)
    finally:
        if tty and shown:
            out.write("\n")  # leave the bar where it is
            out.flush()

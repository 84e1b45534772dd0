"""Text for the terminal, as pure functions of a campaign summary (the JSON of GET /campaigns/{id})."""

from __future__ import annotations

from datetime import datetime
from typing import Any

BAR_WIDTH = 10


def progress_line(summary: dict[str, Any], width: int = BAR_WIDTH) -> str:
    """`[####......] 37/50 done · 3 in progress · 10 queued · confirmed 20 declined 5 no-answer 12`"""
    total, progress = summary["recipients"], summary["progress"]
    filled = min(width, width * progress["done"] // total) if total else 0
    parts = [
        f"[{'#' * filled}{'.' * (width - filled)}] {progress['done']}/{total} done",
        f"{progress['inProgress']} in progress",
        f"{progress['queued']} queued",
    ]
    outcomes = " ".join(f"{name} {count}" for name, count in summary.get("byOutcome", {}).items())
    if outcomes:
        parts.append(outcomes)
    reach = summary.get("reach") or {}
    if reach.get("reachedShare") is not None:
        parts.append(f"reached {_share(reach['reachedShare'])}")
    return printable(" · ".join(parts))


def fit(line: str, columns: int) -> str:
    """The line cut to the terminal's width, so a redraw with \\r never wraps onto a second row."""
    return line if len(line) < columns else line[: max(0, columns - 2)] + "…"


def summary_table(summary: dict[str, Any]) -> str:
    total, progress, timings = summary["recipients"], summary["progress"], summary["timings"]
    statuses = " · ".join(f"{n} {name}" for name, n in summary.get("byStatus", {}).items() if n)
    rows = [
        ("Campaign", f"{summary['name']} ({summary['campaignId']})"),
        ("Status", summary["status"]),
        (
            "Recipients",
            f"{total}: {progress['done']} done · {progress['inProgress']} in progress · "
            f"{progress['queued']} queued" + (f"  ({statuses})" if statuses else ""),
        ),
        ("Calls made", str(summary["attempts"]) + _per_recipient(timings.get("meanAttemptsPerRecipient"))),
        ("First call", _when(timings.get("firstCallAt"))),
        ("Last ended", _when(timings.get("lastEndedAt"))),
        ("Elapsed", _duration(timings.get("elapsedSeconds"))),
        ("Mean call", _duration(timings.get("meanCallSeconds"))),
        *_reach_rows(summary.get("reach")),
    ]
    lines = [f"{label:<12}{value}" for label, value in rows]
    outcomes = summary.get("byOutcome", {})
    if outcomes:
        done = sum(outcomes.values())
        lines += ["", f"{'Outcome':<26}{'Recipients':>10}{'Share':>8}"]
        lines += [f"{name:<26}{count:>10}{_pct(count, done):>8}" for name, count in outcomes.items()]
        lines.append(f"{'Total done':<26}{done:>10}{'100%':>8}")
    choices = summary.get("byChoice") or {}
    if choices:
        answered = sum(choice.get("count", 0) for choice in choices.values())
        lines += ["", f"{'Answer':<26}{'Recipients':>10}{'Share':>8}"]
        for key, choice in choices.items():
            name = f"{key} {choice.get('label') or ''}"[:25]
            lines.append(f"{name:<26}{choice.get('count', 0):>10}{_pct(choice.get('count', 0), answered):>8}")
    return printable("\n".join(lines), keep_newlines=True)


def _reach_rows(reach: dict[str, Any] | None) -> list[tuple[str, str]]:
    """`Reached  40% (20 picked up) · 50% done` and one row per milestone against the ideal."""
    if not reach:
        return []
    rows = [("Reached", f"{_share(reach.get('reachedShare'))} ({reach.get('reached', 0)} picked up) · "
                        f"{_share(reach.get('doneShare'))} done")]
    concurrency = (reach.get("ideal") or {}).get("concurrency")
    for milestone in reach.get("milestones", []):
        after = milestone.get("reachedAfterSeconds")
        rows.append((
            f"{_share(milestone.get('share'))} reached",
            ("not yet" if after is None else f"after {_duration(after)}")
            + f" (ideal {_duration(milestone.get('idealSeconds'))} at {concurrency} calls at once)",
        ))
    return rows


def _share(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.0f}%"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """Text from the app (names come from users) without control characters that could drive the terminal."""
    return "".join(c if c.isprintable() or (keep_newlines and c == "\n") else "?" for c in text)


def _per_recipient(mean: float | None) -> str:
    return f" ({mean:g} per recipient called)" if mean is not None else ""


def _when(text: str | None) -> str:
    if not text:
        return "—"
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    except ValueError:
        return text


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, sec = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {sec:02d}s" if hours else f"{minutes}m {sec:02d}s"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"

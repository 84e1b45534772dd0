"""What a campaign looks like to people: a summary (JSON), the calls (CSV) and a one-page report (HTML).

Pure functions of a `Campaign`, its `Recipient`s and the time: no storage, no clock, so tests build any state
(`load_campaign` reads through the store it is given).

- `summarize`: counts by status and outcome, progress, attempts, timings and the settings (without the plan);
- `calls_csv`: one row per recipient, safe to open in a spreadsheet (no cell is read as a formula);
- `report_html`: a self-contained page (no scripts, no external assets) with an inline SVG of outcomes over time.
"""

from __future__ import annotations

import copy
import csv
import html
import io
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .call_flow import (
    ANSWERED,
    ANSWERED_WITHOUT_INPUT,
    BUSY,
    CONFIRMED,
    DECLINED,
    ESCALATED,
    FAILED,
    NO_ANSWER,
    UNREACHABLE,
)
from .callautomation.identifiers import E164
from .campaign_store import (
    CALLING,
    CANCELLED,
    DONE,
    EXPIRED,
    FINAL_STATUSES,
    QUEUED,
    WAITING,
    Campaign,
    CampaignNotFoundError,
    Recipient,
)
from .ids import is_campaign_id

STATUSES = (QUEUED, WAITING, CALLING, DONE, CANCELLED, EXPIRED)
OUTCOMES = (CONFIRMED, DECLINED, ESCALATED, ANSWERED, ANSWERED_WITHOUT_INPUT, BUSY, NO_ANSWER, UNREACHABLE, FAILED)
UNKNOWN_OUTCOME = "unknown"  # a done recipient without a recorded outcome (should not happen)
ACTIVE, COMPLETED = "active", "completed"


class CampaignReader(Protocol):
    def get_campaign(self, campaign_id: str) -> Campaign: ...
    def list_recipients(self, campaign_id: str) -> list[Recipient]: ...


def load_campaign(store: CampaignReader, campaign_id: str) -> tuple[Campaign, list[Recipient]]:
    """The campaign and its recipients, read through `store`; CampaignNotFoundError also for an id that no
    campaign can have (so a malformed id never reaches Table storage)."""
    if not is_campaign_id(campaign_id):
        raise CampaignNotFoundError(campaign_id)
    campaign = store.get_campaign(campaign_id)
    return campaign, store.list_recipients(campaign_id)


# -- summary ----------------------------------------------------------------------------------------------------


def summarize(campaign: Campaign, recipients: list[Recipient], now: datetime) -> dict[str, Any]:
    """The campaign as JSON: where it stands, how its calls ended, how long it has taken."""
    by_status = _count(r.status for r in recipients)
    by_status = {**{s: by_status.pop(s, 0) for s in STATUSES}, **dict(sorted(by_status.items()))}
    status = campaign_status(campaign, recipients)
    return {
        "campaignId": campaign.campaign_id,
        "name": campaign.name,
        "status": status,
        "createdAt": campaign.created_at or None,
        "cancelledAt": campaign.cancelled_at,
        "asOf": _iso(now),
        "recipients": len(recipients),
        "progress": {
            "queued": by_status[QUEUED] + by_status[WAITING],
            "inProgress": by_status[CALLING],
            "done": by_status[DONE] + by_status[CANCELLED] + by_status[EXPIRED],
        },
        "byStatus": by_status,
        "byOutcome": outcome_counts(recipients),
        "attempts": sum(r.attempts for r in recipients),
        "timings": _timings(recipients, status, now),
        "settings": {k: copy.deepcopy(v) for k, v in campaign.config.items() if k != "plan"},
    }


def campaign_status(campaign: Campaign, recipients: list[Recipient]) -> str:
    """`cancelled` once cancelled; `completed` when it has recipients and all are final; else `active`."""
    if campaign.status == "cancelled":
        return "cancelled"
    if campaign.status == "done" or (recipients and all(r.status in FINAL_STATUSES for r in recipients)):
        return COMPLETED
    return ACTIVE


def outcome_counts(recipients: Iterable[Recipient]) -> dict[str, int]:
    """Final outcomes of the done recipients, known outcomes first in a fixed order, then any others."""
    counts = _count(r.outcome or UNKNOWN_OUTCOME for r in recipients if r.status == DONE)
    return {name: counts[name] for name in sorted(counts, key=_outcome_order)}


def _timings(recipients: list[Recipient], status: str, now: datetime) -> dict[str, Any]:
    first = _earliest(r.first_call_at for r in recipients)
    last = _latest(r.ended_at for r in recipients)
    finished = status != ACTIVE and not any(r.status == CALLING for r in recipients)
    until = last if finished and last else _utc(now)
    durations = [r.duration_seconds for r in recipients if r.duration_seconds is not None]
    called = [r.attempts for r in recipients if r.attempts > 0]
    return {
        "firstCallAt": _iso(first),
        "lastEndedAt": _iso(last),
        # From the first call to the last end once finished (to now while calls may still come).
        "elapsedSeconds": round(max(0.0, (until - first).total_seconds())) if first else None,
        # Answered to ended, over the recipients whose last call was answered.
        "meanCallSeconds": round(sum(durations) / len(durations), 1) if durations else None,
        # Over the recipients called at least once.
        "meanAttemptsPerRecipient": round(sum(called) / len(called), 2) if called else None,
    }


# -- CSV --------------------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "phoneNumber",
    "status",
    "outcome",
    "outcomeCode",
    "attempts",
    "firstCallAt",
    "lastCallAt",
    "answeredAt",
    "endedAt",
    "durationSeconds",
    "digits",
    "callLegId",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def calls_csv(recipients: Iterable[Recipient]) -> str:
    """Header and one row per recipient. Text that a spreadsheet would run as a formula gets a leading `'`;
    phone numbers in E.164 (`+` and digits) are written exactly."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in recipients:
        code = r.outcome_code or {}
        writer.writerow(
            [
                r.phone_number if E164.fullmatch(r.phone_number) else _cell(r.phone_number),
                _cell(r.status),
                _cell(r.outcome),
                f"{code.get('code', '')}/{code.get('subCode', '')}" if r.outcome_code else "",
                r.attempts,
                _cell(r.first_call_at),
                _cell(r.last_call_at),
                _cell(r.answered_at),
                _cell(r.ended_at),
                _number(r.duration_seconds),
                _cell(r.digits),
                _cell(r.call_leg_id),
            ]
        )
    return out.getvalue()


def _cell(value: str | None) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _number(value: float | None) -> str:
    if value is None:
        return ""
    value = round(float(value), 3)
    return str(int(value)) if value.is_integer() else str(value)


# -- HTML -------------------------------------------------------------------------------------------------------

OUTCOME_COLOURS = {
    CONFIRMED: "#2e7d32",
    DECLINED: "#c62828",
    ESCALATED: "#6a1b9a",
    ANSWERED: "#1565c0",
    ANSWERED_WITHOUT_INPUT: "#64b5f6",
    BUSY: "#ef6c00",
    NO_ANSWER: "#f9a825",
    UNREACHABLE: "#757575",
    FAILED: "#4e342e",
}
_SPARE_COLOURS = ("#00838f", "#ad1457", "#9e9d24", "#5d4037", "#455a64")
BUCKET_SIZES = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
MAX_BARS = 24


def report_html(campaign: Campaign, summary: Mapping[str, Any], recipients: list[Recipient]) -> str:
    """One page a manager reads at a glance. Every value from users or storage is HTML-escaped."""
    zone = display_zone(campaign.config)
    title = f"Campaign report: {summary['name']}"
    sections = [
        _headline(summary),
        _section("Outcomes", _outcome_table(summary["byOutcome"])),
        _section(f"Outcomes over time ({_zone_name(zone)})", outcome_chart(recipients, zone)),
        _section("Progress", _progress(summary)),
        _section("Timings", _timings_list(summary["timings"], zone)),
        _section("Settings", _settings(summary["settings"])),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>{_e(summary["name"])}</h1><p class="meta">Campaign <code>{_e(summary["campaignId"])}</code>'
        f' · <span class="status status-{_e(summary["status"])}">{_e(summary["status"])}</span>'
        f" · created {_e(_when(summary.get('createdAt'), zone))} · as of {_e(_when(summary.get('asOf'), zone))}</p>"
        f"</header>{''.join(sections)}</body></html>\n"
    )


def display_zone(config: Mapping[str, Any]) -> tzinfo:
    """The campaign's own time zone (its `timeZone`, else its calling window's) when valid, else UTC."""
    window = config.get("callingWindow")
    for name in (config.get("timeZone"), window.get("timeZone") if isinstance(window, Mapping) else None):
        if isinstance(name, str) and name:
            try:
                return ZoneInfo(name)
            except (ValueError, LookupError):  # ZoneInfoNotFoundError is a KeyError
                continue
    return UTC


def outcome_chart(recipients: Iterable[Recipient], zone: tzinfo = UTC) -> str:
    """Stacked bars of done recipients per time bucket of `ended_at`, one colour per outcome, with a legend."""
    ended = [(t, r.outcome or UNKNOWN_OUTCOME) for r in recipients if r.status == DONE and (t := _parse(r.ended_at))]
    if not ended:
        return '<p class="empty">No calls have ended yet.</p>'
    earliest, latest = min(t for t, _ in ended), max(t for t, _ in ended)
    size = bucket_seconds((latest - earliest).total_seconds())
    first = _bucket_start(earliest, size, zone)
    buckets: list[dict[str, int]] = [{} for _ in range(int((latest - first).total_seconds()) // size + 1)]
    for moment, outcome in ended:
        counts = buckets[int((moment - first).total_seconds()) // size]
        counts[outcome] = counts.get(outcome, 0) + 1
    outcomes = sorted({o for _, o in ended}, key=_outcome_order)
    colours = outcome_colours(outcomes)
    return _svg(buckets, first, size, zone, outcomes, colours) + _legend(outcomes, colours)


def bucket_seconds(span_seconds: float) -> int:
    """The smallest usual bucket that shows the span in at most MAX_BARS bars (whole weeks beyond that)."""
    for size in BUCKET_SIZES:
        if span_seconds / size <= MAX_BARS - 1:
            return size
    week = BUCKET_SIZES[-1]
    return week * math.ceil(span_seconds / week / (MAX_BARS - 1))


def outcome_colours(outcomes: Iterable[str]) -> dict[str, str]:
    spare = iter(_SPARE_COLOURS * 10)
    return {o: OUTCOME_COLOURS.get(o) or next(spare, "#9e9e9e") for o in outcomes}


def _bucket_start(moment: datetime, size: int, zone: tzinfo) -> datetime:
    """The bucket boundary at or before `moment`, aligned to the wall clock of `zone` (hours, midnights)."""
    offset = (moment.astimezone(zone).utcoffset() or timedelta()).total_seconds()
    local = moment.timestamp() + offset
    if size % 604800 == 0:
        local -= 345600  # the epoch was a Thursday: weeks start on Mondays
        return datetime.fromtimestamp(local - local % size + 345600 - offset, UTC)
    return datetime.fromtimestamp(local - local % size - offset, UTC)


_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 720, 260, 44, 12, 12, 42


def _svg(
    buckets: list[dict[str, int]],
    first: datetime,
    size: int,
    zone: tzinfo,
    outcomes: list[str],
    colours: dict[str, str],
) -> str:
    peak = max(sum(b.values()) for b in buckets)
    step = _tick_step(peak)
    top = step * math.ceil(peak / step)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    base = _TOP + plot_h
    slot = plot_w / len(buckets)
    bar_w = max(1.0, slot * 0.78)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="Calls ended per {_e(_per(size))}, by outcome">'
    ]
    for value in range(0, top + 1, step):
        y = base - plot_h * value / top
        parts += [_line(y, "#eaeef2"), _text(_LEFT - 6, y + 4, str(value), "end")]
    label_every = math.ceil(len(buckets) / 8)
    for index, counts in enumerate(buckets):
        start = first + timedelta(seconds=index * size)
        x, y = _LEFT + index * slot + (slot - bar_w) / 2, base
        for outcome in (o for o in outcomes if counts.get(o)):
            height = plot_h * counts[outcome] / top
            y -= height
            tip = f"{_bucket_label(start, size, zone, True)}: {outcome} {counts[outcome]}"
            parts.append(
                f'<rect class="bar" data-outcome="{_e(outcome)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{height:.1f}" fill="{colours[outcome]}"><title>{_e(tip)}</title></rect>'
            )
        if index % label_every == 0:
            parts.append(_text(x + bar_w / 2, base + 16, _bucket_label(start, size, zone, index == 0), "middle"))
    parts += [_line(base, "#8c959f"), _text(_LEFT + plot_w / 2, _H - 6, f"calls ended per {_per(size)}", "middle")]
    return "".join(parts) + "</svg>"


def _line(y: float, colour: str) -> str:
    return f'<line stroke="{colour}" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'


def _text(x: float, y: float, content: str, anchor: str) -> str:
    return f'<text font-size="11" fill="#57606a" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{_e(content)}</text>'


def _legend(outcomes: list[str], colours: dict[str, str]) -> str:
    items = "".join(f'<li><span class="swatch" style="background:{colours[o]}"></span>{_e(o)}</li>' for o in outcomes)
    return f'<ul class="legend">{items}</ul>'


def _tick_step(peak: int) -> int:
    for magnitude in (10**k for k in range(12)):
        for step in (1, 2, 5):
            if peak / (step * magnitude) <= 5:
                return step * magnitude
    return 10**12  # pragma: no cover


def _bucket_label(start: datetime, size: int, zone: tzinfo, with_date: bool) -> str:
    local = start.astimezone(zone)
    if size >= 86400:
        return local.strftime("%b %d")
    return local.strftime("%b %d %H:%M" if with_date or (local.hour, local.minute) == (0, 0) else "%H:%M")


def _headline(summary: Mapping[str, Any]) -> str:
    total, done = summary["recipients"], summary["progress"]["done"]
    outcomes = summary["byOutcome"]
    finished = sum(outcomes.values())
    tiles = [
        ("Recipients", str(total), f"{summary['attempts']} calls made"),
        ("Done", _pct(done, total), f"{done} of {total}"),
        ("Confirmed", str(outcomes.get(CONFIRMED, 0)), _pct(outcomes.get(CONFIRMED, 0), finished) + " of done"),
        ("Declined", str(outcomes.get(DECLINED, 0)), _pct(outcomes.get(DECLINED, 0), finished) + " of done"),
        ("No answer", str(outcomes.get(NO_ANSWER, 0)), _pct(outcomes.get(NO_ANSWER, 0), finished) + " of done"),
        ("In progress", str(summary["progress"]["inProgress"]), f"{summary['progress']['queued']} queued"),
    ]
    cells = "".join(
        f'<div class="tile"><div class="label">{_e(label)}</div><div class="big">{_e(big)}</div>'
        f'<div class="small">{_e(small)}</div></div>'
        for label, big, small in tiles
    )
    return f'<section class="tiles">{cells}</section>'


def _outcome_table(outcomes: Mapping[str, int]) -> str:
    if not outcomes:
        return '<p class="empty">No recipient is done yet.</p>'
    total = sum(outcomes.values())
    colours = outcome_colours(outcomes)
    rows = "".join(
        f'<tr><td><span class="swatch" style="background:{colours[name]}"></span>{_e(name)}</td>'
        f'<td class="num">{count}</td><td class="num">{_pct(count, total)}</td>'
        f'<td class="barcell"><div class="hbar" style="width:{100 * count / total:.1f}%;'
        f'background:{colours[name]}"></div></td></tr>'
        for name, count in outcomes.items()
    )
    return (
        '<table class="outcomes"><thead><tr><th>Outcome</th><th class="num">Recipients</th>'
        f'<th class="num">Share</th><th></th></tr></thead><tbody>{rows}</tbody><tfoot><tr><td>Total done</td>'
        f'<td class="num">{total}</td><td class="num">100%</td><td></td></tr></tfoot></table>'
    )


def _progress(summary: Mapping[str, Any]) -> str:
    total = summary["recipients"] or 1
    progress = summary["progress"]
    segments = "".join(
        f'<div class="seg seg-{key}" style="width:{100 * progress[key] / total:.1f}%"></div>'
        for key in ("done", "inProgress", "queued")
    )
    statuses = "".join(
        f'<tr><td>{_e(name)}</td><td class="num">{count}</td></tr>' for name, count in summary["byStatus"].items()
    )
    return (
        f'<div class="progress">{segments}</div><p>{progress["done"]} done · {progress["inProgress"]} in progress · '
        f'{progress["queued"]} queued or waiting for a retry</p><table class="statuses"><thead><tr><th>Status</th>'
        f'<th class="num">Recipients</th></tr></thead><tbody>{statuses}</tbody></table>'
    )


def _timings_list(timings: Mapping[str, Any], zone: tzinfo) -> str:
    elapsed, mean_call = timings["elapsedSeconds"], timings["meanCallSeconds"]
    attempts = timings["meanAttemptsPerRecipient"]
    items = [
        ("First call", _when(timings["firstCallAt"], zone)),
        ("Last call ended", _when(timings["lastEndedAt"], zone)),
        ("Elapsed", _duration(elapsed) if elapsed is not None else "—"),
        ("Mean answered call", _duration(mean_call) if mean_call is not None else "—"),
        ("Mean calls per recipient called", f"{attempts:g}" if attempts is not None else "—"),
    ]
    return "<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items) + "</dl>"


def _settings(settings: Mapping[str, Any]) -> str:
    """The settings, except a callback URL's query (it may carry a token; a report is passed around)."""
    if not settings:
        return '<p class="empty">None.</p>'
    shown = dict(settings)
    if isinstance(shown.get("callbackUri"), str):
        shown["callbackUri"] = _without_secrets(shown["callbackUri"])
    rows = "".join(
        f"<tr><th>{_e(name)}</th><td><code>{_e(json.dumps(value, ensure_ascii=False))}</code></td></tr>"
        for name, value in shown.items()
    )
    return f'<table class="settings"><tbody>{rows}</tbody></table>'


def _without_secrets(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(not shown)"
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else "")


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>{body}</section>"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:960px;
padding:0 16px;color:#1f2328;background:#fff}
h1{margin:0 0 4px;font-size:1.6em}h2{font-size:1.1em;margin:28px 0 10px;border-bottom:1px solid #d0d7de;
padding-bottom:4px}.meta{color:#57606a;margin:0}
.status{padding:1px 8px;border-radius:10px;font-weight:600;background:#ddf4ff;color:#0969da}
.status-completed{background:#dafbe1;color:#1a7f37}.status-cancelled{background:#ffebe9;color:#cf222e}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:10px;margin-top:18px}
.tile{border:1px solid #d0d7de;border-radius:8px;padding:10px 12px}.label{color:#57606a;font-size:.85em}
.big{font-size:1.8em;font-weight:600}.small{color:#57606a;font-size:.8em}
table{border-collapse:collapse}th,td{text-align:left;padding:4px 10px;border-bottom:1px solid #eaeef2}
.num{text-align:right;font-variant-numeric:tabular-nums}.outcomes{width:100%}.barcell{width:40%}
.hbar{height:12px;border-radius:2px}.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;
margin-right:6px;vertical-align:-1px}
.chart{width:100%;height:auto;font-family:inherit}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:14px;font-size:.9em}
.progress{display:flex;height:18px;border-radius:9px;overflow:hidden;background:#eaeef2}
.seg-done{background:#2da44e}.seg-inProgress{background:#bf8700}.seg-queued{background:#afb8c1}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}dt{color:#57606a}dd{margin:0}
.settings th{font-weight:500;color:#57606a}code{font-size:.9em;word-break:break-all}.empty{color:#57606a}
"""


# -- helpers ----------------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _outcome_order(name: str) -> tuple[int, str]:
    return (OUTCOMES.index(name), "") if name in OUTCOMES else (len(OUTCOMES), name)


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except (TypeError, ValueError):
        return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _earliest(texts: Iterable[str | None]) -> datetime | None:
    return min((t for t in map(_parse, texts) if t), default=None)


def _latest(texts: Iterable[str | None]) -> datetime | None:
    return max((t for t in map(_parse, texts) if t), default=None)


def _iso(moment: datetime | None) -> str | None:
    return _utc(moment).isoformat() if moment else None


def _when(text: str | None, zone: tzinfo) -> str:
    moment = _parse(text)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "—"


def _zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or "UTC"


def _per(size: int) -> str:
    """`minute`, `5 minutes`, `hour`, `2 hours`, `day`, `week`, `3 weeks`."""
    for unit, seconds in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if size % seconds == 0:
            count = size // seconds
            return unit if count == 1 else f"{count} {unit}s"
    return f"{size} seconds"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "—"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m" if not sec else f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h" if not minutes else f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    if days % 7 == 0 and not hours:
        return f"{days // 7}w"
    return f"{days}d" if not hours else f"{days}d {hours}h"

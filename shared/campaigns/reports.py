"""What a campaign looks like to people: a summary (JSON), the calls (CSV, a page at a time) and a one-page
report (HTML).

Pure functions of a `Campaign`, its counts (`campaign_counters.Counts`, what the store's counter rows add up to)
and the time: no storage, no clock, so tests build any state. `load_campaign` reads through the store it is
given, at a fixed cost: the campaign and 16 counter rows, whatever the campaign's size.

- `summarize`: counts by status and outcome, progress, attempts, timings, reach and the settings (not the plan);
- `calls_csv`: one row per recipient of a page, safe to open in a spreadsheet (no cell is read as a formula), with
  its language and data (a JSON object: recipients of one campaign may carry different fields);
- `report_html`: a self-contained page (no scripts, no external assets; Jinja2, autoescaped) with inline SVGs of
  outcomes and reach over time, drawn from the counters' per-minute timeline.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.callautomation.identifiers import E164
from shared.calls.flow import (
    ANSWERED,
    ANSWERED_WITHOUT_INPUT,
    BUSY,
    CHOSEN,
    CONFIRMED,
    DECLINED,
    ESCALATED,
    FAILED,
    NO_ANSWER,
    OPTED_OUT,
    UNREACHABLE,
)
from shared.calls.suppressions import SUPPRESSED
from shared.campaigns.counters import Counts, counts_of, minute_start, parse_time
from shared.campaigns.reach import reach
from shared.campaigns.store import (
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
from shared.ids import is_campaign_id

STATUSES = (QUEUED, WAITING, CALLING, DONE, CANCELLED, EXPIRED)
OUTCOMES = (
    CONFIRMED, DECLINED, CHOSEN, ESCALATED, ANSWERED, ANSWERED_WITHOUT_INPUT, BUSY, NO_ANSWER, UNREACHABLE, FAILED,
    OPTED_OUT,
)  # a call's; a recipient may also end SUPPRESSED (not called), listed after these
SUPPRESSION_BYPASSED = "suppression list bypassed (emergency)"
ACTIVE, COMPLETED = "active", "completed"


class CampaignReader(Protocol):
    def get_campaign(self, campaign_id: str) -> Campaign: ...
    def read_counts(self, campaign_id: str) -> Counts: ...


def load_campaign(store: CampaignReader, campaign_id: str) -> tuple[Campaign, Counts]:
    """The campaign and its counts, read through `store`; CampaignNotFoundError also for an id that no
    campaign can have (so a malformed id never reaches Table storage)."""
    if not is_campaign_id(campaign_id):
        raise CampaignNotFoundError(campaign_id)
    campaign = store.get_campaign(campaign_id)
    return campaign, store.read_counts(campaign_id)


def _as_counts(data: Counts | Iterable[Recipient]) -> Counts:
    """Counts as they are; recipients (tests, small tools) counted the way the counter rows count them."""
    return data if isinstance(data, Counts) else counts_of(data)


# -- summary ----------------------------------------------------------------------------------------------------


def summarize(campaign: Campaign, data: Counts | Iterable[Recipient], now: datetime) -> dict[str, Any]:
    """The campaign as JSON: where it stands, how its calls ended, how long it has taken, how fast it reached
    people."""
    counts = _as_counts(data)
    by_status = dict(counts.by_status)
    by_status = {**{s: by_status.pop(s, 0) for s in STATUSES}, **dict(sorted(by_status.items()))}
    status = campaign_status(campaign, counts)
    timings = _timings(counts, by_status, status, now)
    first, until = parse_time(timings["firstCallAt"]), _until(counts, by_status, status, now)
    span = (until - first).total_seconds() if first else 0
    return {
        "campaignId": campaign.campaign_id,
        "name": campaign.name,
        "status": status,
        "createdAt": campaign.created_at or None,
        "cancelledAt": campaign.cancelled_at,
        "asOf": _iso(now),
        "recipients": counts.recipients,
        "progress": {
            "queued": by_status[QUEUED] + by_status[WAITING],
            "inProgress": by_status[CALLING],
            "done": by_status[DONE] + by_status[CANCELLED] + by_status[EXPIRED],
        },
        "byStatus": by_status,
        "byOutcome": outcome_counts(counts),
        "byChoice": choice_counts(campaign, counts),
        "attempts": counts.attempts,
        "timings": timings,
        "reach": reach(counts, campaign.config, first, until, timings["meanCallSeconds"], bucket_seconds(span)),
        "settings": {k: copy.deepcopy(v) for k, v in campaign.config.items() if k != "plan"},
        # Whether numbers on the suppression list are left uncalled ("checked") or called anyway.
        "suppressionList": SUPPRESSION_BYPASSED if campaign.config.get("suppressionBypassed") else "checked",
    }


def campaign_status(campaign: Campaign, data: Counts | Iterable[Recipient]) -> str:
    """`cancelled` once cancelled; `completed` when it has recipients and all are final; else `active`."""
    counts = _as_counts(data)
    if campaign.status == "cancelled":
        return "cancelled"
    final = sum(n for s, n in counts.by_status.items() if s in FINAL_STATUSES)
    if campaign.status == "done" or (counts.recipients and final == counts.recipients):
        return COMPLETED
    return ACTIVE


def outcome_counts(data: Counts | Iterable[Recipient]) -> dict[str, int]:
    """Final outcomes of the done recipients, known outcomes first in a fixed order, then any others."""
    counts = _as_counts(data).by_outcome
    return {name: counts[name] for name in sorted(counts, key=_outcome_order) if counts[name]}


def choice_counts(campaign: Campaign, data: Counts | Iterable[Recipient]) -> dict[str, dict[str, Any]]:
    """A poll's answers among the done recipients: every choice of the plan in key order, with its label, even
    when nobody chose it (so a report shows the whole question); empty for a plan without choices."""
    counts = _as_counts(data).by_choice
    collect = (campaign.config.get("plan") or {}).get("collect") or {}
    labels: dict[str, str | None] = dict(collect.get("choices") or {})
    labels.update({key: None for key in counts if key not in labels})  # not offered (should not happen)
    return {key: {"label": labels[key], "count": counts.get(key, 0)} for key in sorted(labels)}


def _until(counts: Counts, by_status: Mapping[str, int], status: str, now: datetime) -> datetime:
    """The end of the campaign's time so far: its last end once finished, else now."""
    last = parse_time(counts.last_ended_at)
    finished = status != ACTIVE and not by_status.get(CALLING)
    return last if finished and last else _utc(now)


def _timings(counts: Counts, by_status: Mapping[str, int], status: str, now: datetime) -> dict[str, Any]:
    first, last = parse_time(counts.first_call_at), parse_time(counts.last_ended_at)
    until = _until(counts, by_status, status, now)
    return {
        "firstCallAt": _iso(first),
        "lastEndedAt": _iso(last),
        # From the first call to the last end once finished (to now while calls may still come).
        "elapsedSeconds": round(max(0.0, (until - first).total_seconds())) if first else None,
        # Answered to ended, over the recipients whose last call was answered.
        "meanCallSeconds": round(counts.duration_sum / counts.duration_count, 1) if counts.duration_count else None,
        # Over the recipients called at least once.
        "meanAttemptsPerRecipient": round(counts.attempts / counts.called, 2) if counts.called else None,
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
    "choice",
    "choiceLabel",
    "voicemailLeft",
    "callLegId",
    "language",
    "data",
    "recipientId",
    "answeredNumber",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def calls_csv(recipients: Iterable[Recipient], *, header: bool = True) -> str:
    """Header and one row per recipient. Text that a spreadsheet would run as a formula gets a leading `'`;
    phone numbers in E.164 (`+` and digits) are written exactly. `phoneNumber` is the recipient's first number,
    `answeredNumber` the one whose call was answered."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for r in recipients:
        code = r.outcome_code or {}
        writer.writerow(
            [
                _number_cell(r.numbers[0]),
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
                _cell((r.choice or {}).get("key")),
                _cell((r.choice or {}).get("label")),
                "true" if r.voicemail_left else "false" if r.attempts else "",  # blank: not called yet
                _cell(r.call_leg_id),
                _cell(r.language),
                json.dumps(r.data, ensure_ascii=False, separators=(",", ":")) if r.data else "",  # starts with {
                _number_cell(r.recipient_id),
                _number_cell(r.answered_number),
            ]
        )
    return out.getvalue()


def _number_cell(value: str | None) -> str:
    return value if value and E164.fullmatch(value) else _cell(value)


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
    CHOSEN: "#00695c",
    ESCALATED: "#6a1b9a",
    ANSWERED: "#1565c0",
    ANSWERED_WITHOUT_INPUT: "#64b5f6",
    BUSY: "#ef6c00",
    NO_ANSWER: "#f9a825",
    UNREACHABLE: "#757575",
    FAILED: "#4e342e",
    OPTED_OUT: "#880e4f",
    SUPPRESSED: "#9e9e9e",
}
_SPARE_COLOURS = ("#00838f", "#ad1457", "#9e9d24", "#5d4037", "#455a64")
BUCKET_SIZES = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
MAX_BARS = 24
_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 720, 260, 44, 12, 12, 42

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,  # every value from users or storage is escaped, in text and in attributes
    undefined=StrictUndefined,  # a misspelt name fails the tests instead of rendering as nothing
    trim_blocks=True,
    lstrip_blocks=True,
)


def report_html(campaign: Campaign, summary: Mapping[str, Any], data: Counts | Iterable[Recipient]) -> str:
    """One page a manager reads at a glance, from the summary and the counts (never from the rows)."""
    counts = _as_counts(data)
    zone = display_zone(campaign.config)
    outcomes = summary["byOutcome"]
    finished = sum(outcomes.values())
    total, done = summary["recipients"], summary["progress"]["done"]
    tiles = [
        ("Recipients", str(total), f"{summary['attempts']} calls made"),
        ("Done", _pct(done, total), f"{done} of {total}"),
        ("Reached", _share(summary["reach"]["reachedShare"]), f"{summary['reach']['reached']} picked up"),
        ("Confirmed", str(outcomes.get(CONFIRMED, 0)), _pct(outcomes.get(CONFIRMED, 0), finished) + " of done"),
        ("Declined", str(outcomes.get(DECLINED, 0)), _pct(outcomes.get(DECLINED, 0), finished) + " of done"),
        ("No answer", str(outcomes.get(NO_ANSWER, 0)), _pct(outcomes.get(NO_ANSWER, 0), finished) + " of done"),
        ("In progress", str(summary["progress"]["inProgress"]), f"{summary['progress']['queued']} queued"),
    ]
    colours = outcome_colours(outcomes)
    page = _templates.get_template("campaign_report.html").render(
        summary=summary,
        when=lambda text: _when(text, zone),
        zone_name=_zone_name(zone),
        tiles=tiles,
        outcome_rows=[
            {"name": name, "count": n, "share": _pct(n, finished), "width": f"{100 * n / finished:.1f}",
             "colour": colours[name]}
            for name, n in outcomes.items()
        ],
        finished=finished,
        answers=_answer_rows(summary.get("byChoice") or {}),
        chart=outcome_chart_data(counts, zone),
        progress=_progress_data(summary),
        answered_numbers=_answered_number_rows(counts),
        timings=_timings_rows(summary["timings"]),
        reach=_reach_data(summary["reach"]),
        settings=_settings_rows(summary["settings"]),
    )
    return page


def _answered_number_rows(counts: Counts) -> list[tuple[str, int, str]]:
    """Contacts with several numbers that were answered: on which of their numbers, first number first."""
    answered = counts.by_answered_number
    reached = sum(answered.values())
    return [(_ordinal(int(position)), answered[position], _pct(answered[position], reached))
            for position in sorted(answered, key=int) if answered[position]]


def _ordinal(position: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(position, f"{position}th")


def _answer_rows(by_choice: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A poll's answers, with each one's share of the recipients who answered."""
    answered = sum(choice["count"] for choice in by_choice.values())
    return [
        {"key": key, "label": choice["label"] or "", "count": choice["count"], "share": _pct(choice["count"], answered),
         "width": f"{100 * choice['count'] / answered:.1f}" if answered else "0"}
        for key, choice in by_choice.items()
    ]


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


def outcome_chart(data: Counts | Iterable[Recipient], zone: tzinfo = UTC) -> str:
    """Stacked bars of done recipients per time bucket of their end, one colour per outcome, with a legend."""
    chart = outcome_chart_data(_as_counts(data), zone)
    return _templates.get_template("outcome_chart.html").render(chart=chart)


def outcome_chart_data(counts: Counts, zone: tzinfo = UTC) -> dict[str, Any] | None:
    """What the outcome chart draws, from the counters' timeline; None when no call has ended."""
    if not counts.ended:
        return None
    earliest, latest = min(counts.ended), max(counts.ended)
    size = bucket_seconds((latest - earliest) * 60)
    first = _bucket_start(minute_start(earliest), size, zone)
    buckets: list[dict[str, int]] = [{} for _ in range(int((minute_start(latest) - first).total_seconds()) // size + 1)]
    for minute, per_outcome in counts.ended.items():
        slot = buckets[int((minute_start(minute) - first).total_seconds()) // size]
        for outcome, n in per_outcome.items():
            slot[outcome] = slot.get(outcome, 0) + n
    outcomes = sorted({o for b in buckets for o in b}, key=_outcome_order)
    colours = outcome_colours(outcomes)
    peak = max(sum(b.values()) for b in buckets)
    step = _tick_step(peak)
    top = step * math.ceil(peak / step)
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    base = _TOP + plot_h
    slot_w = plot_w / len(buckets)
    bar_w = max(1.0, slot_w * 0.78)
    bars, labels = [], []
    label_every = math.ceil(len(buckets) / 8)
    for index, per_outcome in enumerate(buckets):
        start = first + timedelta(seconds=index * size)
        x, y = _LEFT + index * slot_w + (slot_w - bar_w) / 2, base
        for outcome in (o for o in outcomes if per_outcome.get(o)):
            height = plot_h * per_outcome[outcome] / top
            y -= height
            tip = f"{_bucket_label(start, size, zone, True)}: {outcome} {per_outcome[outcome]}"
            bars.append({"outcome": outcome, "x": f"{x:.1f}", "y": f"{y:.1f}", "w": f"{bar_w:.1f}",
                         "h": f"{height:.1f}", "fill": colours[outcome], "tip": tip})
        if index % label_every == 0:
            labels.append({"x": f"{x + bar_w / 2:.1f}", "text": _bucket_label(start, size, zone, index == 0)})
    return {
        "w": _W, "h": _H, "left": _LEFT, "right": _W - _RIGHT, "base": f"{base:.1f}", "base_label": base + 16,
        "middle": _LEFT + plot_w / 2, "bottom": _H - 6, "per": _per(size),
        "grid": [{"y": f"{base - plot_h * v / top:.1f}", "ty": f"{base - plot_h * v / top + 4:.1f}", "value": v}
                 for v in range(0, top + 1, step)],
        "bars": bars, "labels": labels, "legend": [{"name": o, "colour": colours[o]} for o in outcomes],
    }


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


def _reach_data(block: Mapping[str, Any]) -> dict[str, Any]:
    """The reach section: milestones against the ideal, and a line chart of the shares over time."""
    milestones = [
        {
            "share": f"{m['share']:.0%}",
            "actual": _duration(m["reachedAfterSeconds"]) if m["reachedAfterSeconds"] is not None else "not yet",
            "ideal": _duration(m["idealSeconds"]) if m["idealSeconds"] is not None else "—",
        }
        for m in block["milestones"]
    ]
    series = block["overTime"]
    chart = None
    if series:
        plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
        span = max(1, series[-1]["elapsedSeconds"])

        def polyline(key: str) -> str:
            points = [(0.0, 0.0)] + [(p["elapsedSeconds"], p[key]) for p in series]
            return " ".join(f"{_LEFT + plot_w * t / span:.1f},{_TOP + plot_h * (1 - v):.1f}" for t, v in points)

        chart = {
            "w": _W, "h": _H, "left": _LEFT, "right": _W - _RIGHT, "base": _TOP + plot_h, "bottom": _H - 6,
            "middle": _LEFT + plot_w / 2, "reached": polyline("reachedShare"), "done": polyline("doneShare"),
            "grid": [{"y": f"{_TOP + plot_h * (1 - v / 100):.1f}", "ty": f"{_TOP + plot_h * (1 - v / 100) + 4:.1f}",
                      "value": f"{v}%"} for v in (0, 25, 50, 75, 100)],
            "span": _duration(span),
        }
    ideal = block["ideal"]
    return {
        "reached": block["reached"],
        "share": _share(block["reachedShare"]),
        "done": _share(block["doneShare"]),
        "milestones": milestones,
        "concurrency": ideal["concurrency"],
        "ideal": _duration(ideal["seconds"]) if ideal["seconds"] is not None else "—",
        "chart": chart,
    }


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


def _progress_data(summary: Mapping[str, Any]) -> dict[str, Any]:
    total = summary["recipients"] or 1
    progress = summary["progress"]
    return {
        "segments": [{"key": k, "width": f"{100 * progress[k] / total:.1f}"} for k in ("done", "inProgress", "queued")],
        **progress,
        "statuses": list(summary["byStatus"].items()),
    }


def _timings_rows(timings: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """(label, value, kind): kind `when` is a time the template formats in the campaign's zone."""
    elapsed, mean_call = timings["elapsedSeconds"], timings["meanCallSeconds"]
    attempts = timings["meanAttemptsPerRecipient"]
    return [
        ("First call", timings["firstCallAt"], "when"),
        ("Last call ended", timings["lastEndedAt"], "when"),
        ("Elapsed", _duration(elapsed) if elapsed is not None else "—", "text"),
        ("Mean answered call", _duration(mean_call) if mean_call is not None else "—", "text"),
        ("Mean calls per recipient called", f"{attempts:g}" if attempts is not None else "—", "text"),
    ]


def _settings_rows(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The settings, except a callback URL's query (it may carry a token; a report is passed around)."""
    shown = dict(settings)
    if isinstance(shown.get("callbackUri"), str):
        shown["callbackUri"] = _without_secrets(shown["callbackUri"])
    return [(name, json.dumps(value, ensure_ascii=False)) for name, value in shown.items()]


def _without_secrets(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(not shown)"
    return f"{parts.scheme}://{host}{port}{parts.path}" + ("?…" if parts.query else "")


# -- helpers ----------------------------------------------------------------------------------------------------


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


def _share(share: float | None) -> str:
    return f"{100 * share:.0f}%" if share is not None else "—"


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

"""`make bench`: how well a campaign keeps its concurrency cap busy, and what each call costs the app, on the
local stack (see bench/README.md).

The same campaign runs twice on one Azurite and one emulator: first against the app as it was at a git revision
(`--compare-to`, by default the commit before the pacing work of issue 8), then against the app in this working
tree; the report puts the two side by side with their ratio. Each campaign calls numbers the emulator answers at
once; the plan plays one short prompt and hangs up. The figures come from:

- the emulator's call history (each call's [createdAt, endedAt]): concurrency against the cap, time against the
  ideal (calls x mean call length ÷ cap), and how long slots freed at the cap stay idle;
- its delivery and request logs: how fast the app reacts to an event with the request it causes;
- /proc: the CPU time of the app's process tree (devhost and its children);
- a counting proxy between the app and Azurite (bench/storage_proxy.py): Table requests and queue messages.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.app_log import Invocations, invocations
from bench.process_cpu import tree_cpu_seconds
from bench.revision import ROOT, checked_out, describe_working_tree, resolve
from bench.storage_proxy import Key, StorageProxy
from bench.timings import HANG_UP, NO_SAMPLE, Spread, answer_times, reaction_times, slot_idle_times
from callctl.api import ApiError, CampaignApi
from callctl.recipients import Recipient, chunks, to_csv
from devstack.demo import (
    EmulatedCall,
    LocalServices,
    LocalStack,
    app_service,
    azurite_connection_string,
    emulated_calls,
    local_services,
    peak_overlap,
)

# main just before issue 8 (pacing and campaign throughput): the app the bench compares against by default.
BASELINE_REVISION = "c6f4b1c"
ACS_LINES_PER_NUMBER = 2  # ACS's default limit of live outbound calls per caller number
PLAN = {"prompt": {"text": "This is a short test call. Goodbye."}}
UPLOAD_SIZE = 1000
# The app's summary reads every recipient from Table storage, work the bench would add to the app's: asked only
# this often while calls are still going, and its cost is measured afterwards and taken out of the app's.
SUMMARY_EVERY_SECONDS = 30.0
SUMMARY_COST_SAMPLES = 3
PROGRESS_EVERY_SECONDS = 15.0
LOG_ROWS = 10_000  # the most the emulator's log endpoints answer with
BENCH_POLLS = "get_campaign"  # the function that answers the bench's summary polls


@dataclass(frozen=True)
class Settings:
    recipients: int
    cap: int
    per_caller_id: int
    caller_ids: tuple[str, ...]
    calls_per_second: float
    time_scale: float
    timeout: float
    stuck_after: float = 60.0
    compare_to: str | None = BASELINE_REVISION  # None: only the app in this working tree
    count_storage: bool = True  # False: the app talks to Azurite directly (no storage figures)
    app_logs: Path | None = None  # a folder to write each app's log to, as <label>-app.log


@dataclass(frozen=True)
class StuckCall:
    """A call still connected long after every other call ended: the app stopped driving it."""

    call_connection_id: str
    target: str
    created_at: str
    call_leg_id: str  # from the callback URL
    deliveries: list[str]  # each event the emulator sent, with its delivery attempts and result
    app_log: list[str]  # the app's log lines that mention the call leg


@dataclass(frozen=True)
class Cost:
    """What the app spent over some time: CPU seconds of its process tree, and its storage requests as the proxy
    counted them (bench/storage_proxy.py)."""

    cpu_seconds: float = 0.0
    storage: Counter[Key] = field(default_factory=Counter)

    def minus(self, other: Cost, times: int = 1) -> Cost:
        taken = Counter({key: value * times for key, value in other.storage.items()})
        return Cost(max(0.0, self.cpu_seconds - times * other.cpu_seconds), self.storage - taken)

    def count(self, service: str, measure: str = "requests", kinds: Iterable[str] | None = None) -> float:
        wanted = None if kinds is None else set(kinds)
        return sum(
            value
            for (counted_service, counted_measure, kind, _), value in self.storage.items()
            if counted_service == service and counted_measure == measure and (wanted is None or kind in wanted)
        )


@dataclass(frozen=True)
class Run:
    """One campaign: what was asked for, what the app reported, every call the emulator saw, and what it cost."""

    label: str
    recipients: int
    cap: int
    submitted_at: datetime
    wall_seconds: float  # submit → the API reports the campaign completed (to within 0.5 s)
    calls: list[EmulatedCall]
    stats: dict[str, Any]
    outcomes: dict[str, int] = field(default_factory=dict)
    stuck: list[StuckCall] = field(default_factory=list)
    cost: Cost | None = None  # the app's, submit → completed, less the bench's summary polls
    summary_cost: Cost | None = None  # one summary poll, measured after the campaign
    summaries: int = 0  # summary polls made during the campaign (taken out of `cost`)
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # GET /emulator/callbacks
    requests: list[dict[str, Any]] = field(default_factory=list)  # GET /emulator/requests
    invocations: dict[str, Invocations] = field(default_factory=dict)  # by function, from the app's log

    def counted_calls(self) -> list[EmulatedCall]:
        """The calls the numbers are computed from: all but the stuck ones (their length is the bench's wait)."""
        stuck = {s.call_connection_id for s in self.stuck}
        return [c for c in self.calls if c.call_connection_id not in stuck]

    def counted_wall_seconds(self) -> float:
        """Submit → completed; with stuck calls, submit → the end of the last call that was not stuck."""
        if not self.stuck:
            return self.wall_seconds
        last_end = max(c.ended_at or c.created_at for c in self.counted_calls())
        return (last_end - self.submitted_at).total_seconds()


# -- the numbers ------------------------------------------------------------------------------------------------


def span(calls: Sequence[EmulatedCall]) -> tuple[datetime, datetime]:
    """From the first call's creation to the last call's end."""
    return min(c.created_at for c in calls), max(c.ended_at or c.created_at for c in calls)


def busy_seconds(calls: Iterable[EmulatedCall]) -> float:
    """Call-seconds: the sum of every call's length (what `cap` lines could carry in `busy ÷ cap` seconds)."""
    return sum(c.seconds for c in calls)


def mean_concurrency(calls: Sequence[EmulatedCall]) -> float:
    """Calls live on average over the span, time-weighted: call-seconds ÷ span seconds."""
    start, end = span(calls)
    seconds = (end - start).total_seconds()
    return busy_seconds(calls) / seconds if seconds > 0 else float(len(calls))


def share_of_time_at(calls: Sequence[EmulatedCall], level: int) -> float:
    """The share of the span during which at least `level` calls were live."""
    start, end = span(calls)
    total = (end - start).total_seconds()
    if total <= 0:
        return 0.0
    changes = sorted([(c.created_at, 1) for c in calls] + [(c.ended_at or end, -1) for c in calls])
    live, at_level, previous = 0, 0.0, start
    for moment, change in changes:
        if live >= level:
            at_level += (moment - previous).total_seconds()
        live, previous = live + change, moment
    return at_level / total


@dataclass(frozen=True)
class Metrics:
    cap: int
    calls: int
    mean_call_seconds: float
    peak: int  # from the call log
    stats_peak: int  # /emulator/stats peakConcurrentCalls
    stats_peak_per_caller_id: int  # the highest of /emulator/stats peakConcurrentCallsByCallerId
    mean_concurrency: float
    time_at_cap: float  # share of the span with `cap` calls live
    span_seconds: float
    ideal_seconds: float  # calls x mean call length ÷ cap
    wall_seconds: float
    first_call_after_seconds: float  # submit → the first call reached the emulator
    calls_per_second: float  # over the span
    ideal_calls_per_second: float  # cap ÷ mean call length
    slot_idle: Spread = NO_SAMPLE  # a slot freed at the cap → the next createCall
    connected_to_play: Spread = NO_SAMPLE  # CallConnected delivered → play arrived
    played_to_hang_up: Spread = NO_SAMPLE  # PlayCompleted delivered → terminate arrived
    callback_answer: Spread = NO_SAMPLE  # any callback: attempt started → the app's answer
    cost: Cost | None = None
    calls_seen: int = 0  # every call the emulator saw, stuck ones too: what costs are divided by
    invocations: dict[str, Invocations] = field(default_factory=dict)

    @property
    def utilisation(self) -> float:
        """The time-weighted mean concurrency as a share of the cap."""
        return self.mean_concurrency / self.cap

    @property
    def within_cap(self) -> bool:
        return max(self.peak, self.stats_peak) <= self.cap

    @property
    def total_over_ideal(self) -> float:
        return self.wall_seconds / self.ideal_seconds if self.ideal_seconds > 0 else math.nan

    def per_call(self, service: str, measure: str = "requests", kinds: Iterable[str] | None = None) -> float | None:
        """A storage count of the app's per call the emulator saw (None when not measured)."""
        if self.cost is None or not self.calls_seen:
            return None
        return self.cost.count(service, measure, kinds) / self.calls_seen

    def mean_answer_ms(self, service: str) -> float | None:
        """How long Azurite took to answer the app's requests to `service`, on average."""
        if self.cost is None or not (requests := self.cost.count(service)):
            return None
        return self.cost.count(service, "ms") / requests

    def invocations_per_call(self) -> float | None:
        """The app's function invocations per call, leaving out the bench's own summary polls."""
        ran = sum(tally.count for name, tally in self.invocations.items() if name != BENCH_POLLS)
        return ran / self.calls_seen if self.invocations and self.calls_seen else None

    def failed_invocations(self) -> str | None:
        return str(sum(tally.failed for tally in self.invocations.values())) if self.invocations else None

    @property
    def cpu_ms_per_call(self) -> float | None:
        return 1000 * self.cost.cpu_seconds / self.calls_seen if self.cost and self.calls_seen else None


def measure(run: Run) -> Metrics:
    calls = run.counted_calls()
    if not calls:
        raise RuntimeError(f"{run.label}: the emulator saw no calls")
    start, end = span(calls)
    mean_call = busy_seconds(calls) / len(calls)
    span_seconds = (end - start).total_seconds()
    by_caller = run.stats.get("peakConcurrentCallsByCallerId") or {}
    ids = {c.call_connection_id for c in calls}
    return Metrics(
        cap=run.cap,
        calls=len(calls),
        mean_call_seconds=mean_call,
        peak=peak_overlap(run.calls),
        stats_peak=int(run.stats.get("peakConcurrentCalls", 0)),
        stats_peak_per_caller_id=max(by_caller.values(), default=0),
        mean_concurrency=mean_concurrency(calls),
        time_at_cap=share_of_time_at(calls, run.cap),
        span_seconds=span_seconds,
        ideal_seconds=len(calls) * mean_call / run.cap,
        wall_seconds=run.counted_wall_seconds(),
        first_call_after_seconds=(start - run.submitted_at).total_seconds(),
        calls_per_second=len(calls) / span_seconds if span_seconds > 0 else float("nan"),
        ideal_calls_per_second=run.cap / mean_call if mean_call > 0 else float("nan"),
        slot_idle=Spread.of(slot_idle_times(calls, run.cap)),
        connected_to_play=Spread.of(reaction_times(run.deliveries, run.requests, "CallConnected", {"play"}, ids)),
        played_to_hang_up=Spread.of(reaction_times(run.deliveries, run.requests, "PlayCompleted", HANG_UP, ids)),
        callback_answer=Spread.of(answer_times(run.deliveries, ids)),
        cost=run.cost,
        calls_seen=len(run.calls),
        invocations=run.invocations,
    )


# -- the report -------------------------------------------------------------------------------------------------

LABEL_WIDTH, COLUMN_WIDTH = 50, 15
Value = float | str | None


@dataclass(frozen=True)
class Line:
    """One row of the report: a label, and how to get and show each run's value. Rows with `compare` also show the
    ratio of the second run's value to the first's."""

    label: str
    value: Callable[[Run, Metrics], Value]
    shown: str = "{:.2f}"
    compare: bool = False


def _refused(run: Run) -> int:
    return sum(1 for row in run.requests if row.get("operation") == "createCall" and row.get("status") == 429)


def _ms(spread: Spread, which: str) -> float:
    return 1000 * getattr(spread, which)


TABLE_READS, TABLE_WRITES = ("query", "get"), ("insert", "update", "upsert", "delete")
LINES: list[Line | str] = [
    Line("recipients", lambda r, m: str(r.recipients)),
    Line("calls the emulator saw", lambda r, m: str(len(r.calls))),
    Line("  stuck (hung up by the bench, not counted)", lambda r, m: str(len(r.stuck))),
    Line("outcomes", lambda r, m: " ".join(f"{k} {v}" for k, v in r.outcomes.items())),
    Line("mean call length (createdAt → endedAt)", lambda r, m: m.mean_call_seconds, "{:.2f}s"),
    "concurrency",
    Line("  peak, overlap of the call log / cap", lambda r, m: f"{m.peak} / {m.cap}"),
    Line("  peak, /emulator/stats / cap", lambda r, m: f"{m.stats_peak} / {m.cap}"),
    Line("  peak per caller id, stats (highest)", lambda r, m: str(m.stats_peak_per_caller_id)),
    Line("  createCall refused by ACS (429/8530)", lambda r, m: str(_refused(r))),
    Line("  mean, time-weighted over the span", lambda r, m: m.mean_concurrency, "{:.1f}"),
    Line("  mean as a share of the cap", lambda r, m: m.utilisation, "{:.0%}", compare=True),
    Line("  share of the span at the cap", lambda r, m: m.time_at_cap, "{:.0%}"),
    "time",
    Line("  ideal: calls x mean length ÷ cap", lambda r, m: m.ideal_seconds, "{:.1f}s"),
    Line("  span: first call created → last ended", lambda r, m: m.span_seconds, "{:.1f}s"),
    Line("  submit → first call", lambda r, m: m.first_call_after_seconds, "{:.1f}s"),
    Line("  total: submit → API says completed", lambda r, m: f"{m.wall_seconds:.1f}s" + ("*" if r.stuck else "")),
    Line("  total ÷ ideal", lambda r, m: m.total_over_ideal, "{:.2f}x", compare=True),
    "throughput",
    Line("  calls/s over the span", lambda r, m: m.calls_per_second, compare=True),
    Line("  ideal calls/s (cap ÷ mean length)", lambda r, m: m.ideal_calls_per_second),
    "slot idle: a call ended at the cap → next createCall",
    Line("  ends at the cap while recipients waited", lambda r, m: str(m.slot_idle.count)),
    Line("  idle, mean", lambda r, m: _ms(m.slot_idle, "mean"), "{:.0f}ms", compare=True),
    Line("  idle, p95", lambda r, m: _ms(m.slot_idle, "p95"), "{:.0f}ms", compare=True),
    "app reaction: callback attempt started → request",
    Line("  CallConnected → play, p50", lambda r, m: _ms(m.connected_to_play, "p50"), "{:.0f}ms", compare=True),
    Line("  CallConnected → play, p95", lambda r, m: _ms(m.connected_to_play, "p95"), "{:.0f}ms", compare=True),
    Line("  PlayCompleted → hang up, p50", lambda r, m: _ms(m.played_to_hang_up, "p50"), "{:.0f}ms", compare=True),
    Line("  PlayCompleted → hang up, p95", lambda r, m: _ms(m.played_to_hang_up, "p95"), "{:.0f}ms", compare=True),
    Line("  any callback answered, p50", lambda r, m: _ms(m.callback_answer, "p50"), "{:.0f}ms", compare=True),
    Line("  any callback answered, p95", lambda r, m: _ms(m.callback_answer, "p95"), "{:.0f}ms", compare=True),
    "app cost per call (÷ calls the emulator saw)",
    Line("  CPU ms, devhost process tree", lambda r, m: m.cpu_ms_per_call, "{:.0f}", compare=True),
    Line("  function invocations (not the bench's polls)", lambda r, m: m.invocations_per_call(), compare=True),
    Line("    failed (their messages come back later), all", lambda r, m: m.failed_invocations()),
    Line("  Table requests", lambda r, m: m.per_call("table"), "{:.1f}", compare=True),
    Line("    reads: query pages, gets", lambda r, m: m.per_call("table", kinds=TABLE_READS), "{:.1f}", compare=True),
    Line("    single writes", lambda r, m: m.per_call("table", kinds=TABLE_WRITES), "{:.1f}", compare=True),
    Line("    batches", lambda r, m: m.per_call("table", kinds=["batch"]), "{:.1f}", compare=True),
    Line("      entity operations in them", lambda r, m: m.per_call("table", "batched"), "{:.1f}"),
    Line("    failed (lost races, rows not found)", lambda r, m: m.per_call("table", "failed"), "{:.1f}", compare=True),
    Line("    Azurite's answer time, mean", lambda r, m: m.mean_answer_ms("table"), "{:.1f}ms"),
    Line("  Queue requests", lambda r, m: m.per_call("queue"), "{:.1f}", compare=True),
    Line("    messages sent", lambda r, m: m.per_call("queue", kinds=["send"]), "{:.1f}", compare=True),
    Line("    receive requests (polls)", lambda r, m: m.per_call("queue", kinds=["receive"]), "{:.1f}", compare=True),
    Line("      messages received", lambda r, m: m.per_call("queue", "messages"), "{:.1f}", compare=True),
    Line("    messages deleted", lambda r, m: m.per_call("queue", kinds=["delete"]), "{:.1f}"),
    Line("    messages updated (made visible again)", lambda r, m: m.per_call("queue", kinds=["update"]), "{:.1f}"),
    Line("    Azurite's answer time, mean", lambda r, m: m.mean_answer_ms("queue"), "{:.1f}ms"),
]


def _shown(value: Value, shown: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return value if isinstance(value, str) else shown.format(value)


def _ratio(values: Sequence[Value]) -> str:
    old, new = values
    if not isinstance(old, int | float) or not isinstance(new, int | float) or math.isnan(old) or math.isnan(new):
        return "-"
    if old == 0:
        return "-" if new == 0 else "∞"
    return f"{new / old:.2f}"


def _row(label: str, cells: Iterable[str]) -> str:
    return f"{label:<{LABEL_WIDTH}}" + "".join(f"{cell:>{COLUMN_WIDTH}}" for cell in cells)


def report(settings: Settings, runs: Sequence[Run], about: Sequence[str] = ()) -> tuple[str, bool]:
    """The table of every run side by side (with the ratio of the second to the first when there are two), and
    whether every cap held and no call got stuck. `about`: lines that say which app each run is."""
    measured = [(run, measure(run)) for run in runs]
    ratio = len(runs) == 2
    lines = [
        f"Campaign bench: cap {settings.cap} calls at once over {len(settings.caller_ids)} caller ids "
        f"(≤ {settings.per_caller_id} each), ≤ {settings.calls_per_second:g} starts/s, "
        f"emulator time scale {settings.time_scale:g}",
        *about,
        "",
        _row("", [run.label for run in runs] + ([f"{runs[1].label}/{runs[0].label}"] if ratio else [])),
    ]
    for line in LINES:
        if isinstance(line, str):
            lines.append(line)
            continue
        values = [line.value(run, metrics) for run, metrics in measured]
        cells = [_shown(value, line.shown) for value in values]
        if ratio:
            cells.append(_ratio(values) if line.compare else "")
        lines.append(_row(line.label, cells))
    lines += _breakdown(measured, ratio)
    over = [run.label for run, m in measured if not m.within_cap or m.stats_peak_per_caller_id > settings.per_caller_id]
    lines.append("")
    lines.append(f"CAP EXCEEDED in: {', '.join(over)}" if over else "The caps held in every run.")
    for run in runs:
        if run.summary_cost is not None and run.summaries:
            one = run.summary_cost
            lines.append(
                f"{run.label}: the costs leave out the bench's {run.summaries} summary poll(s), "
                f"{1000 * one.cpu_seconds:.0f} ms CPU and {one.count('table'):.0f} Table requests each "
                "(measured after the campaign)"
            )
    stuck = [(run.label, call) for run in runs for call in run.stuck]
    if stuck:
        lines += [
            f"* {len(stuck)} call(s) stayed connected after the campaign's other calls had ended: the app stopped",
            "  driving them. The bench hung them up (as a callee on a silent line would) and counts the total only",
            "  to the end of the last other call. The numbers leave these calls out.",
        ]
        for label, call in stuck:
            lines.append(f"  {label}: call {call.call_connection_id} to {call.target}, created {call.created_at}, "
                         f"call leg {call.call_leg_id}")  # fmt: skip
            lines += [f"    emulator: {delivery}" for delivery in call.deliveries]
            lines += [f"    app: {line}" for line in call.app_log[-30:]]
    return "\n".join(lines), not over and not stuck


def _breakdown(measured: Sequence[tuple[Run, Metrics]], ratio: bool) -> list[str]:
    """Where the app's work goes: invocations by function, storage requests by table or queue and kind."""
    lines = []
    names = sorted({name for _, m in measured for name in m.invocations})
    if names:
        lines += ["", "function invocations per call, and their mean duration (wall time)"]
    for name in names:
        tallies = [m.invocations.get(name, Invocations()) for _, m in measured]
        counts: list[Value] = [
            t.count / m.calls_seen if m.calls_seen else None for t, (_, m) in zip(tallies, measured, strict=True)
        ]
        cells = [_shown(value, "{:.2f}") for value in counts] + ([_ratio(counts)] if ratio else [])
        lines.append(_row(f"  {name}" + (" (the bench's polls)" if name == BENCH_POLLS else ""), cells))
        means: list[Value] = [t.milliseconds / t.count if t.count else None for t in tallies]
        cells = [_shown(value, "{:.0f}ms") for value in means] + ([_ratio(means)] if ratio else [])
        lines.append(_row("    mean duration", cells))
        if any(t.failed for t in tallies):
            lines.append(_row("    failed (all, not per call)", [str(t.failed) for t in tallies]))
    keys = sorted({(service, resource, kind) for _, m in measured if m.cost
                   for service, what, kind, resource in m.cost.storage if what == "requests"})  # fmt: skip
    if keys:
        lines += ["", "storage requests per call, by table or queue and kind"]
    for service, resource, kind in keys:
        for what, label in (("requests", f"  {service} {resource}: {kind}"), ("failed", "    of them failed")):
            values: list[Value] = []
            for _, m in measured:
                count = m.cost.storage.get((service, what, kind, resource), 0) if m.cost else 0
                values.append(count / m.calls_seen if m.calls_seen else None)
            if all(value is None or value < 0.005 for value in values):
                continue
            cells = [_shown(value, "{:.2f}") for value in values] + ([_ratio(values)] if ratio else [])
            lines.append(_row(label, cells))
    return lines


# -- running a campaign -----------------------------------------------------------------------------------------


def cost_now(pid: int, proxy: StorageProxy | None) -> Cost:
    return Cost(tree_cpu_seconds(pid), proxy.snapshot() if proxy else Counter())


def run_campaign(
    stack: LocalStack, settings: Settings, label: str, count: int, series: int, proxy: StorageProxy | None = None
) -> Run:
    """One campaign of `count` fresh numbers (`+1312<series><6 digits>`); the emulator's log is reset first. The
    app's CPU and storage requests are counted from just before the campaign is submitted to its completion."""
    stack.emulator("POST", "/reset")
    numbers = [f"+1312{series}{index:06d}" for index in range(count)]
    api = CampaignApi(stack.app_url, None)
    campaign_id = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    app_pid = stack.service("app").pid
    print(f"{label}: {count} recipients, campaign {campaign_id} ...", flush=True)
    before = cost_now(app_pid, proxy)
    log_from = datetime.now()  # devhost's log shows naive local times
    submitted_at, started = datetime.now(UTC), time.monotonic()
    api.create_campaign(
        {
            "campaignId": campaign_id,
            "name": f"bench {label}",
            "plan": PLAN,
            "callerIds": list(settings.caller_ids),
            "pacing": {
                "maxConcurrentCalls": settings.cap,
                "maxConcurrentCallsPerCallerId": settings.per_caller_id,
                "callsPerSecond": settings.calls_per_second,
            },
            "retry": {"maxAttempts": 1},
        }
    )
    for part in chunks([Recipient(n) for n in numbers], UPLOAD_SIZE):
        api.add_recipients_csv(campaign_id, to_csv(part))
    stuck: list[StuckCall] = []
    summary, summaries = _wait_until_completed(api, stack, campaign_id, count, started + settings.timeout, settings,
                                               stuck)  # fmt: skip
    wall = time.monotonic() - started
    spent = cost_now(app_pid, proxy).minus(before)
    ran = invocations(list(stack.service("app").tail), log_from, datetime.now())
    calls = emulated_calls(stack, numbers)
    stats = stack.emulator("GET", "/stats").json()
    deliveries = stack.emulator("GET", "/callbacks", params={"limit": LOG_ROWS}).json()["value"]
    requests_log = stack.emulator("GET", "/requests", params={"limit": LOG_ROWS}).json()["value"]
    one_summary = _cost_of_a_summary(api, campaign_id, app_pid, proxy)
    print(f"{label}: done in {wall:.1f}s, {len(calls)} calls", flush=True)
    outcomes = dict(summary.get("byOutcome", {}))
    return Run(label, count, settings.cap, submitted_at, wall, calls, stats, outcomes, stuck,
               cost=spent.minus(one_summary, summaries), summary_cost=one_summary, summaries=summaries,
               deliveries=deliveries, requests=requests_log, invocations=ran)  # fmt: skip


def _cost_of_a_summary(api: CampaignApi, campaign_id: str, app_pid: int, proxy: StorageProxy | None) -> Cost:
    """What one `GET /campaigns/{id}` costs the app, now that the campaign is over: the cheapest of a few tries
    (the app's queue pollers and timers run meanwhile)."""
    samples = []
    for _ in range(SUMMARY_COST_SAMPLES):
        before = cost_now(app_pid, proxy)
        api.summary(campaign_id)
        samples.append(cost_now(app_pid, proxy).minus(before))
    return Cost(min(s.cpu_seconds for s in samples), min((s.storage for s in samples), key=lambda c: c.total()))


def _wait_until_completed(
    api: CampaignApi,
    stack: LocalStack,
    campaign_id: str,
    count: int,
    deadline: float,
    settings: Settings,
    stuck: list[StuckCall],
) -> tuple[dict[str, Any], int]:
    """Follow the emulator's counters (in memory, cheap) and ask the app for its summary (which reads every
    recipient from Table storage, work that would slow the campaign down) every SUMMARY_EVERY_SECONDS, and every
    half second once all calls have ended. Calls left connected `stuck_after` seconds once all were placed are
    hung up (and added to `stuck`), so one lost call does not hold the bench until its timeout. Returns the
    summary that said completed, and how many summaries were asked for."""
    asked = shown = looked = float("-inf")
    summaries = 0
    while True:
        stack.check_running()
        stats = stack.emulator("GET", "/stats").json()
        all_placed = stats["callsCreated"] >= count
        all_ended = all_placed and stats["liveCalls"] == 0
        if all_ended or time.monotonic() - asked >= SUMMARY_EVERY_SECONDS:
            summary, asked = api.summary(campaign_id), time.monotonic()
            summaries += 1
            if summary["status"] == "completed" and summary["recipients"] >= count:
                return summary, summaries
        if all_placed and not all_ended and time.monotonic() - looked >= 5.0:
            stuck += hang_up_stuck_calls(stack, settings.stuck_after)
            looked = time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{campaign_id} did not complete in time: {stats['callsCreated']} calls placed")
        if time.monotonic() - shown >= PROGRESS_EVERY_SECONDS:
            print(f"  {stats['callsCreated']}/{count} calls placed, {stats['liveCalls']} live", flush=True)
            shown = time.monotonic()
        time.sleep(0.5 if all_ended else 0.25)


def hang_up_stuck_calls(stack: LocalStack, older_than: float) -> list[StuckCall]:
    """When every call still live is older than `older_than` seconds, note what happened to each and hang it up
    (all its participants leave, so the app hears CallDisconnected); else nothing."""
    now = datetime.now(UTC)
    live = [c for c in stack.emulator("GET", "/calls").json()["value"] if not c.get("endedAt")]
    if not live or any((now - datetime.fromisoformat(c["createdAt"])).total_seconds() < older_than for c in live):
        return []
    found = []
    for call in live:
        detail = stack.emulator("GET", f"/calls/{call['callConnectionId']}").json()
        deliveries = [
            f"{e['type']} at {e['time']}: {e['delivery'].get('status')} after {e['delivery'].get('attempts')} "
            f"attempt(s), HTTP {e['delivery'].get('httpStatus')}"
            for e in detail.get("events", [])
        ]
        url = next((e["delivery"].get("url", "") for e in detail.get("events", [])), "")
        path = urlsplit(url).path  # .../callbacks/<leg id>?token=<secret>
        leg_id = path.rstrip("/").rsplit("/", 1)[-1] if "/callbacks/" in path else ""
        app_log = stack.service("app").lines_mentioning(leg_id) if leg_id else []
        target = (call.get("targets") or [""])[0].removeprefix("4:")
        found.append(StuckCall(call["callConnectionId"], target, call["createdAt"], leg_id, deliveries, app_log))
        stack.emulator("POST", f"/calls/{call['callConnectionId']}/hangup", json={})
        print(f"  call {call['callConnectionId']} to {target} stuck since {call['createdAt']}: hung up", flush=True)
    return found


# -- which apps run ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppUnderTest:
    label: str  # the report's column
    about: str  # what it is, for the report's header
    app_dir: Path  # the checkout its devhost and app run from
    series: int  # its campaign calls +1312<series>......
    account: str  # its own storage account in Azurite: the runs share no table or queue

    def storage_connection_string(self, local: LocalServices, proxy: StorageProxy | None) -> str:
        """Tables and queues through the counting proxy, if any; blobs (unused by the app) straight to Azurite."""
        if proxy is None:
            return local.storage_connection_string(self.account)
        return azurite_connection_string(local.blob_port, proxy.ports["queue"], proxy.ports["table"], self.account)


def apps_under_test(settings: Settings, context: ExitStack) -> list[AppUnderTest]:
    """The baseline (checked out into a temporary worktree, removed when `context` closes), then this tree's app."""
    apps = []
    if settings.compare_to:
        revision = resolve(settings.compare_to)
        folder = context.enter_context(checked_out(revision))
        about = f'  old: the app at {revision.commit[:7]} "{revision.subject}", checked out in {folder}'
        apps.append(AppUnderTest("old", about, folder, 6, "benchold"))
    apps.append(AppUnderTest("new", f"  new: the app in {ROOT} at {describe_working_tree()}", ROOT, 7, "benchnew"))
    return apps


def _write_log(stack: LocalStack, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(stack.service("app").tail) + "\n", encoding="utf-8")
    print(f"  the app's log: {path}", flush=True)


def machine_note() -> str:
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)"


# -- command line -----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000, help="each campaign's size (default 1000)")
    parser.add_argument("--cap", type=int, default=20, help="maxConcurrentCalls (default 20)")
    parser.add_argument("--time-scale", type=float, default=0.5, help="the emulator's --time-scale (default 0.5)")
    parser.add_argument(
        "--compare-to",
        default=BASELINE_REVISION,
        metavar="REV",
        help=f"git revision of the app to run the same campaign against first (default {BASELINE_REVISION}, "
        "main before issue 8; 'none': only this working tree's app)",
    )
    parser.add_argument(
        "--direct-storage",
        action="store_true",
        help="no counting proxy: the app talks to Azurite itself (no storage figures; shows what the proxy costs)",
    )
    parser.add_argument(
        "--app-logs", type=Path, metavar="DIR", help="write each app's log (devhost's output) to DIR/<old|new>-app.log"
    )
    parser.add_argument(
        "--caller-ids", type=int, default=None, metavar="N",
        help=f"size of the caller id pool (default: enough for the cap at {ACS_LINES_PER_NUMBER} lines per number)",
    )
    parser.add_argument(
        "--per-caller-id", type=int, default=ACS_LINES_PER_NUMBER,
        help=f"maxConcurrentCallsPerCallerId (default {ACS_LINES_PER_NUMBER}, ACS's own limit per number)",
    )
    parser.add_argument(
        "--calls-per-second", type=float, default=100.0, help="callsPerSecond (default 100, not binding)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per campaign before giving up (1800)")
    parser.add_argument(
        "--stuck-after",
        type=float,
        default=60,
        metavar="SECONDS",
        help="once all calls are placed, hang up calls live this long (default 60)",
    )
    args = parser.parse_args(argv)
    if args.caller_ids is None:
        args.caller_ids = math.ceil(args.cap / ACS_LINES_PER_NUMBER)
    if min(args.recipients, args.cap, args.caller_ids) < 1 or args.time_scale <= 0:
        parser.error("--recipients, --cap and --caller-ids must be at least 1, --time-scale more than 0")
    return Settings(
        recipients=args.recipients,
        cap=args.cap,
        per_caller_id=args.per_caller_id,
        caller_ids=tuple(f"+1800555{101 + i:04d}" for i in range(args.caller_ids)),
        calls_per_second=args.calls_per_second,
        time_scale=args.time_scale,
        timeout=args.timeout,
        stuck_after=args.stuck_after,
        compare_to=None if args.compare_to.lower() in ("", "none") else args.compare_to,
        count_storage=not args.direct_storage,
        app_logs=args.app_logs,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    about = []
    try:
        with ExitStack() as context:
            apps = apps_under_test(settings, context)
            about = [app.about for app in apps] + [f"  machine at the start: {machine_note()}"]
            print(f"Starting Azurite and the emulator (time scale {settings.time_scale:g}) on free ports", flush=True)
            local = context.enter_context(
                local_services(
                    time_scale=settings.time_scale,
                    accounts=[app.account for app in apps],
                    # as ACS by default: a third live call on a number is refused (429/8530)
                    emulator_args=["--max-concurrent-calls-per-number", str(ACS_LINES_PER_NUMBER)],
                )
            )
            proxy = None
            if settings.count_storage:
                proxy = context.enter_context(StorageProxy({"table": local.table_port, "queue": local.queue_port}))
            runs = []
            for app in apps:
                print(f"{app.label}: starting the app from {app.app_dir}", flush=True)
                storage = app.storage_connection_string(local, proxy)
                with app_service(local, storage_connection_string=storage, app_dir=app.app_dir) as stack:
                    try:
                        runs.append(run_campaign(stack, settings, app.label, settings.recipients, app.series, proxy))
                    finally:
                        if settings.app_logs:
                            _write_log(stack, settings.app_logs / f"{app.label}-app.log")
            about.append(f"  machine at the end:   {machine_note()}")
    except KeyboardInterrupt:
        print("\nbench: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    except (RuntimeError, ApiError, requests.RequestException) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    text, all_well = report(settings, runs, about)
    print()
    print(text)
    return 0 if all_well else 1


if __name__ == "__main__":
    sys.exit(main())

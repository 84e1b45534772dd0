"""`make bench`: how well a campaign keeps its concurrency cap busy, on the local stack (see bench/README.md).

A baseline campaign (a few times the cap) and then the main campaign (1,000 recipients by default) call numbers
the emulator answers at once; the plan plays one short prompt and hangs up. From the emulator's call history
(each call's [createdAt, endedAt]) the bench computes the peak and the time-weighted mean concurrency against
the cap, and the campaign's time against the ideal: calls x mean call length ÷ cap.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from callctl.api import ApiError, CampaignApi
from callctl.recipients import Recipient, chunks, to_csv
from devstack.demo import EmulatedCall, LocalStack, emulated_calls, local_stack, peak_overlap

PLAN = {"prompt": {"text": "This is a short test call. Goodbye."}}
UPLOAD_SIZE = 1000
SUMMARY_EVERY_SECONDS = 5.0
PROGRESS_EVERY_SECONDS = 15.0


@dataclass(frozen=True)
class Settings:
    recipients: int
    baseline_recipients: int
    cap: int
    per_caller_id: int
    caller_ids: tuple[str, ...]
    calls_per_second: float
    time_scale: float
    timeout: float
    stuck_after: float = 60.0


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
class Run:
    """One campaign: what was asked for, what the app reported, and every call the emulator saw."""

    label: str
    recipients: int
    cap: int
    submitted_at: datetime
    wall_seconds: float  # submit → the API reports the campaign completed (to within 0.5 s)
    calls: list[EmulatedCall]
    stats: dict[str, Any]
    outcomes: dict[str, int] = field(default_factory=dict)
    stuck: list[StuckCall] = field(default_factory=list)

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

    @property
    def utilisation(self) -> float:
        """The time-weighted mean concurrency as a share of the cap."""
        return self.mean_concurrency / self.cap

    @property
    def within_cap(self) -> bool:
        return max(self.peak, self.stats_peak) <= self.cap


def measure(run: Run) -> Metrics:
    calls = run.counted_calls()
    if not calls:
        raise RuntimeError(f"{run.label}: the emulator saw no calls")
    start, end = span(calls)
    mean_call = busy_seconds(calls) / len(calls)
    span_seconds = (end - start).total_seconds()
    by_caller = run.stats.get("peakConcurrentCallsByCallerId") or {}
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
    )


def report(settings: Settings, runs: Sequence[Run]) -> tuple[str, bool]:
    """The table of every run side by side, and whether every cap held and no call got stuck."""
    measured = [(run, measure(run)) for run in runs]
    width = 16
    lines = [
        f"Campaign bench: cap {settings.cap} calls at once over {len(settings.caller_ids)} caller ids "
        f"(≤ {settings.per_caller_id} each), ≤ {settings.calls_per_second:g} starts/s, "
        f"emulator time scale {settings.time_scale:g}",
        "",
        f"{'':<44}" + "".join(f"{run.label:>{width}}" for run, _ in measured),
    ]

    def row(label: str, values: Iterable[str]) -> None:
        lines.append(f"{label:<44}" + "".join(f"{value:>{width}}" for value in values))

    row("recipients", (str(run.recipients) for run, _ in measured))
    row("calls the emulator saw", (str(len(run.calls)) for run, _ in measured))
    row("  stuck (hung up by the bench, not counted)", (str(len(run.stuck)) for run, _ in measured))
    row("outcomes", (" ".join(f"{k} {v}" for k, v in run.outcomes.items()) for run, _ in measured))
    row("mean call length (createdAt → endedAt)", (f"{m.mean_call_seconds:.2f}s" for _, m in measured))
    lines.append("concurrency")
    row("  peak, overlap of the call log / cap", (f"{m.peak} / {m.cap}" for _, m in measured))
    row("  peak, /emulator/stats / cap", (f"{m.stats_peak} / {m.cap}" for _, m in measured))
    row("  peak per caller id, stats / its cap", (f"{m.stats_peak_per_caller_id} / {settings.per_caller_id}"
                                                   for _, m in measured))  # fmt: skip
    row("  mean, time-weighted over the span", (f"{m.mean_concurrency:.1f}" for _, m in measured))
    row("  mean as a share of the cap", (f"{m.utilisation:.0%}" for _, m in measured))
    row("  share of the span at the cap", (f"{m.time_at_cap:.0%}" for _, m in measured))
    lines.append("time")
    row("  ideal: calls x mean length ÷ cap", (f"{m.ideal_seconds:.1f}s" for _, m in measured))
    row("  span: first call created → last ended", (f"{m.span_seconds:.1f}s" for _, m in measured))
    row("  submit → first call", (f"{m.first_call_after_seconds:.1f}s" for _, m in measured))
    row("  total: submit → API says completed", (f"{m.wall_seconds:.1f}s" + ("*" if run.stuck else "")
                                                 for run, m in measured))  # fmt: skip
    row("  total ÷ ideal", (f"{m.wall_seconds / m.ideal_seconds:.2f}x" for _, m in measured))
    lines.append("throughput")
    row("  calls/s over the span", (f"{m.calls_per_second:.2f}" for _, m in measured))
    row("  ideal calls/s (cap ÷ mean length)", (f"{m.ideal_calls_per_second:.2f}" for _, m in measured))
    over = [run.label for run, m in measured if not m.within_cap or m.stats_peak_per_caller_id > settings.per_caller_id]
    lines.append("")
    lines.append(f"CAP EXCEEDED in: {', '.join(over)}" if over else "The caps held in every run.")
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


# -- running a campaign -----------------------------------------------------------------------------------------


def run_campaign(stack: LocalStack, settings: Settings, label: str, count: int, series: int) -> Run:
    """One campaign of `count` fresh numbers (`+1312<series><6 digits>`); the emulator's log is reset first."""
    stack.emulator("POST", "/reset")
    numbers = [f"+1312{series}{index:06d}" for index in range(count)]
    api = CampaignApi(stack.app_url, None)
    campaign_id = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    print(f"{label}: {count} recipients, campaign {campaign_id} ...", flush=True)
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
    summary = _wait_until_completed(api, stack, campaign_id, count, started + settings.timeout, settings, stuck)
    wall = time.monotonic() - started
    calls = emulated_calls(stack, numbers)
    stats = stack.emulator("GET", "/stats").json()
    print(f"{label}: done in {wall:.1f}s, {len(calls)} calls", flush=True)
    outcomes = dict(summary.get("byOutcome", {}))
    return Run(label, count, settings.cap, submitted_at, wall, calls, stats, outcomes, stuck)


def _wait_until_completed(
    api: CampaignApi,
    stack: LocalStack,
    campaign_id: str,
    count: int,
    deadline: float,
    settings: Settings,
    stuck: list[StuckCall],
) -> dict[str, Any]:
    """Follow the emulator's counters (in memory, cheap) and ask the app for its summary (which reads every
    recipient from Table storage, work that would slow the campaign down) every few seconds, and every half
    second once all calls have ended. Calls left connected `stuck_after` seconds once all were placed are hung
    up (and added to `stuck`), so one lost call does not hold the bench until its timeout."""
    asked = shown = looked = float("-inf")
    while True:
        stack.check_running()
        stats = stack.emulator("GET", "/stats").json()
        all_placed = stats["callsCreated"] >= count
        all_ended = all_placed and stats["liveCalls"] == 0
        if all_ended or time.monotonic() - asked >= SUMMARY_EVERY_SECONDS:
            summary, asked = api.summary(campaign_id), time.monotonic()
            if summary["status"] == "completed" and summary["recipients"] >= count:
                return summary
        if all_placed and not all_ended and time.monotonic() - looked >= SUMMARY_EVERY_SECONDS:
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


# -- command line -----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1000, help="the main campaign's size (default 1000)")
    parser.add_argument("--cap", type=int, default=20, help="maxConcurrentCalls (default 20)")
    parser.add_argument("--time-scale", type=float, default=0.5, help="the emulator's --time-scale (default 0.5)")
    parser.add_argument(
        "--baseline", type=int, default=None, metavar="N", help="baseline size (default 5 x cap; 0: none)"
    )
    parser.add_argument("--caller-ids", type=int, default=4, metavar="N", help="size of the caller id pool (4)")
    parser.add_argument(
        "--per-caller-id", type=int, default=None, help="maxConcurrentCallsPerCallerId (default: the cap, not binding)"
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
    if min(args.recipients, args.cap, args.caller_ids) < 1 or args.time_scale <= 0:
        parser.error("--recipients, --cap and --caller-ids must be at least 1, --time-scale more than 0")
    return Settings(
        recipients=args.recipients,
        baseline_recipients=5 * args.cap if args.baseline is None else args.baseline,
        cap=args.cap,
        per_caller_id=args.per_caller_id or args.cap,
        caller_ids=tuple(f"+1800555{101 + i:04d}" for i in range(args.caller_ids)),
        calls_per_second=args.calls_per_second,
        time_scale=args.time_scale,
        timeout=args.timeout,
        stuck_after=args.stuck_after,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (`cmd &`)
    print(f"Starting the local stack on free ports (emulator time scale {settings.time_scale:g})...", flush=True)
    try:
        with local_stack(time_scale=settings.time_scale) as stack:
            runs = []
            if settings.baseline_recipients:
                runs.append(run_campaign(stack, settings, "baseline", settings.baseline_recipients, series=6))
            runs.append(run_campaign(stack, settings, "main", settings.recipients, series=7))
    except KeyboardInterrupt:
        print("\nbench: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    except (RuntimeError, ApiError, requests.RequestException) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    text, all_well = report(settings, runs)
    print()
    print(text)
    return 0 if all_well else 1


if __name__ == "__main__":
    sys.exit(main())

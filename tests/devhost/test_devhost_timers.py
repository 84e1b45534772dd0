"""Timer triggers: indexing, the scheduler on its own (fast TimeSpan schedules), and a real devhost process.

The sample app's `tick` runs on TICK_SCHEDULE, sleeps TICK_SLEEP seconds and fails its first TICK_FAIL_FIRST runs;
`on_startup` has a yearly schedule and run_on_startup. Both record each run in the invocation log.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import azure.functions as func
import pytest

from devhost.indexing import IndexingError, TimerFunction, index_functions
from devhost.schedules import IntervalSchedule, Schedule, parse_schedule
from devhost.timer_runner import TimerListener
from tests.devhost.sample_host import SampleHost, start_sample_host, wait_until
from tests.support.azurite_process import RunningAzurite

# --- indexing ---------------------------------------------------------------------------------------------------


def _reconcile_app(schedule: str) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule=schedule, run_on_startup=True, use_monitor=False)
    @app.queue_output(arg_name="out", queue_name="sweeps", connection="AzureWebJobsStorage")
    def reconcile(timer: func.TimerRequest, out: func.Out[str]) -> None:
        return None

    return app


def test_index_describes_a_timer_function_with_its_resolved_schedule() -> None:
    environ = {"RECONCILE_SCHEDULE": "0 */5 * * * *", "WEBSITE_TIME_ZONE": "Europe/Paris"}

    (timer,) = index_functions(_reconcile_app("%RECONCILE_SCHEDULE%"), environ)

    assert isinstance(timer, TimerFunction)
    assert (timer.name, timer.trigger_arg) == ("reconcile", "timer")
    assert (timer.run_on_startup, timer.use_monitor) == (True, False)
    assert timer.schedule.expression == "0 */5 * * * *"
    assert timer.schedule.time_zone == ZoneInfo("Europe/Paris")
    assert [(o.arg_name, o.queue_name) for o in timer.outputs] == [("out", "sweeps")]


def test_a_schedule_setting_that_is_not_set_stops_start_up_naming_the_function() -> None:
    with pytest.raises(IndexingError, match=r"function 'reconcile': app setting 'RECONCILE_SCHEDULE'"):
        index_functions(_reconcile_app("%RECONCILE_SCHEDULE%"), {})


def test_an_invalid_schedule_stops_start_up_naming_the_function() -> None:
    with pytest.raises(IndexingError) as refused:
        index_functions(_reconcile_app("%RECONCILE_SCHEDULE%"), {"RECONCILE_SCHEDULE": "0 0 9 * * 7"})

    assert str(refused.value).startswith(
        "function 'reconcile': the schedule expression '0 0 9 * * 7' was not recognized as a valid cron expression"
    )


def test_an_unknown_time_zone_stops_start_up_naming_the_function() -> None:
    with pytest.raises(IndexingError, match=r"function 'reconcile': WEBSITE_TIME_ZONE='Mars/Olympus'"):
        index_functions(_reconcile_app("0 0 * * * *"), {"WEBSITE_TIME_ZONE": "Mars/Olympus"})


# --- the scheduler, with a recording invoker ---------------------------------------------------------------------


@dataclass
class ScriptedInvoker:
    """Stands in for the Invoker: records each run and can take time, fail, or wait to be released."""

    duration: float = 0.0
    fail_first: int = 0
    release: threading.Event | None = None
    runs: list[tuple[float, float]] = field(default_factory=list)  # (start, end), monotonic
    requests: list[func.TimerRequest] = field(default_factory=list)
    running: int = 0
    most_running: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, function: TimerFunction, request: func.TimerRequest, *, reason: str) -> None:
        started = time.monotonic()
        with self._lock:
            self.requests.append(request)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            if self.release is not None:
                self.release.wait(10)
            time.sleep(self.duration)
            if len(self.runs) < self.fail_first:
                raise RuntimeError("failing on purpose")
        finally:
            with self._lock:
                self.running -= 1
                self.runs.append((started, time.monotonic()))


def _timer(schedule: Schedule, *, run_on_startup: bool = False) -> TimerFunction:
    return TimerFunction(
        name="tick",
        trigger_arg="timer",
        user_function=lambda timer: None,
        outputs=(),
        schedule=schedule,
        run_on_startup=run_on_startup,
        use_monitor=None,
    )


@pytest.fixture
def listeners() -> Iterator[list[TimerListener]]:
    """Listeners a test starts; stopped afterwards even if the test failed."""
    started: list[TimerListener] = []
    yield started
    for listener in started:
        listener.stop(5)


def _start(listeners: list[TimerListener], function: TimerFunction, invoker: ScriptedInvoker) -> TimerListener:
    listener = TimerListener(function, invoker)  # type: ignore[arg-type]
    listeners.append(listener)
    listener.start()
    return listener


EVERY_100_MS = IntervalSchedule("00:00:00.1", timedelta(milliseconds=100))
YEARLY = parse_schedule("0 0 0 1 1 *")


def test_runs_follow_the_schedule_and_get_a_timer_request(listeners: list[TimerListener]) -> None:
    invoker = ScriptedInvoker()
    _start(listeners, _timer(EVERY_100_MS), invoker)

    wait_until(lambda: len(invoker.runs) >= 3, timeout=5)

    starts = [start for start, _ in invoker.runs]
    assert all(later - earlier >= 0.09 for earlier, later in itertools.pairwise(starts))
    request = invoker.requests[0]
    assert request.past_due is False
    assert request.schedule == {"AdjustForDST": False}  # what the host reports for a TimeSpan schedule


def test_a_failing_run_does_not_stop_the_schedule(listeners: list[TimerListener]) -> None:
    invoker = ScriptedInvoker(fail_first=2)
    listener = _start(listeners, _timer(EVERY_100_MS), invoker)

    wait_until(lambda: len(invoker.runs) >= 4, timeout=5)  # two failures, then two successes

    assert listener.stop(5) is True


def test_a_run_that_overruns_is_never_overlapped_and_the_next_starts_when_it_ends(
    listeners: list[TimerListener],
) -> None:
    # Each run takes 0.5 s on a 0.3 s schedule. Counting the next run from the end of the last would leave a 0.3 s
    # gap; the host counts from its start, which has passed, so the next run starts at once.
    invoker = ScriptedInvoker(duration=0.5)
    _start(listeners, _timer(IntervalSchedule("00:00:00.3", timedelta(milliseconds=300))), invoker)

    wait_until(lambda: len(invoker.runs) >= 3, timeout=5)

    assert invoker.most_running == 1
    for (_, previous_end), (next_start, _) in itertools.pairwise(invoker.runs):
        assert previous_end <= next_start < previous_end + 0.15


def test_run_on_startup_runs_at_once(listeners: list[TimerListener]) -> None:
    invoker = ScriptedInvoker()
    _start(listeners, _timer(YEARLY, run_on_startup=True), invoker)

    wait_until(lambda: invoker.runs, timeout=2)  # a yearly schedule cannot explain this run

    assert invoker.requests[0].schedule == {"AdjustForDST": True}


def test_stop_while_waiting_returns_at_once(listeners: list[TimerListener]) -> None:
    listener = _start(listeners, _timer(YEARLY), ScriptedInvoker())

    started = time.monotonic()
    assert listener.stop(5) is True
    assert time.monotonic() - started < 1


def test_stop_gives_a_running_invocation_the_grace_period_and_starts_no_other(
    listeners: list[TimerListener],
) -> None:
    invoker = ScriptedInvoker(release=threading.Event())
    listener = _start(listeners, _timer(EVERY_100_MS, run_on_startup=True), invoker)
    wait_until(lambda: invoker.running == 1, timeout=2)

    assert listener.stop(0.2) is False  # still running when the grace period ended

    assert invoker.release is not None
    invoker.release.set()
    assert listener.stop(5) is True
    assert len(invoker.runs) == 1  # the scheduler has ended: no run was started after stop


# --- a real devhost process --------------------------------------------------------------------------------------


def _wait_for_records(host: SampleHost, function: str, count: int, **match: object) -> list[dict]:
    """Wait until the sample app has recorded at least `count` matching runs; return them all."""
    wait_until(lambda: len(host.invocations(function, **match)) >= count)
    return host.invocations(function, **match)


@pytest.fixture(scope="module")
def ticking_host(azurite: RunningAzurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleHost]:
    """`tick` every second, failing its first run."""
    yield from start_sample_host(
        azurite,
        tmp_path_factory.mktemp("devhost-ticking"),
        keys=False,
        settings={"TICK_SCHEDULE": "* * * * * *", "TICK_FAIL_FIRST": "1"},
    )


def test_the_function_list_shows_each_timer_with_its_resolved_schedule(ticking_host: SampleHost) -> None:
    output = ticking_host.devhost.output()

    assert "tick: timerTrigger (schedule: * * * * * *)" in output
    assert "on_startup: timerTrigger (schedule: 0 0 1 1 *)" in output


def test_a_timer_runs_every_second_on_the_second(ticking_host: SampleHost) -> None:
    starts = _wait_for_records(ticking_host, "tick", 3, event="start")

    times = [record["t"] for record in starts]
    assert all(0.5 <= later - earlier <= 1.5 for earlier, later in itertools.pairwise(times))
    assert all(t % 1 < 0.5 for t in times)  # on the whole second, as a clock schedule is, not a second apart
    assert all(record["past_due"] is False for record in starts)
    assert "Executing 'Functions.tick' (Reason='Timer fired at " in ticking_host.devhost.output()


def test_a_failing_run_is_logged_and_the_schedule_goes_on(ticking_host: SampleHost) -> None:
    wait_until(lambda: [r for r in ticking_host.invocations("tick", event="end") if r["run"] >= 2])

    assert ticking_host.invocations("tick", event="end", run=1) == []  # the first run failed
    output = ticking_host.devhost.wait_for_output("RuntimeError: tick 1 failing on purpose")
    assert "Executed 'Functions.tick' (Failed" in output


def test_run_on_startup_runs_the_function_once_when_the_host_starts(ticking_host: SampleHost) -> None:
    (run,) = wait_until(lambda: ticking_host.invocations("on_startup"))  # its schedule is yearly

    assert run["past_due"] is False
    assert run["schedule"] == {"AdjustForDST": True}
    assert "Function 'on_startup' is configured to run on startup. Executing now." in ticking_host.devhost.output()


@pytest.fixture
def overrunning_host(azurite: RunningAzurite, tmp_path: Path) -> Iterator[SampleHost]:
    """`tick` every 0.5 s as a TimeSpan, each run taking 1 s."""
    yield from start_sample_host(
        azurite, tmp_path, keys=False, settings={"TICK_SCHEDULE": "00:00:00.5", "TICK_SLEEP": "1"}
    )


def test_a_run_that_overruns_its_timespan_is_not_overlapped(overrunning_host: SampleHost) -> None:
    ends = _wait_for_records(overrunning_host, "tick", 3, event="end")

    starts = {record["run"]: record["t"] for record in overrunning_host.invocations("tick", event="start")}
    for previous, following in itertools.pairwise(ends):
        # The next run waits for the previous one, then starts at once: its 0.5 s counted from the previous start.
        assert previous["t"] <= starts[following["run"]] < previous["t"] + 0.25


def test_sigterm_lets_a_running_timer_finish_and_starts_no_other(overrunning_host: SampleHost) -> None:
    wait_until(lambda: overrunning_host.invocations("tick", event="start"))

    assert overrunning_host.devhost.stop() == 0

    started = overrunning_host.invocations("tick", event="start")
    assert [r["run"] for r in overrunning_host.invocations("tick", event="end")] == [r["run"] for r in started]
    assert "Stopping devhost" in overrunning_host.devhost.output()


def test_devhost_refuses_to_start_with_an_invalid_schedule(azurite: RunningAzurite, tmp_path: Path) -> None:
    hosts = start_sample_host(azurite, tmp_path, keys=False, settings={"TICK_SCHEDULE": "0 0 9 * * 7"})

    with pytest.raises(RuntimeError) as failure:
        next(hosts)

    assert "devhost exited with 1" in str(failure.value)
    assert "function 'tick': the schedule expression '0 0 9 * * 7' was not recognized" in str(failure.value)

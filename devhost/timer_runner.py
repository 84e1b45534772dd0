"""Timer triggers with the host's semantics (WebJobs TimerListener):

* one scheduler thread per function. The next run is the first occurrence after the moment the previous run
  started, so runs never overlap: a run that overruns is followed at once by the next, and the occurrences it
  covered are dropped;
* run_on_startup runs the function once as soon as devhost starts, then the schedule takes over;
* a failure is logged by the invoker and not retried (timer triggers have no retries); the schedule carries on;
* past_due is always False. The host sets it only for an occurrence missed while no instance was running, which it
  learns from the schedule status it keeps in storage (useMonitor); devhost keeps none.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import UTC, datetime

from azure.functions.timer import TimerRequest  # the concrete class the worker builds (func.TimerRequest is abstract)

from devhost.indexing import TimerFunction
from devhost.invocation import Invoker
from devhost.schedules import CronSchedule, IntervalSchedule, Schedule, time_zone_name

logger = logging.getLogger("devhost")

# Waits are cut into slices of at most this long and the clock read again after each, so the schedule follows
# wall-clock time even when the clock is changed or the machine sleeps.
MAX_WAIT_SECONDS = 60.0
OCCURRENCES_LOGGED = 5  # the host logs the next five occurrences of each schedule at start-up


def timer_request(schedule: Schedule) -> TimerRequest:
    """What the worker builds from the host's TimerInfo when no schedule status is kept (useMonitor off)."""
    return TimerRequest(past_due=False, schedule={"AdjustForDST": schedule.adjust_for_dst})


def next_occurrences(schedule: Schedule, after: datetime, count: int = OCCURRENCES_LOGGED) -> list[datetime]:
    occurrences: list[datetime] = []
    moment = after
    for _ in range(count):
        following = schedule.next_after(moment)
        if following is None:
            break
        occurrences.append(following)
        moment = following
    return occurrences


class TimerListener:
    def __init__(self, function: TimerFunction, invoker: Invoker) -> None:
        self.function = function
        self._invoker = invoker
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"devhost-timer-{function.name}", daemon=True)

    def start(self) -> None:
        schedule = self.function.schedule
        logger.info("The '%s' timer is using the schedule %s", self.function.name, schedule.describe())
        upcoming = next_occurrences(schedule, _now())
        if upcoming:
            logger.info(
                "The next %d occurrences of the '%s' schedule will be: %s",
                len(upcoming),
                self.function.name,
                ", ".join(moment.isoformat() for moment in upcoming),
            )
        else:  # the host accepts such a schedule (e.g. 30 February) and never runs it
            logger.warning("The '%s' schedule never occurs: the function will not run", self.function.name)
        # Both work here and differ in Azure; say so before someone relies on them.
        if isinstance(schedule, IntervalSchedule):
            logger.warning(
                "Function '%s': a TimeSpan schedule works only on an App Service plan; Consumption and Flex "
                "Consumption plans need an NCRONTAB expression",
                self.function.name,
            )
        elif isinstance(schedule, CronSchedule) and time_zone_name(schedule.time_zone) != "UTC":
            logger.warning(
                "Function '%s': WEBSITE_TIME_ZONE and TZ are not supported on Linux Consumption and Flex "
                "Consumption plans, where this schedule would run in UTC",
                self.function.name,
            )
        self._thread.start()

    def request_stop(self) -> None:
        """No new run starts after this; a run in progress carries on."""
        self._stopping.set()

    def stop(self, grace_seconds: float) -> bool:
        """Stop the schedule and give a run in progress up to grace_seconds; True if none is left running."""
        self.request_stop()
        self._thread.join(timeout=grace_seconds)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            if self.function.run_on_startup:
                logger.info("Function '%s' is configured to run on startup. Executing now.", self.function.name)
                due = self._run_once()
            else:
                due = self.function.schedule.next_after(_now())
            while due is not None and self._wait_until(due):
                due = self._run_once()
        except Exception:  # a bug here must not pass silently: the schedule would just stop
            logger.exception("The '%s' timer stopped", self.function.name)

    def _run_once(self) -> datetime | None:
        """Invoke the function and return when the next run is due."""
        started = _now()
        request = timer_request(self.function.schedule)
        # The invoker has logged a failure; like the host, neither retry nor let it end the schedule.
        with contextlib.suppress(Exception):
            self._invoker.invoke(self.function, request, reason=f"Timer fired at {started.isoformat()}")
        return self.function.schedule.next_after(started)

    def _wait_until(self, due: datetime) -> bool:
        """Sleep until `due`; False if devhost is stopping instead."""
        while (remaining := (due - _now()).total_seconds()) > 0:
            if self._stopping.wait(min(remaining, MAX_WAIT_SECONDS)):
                return False
        return not self._stopping.is_set()


def _now() -> datetime:
    return datetime.now(UTC)

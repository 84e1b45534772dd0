"""Timer triggers: `tick` runs on the schedule in TICK_SCHEDULE and can be told to run long or to fail at first;
`on_startup` has a yearly five-field schedule, so only run_on_startup explains a run during a test."""

import itertools
import os
import time

import azure.functions as func
from invocation_log import record

bp = func.Blueprint()
_runs = itertools.count(1)  # module state lives as long as the host process, as in the worker


@bp.timer_trigger(arg_name="timer", schedule="%TICK_SCHEDULE%")
def tick(timer: func.TimerRequest) -> None:
    run = next(_runs)
    record("tick", event="start", run=run, past_due=timer.past_due)
    time.sleep(float(os.environ.get("TICK_SLEEP", "0")))
    if run <= int(os.environ.get("TICK_FAIL_FIRST", "0")):
        raise RuntimeError(f"tick {run} failing on purpose")
    record("tick", event="end", run=run)


@bp.timer_trigger(arg_name="timer", schedule="0 0 1 1 *", run_on_startup=True, use_monitor=False)
def on_startup(timer: func.TimerRequest) -> None:
    record("on_startup", past_due=timer.past_due, schedule=timer.schedule)

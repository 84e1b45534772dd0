"""Timer `RECONCILE_SCHEDULE`: live call legs that ACS has not told us about for a while are checked with ACS.

See shared/calls/reconciliation.py. Safe on several instances at once (the host runs it on one at a time anyway).
"""

import logging

import azure.functions as func

from shared.services import get_reconciler

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("reconcile_calls")
@bp.timer_trigger(arg_name="timer", schedule="%RECONCILE_SCHEDULE%", run_on_startup=False, use_monitor=False)
def reconcile_calls(timer: func.TimerRequest) -> None:
    counts = get_reconciler().run()
    acted = {what: count for what, count in counts.items() if what not in ("recently-heard", "still-connected")}
    if acted:
        logger.info("Reconciliation: %s", ", ".join(f"{count} {what}" for what, count in sorted(acted.items())))

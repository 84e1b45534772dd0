"""Timer `DISPATCH_SCHEDULE`: start waiting campaign recipients wherever lines are free, and finish those of
cancelled or expired campaigns.

Lines are handed on the moment a call ends (shared/campaigns/dialing.py); this catches what that misses: lines freed by
calls outside campaigns, caps that were raised, and a recipient joining a line just as a line freed elsewhere.
"""

import logging

import azure.functions as func

from shared.services import get_campaign_service

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.function_name("dispatch_waiting")
@bp.timer_trigger(arg_name="timer", schedule="%DISPATCH_SCHEDULE%", run_on_startup=False, use_monitor=False)
def dispatch_waiting(timer: func.TimerRequest) -> None:
    moved = get_campaign_service().pump()
    if moved:
        logger.info("Moved %d waiting recipient(s): started where lines were free, or finished", moved)

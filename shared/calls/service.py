"""The call service: the seed's operations carried out on ACS Call Automation, every call leg kept in Table storage.

Handlers parse a request and call one method here. The parts live apart: commands (shared/calls/commands.py),
callback processing (callbacks.py) and plan steps (plan_steps.py), over the state they share (context.py).
How a leg is shown over HTTP is shared/http/call_legs.py.
"""

from __future__ import annotations

from shared.calls.callbacks import CallbackProcessing
from shared.calls.commands import CallCommands


class CallService(CallCommands, CallbackProcessing):
    """Commands and callbacks over one call leg store, ACS client and outbox (fields: see CallContext)."""

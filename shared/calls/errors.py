"""What the call service refuses to do to a call leg in the state it is in. The HTTP edge turns these into answers
(shared/http/errors.py); a queue handler decides from them whether to try again."""

from __future__ import annotations


class CallEndedError(Exception):
    """The call leg has ended: nothing more can be done to it."""

    def __init__(self, call_leg_id: str) -> None:
        super().__init__(f"Call leg {call_leg_id!r} has ended.")
        self.call_leg_id = call_leg_id


class CallNotConnectedError(Exception):
    """The call leg has not connected yet (it may still be ringing): the same request may succeed later."""

    def __init__(self, call_leg_id: str, state: str) -> None:
        super().__init__(f"Call leg {call_leg_id!r} is not connected yet (state {state}).")
        self.call_leg_id = call_leg_id
        self.state = state

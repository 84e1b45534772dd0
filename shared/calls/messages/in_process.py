"""Written down with an ACS event like queue messages, but carried out in the process that applied the event
(shared/calls/service.py): the next step of a call's plan, handing on the line of a call that ended, and putting
an opted-out number on the suppression list. They travel as
`(name, text)` outbox entries so a retried callback finds them with the rest of what its event caused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from shared.calls.flow import Action, HangUp, action_from_json, action_to_json
from shared.lines import Grant

PLAN_STEP = "plan-step"
LINE_FREED = "line-freed"
SUPPRESS = "suppress"


@dataclass(frozen=True)
class PlanStepMessage:
    queue: ClassVar[str] = PLAN_STEP

    action: Action

    def to_message(self) -> str:
        return action_to_json(self.action)

    @classmethod
    def from_message(cls, text: str) -> PlanStepMessage:
        return cls(action_from_json(text))

    @property
    def is_hang_up(self) -> bool:
        return isinstance(self.action, HangUp)


@dataclass(frozen=True)
class LineFreedMessage:
    queue: ClassVar[str] = LINE_FREED

    grant: Grant

    def to_message(self) -> str:
        return json.dumps(self.grant.to_dict())

    @classmethod
    def from_message(cls, text: str) -> LineFreedMessage:
        return cls(Grant.from_dict(json.loads(text)))


@dataclass(frozen=True)
class SuppressMessage:
    """The callee pressed the plan's opt-out key: its number goes on the suppression list (adding twice keeps the
    first entry, so a retried callback may carry it out again)."""

    queue: ClassVar[str] = SUPPRESS

    phone_number: str
    campaign_id: str | None
    call_leg_id: str

    def to_message(self) -> str:
        return json.dumps({"phoneNumber": self.phone_number, "campaignId": self.campaign_id,
                           "callLegId": self.call_leg_id})

    @classmethod
    def from_message(cls, text: str) -> SuppressMessage:
        fields = json.loads(text)
        return cls(fields["phoneNumber"], fields.get("campaignId"), fields["callLegId"])

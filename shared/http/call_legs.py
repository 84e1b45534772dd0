"""How a call leg is shown over HTTP: presentation lives at the edge, not in the call service."""

from __future__ import annotations

from typing import Any

from shared.calls.legs import CallLeg


def describe_leg(leg: CallLeg, timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """A call leg as GET /calls/{callId} answers it (openapi.json `CallLeg`)."""
    return {
        "callLegId": leg.call_leg_id,
        "state": leg.state.value,
        "targets": leg.targets,
        "source": leg.source,
        "alternateCallerId": leg.caller_id,
        "subject": leg.subject,
        "callbackUri": leg.callback_uri,
        "requestedCallEvents": leg.requested_call_events,
        "participants": leg.participants,
        "createdAt": leg.created_at,
        "updatedAt": leg.updated_at,
        "endedAt": leg.ended_at,
        "endReason": leg.end_reason,
        "acsCallConnectionId": leg.acs_call_connection_id,
        "answeredAt": leg.answered_at,
        "outcome": leg.outcome,
        "outcomeCode": leg.outcome_code,
        "digits": leg.digits,
        "choice": leg.choice,
        "voicemailLeft": leg.voicemail_left,
        "plan": leg.plan,
        "campaignId": leg.campaign_id,
        "attempt": leg.attempt or None,
        "operations": [
            {
                "id": op.id,
                "kind": op.kind,
                "status": op.status,
                "operationContext": op.operation_context,
                "resultInfo": op.result,
                **({"participant": op.participant} if op.participant else {}),
            }
            for op in leg.operations.values()
        ],
        "timeline": timeline,
    }

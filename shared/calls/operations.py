"""The seed's answer for an accepted media or participant operation."""

from typing import Any

from shared.calls.legs import Operation

_ACCEPTED = {"code": 202, "subcode": 0, "message": "The operation was accepted."}


def accepted_operation(operation: Operation) -> dict[str, Any]:
    return {
        "id": operation.id,
        "status": operation.status,
        "operationContext": operation.operation_context,
        "resultInfo": operation.result or _ACCEPTED,
    }

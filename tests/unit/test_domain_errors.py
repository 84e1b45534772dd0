"""The domain raises its own errors; the HTTP edge answers them exactly as it did when the domain raised ApiError."""

from __future__ import annotations

from shared.calls.errors import CallEndedError, CallNotConnectedError
from shared.fields import ValidationError
from shared.http.errors import ApiError, error_for


def test_a_call_that_ended_answers_409_call_ended():
    answer = error_for(CallEndedError("leg-1"))

    assert (answer.status_code, answer.code, answer.message) == (409, "CallEnded", "Call leg 'leg-1' has ended.")
    assert answer.to_response().get_body() == b'{"code": "CallEnded", "message": "Call leg \'leg-1\' has ended."}'


def test_a_call_not_connected_answers_409_call_not_connected():
    answer = error_for(CallNotConnectedError("leg-1", "connecting"))

    assert answer == ApiError(409, "CallNotConnected", "Call leg 'leg-1' is not connected yet (state connecting).")


def test_inviting_a_number_without_a_caller_id_answers_as_before():
    answer = error_for(ValidationError("alternateCallerId", "is required to invite a phone number."))

    assert answer == ApiError(
        400, "InvalidRequest", "Invalid field 'alternateCallerId': is required to invite a phone number."
    )


def test_what_nothing_maps_is_an_internal_error():
    assert error_for(KeyError("x")).code == "InternalError"

"""Events to the caller are CloudEvents signed per Standard Webhooks: a subscriber can verify them."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from shared.calls.subscriber_events import Notification, sign_webhook

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _event() -> dict:
    return Notification.for_leg("leg-1", "CallLegStateChanged", "callState", {"callLegId": "leg-1",
                                                                             "callState": "established"},
                                "acs-1").to_cloud_event()


def test_signed_body_verifies_with_the_shared_secret():
    body, headers = sign_webhook(SECRET, _event())

    verified = Webhook(SECRET).verify(body, headers)

    assert verified["type"] == "Microsoft.Communication.CallLegStateChanged"
    assert verified["specversion"] == "1.0"
    assert headers["webhook-id"] == verified["id"]


def test_tampered_body_or_other_secret_fails():
    body, headers = sign_webhook(SECRET, _event())
    tampered = json.dumps({**json.loads(body), "data": {"callState": "terminated"}}).encode()

    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "b3RoZXJzZWNyZXRvdGhlcnNlY3JldA==").verify(body, headers)


def test_old_signature_is_rejected_as_a_replay():
    body, headers = sign_webhook(SECRET, _event(), now=datetime.now(UTC) - timedelta(minutes=10))

    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, headers)

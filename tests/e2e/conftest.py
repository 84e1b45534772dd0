"""The whole stack for end-to-end tests: Azurite, the ACS emulator, the app under devhost, and a subscriber.

The app verifies callback tokens against a JWKS that holds the emulator's keys *and* a test key, so tests can
post hand-made (duplicate, reordered, concurrent) ACS events with valid tokens next to the emulator's real ones.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.processes import free_ports
from devstack.subscriber import make_server
from tests.conftest import FAST_EMULATOR_ARGS
from tests.support.azurite_process import RunningAzurite
from tests.support.devhost_process import RunningDevhost, running_devhost
from tests.support.emulator_process import RunningEmulator, running_emulator

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_" + "ZTJlLXRlc3Qtd2ViaG9vay1zZWNyZXQtMDAwMQ=="
CALLER_ID = "+18005550100"
TEST_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
TEST_KID = "e2e-test-key"
RECONCILE_AFTER_SECONDS = 3



def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _combined_jwks(emulator: RunningEmulator) -> ThreadingHTTPServer:
    test_jwk = {
        **json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(TEST_KEY.public_key())),
        "kid": TEST_KID,
        "alg": "RS256",
        "use": "sig",
    }

    class Keys(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            keys = requests.get(f"{emulator.endpoint}/calling/keys", timeout=5).json()["keys"] + [test_jwk]
            body = json.dumps({"keys": keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return _serve(Keys)


@dataclass
class Stack:
    app_url: str
    app: RunningDevhost
    emulator: RunningEmulator
    azurite: RunningAzurite
    subscriber_url: str
    table_name: str
    app_env: dict
    app_port: int
    _apps: ExitStack

    # -- the app's processes ----------------------------------------------------------------------------
    def restart_app(self) -> None:
        """Stop the app (SIGTERM, as a host shutting an instance down) and start it again on the same port."""
        self.app.stop()
        self.app = self._apps.enter_context(running_devhost(REPO_ROOT, port=self.app_port, env=self.app_env))

    @contextmanager
    def more_app_instances(self, count: int) -> Iterator[list[RunningDevhost]]:
        """More instances of the app on the same storage and emulator, as a scale-out would add."""
        with ExitStack() as instances:
            yield [
                instances.enter_context(running_devhost(REPO_ROOT, port=free_ports()[0], env=self.app_env))
                for _ in range(count)
            ]

    # -- the app's HTTP API -----------------------------------------------------------------------------
    def post(self, path: str, body: object = None, **kw) -> requests.Response:
        data = kw.pop("data", None)
        if data is None and body is not None:
            data = json.dumps(body)
        return requests.post(self.app_url + path, data=data, timeout=30, **kw)

    def get_call(self, call_leg_id: str) -> dict:
        response = requests.get(f"{self.app_url}/calls/{call_leg_id}", timeout=15)
        assert response.status_code == 200, response.text
        return response.json()

    def place_call(self, target: str, **extra) -> str:
        body = {"targets": [target], "callbackUri": self.subscriber_url, **extra}
        response = self.post("/calls", body)
        assert response.status_code == 200, response.text
        return response.json()["callLegId"]

    def wait_for_call(self, call_leg_id: str, predicate, timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            leg = self.get_call(call_leg_id)
            if predicate(leg):
                return leg
            if time.monotonic() > deadline:
                raise AssertionError(f"call leg never matched; last seen: {json.dumps(leg, indent=1)}")
            time.sleep(0.1)

    # -- the subscriber ---------------------------------------------------------------------------------
    def events(self, call_leg_id: str, type_suffix: str | None = None) -> list[dict]:
        received = requests.get(self.subscriber_url, timeout=5).json()
        return [
            e
            for e in received
            if e["data"].get("callLegId") == call_leg_id and (type_suffix is None or e["type"].endswith(type_suffix))
        ]

    def wait_for_events(self, call_leg_id: str, type_suffix: str, count: int = 1, timeout: float = 15) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(found := self.events(call_leg_id, type_suffix)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{type_suffix}: {len(found)} of {count}; saw {self.events(call_leg_id)}")
            time.sleep(0.1)
        return found

    # -- storage ----------------------------------------------------------------------------------------
    def rows(self, call_leg_id: str | None = None) -> list[dict]:
        """Stored rows, leaving out delivery records (subscriber deliveries run in the background)."""
        table = TableServiceClient.from_connection_string(self.azurite.connection_string).get_table_client(
            self.table_name
        )
        query = f"PartitionKey eq '{call_leg_id}'" if call_leg_id else "PartitionKey ne ''"
        rows = [dict(row) for row in table.query_entities(query)
                if row.get("Kind") not in ("eventDelivered", "eventDeliveryFailed")]
        for row in rows:
            row.pop("Sent", None)  # flipped in the background once an event's deliveries are queued
            row.pop("checkAfter", None)  # moved on in the background as reconciliation looks at live legs
        return rows

    def queue(self, name: str) -> QueueClient:
        client = QueueClient.from_connection_string(
            self.azurite.connection_string, name, message_encode_policy=TextBase64EncodePolicy()
        )
        try:
            client.create_queue()
        except Exception:
            pass
        return client

    # -- hand-made ACS callbacks --------------------------------------------------------------------------
    def acs_token(self, key=TEST_KEY, kid: str = TEST_KID, **claims) -> str:
        now = int(time.time())
        payload = {
            "iss": self.emulator.issuer,
            "aud": self.emulator.resource_id,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})

    def leg_row(self, call_leg_id: str) -> dict:
        table = TableServiceClient.from_connection_string(self.azurite.connection_string).get_table_client(
            self.table_name
        )
        try:
            return dict(table.get_entity(call_leg_id, "leg"))
        except ResourceNotFoundError:
            return {}

    def post_acs_event(
        self,
        call_leg_id: str,
        name: str,
        data: dict,
        *,
        event_id: str | None = None,
        token: str | None = None,
        url_token: str | None = None,
        time: str = "2026-01-01T00:00:00.0000000+00:00",
    ) -> requests.Response:
        """Post a hand-made ACS event as ACS would: a valid ACS token, the leg's callback URL (its own token)
        and, unless `data` says otherwise, the leg's ACS call ids."""
        leg = self.leg_row(call_leg_id) if _is_uuid(call_leg_id) else {}
        data = {
            "callConnectionId": leg.get("acs_call_connection_id") or "unknown-connection",
            **({"serverCallId": leg["server_call_id"]} if leg.get("server_call_id") else {}),
            **data,
        }
        event = {
            "id": event_id or str(uuid.uuid4()),
            "source": f"calling/callConnections/{data['callConnectionId']}",
            "type": f"Microsoft.Communication.{name}",
            "time": time,
            "specversion": "1.0",
            "datacontenttype": "application/json",
            "data": data,
        }
        return self.post_callback(call_leg_id, [event], token=token, url_token=url_token)

    def post_callback(
        self, call_leg_id: str, body: object, *, token: str | None = None, url_token: str | None = None
    ) -> requests.Response:
        if url_token is None and _is_uuid(call_leg_id):
            url_token = self.leg_row(call_leg_id).get("callback_token")
        headers = {
            "Authorization": f"Bearer {token if token is not None else self.acs_token()}",
            "Content-Type": "application/json",
        }
        params = {"token": url_token} if url_token else None
        return requests.post(
            f"{self.app_url}/callbacks/{call_leg_id}", data=json.dumps(body), headers=headers, params=params,
            timeout=15,
        )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="session")
def emulator() -> Iterator[RunningEmulator]:
    """The e2e suite's own emulator: fast, but retrying callbacks for ~25 s, long enough to ride out an app restart."""
    args = [a for a in FAST_EMULATOR_ARGS]
    args[args.index("--callback-backoff-ms") + 1] = "100"
    with running_emulator(*args, "--callback-retries", "8") as running:
        yield running


@pytest.fixture(scope="session")
def stack(azurite: RunningAzurite, emulator: RunningEmulator) -> Iterator[Stack]:
    subscriber = make_server("127.0.0.1", 0, WEBHOOK_SECRET, quiet=True)
    threading.Thread(target=subscriber.serve_forever, daemon=True).start()
    keys = _combined_jwks(emulator)
    port = free_ports()[0]
    table_name = "e2e" + uuid.uuid4().hex[:10]
    env = {
        "AzureWebJobsStorage": azurite.connection_string,
        "ACS_CONNECTION_STRING": emulator.connection_string,
        "ACS_RESOURCE_ID": emulator.resource_id,
        "ACS_CALLBACK_ISSUER": emulator.issuer,
        "ACS_CALLBACK_JWKS_URL": f"http://127.0.0.1:{keys.server_port}/keys",
        "CALLBACK_BASE_URL": f"http://127.0.0.1:{port}",
        "DEFAULT_CALLER_ID": CALLER_ID,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CALL_LEGS_TABLE": table_name,
        "EVENT_DELIVERY_ATTEMPTS": "3",
        "EVENT_DELIVERY_BACKOFF_SECONDS": "1",
        "RECONCILE_SCHEDULE": "*/1 * * * * *",
        "RECONCILE_AFTER_SECONDS": str(RECONCILE_AFTER_SECONDS),
        "DISPATCH_SCHEDULE": "*/2 * * * * *",
        "CALLER_ID_MAX_CALLS": "1000",  # these tests place many calls with the default caller id at once
        # Every span on stdout, one line each (shared/telemetry.py): test_telemetry follows one call through them,
        # and test_private_logs scans them with the rest of the output.
        "OTEL_TRACES_EXPORTER": "console",
    }
    with ExitStack() as apps:
        app = apps.enter_context(running_devhost(REPO_ROOT, port=port, env=env))
        subscriber_url = f"http://127.0.0.1:{subscriber.server_port}/events"
        yield Stack(app.base_url, app, emulator, azurite, subscriber_url, table_name, env, port, apps)
    subscriber.shutdown()
    keys.shutdown()

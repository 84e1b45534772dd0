"""A demo subscriber for the app's events: verifies each Standard Webhooks signature and prints the event.

`python -m devstack.subscriber --port 7090` (secret from WEBHOOK_SECRET). Point a call's `callbackUri` at
`http://127.0.0.1:7090/events`. `GET /events` lists what arrived, for scripts and tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


def make_server(host: str, port: int, secret: str, *, quiet: bool = False) -> ThreadingHTTPServer:
    webhook = Webhook(secret)
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                self._answer(200, json.dumps(received).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                event = webhook.verify(body, {k.lower(): v for k, v in self.headers.items()})
            except WebhookVerificationError as error:
                print(f"REJECTED (bad signature: {error})", flush=True)
                self._answer(401)
                return
            with lock:
                received.append(event)
            if not quiet:
                data = event.get("data", {})
                detail = {k: v for k, v in data.items() if k != "callLegId"}
                line = f"{event['type'].rsplit('.', 1)[-1]:<24} leg {data.get('callLegId')}  {json.dumps(detail)}\n"
                with lock:  # one whole line at a time, whatever the threads do
                    sys.stdout.write(line)
                    sys.stdout.flush()
            self._answer(204)

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7090)
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET")
    if not secret:
        raise SystemExit("Set WEBHOOK_SECRET to the app's Standard Webhooks secret.")
    server = make_server(args.host, args.port, secret)
    print(f"subscriber listening on http://{args.host}:{server.server_port}/events", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

"""The sample app served by a real `python -m devhost` against Azurite, and helpers to observe it."""

from __future__ import annotations

import base64
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.storage.queue import QueueClient

from tests.support.azurite_process import RunningAzurite
from tests.support.devhost_process import RunningDevhost, running_devhost

SAMPLE_APP = Path(__file__).parent / "sample_app"
FUNCTION_KEY = "function-key-for-tests"
MASTER_KEY = "master-key-for-tests"
KEY_SETTINGS = ("DEVHOST_FUNCTION_KEY", "DEVHOST_MASTER_KEY")
TIME_ZONE_SETTINGS = ("WEBSITE_TIME_ZONE", "TZ")
YEARLY = "0 0 0 1 1 *"  # the sample `tick` timer's schedule unless a test asks for another


@dataclass
class SampleHost:
    """A running devhost serving a private copy of the sample app, with its own queue names."""

    devhost: RunningDevhost
    connection_string: str
    queues: dict[str, str]  # setting name (ORDERS_QUEUE, ...) -> queue name
    log_path: Path

    def url(self, path: str) -> str:
        return self.devhost.base_url + path

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(self.connection_string, name)

    def send_base64(self, queue_setting: str, body: dict[str, Any]) -> str:
        """Send as the host expects by default; returns the exact text put on the queue."""
        text = base64.b64encode(json.dumps(body).encode()).decode()
        self.queue(self.queues[queue_setting]).send_message(text)
        return text

    def invocations(self, function: str, **match: Any) -> list[dict[str, Any]]:
        """Invocation records written by the sample app, filtered by field values."""
        if not self.log_path.exists():
            return []
        records = [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]
        return [r for r in records if r["function"] == function and all(r.get(k) == v for k, v in match.items())]


def wait_until(condition: Callable[[], Any], *, timeout: float = 10, interval: float = 0.05) -> Any:
    """Poll until condition() is truthy; return its value, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def start_sample_host(
    storage: RunningAzurite, workdir: Path, *, keys: bool, settings: Mapping[str, str] | None = None
) -> Iterator[SampleHost]:
    """`settings` add to or override the sample app's Values, e.g. {"TICK_SCHEDULE": "* * * * * *"}."""
    app_dir = workdir / "app"
    shutil.copytree(SAMPLE_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__", "local.settings.json"))
    prefix = "d" + uuid.uuid4().hex[:10]
    queues = {
        setting: f"{prefix}-{name}"
        for setting, name in (("ORDERS_QUEUE", "orders"), ("AUDIT_QUEUE", "audit"), ("WORK_QUEUE", "work"))
    }
    log_path = workdir / "invocations.jsonl"
    values = {
        "AzureWebJobsStorage": storage.connection_string,
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "INVOCATION_LOG": str(log_path),
        "TICK_SCHEDULE": YEARLY,
        **queues,
    }
    if keys:
        values |= {"DEVHOST_FUNCTION_KEY": FUNCTION_KEY, "DEVHOST_MASTER_KEY": MASTER_KEY}
    values |= settings or {}
    (app_dir / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    # Environment variables win over local.settings.json: drop the ones that would change what the tests see.
    with running_devhost(app_dir, unset_env=(*KEY_SETTINGS, *TIME_ZONE_SETTINGS)) as devhost:
        yield SampleHost(devhost, storage.connection_string, queues, log_path)

"""Starting and stopping devhost: clean stop on SIGTERM, and clear start-up failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.devhost.sample_host import SAMPLE_APP, YEARLY, start_sample_host, wait_until
from tests.support.azurite_process import RunningAzurite
from tests.support.devhost_process import running_devhost


def test_sigterm_lets_in_flight_work_finish_and_exits_0(azurite: RunningAzurite, tmp_path: Path) -> None:
    hosts = start_sample_host(azurite, tmp_path, keys=False)
    try:
        host = next(hosts)
        host.send_base64("WORK_QUEUE", {"id": "in-flight", "sleep": 1.0})
        wait_until(lambda: host.invocations("work", id="in-flight", event="start"))

        exit_code = host.devhost.stop()

        assert exit_code == 0
        assert host.invocations("work", id="in-flight", event="end")  # finished, not abandoned
        assert "Stopping devhost" in host.devhost.output()
        queue = host.queue(host.queues["WORK_QUEUE"])
        assert queue.get_queue_properties().approximate_message_count == 0  # and deleted before exiting
    finally:
        hosts.close()  # stops the process if an assertion failed first


def test_a_missing_storage_setting_stops_start_up_with_its_name(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    shutil.copytree(SAMPLE_APP, app_dir, ignore=shutil.ignore_patterns("__pycache__", "local.settings.json"))
    values = {
        "ORDERS_QUEUE": "o",
        "AUDIT_QUEUE": "a",
        "WORK_QUEUE": "w",
        "TICK_SCHEDULE": YEARLY,
        "INVOCATION_LOG": str(tmp_path / "log"),
    }
    (app_dir / "local.settings.json").write_text(json.dumps({"Values": values}))

    with pytest.raises(RuntimeError) as failure:
        with running_devhost(app_dir, unset_env=["AzureWebJobsStorage"]):
            pass

    assert "devhost exited with 1" in str(failure.value)
    assert "storage connection setting 'AzureWebJobsStorage' is not set" in str(failure.value)


def test_a_folder_without_host_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"host\.json not found"):
        with running_devhost(tmp_path):
            pass

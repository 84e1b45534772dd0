"""Start Azurite (pinned in package.json, installed by `npm ci`) as a real subprocess for integration tests.

Each service is started on port 0, so the OS picks a free port and two test runs never collide; the ports
are read from Azurite's "successfully listening at" lines, then checked to accept connections. Data lives
in memory only, and the process is stopped by its process group (terminate, wait, kill).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import Child, ChildHandle, start

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO_ROOT / "node_modules" / ".bin" / "azurite"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 30
# The well-known development account (public; the same for every Azurite and the old Storage Emulator).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SERVICES = ("blob", "queue", "table")
_LISTENING = r"Azurite %s service is successfully listening at http://[^:]+:(\d+)"


@dataclass
class RunningAzurite(ChildHandle):
    blob_port: int
    queue_port: int
    table_port: int
    child: Child = field(repr=False)

    @property
    def connection_string(self) -> str:
        """An explicit connection string for the ports this instance uses (UseDevelopmentStorage=true
        would point at the default ports instead)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{HOST}:{self.blob_port}/{ACCOUNT_NAME};"
            f"QueueEndpoint=http://{HOST}:{self.queue_port}/{ACCOUNT_NAME};"
            f"TableEndpoint=http://{HOST}:{self.table_port}/{ACCOUNT_NAME};"
        )



def azurite_command(executable: Path = AZURITE_BIN) -> list[str]:
    return [
        str(executable),
        "--silent",
        "--inMemoryPersistence",
        "--skipApiVersionCheck",  # current SDKs send API versions newer than Azurite 3.35 knows
        "--loose",
        "--disableTelemetry",
        *(arg for service in SERVICES for arg in (f"--{service}Host", HOST, f"--{service}Port", "0")),
    ]


@contextmanager
def running_azurite(executable: Path = AZURITE_BIN) -> Iterator[RunningAzurite]:
    """Start Azurite on free ports; yield a RunningAzurite; stop it on exit."""
    if not Path(executable).exists():
        raise RuntimeError(f"{executable} is missing: run `npm ci` in {REPO_ROOT} to install the pinned Azurite")
    child = start("azurite", azurite_command(executable), cwd=REPO_ROOT, keep_lines=200)
    try:
        found = {  # each service says where it listens (in any order: a wait reads all the output kept)
            service: int(child.wait_for_line(_LISTENING % service.capitalize(), STARTUP_TIMEOUT_SECONDS).group(1))
            for service in SERVICES
        }
        for port in found.values():
            child.wait_for_port(port, timeout=STARTUP_TIMEOUT_SECONDS)
        yield RunningAzurite(blob_port=found["blob"], queue_port=found["queue"], table_port=found["table"], child=child)
    finally:
        child.stop()

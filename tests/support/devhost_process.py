"""Start `python -m devhost --app-dir DIR --port 0` as a real subprocess (for devhost and end-to-end tests).

devhost prints its function list and then a "devhost is ready: listening on <url>" line on stdout; the URL
carries the port the OS picked. All output (stdout and the log on stderr) is kept by devstack.processes (the one
launcher), so tests can assert on log lines and failures show what the host said.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import Child, ChildHandle, start

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30
_READY = re.compile(r"devhost is ready: listening on (http://\S+)")


@dataclass
class RunningDevhost(ChildHandle):
    base_url: str
    child: Child = field(repr=False)

    def output(self) -> str:
        return self.child.output()

    def wait_for_output(self, text: str, timeout: float = 10) -> str:
        """Wait until `text` appears in the output; returns the whole output."""
        try:
            return self.child.wait_for_output(text, timeout)
        except RuntimeError as error:
            raise AssertionError(str(error)) from None

    def stop(self, timeout: float = 15) -> int:
        """Stop our child's process group: SIGTERM (devhost's clean stop), wait, then kill. Returns the exit code."""
        return self.child.stop(timeout)


@contextmanager
def running_devhost(
    app_dir: Path, *, env: Mapping[str, str] | None = None, unset_env: Iterable[str] = (), port: int = 0
) -> Iterator[RunningDevhost]:
    """Start devhost for `app_dir` on a free port; yield a RunningDevhost; stop it on exit.

    `env` adds variables to this process's environment; `unset_env` removes inherited ones (environment
    variables win over local.settings.json, so a stray one would change what the test sees)."""
    child = start("devhost", [sys.executable, "-m", "devhost", "--app-dir", str(app_dir), "--port", str(port)],
                  env=env, unset_env=unset_env, cwd=REPO_ROOT, keep_lines=None)
    try:
        base_url = child.wait_for_line(_READY, timeout=STARTUP_TIMEOUT_SECONDS).group(1)
        yield RunningDevhost(base_url=base_url, child=child)
    finally:
        child.stop(15)

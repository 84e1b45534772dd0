"""Start `python -m devhost --app-dir DIR --port 0` as a real subprocess (for devhost and end-to-end tests).

devhost prints its function list and then a "devhost is ready: listening on <url>" line on stdout; the URL
carries the port the OS picked. All output (stdout and the log on stderr) is drained in a background thread
and kept, so tests can assert on log lines and failures show what the host said.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_SECONDS = 30
_READY = re.compile(r"devhost is ready: listening on (http://\S+)")


@dataclass
class RunningDevhost:
    base_url: str
    pid: int
    process: subprocess.Popen = field(repr=False)
    _lines: list[str] = field(default_factory=list, repr=False)

    def output(self) -> str:
        return "\n".join(list(self._lines))

    def wait_for_output(self, text: str, timeout: float = 10) -> str:
        """Wait until `text` appears in the output; returns the whole output."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in devhost output:\n{self.output()}")
            time.sleep(0.05)
        return self.output()

    def stop(self, timeout: float = 15) -> int:
        """Stop our child by its PID: SIGTERM (devhost's clean stop), wait, then kill. Returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


@contextmanager
def running_devhost(
    app_dir: Path, *, env: Mapping[str, str] | None = None, unset_env: Iterable[str] = (), port: int = 0
) -> Iterator[RunningDevhost]:
    """Start devhost for `app_dir` on a free port; yield a RunningDevhost; stop it on exit.

    `env` adds variables to this process's environment; `unset_env` removes inherited ones (environment
    variables win over local.settings.json, so a stray one would change what the test sees)."""
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    for name in unset_env:
        child_env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app-dir", str(app_dir), "--port", str(port)],
        cwd=REPO_ROOT,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    ready: queue.Queue = queue.Queue()

    def drain_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            match = _READY.search(line)
            if match:
                ready.put(match.group(1))
        ready.put(None)

    threading.Thread(target=drain_output, name=f"devhost-{process.pid}-output", daemon=True).start()
    running = RunningDevhost(base_url="", pid=process.pid, process=process, _lines=lines)
    try:
        try:
            base_url = ready.get(timeout=STARTUP_TIMEOUT_SECONDS)
        except queue.Empty:
            raise RuntimeError("devhost did not become ready in time:\n" + running.output()) from None
        if base_url is None:
            process.wait(timeout=5)
            raise RuntimeError(f"devhost exited with {process.returncode}:\n" + running.output())
        running.base_url = base_url
        yield running
    finally:
        running.stop()

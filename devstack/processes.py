"""The one launcher for local child processes (devstack, the demo, the bench and the tests' support).

`start()` runs a command in its own session (so a Ctrl-C reaches only us and the child's group can be stopped as
one) and drains its output in a thread, keeping the last lines and optionally echoing them. A `Child` then waits
for a positive readiness signal (a log line, an open port, an HTTP answer) and fails early if the process died;
`stop()` ends it by its own process group: SIGTERM, then SIGKILL after a timeout.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import requests

HOST = "127.0.0.1"
Echo = Callable[[str, str], None]  # (child name, line without its newline)


def free_ports(count: int = 1) -> list[int]:
    """Ports nobody listens on now (held open together, so they differ from each other)."""
    with ExitStack() as probes:
        sockets = [probes.enter_context(socket.socket()) for _ in range(count)]
        for probe in sockets:
            probe.bind((HOST, 0))
        return [probe.getsockname()[1] for probe in sockets]


def print_line(name: str, line: str) -> None:
    print(f"[{name}] {line}", flush=True)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=300))
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _drained: bool = field(default=False, repr=False)
    _count: int = field(default=0, repr=False)  # lines appended so far (the tail may have dropped the oldest)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, last: int | None = None) -> str:
        lines = list(self.tail)
        return "\n".join(lines[-last:] if last else lines)

    def lines_mentioning(self, text: str) -> list[str]:
        return [line for line in list(self.tail) if text in line]

    def _append(self, line: str) -> None:
        with self._changed:
            self.tail.append(line)
            self._count += 1
            self._changed.notify_all()

    def _ended(self) -> None:
        with self._changed:
            self._drained = True
            self._changed.notify_all()

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.output(40)}")

    def wait_for_line(self, pattern: str | re.Pattern[str], timeout: float = 30) -> re.Match[str]:
        """Wait until a line of output matches `pattern` (a regex); fail early if the output ends first."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                new = min(self._count - seen, len(self.tail))
                for line in list(self.tail)[len(self.tail) - new:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = self._count
                if self._drained:
                    self.process.wait(timeout=5)
                    self._check_alive()
                    raise RuntimeError(f"{self.name} closed its output without saying {regex.pattern!r}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(
                        f"{self.name} did not say {regex.pattern!r} within {timeout:.0f}s:\n{self.output(40)}"
                    )
                self._changed.wait(min(left, 0.5))

    def wait_for_output(self, text: str, timeout: float = 30) -> str:
        """Wait until `text` appears in a line of output; returns the output kept so far."""
        self.wait_for_line(re.escape(text), timeout)
        return self.output()

    def wait_for_port(self, port: int, timeout: float = 30) -> None:
        """Wait until something accepts connections on the port; fail early if the child died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            with socket.socket() as probe:
                probe.settimeout(0.2)
                if probe.connect_ex((HOST, port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on port {port} within {timeout:.0f}s")

    def wait_for_http(self, url: str, timeout: float = 30) -> requests.Response:
        """Wait until `url` answers a GET with any status below 500."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                answer = requests.get(url, timeout=2)
                if answer.status_code < 500:
                    return answer
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer {url} within {timeout:.0f}s")
            time.sleep(0.05)

    def stop(self, timeout: float = 10) -> int:
        """Stop the child's process group (its PID leads it): SIGTERM, wait, then SIGKILL. Returns the exit code."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=timeout)
        return self.process.returncode

    def _signal(self, number: signal.Signals) -> None:
        try:
            os.killpg(self.process.pid, number)  # the child leads its own session: the group id is its PID
        except ProcessLookupError:
            pass
        except PermissionError:  # not a group leader after all (cannot happen with start()): the PID alone
            self.process.send_signal(number)


def start(
    name: str,
    command: list[str],
    *,
    env: Mapping[str, str] | None = None,
    unset_env: Iterable[str] = (),
    cwd: Path | str | None = None,
    echo: Echo | None = None,
    keep_lines: int | None = 300,
    capture: bool = True,
) -> Child:
    """Start `command` in its own session with `env` added to ours, keeping its last `keep_lines` lines of output
    (stdout and stderr together; None: all) and passing each to `echo`. `capture=False`: output to our terminal."""
    if os.sep in command[0] and not os.path.exists(command[0]):
        raise RuntimeError(f"{command[0]} is missing; run `make install` (it installs what is needed)")
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    for variable in unset_env:
        child_env.pop(variable, None)
    process = subprocess.Popen(  # noqa: S603 - our own fixed commands
        command,
        cwd=cwd,
        env=child_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    child = Child(name, process, collections.deque(maxlen=keep_lines))
    if not capture:
        return child

    def drain() -> None:  # read for the whole life of the process, so it never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            child._append(line)
            if echo is not None:
                echo(name, line)
        child._ended()

    threading.Thread(target=drain, name=f"{name}-{process.pid}-output", daemon=True).start()
    return child



class ChildHandle:
    """A mixin for what wraps a running Child (declared as its `child` field): its PID, process, output and stop."""

    child: Child

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def process(self) -> subprocess.Popen:
        return self.child.process

    def output_tail(self) -> str:
        return self.child.output()

    def stop(self, timeout: float = 10) -> int:
        return self.child.stop(timeout)

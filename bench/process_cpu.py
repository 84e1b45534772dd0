"""CPU time of a process tree, from /proc (Linux), without psutil.

`/proc/<pid>/stat` gives a process's own user and system time (all its threads) and that of its children it
has waited for. A child still running is counted by walking the tree, so the app's CPU stays the app's whether
or not devhost ever starts a subprocess.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of the times in /proc/<pid>/stat (100 per second on Linux)


def _stat_fields(pid: int) -> list[str] | None:
    """The fields after the command name (which may hold spaces and parentheses), or None if `pid` is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def _parents() -> dict[int, int]:
    parents = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    return parents


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid`, its live descendants and the children they have reaped."""
    parents = _parents()
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0
    for member in tree:
        fields = _stat_fields(member)
        if fields is not None:
            # Fields 14-17 of proc(5), counted from the pid: utime, stime, cutime, cstime.
            total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS

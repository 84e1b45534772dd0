"""The app as it was at a git revision, checked out beside this one for the bench's baseline.

`git worktree add --detach` into a new temporary folder shares this repository's objects (no clone, no network)
and leaves this working tree alone. The bench removes the worktree, by the path it created, when it ends.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Revision:
    name: str  # as asked for, e.g. "c6f4b1c"
    commit: str  # the full commit id it names
    subject: str  # the commit's first line


def _git(*arguments: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603, S607
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(arguments)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def resolve(name: str) -> Revision:
    commit = _git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    return Revision(name, commit, _git("log", "-1", "--format=%s", commit))


def describe_working_tree() -> str:
    """'a7cdfd7' or 'a7cdfd7 + uncommitted changes': what the bench's own app is."""
    head = _git("rev-parse", "--short", "HEAD")
    changed = _git("status", "--porcelain", "--untracked-files=no")
    return f"{head} + uncommitted changes" if changed else head


@contextmanager
def checked_out(revision: Revision) -> Iterator[Path]:
    """A detached worktree of `revision` in a new temporary folder, removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    try:
        _git("worktree", "add", "--detach", str(folder), revision.commit)
        yield folder
    finally:
        if (folder / ".git").exists():
            try:
                _git("worktree", "remove", "--force", str(folder))  # --force: the app left bytecode caches there
            except RuntimeError as error:
                print(f"bench: {error}; `git worktree prune` forgets it once the folder is gone", file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)

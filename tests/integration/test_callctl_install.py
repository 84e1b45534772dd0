"""`pip install -e .` (what `make install` does) gives a `callctl` command that works from any folder."""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_callctl_runs_outside_the_checkout(tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # As `make install`: the runtime dependencies are there already (here: this environment's), so --no-deps;
    # the build backend (setuptools, pinned in pyproject.toml) comes from the package index, as pip does.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "deps.pth").write_text("\n".join([*site.getsitepackages(), sysconfig.get_path("purelib")]) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "-e", str(REPO_ROOT)], check=True, timeout=300, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    done = subprocess.run([str(venv / "bin" / "callctl"), "campaign", "submit", "--help"], cwd=elsewhere,
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: callctl campaign submit") and "--callback-uri" in done.stdout

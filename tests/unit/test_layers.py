"""The import contracts in pyproject.toml (checked by `lint-imports` in `make test`) cover every function folder,
and name only packages that exist."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {"emulator", "devhost", "devstack", "bench", "callctl", "tests"}


def _linter() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _function_folders() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/function.py")}


def test_every_function_folder_is_deployed_code_under_the_contract():
    linter = _linter()
    deployed = next(c for c in linter["contracts"] if c["name"].startswith("Deployed code"))
    assert set(deployed["source_modules"]) == {"shared"} | _function_folders()
    assert set(deployed["forbidden_modules"]) == TOOLS
    assert set(linter["root_packages"]) == {"shared"} | TOOLS | _function_folders()


def test_every_layer_and_module_named_exists():
    named = set()
    for contract in _linter()["contracts"]:
        for key in ("layers", "source_modules", "forbidden_modules"):
            for entry in contract.get(key, []):
                named.update(part.strip() for part in entry.split("|"))
    for module in named:
        path = ROOT.joinpath(*module.split("."))
        assert path.is_dir() or path.with_suffix(".py").is_file(), module


def test_every_package_of_shared_is_in_a_layer():
    layers = next(c for c in _linter()["contracts"] if c["type"] == "layers")["layers"]
    layered = {part.strip() for entry in layers for part in entry.split("|")}
    packages = {f"shared.{p.name}" for p in (ROOT / "shared").iterdir() if (p / "__init__.py").is_file()}
    assert packages <= layered


def test_the_app_reads_the_time_from_one_clock():
    """Only shared/clock.py (and the ACS client, whose signing takes its own clock) asks the system for the time:
    every other time-dependent piece takes a clock, so tests can set it."""
    asks = ("datetime.now(", "time.time()", "datetime.utcnow(")
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "shared").rglob("*.py")
        if path.name != "clock.py" and "callautomation" not in path.parts
        and any(ask in line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
                for ask in asks)
    ]
    assert offenders == []

"""The local stand-ins never leak into the deployed app."""

import ast
from pathlib import Path

from tests.support.app_index import app_functions

ROOT = Path(__file__).resolve().parents[2]
STAND_INS = ("emulator", "devhost", "devstack", "callctl", "bench", "tests")


def _ignored() -> set[str]:
    lines = (ROOT / ".funcignore").read_text().splitlines()
    return {line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")}


def test_funcignore_keeps_every_stand_in_out_of_the_package():
    assert set(STAND_INS) <= _ignored()
    assert {"local.settings.json", "requirements-dev.txt", "node_modules"} <= _ignored()


def _app_modules() -> list[Path]:
    deployed = [p for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name not in STAND_INS]
    return [ROOT / "function_app.py"] + [f for d in deployed for f in d.rglob("*.py")]


def test_deployed_code_imports_no_stand_in():
    for path in _app_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            for name in names:
                assert name.split(".")[0] not in STAND_INS, f"{path.relative_to(ROOT)} imports {name}"


def test_every_function_folder_is_registered():
    folders = {p.name for p in ROOT.iterdir() if (p / "function.py").exists()}
    registered = {f.get_user_function().__module__.split(".")[0] for f in app_functions()}

    assert folders == registered


def test_requirements_hold_no_test_or_local_tools():
    deployed = (ROOT / "requirements.txt").read_text().lower()
    for tool in ("pytest", "aiohttp", "azure-communication-callautomation", "ruff", "hypothesis", "werkzeug"):
        assert tool not in deployed


def test_the_poison_rules_read_the_apps_own_host_json():
    from shared.queues.poison import HOST_JSON

    assert HOST_JSON == ROOT / "host.json" and HOST_JSON.is_file()

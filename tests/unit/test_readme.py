"""The README tells the truth about the tree: its Layout names what exists and everything that exists, its links
lead somewhere in the repository (or to a few documentation sites), and its examples carry no date that expires.

The checks are plain functions, each also run on a small made-up document below, so a checker that stopped
finding anything would fail too.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import pytest

from tests.support.readme import (
    README,
    REPO_ROOT,
    anchors,
    curl_examples,
    fenced_blocks,
    layout_paths,
    links,
    tracked_files,
)

DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
# Links that may leave the repository: documentation and package pages, nothing that a clone lacks.
EXTERNAL_ALLOWED = (
    "https://learn.microsoft.com/",
    "https://aka.ms/",
    "https://pypi.org/project/",
    "https://github.com/MicrosoftDocs/azure-docs/",
)
# A date in an example's expiry field is in the past one day, and the example then fails (or lies).
_FIXED_EXPIRY = re.compile(r"(?i)expires[-_]?at\W{0,4}\d{4}-\d{2}-\d{2}")


def _tracked() -> tuple[set[str], set[str]]:
    files = set(tracked_files())
    folders = {str(parent) for name in files for parent in PurePosixPath(name).parents if str(parent) != "."}
    return files, folders


def _not_listed(layout: list[str], files: set[str], folders: set[str]) -> list[str]:
    """What the Layout must list but does not: every top-level file and folder (dot-names aside), every folder and
    module under shared/, every document in docs/ and every folder of tests/."""
    named = {path.rstrip("/") for path in layout}
    required = {name for name in files | folders if "/" not in name and not name.startswith(".")}
    required |= {name for name in folders if name.startswith("shared/") and "__pycache__" not in name}
    required |= {name for name in files if name.startswith("shared/") and name.endswith(".py")
                 and not name.endswith("__init__.py")}
    required |= {name for name in files if re.fullmatch(r"docs/[^/]+\.md", name)}
    required |= {name for name in folders if re.fullmatch(r"tests/[^/]+", name)}
    shown_inside = {name for name in required if any(name.startswith(f"{folder}/") for folder in _opaque(named))}
    return sorted(required - named - shown_inside)


def _opaque(named: set[str]) -> set[str]:
    """Folders whose contents the Layout describes as a whole: the report templates."""
    return {name for name in named if name.endswith("/templates")}


def _missing(layout: list[str], files: set[str], folders: set[str]) -> list[str]:
    return [path for path in layout if (path.rstrip("/") not in folders if path.endswith("/") else path not in files)]


def _bad_links(document: Path, text: str, files: set[str], folders: set[str]) -> list[str]:
    """Links that lead nowhere: a relative path that is not tracked in the repository (or leaves it), an anchor no
    heading has, or an address outside the repository that is not on the allowlist."""
    bad = []
    here = PurePosixPath(document.relative_to(REPO_ROOT).as_posix()).parent
    for target in links(text):
        parts = urlsplit(target)
        if parts.scheme or target.startswith("//"):
            if not target.startswith(EXTERNAL_ALLOWED):
                bad.append(f"{target}: outside the repository and not on the allowlist")
            continue
        path, anchor = unquote(parts.path), parts.fragment
        if path:
            resolved = _normalise(here / path)
            if resolved is None or resolved not in files | folders:
                bad.append(f"{target}: no such file in the repository")
                continue
            if anchor and resolved.endswith(".md") and anchor not in anchors((REPO_ROOT / resolved).read_text()):
                bad.append(f"{target}: no heading with that anchor")
        elif anchor and anchor not in anchors(text):
            bad.append(f"{target}: no heading with that anchor")
    return bad


def _normalise(path: PurePosixPath) -> str | None:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None  # above the repository's root
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts).rstrip("/")


def _fixed_expiries(text: str) -> list[str]:
    return [match.group(0) for match in _FIXED_EXPIRY.finditer(text)]


# -- the README and docs as they are ------------------------------------------------------------------------


def test_every_path_in_the_layout_exists():
    files, folders = _tracked()
    layout = layout_paths(README.read_text())

    assert len(layout) > 50, layout
    assert _missing(layout, files, folders) == []


def test_the_layout_lists_every_top_level_folder_and_every_shared_module():
    files, folders = _tracked()

    assert _not_listed(layout_paths(README.read_text()), files, folders) == []


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda p: p.name)
def test_links_lead_into_the_repository_or_to_documentation(document: Path):
    files, folders = _tracked()

    assert _bad_links(document, document.read_text(), files, folders) == []


def test_the_readme_does_not_send_readers_outside_the_repository():
    """The seed and the other reference material of the project's start are not in a clone: docs/seed-api.md is."""
    text = README.read_text()

    assert "shared/reference" not in text
    assert "docs/seed-api.md" in links(text)


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda p: p.name)
def test_examples_carry_no_expiry_date_that_will_pass(document: Path):
    assert _fixed_expiries(document.read_text()) == []


def test_every_curl_example_shows_the_status_it_answers():
    examples = curl_examples(README.read_text())

    assert len(examples) >= 10
    unmarked = [f"line {block.line + command.line}: {command.text.splitlines()[0]}"
                for block, command in examples if command.expected_status is None or command.program != "curl"]
    assert unmarked == []


# -- the checkers, on made-up documents ---------------------------------------------------------------------

FILES = {"README.md", "docs/guide.md", "shared/x.py", "shared/__init__.py", "emulator/a.py", "Makefile"}
FOLDERS = {"docs", "shared", "emulator"}
MADE_UP = """# Title

## Layout

```text
Makefile              make
emulator/             the emulator
shared/
  x.py                a module
  gone.py             renamed long ago
```

## Links

See [the guide](docs/guide.md), [the seed](../shared/reference/seed/README.md), [a section](#layout),
[nothing](#no-such-heading), [a blog](https://example.com/post), [docs](https://learn.microsoft.com/azure/),
and `[not a link](../outside.md)` in code.

```sh
curl -s -X POST http://127.0.0.1:7071/campaigns -d '{"expiresAt": "2027-01-01T00:00:00Z"}'
curl -s -X POST http://127.0.0.1:7071/campaigns -d @- <<EOF   # → 201
{"expiresAt": "$(date -u -d '+1 day' +%FT%TZ)"}
EOF
```
"""


def test_the_layout_checks_catch_a_stale_path_and_an_unlisted_folder():
    layout = layout_paths(MADE_UP)

    assert layout == ["Makefile", "emulator/", "shared/", "shared/x.py", "shared/gone.py"]
    assert _missing(layout, FILES, FOLDERS) == ["shared/gone.py"]
    assert _not_listed(layout, FILES, FOLDERS) == ["README.md", "docs", "docs/guide.md"]


def test_the_link_check_catches_links_out_of_the_repository_and_missing_anchors():
    bad = _bad_links(REPO_ROOT / "README.md", MADE_UP, FILES, FOLDERS)

    assert bad == [
        "../shared/reference/seed/README.md: no such file in the repository",
        "#no-such-heading: no heading with that anchor",
        "https://example.com/post: outside the repository and not on the allowlist",
    ]


def test_the_expiry_check_catches_a_written_date_and_not_a_computed_one():
    assert _fixed_expiries(MADE_UP) == ['expiresAt": "2027-01-01']
    assert _fixed_expiries("callctl campaign submit x.csv --expires-at 2027-01-01T00:00:00Z") == [
        "expires-at 2027-01-01"
    ]


def test_the_marker_check_finds_both_curl_commands_and_only_one_marker():
    examples = curl_examples(MADE_UP)

    assert [command.expected_status for _, command in examples] == [None, 201]
    assert examples[1][1].text.endswith("EOF")
    assert {block.lang for block in fenced_blocks(MADE_UP)} == {"text", "sh"}

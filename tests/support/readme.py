"""Reading the README (and docs/*.md) the way the doc tests need: sections, fenced blocks, links, anchors, the
Layout's paths and the curl examples with their `# → <status>` markers.

Plain text processing, no Markdown library: the README's own conventions are few and checked by the tests.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<lang>[\w+-]*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
_STATUS_MARKER = re.compile(r"#\s*→\s*(?P<status>\d{3})\b")
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    line: int  # 1-based line of the opening fence
    section: str  # the nearest heading above it


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced code block, with its language, the line it starts on and the heading it sits under."""
    blocks: list[Block] = []
    section = ""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        heading = _HEADING.match(lines[index])
        if not opening:
            if heading:
                section = heading.group(2)
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        start = index
        index += 1
        while index < len(lines) and lines[index].strip() != fence:
            line = lines[index]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            index += 1
        blocks.append(Block(opening["lang"], "\n".join(body), start + 1, section))
        index += 1
    return blocks


def prose(text: str) -> str:
    """The text without fenced blocks and inline code spans: where links are links."""
    kept: list[str] = []
    in_block: str | None = None
    for line in text.splitlines():
        fence = _FENCE.match(line)
        if in_block is None and fence:
            in_block = fence["fence"]
            kept.append("")
        elif in_block is not None:
            if line.strip() == in_block:
                in_block = None
            kept.append("")
        else:
            kept.append(line)
    joined = "\n".join(kept)
    joined = re.sub(r"``.+?``", "", joined)
    return re.sub(r"`[^`\n]*`", "", joined)


def links(text: str) -> list[str]:
    """The targets of every inline link and image outside code."""
    return [match["target"].strip("<>") for match in _LINK.finditer(prose(text))]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: link text kept, lower case, punctuation dropped, spaces as dashes."""
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", plain.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a Markdown document (duplicates get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    lines = text.splitlines()
    for index, line in enumerate(lines):
        heading = _HEADING.match(line)
        if not heading or _in_block(lines, index):
            continue
        anchor = github_anchor(heading.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def section(text: str, title: str) -> str:
    """The text of the `## <title>` section, up to the next heading of the same or a higher level."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading and heading.group(2) == title:
            level = len(heading.group(1))
            end = next(
                (i for i in range(start + 1, len(lines))
                 if (h := _HEADING.match(lines[i])) and len(h.group(1)) <= level and not _in_block(lines, i)),
                len(lines),
            )
            return "\n".join(lines[start:end])
    raise LookupError(f"no section {title!r}")


def _in_block(lines: list[str], index: int) -> bool:
    fences = sum(1 for line in lines[:index] if _FENCE.match(line))
    return fences % 2 == 1


# -- the Layout ---------------------------------------------------------------------------------------------


def layout_paths(text: str) -> list[str]:
    """The paths the Layout section names: the first word of each line of its text blocks. An indented line is
    inside the folder above it (`shared/` then `  calls/` then `    service.py` is `shared/calls/service.py`)."""
    paths: list[str] = []
    for block in fenced_blocks(section(text, "Layout")):
        if block.lang != "text":
            continue
        parents: list[tuple[int, str]] = []
        for line in block.body.splitlines():
            if not line.strip():
                continue
            indent = len(line) - len(line.lstrip(" "))
            name = line.split()[0]
            while parents and parents[-1][0] >= indent:
                parents.pop()
            path = (parents[-1][1] if parents else "") + name
            paths.append(path)
            if name.endswith("/"):
                parents.append((indent, path))
    return paths


def tracked_files() -> list[str]:
    """The repository's files as git tracks them (what a clone has)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


# -- shell examples ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    text: str
    line: int  # 1-based, within its block

    @property
    def program(self) -> str:
        words = self.text.split()
        return words[0] if words else ""

    @property
    def expected_status(self) -> int | None:
        marker = _STATUS_MARKER.search(self.text)
        return int(marker["status"]) if marker else None


def shell_commands(script: str) -> list[Command]:
    """Split a shell script into its commands: a command goes on over quoted newlines, trailing backslashes and
    here-documents. Comment-only lines between commands are left out."""
    commands: list[Command] = []
    current: list[str] = []
    start = 0
    quote: str | None = None
    heredoc: str | None = None
    for number, line in enumerate(script.splitlines(), 1):
        if heredoc is not None:
            current.append(line)
            if line.strip() == heredoc:
                heredoc = None
                commands.append(Command("\n".join(current), start))
                current = []
            continue
        if not current and quote is None and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not current:
            start = number
        current.append(line)
        quote, continued, heredoc = _scan(line, quote)
        if quote is None and not continued and heredoc is None:
            commands.append(Command("\n".join(current), start))
            current = []
    if current:
        commands.append(Command("\n".join(current), start))
    return commands


_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")


def _scan(line: str, quote: str | None) -> tuple[str | None, bool, str | None]:
    """Quote state at the end of `line`, whether a backslash continues it, and a here-document it opens."""
    heredoc: str | None = None
    index = 0
    while index < len(line):
        char = line[index]
        if quote == "'":
            if char == "'":
                quote = None
        elif quote == '"':
            if char == "\\":
                index += 1
            elif char == '"':
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "\\":
            if index == len(line) - 1:
                return None, True, heredoc
            index += 1
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            break
        elif line.startswith("<<", index) and (match := _HEREDOC.match(line, index)):
            heredoc = match.group(2)
            index = match.end() - 1
        index += 1
    return quote, False, heredoc


def curl_examples(text: str) -> list[tuple[Block, Command]]:
    """Every curl command of the shell blocks, with the block it is in."""
    return [
        (block, command)
        for block in fenced_blocks(text)
        if block.lang in SHELL_LANGUAGES
        for command in shell_commands(block.body)
        if re.search(r"\bcurl\b", command.text)
    ]

"""JSON from outside the app, parsed with a bound on nesting: HTTP bodies, ACS callbacks, queue messages, the
header of a callback token.

`json.loads` recurses once per array or object it enters, so a document like `[[[[...]]]]` a few thousand
levels deep exhausts Python's recursion limit and raises RecursionError, which callers do not expect (it was a
500 on every JSON route). `loads` below measures the nesting first, without recursing, and refuses a document
nested deeper than MAX_DEPTH before `json.loads` sees it. Our own bodies need about 6 levels.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32

# One JSON string (with its escapes) or one bracket: the only tokens that matter for nesting. A quote that does
# not start a complete string is matched alone by the last alternative. The string pattern is the unrolled
# form, which cannot backtrack, so the scan stays linear in the length of the document.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]|"', re.DOTALL)
_OPENERS = frozenset("[{")


class JsonTooDeepError(ValueError):
    def __init__(self) -> None:
        super().__init__(f"nested too deeply: at most {MAX_DEPTH} levels of arrays and objects")


def loads(data: bytes | str) -> Any:
    """`json.loads` for JSON from outside: JsonTooDeepError past MAX_DEPTH levels, ValueError (including
    UnicodeDecodeError) for anything else that is not JSON."""
    # Decoded exactly as json.loads decodes bytes (UTF-8, -16 or -32, BOM allowed), so the scan below sees the
    # same characters the parser will.
    text = data if isinstance(data, str) else data.decode(json.detect_encoding(data), "surrogatepass")
    if deeper_than(text, MAX_DEPTH):
        raise JsonTooDeepError
    try:
        return json.loads(text)
    except RecursionError:  # the scan should make this impossible; if it ever has a gap, that is a 400, not a 500
        raise JsonTooDeepError from None


def deeper_than(text: str, limit: int) -> bool:
    """Whether `text` opens more than `limit` arrays or objects inside each other, outside strings.

    Hand-written because nothing in the standard library bounds json.loads's depth and a recursive check would
    fail the same way. It only has to be right as far as json.loads would read: a stray closing bracket ends the
    top-level value (anything after it is "extra data") and an unterminated string runs to the end, so in both
    cases nothing after can nest any deeper.
    """
    depth = 0
    for token in _TOKEN.finditer(text):
        char = token.group()
        if char in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif char == "]" or char == "}":
            depth -= 1
            if depth < 0:
                return False
        elif char == '"':
            return False
    return False

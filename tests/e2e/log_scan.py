"""Scanning what the app wrote to its log for what must never be there: a whole phone number, a key, a secret or a
token. Each finding names what leaked and shows the line it was on."""

from __future__ import annotations

import re
from collections.abc import Mapping

from tests.support.azurite_process import ACCOUNT_KEY

# An unmasked E.164 number, also as a raw id (`4:+1...`) or URL-encoded (`%2B1...`); `+1425***0123` is masked.
PHONE_NUMBER = re.compile(r"(?:\+|%2[Bb])\d{8,15}")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def leaks(output: str, secrets: Mapping[str, str]) -> list[str]:
    """`secrets` maps a name (`function key`) to a value that must not appear; the storage account key and JWTs
    are always looked for."""
    wanted = {"storage account key": ACCOUNT_KEY, **secrets}
    found = []
    for line in output.splitlines():
        if match := PHONE_NUMBER.search(line):
            found.append(f"phone number {match.group()}: {line.strip()[:300]}")
        if match := JWT.search(line):
            found.append(f"JWT {match.group()[:20]}...: {line.strip()[:300]}")
        found += [f"{name}: {line.strip()[:300]}" for name, value in wanted.items() if value and value in line]
    return found


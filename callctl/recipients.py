"""Reading a recipients CSV: a header row with `phoneNumber` (required) and `timeZone` (optional)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # as the app checks phone numbers


class RecipientsError(ValueError):
    pass


@dataclass(frozen=True)
class Recipient:
    phone_number: str
    time_zone: str | None = None


def read_recipients(path: str | Path) -> list[Recipient]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is not a column name
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipientsError(f"cannot read {path}: {exc}") from None
    return parse_recipients(text)


def parse_recipients(text: str) -> list[Recipient]:
    """The recipients in file order, each number once; RecipientsError naming the line of the first bad one."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower(): name for name in reader.fieldnames or [] if name}
    if "phonenumber" not in columns:
        raise RecipientsError("the CSV needs a header row with a phoneNumber column (and optionally timeZone)")
    found: dict[str, Recipient] = {}
    for row in reader:
        number = (row.get(columns["phonenumber"]) or "").strip()
        if not number:
            continue
        if not E164.fullmatch(number):
            raise RecipientsError(f"line {reader.line_num}: {number!r} is not an E.164 number such as +14255550123")
        zone = (row.get(columns["timezone"]) or "").strip() if "timezone" in columns else ""
        found.setdefault(number, Recipient(number, zone or None))
    return list(found.values())


def to_csv(recipients: list[Recipient]) -> str:
    """The CSV the app reads, with a timeZone column only when someone has one."""
    with_zones = any(r.time_zone for r in recipients)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phoneNumber", "timeZone"] if with_zones else ["phoneNumber"])
    for r in recipients:
        writer.writerow([r.phone_number, r.time_zone or ""] if with_zones else [r.phone_number])
    return out.getvalue()


def chunks(recipients: list[Recipient], size: int) -> list[list[Recipient]]:
    return [recipients[i : i + size] for i in range(0, len(recipients), size)]

"""Reading a recipients CSV: a header row with `phoneNumber` (required) and `timeZone` (optional); every other column
(`language`, and data fields such as `name`) is sent on to the app as it is, which checks it."""

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
    columns: tuple[tuple[str, str], ...] = ()  # the other columns: (header, cell), in the file's order


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
        others = tuple(
            (name, row.get(name) if isinstance(row.get(name), str) else "")
            for name in reader.fieldnames or []
            if name and name.strip().lower() not in ("phonenumber", "timezone")
        )
        found.setdefault(number, Recipient(number, zone or None, tuple((n, c) for n, c in others if c)))
    return list(found.values())


def to_csv(recipients: list[Recipient]) -> str:
    """The CSV the app reads, with a timeZone column only when someone has one, and the other columns anyone has."""
    with_zones = any(r.time_zone for r in recipients)
    others = list(dict.fromkeys(name for r in recipients for name, _ in r.columns))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phoneNumber", *(["timeZone"] if with_zones else []), *others])
    for r in recipients:
        cells = dict(r.columns)
        zone = [r.time_zone or ""] if with_zones else []
        writer.writerow([r.phone_number, *zone, *(cells.get(name, "") for name in others)])
    return out.getvalue()


def chunks(recipients: list[Recipient], size: int) -> list[list[Recipient]]:
    return [recipients[i : i + size] for i in range(0, len(recipients), size)]

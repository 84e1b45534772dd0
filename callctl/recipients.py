"""Reading a recipients CSV: a header row with `phoneNumber` or `phoneNumbers` (several, separated by `;` or `|`,
tried in order), and optionally `recipientId` and `timeZone`; every other column (`language`, `notBefore`,
`notAfter`, and data fields such as `name`) is sent on to the app as it is, which checks it."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

E164 = re.compile(r"\+[1-9][0-9]{6,14}")  # as the app checks phone numbers


class RecipientsError(ValueError):
    pass


NUMBER_SEPARATORS = re.compile(r"[;|]")
OWN_COLUMNS = ("phonenumber", "phonenumbers", "recipientid", "timezone")


@dataclass(frozen=True)
class Recipient:
    phone_number: str  # the first number to call
    time_zone: str | None = None
    columns: tuple[tuple[str, str], ...] = ()  # the other columns: (header, cell), in the file's order
    recipient_id: str | None = None
    phone_numbers: tuple[str, ...] = ()  # all of them, in order, when the row gave `phoneNumbers`

    @property
    def key(self) -> str:
        """What tells recipients apart, as the app does: its own id, else its first number."""
        return self.recipient_id or self.phone_number


def read_recipients(path: str | Path) -> list[Recipient]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a spreadsheet's byte-order mark is not a column name
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipientsError(f"cannot read {path}: {exc}") from None
    return parse_recipients(text)


def parse_recipients(text: str) -> list[Recipient]:
    """The recipients in file order, each once (by recipientId, else number); RecipientsError naming the line of the
    first bad one."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower(): name for name in reader.fieldnames or [] if name}
    if "phonenumber" not in columns and "phonenumbers" not in columns:
        raise RecipientsError("the CSV needs a header row with a phoneNumber column (or phoneNumbers; and optionally "
                              "recipientId, timeZone)")

    def cell(row: dict, name: str) -> str:
        value = row.get(columns[name]) if name in columns else None
        return value.strip() if isinstance(value, str) else ""

    found: dict[str, Recipient] = {}
    for row in reader:
        number, several = cell(row, "phonenumber"), cell(row, "phonenumbers")
        if number and several:
            raise RecipientsError(f"line {reader.line_num}: give phoneNumber or phoneNumbers, not both")
        numbers = [n.strip() for n in NUMBER_SEPARATORS.split(several) if n.strip()] if several else [number]
        if not numbers[0]:
            continue
        for n in numbers:
            if not E164.fullmatch(n):
                raise RecipientsError(f"line {reader.line_num}: {n!r} is not an E.164 number such as +14255550123")
        others = tuple(
            (name, row.get(name) if isinstance(row.get(name), str) else "")
            for name in reader.fieldnames or []
            if name and name.strip().lower() not in OWN_COLUMNS
        )
        recipient = Recipient(numbers[0], cell(row, "timezone") or None, tuple((n, c) for n, c in others if c),
                              cell(row, "recipientid") or None, tuple(numbers) if several else ())
        found.setdefault(recipient.key, recipient)
    return list(found.values())


def to_csv(recipients: list[Recipient]) -> str:
    """The CSV the app reads, with the optional columns (recipientId, phoneNumbers, timeZone, the others) only when
    someone has them."""
    with_ids = any(r.recipient_id for r in recipients)
    with_lists = any(r.phone_numbers for r in recipients)
    with_zones = any(r.time_zone for r in recipients)
    others = list(dict.fromkeys(name for r in recipients for name, _ in r.columns))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*(["recipientId"] if with_ids else []), "phoneNumber", *(["phoneNumbers"] if with_lists else []),
                     *(["timeZone"] if with_zones else []), *others])
    for r in recipients:
        cells = dict(r.columns)
        writer.writerow([
            *([r.recipient_id or ""] if with_ids else []),
            "" if r.phone_numbers else r.phone_number,
            *([";".join(r.phone_numbers)] if with_lists else []),
            *([r.time_zone or ""] if with_zones else []),
            *(cells.get(name, "") for name in others),
        ])
    return out.getvalue()


def chunks(recipients: list[Recipient], size: int) -> list[list[Recipient]]:
    return [recipients[i : i + size] for i in range(0, len(recipients), size)]

"""The multipart/mixed bodies of Table entity-group transactions, written and read without the `email` package.

azure-core builds every transaction's body with `email.message` and its generator, and reads every answer with
`email.message_from_bytes` under the HTTP policy: header objects from `email.headerregistry` for each part, and
two regular expressions compiled for each answer (its boundaries are new every time, so `re`'s cache never
helps). Measured on one 2-operation transaction against Azurite, that was about half of its 3 ms of CPU
(bench/transaction_bench.py), and a campaign call makes about eleven of them. The format is fixed and small
(RFC 2046 parts of `application/http`, one changeset deep, boundaries that are UUIDs), so it is written and split
here directly; the parts themselves are still serialized and deserialized by azure-core. Hand-written because
azure-core has no option for it; `clients._prepare_transactions_in_order` installs it, and
tests/unit/test_multipart.py checks the bytes match azure-core's own and that its answers read the same.
"""

from __future__ import annotations

from typing import Any

CRLF = b"\r\n"


def prepare_multipart_body(http_request: Any, content_index: int = 0) -> int:
    """azure-core's `_prepare_multipart_body_helper`, byte for byte: set the request's multipart body from its
    parts (whose policies have run) and return the next Content-ID."""
    info = http_request.multipart_mixed_info
    if not info:
        return 0
    parts, boundary = info[0], info[2]
    if not boundary:
        raise ValueError("a multipart request needs its boundary set")  # azure-data-tables always sets one
    delimiter = b"--" + boundary.encode("ascii")
    chunks = []
    for part in parts:
        if part.multipart_mixed_info:
            content_index = part.prepare_multipart_body(content_index=content_index)
            head = b"Content-Type: " + part.headers["Content-Type"].encode("ascii") + CRLF
            payload = part.serialize()
            payload = payload[payload.index(b"--") :]  # the changeset's body, without its request line
        else:
            head = b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: %d\r\n" % (
                content_index
            )
            payload = part.serialize()
            content_index += 1
        chunks += [delimiter, CRLF, head, CRLF, payload, CRLF]
    chunks += [delimiter, b"--", CRLF]
    http_request.set_bytes_body(b"".join(chunks))
    http_request.headers["Content-Type"] = "multipart/mixed; boundary=" + boundary
    return content_index


class Part:
    """One part of a multipart answer, with the few `email.message.Message` methods azure-core's
    `_decode_parts_helper` calls: `get_content_type()` and `get_payload()` (the parts of a multipart part, or the
    bytes of an `application/http` one)."""

    def __init__(self, headers: dict[str, str], body: bytes) -> None:
        self.headers = headers  # names in lower case
        self._content_type, self._params = _content_type(headers.get("content-type", "text/plain"))
        self._body = body
        self._parts: list[Part] | None = None

    def get_content_type(self) -> str:
        return self._content_type

    def get_payload(self, decode: bool = False) -> Any:
        if not self._content_type.startswith("multipart/"):
            return self._body
        if self._parts is None:
            boundary = self._params.get("boundary")
            if not boundary:
                raise ValueError("a multipart part without its boundary")
            self._parts = [parse_part(raw) for raw in split_parts(self._body, boundary.encode("ascii"))]
        return self._parts


def parse_part(raw: bytes) -> Part:
    """A part, or a whole message (headers, a blank line, the body), as azure-core hands it to
    `email.message_from_bytes`."""
    head, body = _split_head(raw)
    headers: dict[str, str] = {}
    for line in head.split(b"\n"):
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return Part(headers, body)


parse_message = parse_part  # the name azure-core's `message_parser` stands for


def split_parts(body: bytes, boundary: bytes) -> list[bytes]:
    """The parts between the delimiters `--boundary` (RFC 2046 5.1.1): the line break before a delimiter
    belongs to it, the preamble before the first and the epilogue after the closing `--boundary--` are dropped."""
    delimiter = b"--" + boundary
    pieces = body.split(delimiter)
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # the closing delimiter
        # The rest of the delimiter's line (transport padding, then its line break) is not part of the part.
        _, newline, content = piece.partition(b"\n")
        if not newline:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        parts.append(content)
    return parts


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw[2:] if raw.startswith(b"\r\n") else raw[1:]  # no headers at all
    for blank in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(blank)
        if at >= 0:
            return raw[:at].replace(b"\r\n", b"\n"), raw[at + len(blank) :]
    return raw.replace(b"\r\n", b"\n"), b""


def _content_type(value: str) -> tuple[str, dict[str, str]]:
    kind, *params = value.split(";")
    parsed = {}
    for param in params:
        name, equals, param_value = param.partition("=")
        if equals:
            parsed[name.strip().lower()] = param_value.strip().strip('"')
    return kind.strip().lower() or "text/plain", parsed

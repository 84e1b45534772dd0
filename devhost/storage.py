"""Queue access for triggers and output bindings: clients from app settings, and the host's message encoding.

Clients carry no encode/decode policy on purpose: the trigger must see the raw text to detect messages that
are not valid base64 (the host poisons those at once), and outputs must be encoded exactly as the host does.
"""

from __future__ import annotations

import base64
import binascii
import collections.abc
import threading
from collections.abc import Mapping
from typing import Any

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient


class StorageConfigError(RuntimeError):
    """A binding names a connection setting that is not set."""


class MessageEncodingError(ValueError):
    """A queue message is not valid for the configured messageEncoding."""


class QueueOutputTypeError(TypeError):
    """A function set a queue output to a value the worker cannot send."""


def encode_message(data: str | bytes, encoding: str) -> str:
    """Message text as the host writes it: base64 of the UTF-8 bytes, or the text itself for 'none'."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if encoding == "base64":
        return base64.b64encode(raw).decode("ascii")
    return raw.decode("utf-8")


def decode_message(text: str, encoding: str) -> bytes:
    """The body a trigger receives; raises MessageEncodingError for text the host could not decode."""
    if encoding != "base64":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MessageEncodingError(f"message is not valid base64: {exc}") from exc


def output_messages(value: Any) -> list[str | bytes]:
    """Flatten a queue output value into message payloads, accepting what the worker's converter accepts."""
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return [value]
    if isinstance(value, func.QueueMessage):
        return [value.get_body()]
    if isinstance(value, collections.abc.Iterable) and not isinstance(value, Mapping):
        messages: list[str | bytes] = []
        for item in value:
            if isinstance(item, func.QueueMessage):
                messages.append(item.get_body())
            elif isinstance(item, str):
                messages.append(item)
            else:
                raise QueueOutputTypeError(f"invalid item type in a queue output list: {type(item).__name__}")
        return messages
    raise QueueOutputTypeError(
        f"a queue output takes str, bytes, QueueMessage or a list of them, not {type(value).__name__}"
    )


class QueueStorage:
    """Queue clients per (connection setting, queue), built lazily from app settings and shared by threads
    (Azure SDK clients are safe to share)."""

    def __init__(self, environ: Mapping[str, str], message_encoding: str) -> None:
        self._environ = environ
        self.message_encoding = message_encoding
        self._clients: dict[tuple[str, str], QueueClient] = {}
        self._created: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def connection_string(self, connection: str) -> str:
        """The host looks the setting up by name, then with the AzureWebJobs prefix."""
        for name in (connection, f"AzureWebJobs{connection}"):
            value = self._environ.get(name)
            if value:
                return value
        raise StorageConfigError(
            f"storage connection setting {connection!r} is not set (add it to local.settings.json Values, "
            'e.g. "UseDevelopmentStorage=true"); identity-based connections are not supported by devhost'
        )

    def client(self, connection: str, queue_name: str) -> QueueClient:
        key = (connection, queue_name)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = QueueClient.from_connection_string(self.connection_string(connection), queue_name)
            return self._clients[key]

    def ensure_queue(self, connection: str, queue_name: str, **request_options: Any) -> QueueClient:
        """Create the queue if missing, as the host does for trigger, output and poison queues.

        request_options go to the SDK call, e.g. retry_total=0 for a single quick attempt."""
        client = self.client(connection, queue_name)
        if (connection, queue_name) in self._created:
            return client
        try:
            client.create_queue(**request_options)
        except ResourceExistsError:
            pass
        with self._lock:
            self._created.add((connection, queue_name))
        return client

    def send(self, connection: str, queue_name: str, value: Any) -> int:
        """Send an output binding's value; returns how many messages were sent."""
        messages = output_messages(value)  # validate everything before sending anything
        if not messages:
            return 0
        client = self.ensure_queue(connection, queue_name)
        for message in messages:
            client.send_message(encode_message(message, self.message_encoding))
        return len(messages)

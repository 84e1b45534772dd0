"""Indexing, message encoding, polling back-off and the per-message queue decisions, without processes."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime

import azure.functions as func
import pytest
from azure.storage.queue import QueueMessage

from devhost.config import QueueSettings
from devhost.indexing import HttpFunction, IndexingError, QueueFunction, QueueOutput, find_app, index_functions
from devhost.invocation import Invoker
from devhost.queue_runner import PollingBackoff, QueueListener
from devhost.storage import (
    MessageEncodingError,
    QueueOutputTypeError,
    QueueStorage,
    decode_message,
    encode_message,
    output_messages,
)

# --- indexing -------------------------------------------------------------------------------------------


def test_index_describes_http_and_queue_functions() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    bp = func.Blueprint()

    @bp.route(route="calls/{id}", methods=["POST"])
    @bp.queue_output(arg_name="out", queue_name="%OUT_QUEUE%", connection="Storage")
    def create(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
        return func.HttpResponse()

    @bp.queue_trigger(arg_name="msg", queue_name="work", connection="")
    async def work(msg: func.QueueMessage) -> None:
        return None

    app.register_functions(bp)

    http, queue = index_functions(app, {"OUT_QUEUE": "resolved-out"})

    assert isinstance(http, HttpFunction)
    assert (http.name, http.route, http.methods, http.auth_level) == ("create", "calls/{id}", ("POST",), "function")
    assert [(o.arg_name, o.queue_name, o.connection) for o in http.outputs] == [("out", "resolved-out", "Storage")]
    assert isinstance(queue, QueueFunction)
    assert (queue.queue_name, queue.connection, queue.trigger_arg) == ("work", "AzureWebJobsStorage", "msg")
    assert queue.is_async and not http.is_async


def test_a_missing_app_setting_in_a_binding_fails_at_start_up() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%NOT_SET%", connection="AzureWebJobsStorage")
    def work(msg: func.QueueMessage) -> None:
        return None

    with pytest.raises(IndexingError, match="NOT_SET"):
        index_functions(app, {})


def test_unsupported_bindings_fail_at_start_up() -> None:
    app = func.FunctionApp()

    @app.route(route="x")
    @app.table_input(arg_name="row", table_name="t", connection="AzureWebJobsStorage")
    def read(req: func.HttpRequest, row: str) -> str:
        return row

    with pytest.raises(IndexingError, match="not supported by devhost"):
        index_functions(app, {})


def test_unsupported_triggers_fail_at_start_up() -> None:
    app = func.FunctionApp()

    @app.blob_trigger(arg_name="blob", path="uploads/{name}", connection="AzureWebJobsStorage")
    def on_upload(blob: func.InputStream) -> None:
        return None

    with pytest.raises(IndexingError, match="blobTrigger"):
        index_functions(app, {})


def test_a_parameter_without_binding_fails_at_start_up() -> None:
    app = func.FunctionApp()

    @app.route(route="x")
    def handler(req: func.HttpRequest, context: func.Context) -> str:
        return "x"

    with pytest.raises(IndexingError, match="'context'"):
        index_functions(app, {})


def test_the_module_must_hold_exactly_one_app() -> None:
    import types

    module = types.ModuleType("function_app")
    with pytest.raises(IndexingError, match="found 0"):
        find_app(module)
    module.a, module.b = func.FunctionApp(), func.FunctionApp()
    with pytest.raises(IndexingError, match="found 2"):
        find_app(module)


# --- message encoding -----------------------------------------------------------------------------------


def test_base64_round_trip_matches_the_sdk_policy() -> None:
    text = encode_message('{"a": "é"}', "base64")

    assert text == base64.b64encode('{"a": "é"}'.encode()).decode()
    assert decode_message(text, "base64") == '{"a": "é"}'.encode()


@pytest.mark.parametrize("text", ['{"call_id": "c1"}', "abc", "not base64!"])
def test_text_that_is_not_base64_is_rejected(text: str) -> None:
    with pytest.raises(MessageEncodingError):
        decode_message(text, "base64")


def test_encoding_none_passes_text_through() -> None:
    assert encode_message(b"plain", "none") == "plain"
    assert decode_message("{not base64}", "none") == b"{not base64}"


def test_output_values_accepted_like_the_worker() -> None:
    assert output_messages(None) == []
    assert output_messages("a") == ["a"]
    assert output_messages(b"b") == [b"b"]
    assert output_messages(["a", func.QueueMessage(body="c")]) == ["a", b"c"]
    with pytest.raises(QueueOutputTypeError):
        output_messages({"a": 1})
    with pytest.raises(QueueOutputTypeError):
        output_messages([1])


def test_missing_connection_setting_names_the_setting() -> None:
    storage = QueueStorage({}, "base64")

    with pytest.raises(RuntimeError, match="'MyStorage'"):
        storage.connection_string("MyStorage")
    assert QueueStorage({"AzureWebJobsMyStorage": "x"}, "base64").connection_string("MyStorage") == "x"


# --- polling back-off -----------------------------------------------------------------------------------


def test_backoff_grows_to_the_maximum_and_resets_after_messages() -> None:
    backoff = PollingBackoff(maximum=2.0, rng=lambda: 1.0)

    delays = [backoff.after_empty() for _ in range(6)]

    assert delays == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert backoff.after_messages() == 0.1
    assert backoff.after_empty() == 0.2


def test_backoff_jitter_stays_within_bounds() -> None:
    backoff = PollingBackoff(maximum=1.0, rng=lambda: 0.0)

    delays = [backoff.after_empty() for _ in range(5)]

    assert all(0.1 <= d <= 1.0 for d in delays)
    assert delays[-1] == pytest.approx(0.8)


# --- per-message decisions (fake storage, real listener logic) -----------------------------------------


@dataclass
class FakeQueue:
    sent: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    updated: list[tuple[str, int]] = field(default_factory=list)

    def send_message(self, text: str) -> None:
        self.sent.append(text)

    def delete_message(self, message: QueueMessage, pop_receipt: str) -> None:
        self.deleted.append(message.id)

    def update_message(self, message_id: str, *, pop_receipt: str, visibility_timeout: int) -> None:
        self.updated.append((message_id, visibility_timeout))


class FakeStorage:
    def __init__(self) -> None:
        self.queues: dict[str, FakeQueue] = {}

    def ensure_queue(self, connection: str, queue_name: str) -> FakeQueue:
        return self.queues.setdefault(queue_name, FakeQueue())


class RecordingInvoker:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[func.QueueMessage] = []
        self.error = error

    def invoke(self, function: QueueFunction, message: func.QueueMessage, *, reason: str) -> None:
        self.calls.append(message)
        if self.error:
            raise self.error


def _listener(invoker: RecordingInvoker, storage: FakeStorage) -> QueueListener:
    function = QueueFunction(
        name="work",
        trigger_arg="msg",
        user_function=lambda msg: None,
        outputs=(),
        queue_name="work",
        connection="AzureWebJobsStorage",
    )
    settings = QueueSettings(batch_size=1, new_batch_threshold=0, visibility_timeout=3, max_dequeue_count=3)
    return QueueListener(function, settings, storage, invoker)  # type: ignore[arg-type]


def _message(content: str, dequeue_count: int) -> QueueMessage:
    message = QueueMessage(content=content)
    message.id, message.pop_receipt, message.dequeue_count = "m1", "receipt", dequeue_count
    message.inserted_on = message.expires_on = message.next_visible_on = datetime(2026, 1, 1, tzinfo=UTC)
    return message


B64 = base64.b64encode(b'{"x": 1}').decode()


def test_success_deletes_and_passes_the_metadata() -> None:
    storage, invoker = FakeStorage(), RecordingInvoker()
    queue = FakeQueue()

    _listener(invoker, storage)._handle(queue, _message(B64, 2))

    assert queue.deleted == ["m1"]
    (message,) = invoker.calls
    assert (message.id, message.get_body(), message.dequeue_count, message.pop_receipt) == (
        "m1",
        b'{"x": 1}',
        2,
        "receipt",
    )
    assert message.insertion_time == datetime(2026, 1, 1, tzinfo=UTC)


def test_failure_below_max_makes_the_message_visible_after_visibility_timeout() -> None:
    storage, queue = FakeStorage(), FakeQueue()

    _listener(RecordingInvoker(ValueError("no")), storage)._handle(queue, _message(B64, 2))

    assert queue.updated == [("m1", 3)]
    assert queue.deleted == []
    assert "work-poison" not in storage.queues


def test_failure_at_max_moves_the_original_text_to_poison() -> None:
    storage, queue = FakeStorage(), FakeQueue()

    _listener(RecordingInvoker(ValueError("no")), storage)._handle(queue, _message(B64, 3))

    assert storage.queues["work-poison"].sent == [B64]
    assert queue.deleted == ["m1"]
    assert queue.updated == []


def test_a_message_past_max_is_poisoned_without_invoking() -> None:
    storage, queue, invoker = FakeStorage(), FakeQueue(), RecordingInvoker()

    _listener(invoker, storage)._handle(queue, _message(B64, 4))

    assert invoker.calls == []
    assert storage.queues["work-poison"].sent == [B64]
    assert queue.deleted == ["m1"]


# --- invocation ---------------------------------------------------------------------------------------


class RecordingStorage:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, object]] = []

    def send(self, connection: str, queue_name: str, value: object) -> int:
        self.sent.append((connection, queue_name, value))
        return 1


def _queue_function(user_function, outputs=()) -> QueueFunction:
    return QueueFunction(
        name="fn", trigger_arg="msg", user_function=user_function, outputs=outputs, queue_name="q", connection="c"
    )


@pytest.fixture
def invoker_and_storage():
    storage = RecordingStorage()
    invoker = Invoker(storage)  # type: ignore[arg-type]
    yield invoker, storage
    invoker.close()


def test_outputs_are_sent_after_a_successful_call(invoker_and_storage) -> None:
    invoker, storage = invoker_and_storage

    async def handler(msg: str, out: func.Out[str]) -> str:
        out.set(f"out:{msg}")
        return f"ret:{msg}"

    outputs = (QueueOutput("out", "q-out", "c1"), QueueOutput("$return", "q-ret", "c2"))
    result = invoker.invoke(_queue_function(handler, outputs), "m", reason="test")

    assert result == "ret:m"
    assert storage.sent == [("c1", "q-out", "out:m"), ("c2", "q-ret", "ret:m")]


def test_nothing_is_sent_when_the_call_fails(invoker_and_storage) -> None:
    invoker, storage = invoker_and_storage

    def handler(msg: str, out: func.Out[str]) -> None:
        out.set("never sent")
        raise KeyError("boom")

    with pytest.raises(KeyError):
        invoker.invoke(_queue_function(handler, (QueueOutput("out", "q-out", "c1"),)), "m", reason="test")
    assert storage.sent == []

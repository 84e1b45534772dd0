"""Call a user function the way the Python worker does, then flush its queue outputs.

Sync functions run in the calling thread (an HTTP request thread or a queue worker thread). Async functions
all run on one shared event loop, as in the worker, so loop-bound objects (sessions, clients) created by one
invocation keep working in the next.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from typing import Any, Generic, TypeVar

import azure.functions as func

from devhost.indexing import RETURN_NAME, IndexedFunction
from devhost.storage import QueueStorage

logger = logging.getLogger("devhost")
T = TypeVar("T")


class OutValue(func.Out, Generic[T]):
    """What the worker passes for an output binding parameter."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> T | None:
        return self._value


class Invoker:
    def __init__(self, storage: QueueStorage) -> None:
        self._storage = storage
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="devhost-asyncio", daemon=True)
        self._loop_thread.start()

    def invoke(self, function: IndexedFunction, trigger_value: Any, *, reason: str) -> Any:
        """Run the function and send its outputs; raises whatever the function (or an output) raised."""
        invocation_id = uuid.uuid4()
        logger.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", function.name, reason, invocation_id)
        started = time.monotonic()
        try:
            outs = {o.arg_name: OutValue() for o in function.outputs if o.arg_name != RETURN_NAME}
            result = self._call(function, {function.trigger_arg: trigger_value, **outs})
            # The host writes output bindings only after the function returned successfully.
            for output in function.outputs:
                value = result if output.arg_name == RETURN_NAME else outs[output.arg_name].get()
                self._storage.send(output.connection, output.queue_name, value)
        except Exception as exc:
            logger.exception(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms): %s: %s",
                function.name,
                invocation_id,
                _elapsed_ms(started),
                type(exc).__name__,
                exc,
            )
            raise
        logger.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
            function.name,
            invocation_id,
            _elapsed_ms(started),
        )
        return result

    def _call(self, function: IndexedFunction, kwargs: dict[str, Any]) -> Any:
        if function.is_async:
            return asyncio.run_coroutine_threadsafe(function.user_function(**kwargs), self._loop).result()
        return function.user_function(**kwargs)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)

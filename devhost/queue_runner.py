"""Queue triggers with the host's semantics (WebJobs QueueListener / QueueProcessor):

* one poller per function; it fetches up to batchSize messages under a long lease and fetches again once
  in-flight work has dropped to newBatchThreshold, so at most batchSize + newBatchThreshold run at once;
* empty polls back off exponentially, with jitter, from 100 ms up to maxPollingInterval;
* success deletes the message; failure makes it visible again after visibilityTimeout, until the attempt
  with dequeue_count >= maxDequeueCount, which copies the original text to '<queue>-poison' and deletes it;
* a message that is not valid base64 (with messageEncoding base64), or whose dequeue_count already exceeds
  maxDequeueCount, goes to the poison queue without an invocation.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from azure.functions.queue import QueueMessage as TriggerMessage  # the subclass the worker builds
from azure.storage.queue import QueueClient, QueueMessage

from devhost.config import MIN_POLLING_INTERVAL, QueueSettings
from devhost.indexing import QueueFunction
from devhost.invocation import Invoker
from devhost.storage import MessageEncodingError, QueueStorage, decode_message

logger = logging.getLogger("devhost")

# The host leases a message for 10 minutes while the function runs (it renews the lease; devhost does not,
# so a function running longer than this sees its message delivered again).
LEASE_SECONDS = 600
POISON_SUFFIX = "-poison"


class PollingBackoff:
    """Randomized exponential back-off between polls of an empty queue."""

    def __init__(self, maximum: float, minimum: float = MIN_POLLING_INTERVAL, rng: Callable[[], float] = random.random):
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        self._rng = rng
        self._current = minimum

    def after_messages(self) -> float:
        self._current = self.minimum
        return self.minimum

    def after_empty(self) -> float:
        self._current = min(self.maximum, self._current * 2)
        # Jitter keeps several pollers from hitting the queue in lock-step.
        return max(self.minimum, self._current * (0.8 + 0.2 * self._rng()))


class QueueListener:
    def __init__(
        self, function: QueueFunction, settings: QueueSettings, storage: QueueStorage, invoker: Invoker
    ) -> None:
        self.function = function
        self.settings = settings
        self._storage = storage
        self._invoker = invoker
        self._poison_queue = function.queue_name + POISON_SUFFIX
        self._stopping = threading.Event()
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self._executor = ThreadPoolExecutor(settings.max_in_flight, thread_name_prefix=f"devhost-{function.name}")
        self._client: QueueClient | None = None
        self._poller = threading.Thread(target=self._poll, name=f"devhost-poll-{function.name}", daemon=True)

    def start(self) -> None:
        """Create the queue now, so that once devhost says it is ready, senders find the queue; if storage
        is not reachable yet, the poller keeps trying."""
        try:
            self._client = self._storage.ensure_queue(self.function.connection, self.function.queue_name, retry_total=0)
        except Exception as exc:
            logger.warning("Queue %r is not available yet: %s", self.function.queue_name, exc)
        self._poller.start()

    def request_stop(self) -> None:
        """Stop fetching new messages; in-flight invocations carry on."""
        self._stopping.set()
        with self._in_flight_changed:
            self._in_flight_changed.notify_all()

    def stop(self, grace_seconds: float) -> bool:
        """Stop polling and give in-flight invocations up to grace_seconds; True if they all finished.

        Unfinished messages are not lost: their lease expires and they are delivered again."""
        self.request_stop()
        self._poller.join(timeout=grace_seconds)
        with self._in_flight_changed:
            drained = self._in_flight_changed.wait_for(lambda: self._in_flight == 0, timeout=grace_seconds)
        self._executor.shutdown(wait=False, cancel_futures=True)
        return drained

    def _poll(self) -> None:
        backoff = PollingBackoff(self.settings.max_polling_interval)
        failing = False
        while not self._stopping.is_set():
            with self._in_flight_changed:
                self._in_flight_changed.wait_for(
                    lambda: self._in_flight <= self.settings.new_batch_threshold or self._stopping.is_set()
                )
            if self._stopping.is_set():
                return
            try:
                # No SDK retries while polling: our own back-off decides when to try again.
                if self._client is None:
                    self._client = self._storage.ensure_queue(
                        self.function.connection, self.function.queue_name, retry_total=0
                    )
                messages = self._receive(self._client)
            except Exception as exc:  # storage not reachable (yet): keep polling, as the host does
                if not failing:  # once per outage, not on every poll
                    logger.warning("Polling queue %r failed, will keep trying: %s", self.function.queue_name, exc)
                failing, messages = True, []
            else:
                if failing:
                    logger.info("Polling queue %r works again", self.function.queue_name)
                failing = False
            for message in messages:
                with self._in_flight_changed:
                    self._in_flight += 1
                self._executor.submit(self._process, self._client, message)
            self._stopping.wait(backoff.after_messages() if messages else backoff.after_empty())

    def _receive(self, client: QueueClient) -> list[QueueMessage]:
        # One request for up to batchSize messages; iterating the pager would keep fetching.
        pager = client.receive_messages(
            messages_per_page=self.settings.batch_size, visibility_timeout=LEASE_SECONDS, retry_total=0
        )
        page = next(pager.by_page(), None)
        return list(page) if page is not None else []

    def _process(self, client: QueueClient, message: QueueMessage) -> None:
        try:
            self._handle(client, message)
        except Exception:
            logger.exception(
                "Handling message %s from %r failed; its lease will expire and it will be retried",
                message.id,
                self.function.queue_name,
            )
        finally:
            with self._in_flight_changed:
                self._in_flight -= 1
                self._in_flight_changed.notify_all()

    def _handle(self, client: QueueClient, message: QueueMessage) -> None:
        max_count = self.settings.max_dequeue_count
        if message.dequeue_count and message.dequeue_count > max_count:
            self._move_to_poison(client, message, f"dequeue count {message.dequeue_count} exceeds {max_count}")
            return
        try:
            body = decode_message(message.content, self.settings.message_encoding)
        except MessageEncodingError as exc:
            self._move_to_poison(client, message, str(exc))
            return
        trigger_message = TriggerMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        try:
            self._invoker.invoke(
                self.function, trigger_message, reason=f"New queue message detected on '{self.function.queue_name}'."
            )
        except Exception as exc:
            if (message.dequeue_count or 0) >= max_count:
                self._move_to_poison(client, message, f"{type(exc).__name__}: {exc}")
            else:
                # By id, not the message object: the SDK would re-send the content along with the new visibility.
                client.update_message(
                    message.id,
                    pop_receipt=message.pop_receipt,
                    visibility_timeout=round(self.settings.visibility_timeout),
                )
            return
        client.delete_message(message, pop_receipt=message.pop_receipt)

    def _move_to_poison(self, client: QueueClient, message: QueueMessage, reason: str) -> None:
        poison = self._storage.ensure_queue(self.function.connection, self._poison_queue)
        poison.send_message(message.content)  # the original text, still encoded, so it can be replayed as is
        client.delete_message(message, pop_receipt=message.pop_receipt)
        logger.warning(
            "Moved message %s (dequeue count %s, maxDequeueCount %d) to queue '%s'. Reason: %s",
            message.id,
            message.dequeue_count,
            self.settings.max_dequeue_count,
            self._poison_queue,
            reason,
        )

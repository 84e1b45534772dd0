"""`python -m devhost [--app-dir DIR] [--host 127.0.0.1] [--port 7071]`: serve a Function App like `func start`.

Start-up order follows the host: read host.json and local.settings.json, export the settings, index the app,
then listen: HTTP triggers on the port, queue triggers by polling, timer triggers on their schedules. `--port 0`
picks a free port; the printed URLs show the real one. SIGINT/SIGTERM stop polling and timers, give in-flight
work a moment, and exit 0.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from devhost.config import DEFAULT_HTTP_PORT, ConfigError, apply_settings, load_host_config, load_local_settings
from devhost.http_server import HostKeys, HttpApp, RouteError, start_server
from devhost.indexing import (
    DEFAULT_CONNECTION,
    HttpFunction,
    IndexedFunction,
    IndexingError,
    QueueFunction,
    TimerFunction,
    index_functions,
    load_function_app,
)
from devhost.invocation import Invoker
from devhost.queue_runner import QueueListener
from devhost.storage import QueueStorage, StorageConfigError
from devhost.timer_runner import TimerListener

logger = logging.getLogger("devhost")
STOP_GRACE_SECONDS = 5.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.splitlines()[0])
    parser.add_argument("--app-dir", default=".", help="the Function App folder (holds host.json)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="default: Host.LocalHttpPort from local.settings.json, else 7071")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Configured before the app is imported, as the Python worker does: a filter the app puts on the root logger's
    # handlers when it is imported (this app's shared/logs.py masks phone numbers and secrets) covers devhost's own
    # lines too.
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", stream=sys.stderr)
    # The storage SDK logs every request at INFO; the host does not.
    logging.getLogger("azure").setLevel(logging.WARNING)
    app_dir = Path(args.app_dir).resolve()
    try:
        local_settings = load_local_settings(app_dir)
        apply_settings(local_settings.values, os.environ)
        host_config = load_host_config(app_dir, environ=os.environ)  # app settings may override host.json
        os.chdir(app_dir)  # the worker runs with the app root as its working directory
        functions = index_functions(load_function_app(app_dir), os.environ)
        storage = QueueStorage(os.environ, host_config.queues.message_encoding)
        _check_connections(functions, storage)
    except (ConfigError, IndexingError, StorageConfigError) as exc:
        logger.error("devhost cannot start: %s", exc)
        return 1
    except Exception:
        logger.exception("devhost cannot start: importing or indexing the app failed")
        return 1

    invoker = Invoker(storage)
    http_functions = [f for f in functions if isinstance(f, HttpFunction)]
    try:
        app = HttpApp(http_functions, host_config.route_prefix, invoker, HostKeys.from_environ(os.environ))
        port = args.port if args.port is not None else (local_settings.local_http_port or DEFAULT_HTTP_PORT)
        server = start_server(app, args.host, port)
    except (RouteError, OSError) as exc:
        logger.error("devhost cannot start: %s", exc)
        return 1
    listeners: list[QueueListener | TimerListener] = [
        *(QueueListener(f, host_config.queues, storage, invoker) for f in functions if isinstance(f, QueueFunction)),
        *(TimerListener(f, invoker) for f in functions if isinstance(f, TimerFunction)),
    ]

    stop = threading.Event()
    # `kill -USR1 <pid>` prints every thread's stack: where a stuck invocation is stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, name="devhost-http", daemon=True).start()
    for listener in listeners:
        listener.start()
    base_url = f"http://{args.host}:{server.server_port}"
    _print_functions(functions, base_url, host_config.route_prefix)
    print(f"devhost is ready: listening on {base_url} (Ctrl+C to stop)", flush=True)

    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    logger.info("Stopping devhost")
    server.shutdown()
    for listener in listeners:
        listener.request_stop()
    drained = all([listener.stop(STOP_GRACE_SECONDS) for listener in listeners])
    invoker.close()
    if not drained:
        # Worker threads cannot be interrupted. Their queue messages are delivered again once the lease expires;
        # an unfinished timer run is abandoned.
        logger.warning("Some invocations were still running; exiting without waiting for them")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _check_connections(functions: Sequence[IndexedFunction], storage: QueueStorage) -> None:
    """The host refuses to start a function whose storage connection setting is missing."""
    for function in functions:
        names = [output.connection for output in function.outputs]
        if isinstance(function, QueueFunction):
            names.append(function.connection)
        elif isinstance(function, TimerFunction):
            # The host keeps a timer's singleton lock and schedule status in AzureWebJobsStorage, and Core Tools
            # refuses to start a timer trigger without it, even though devhost itself does not use it for timers.
            names.append(DEFAULT_CONNECTION)
        for name in names:
            storage.connection_string(name)


def _print_functions(functions: Sequence[IndexedFunction], base_url: str, route_prefix: str) -> None:
    lines = ["", "Functions:", ""]
    for function in functions:
        if isinstance(function, HttpFunction):
            methods = ",".join(function.methods) if function.methods else "ALL"
            path = "/".join(part for part in (route_prefix, function.route.strip("/")) if part)
            lines.append(f"  {function.name}: [{methods}] {base_url}/{path}")
        elif isinstance(function, QueueFunction):
            lines.append(f"  {function.name}: queueTrigger (queue: {function.queue_name})")
        elif isinstance(function, TimerFunction):
            lines.append(f"  {function.name}: timerTrigger (schedule: {function.schedule.expression})")
    # One write, so log lines from listeners already running (on stderr, often the same terminal) cannot land
    # in the middle of the list.
    sys.stdout.write("\n".join(lines) + "\n\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())

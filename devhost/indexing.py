"""Index a v2 Function App the way the Python worker does: import function_app.py, find the app object and
ask azure-functions for its functions. The result is a small, host-neutral description of each function.

Only what devhost can run faithfully is accepted (HTTP, queue and timer triggers, HTTP and queue outputs);
anything else fails at start-up with a clear message instead of misbehaving at request time. So does a timer
schedule the host would refuse.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import FunctionRegister

from devhost.schedules import Schedule, ScheduleError, parse_schedule, schedule_time_zone

SCRIPT_MODULE = "function_app"  # the host indexes function_app.py in the app root
DEFAULT_CONNECTION = "AzureWebJobsStorage"  # what the host uses when a binding names no connection
RETURN_NAME = "$return"
_SETTING_EXPRESSION = re.compile(r"%([^%]+)%")


class IndexingError(RuntimeError):
    """The app cannot be loaded, or uses something devhost does not support."""


@dataclass(frozen=True)
class QueueOutput:
    arg_name: str  # a parameter name, or "$return" for the function's return value
    queue_name: str
    connection: str  # the name of the app setting holding the storage connection string


@dataclass(frozen=True)
class IndexedFunction:
    name: str
    trigger_arg: str
    user_function: Callable[..., Any]
    outputs: tuple[QueueOutput, ...]

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)


@dataclass(frozen=True)
class HttpFunction(IndexedFunction):
    route: str
    methods: tuple[str, ...] | None  # None: every method, as when function.json lists none
    auth_level: str  # "anonymous" | "function" | "admin"


@dataclass(frozen=True)
class QueueFunction(IndexedFunction):
    queue_name: str
    connection: str


@dataclass(frozen=True)
class TimerFunction(IndexedFunction):
    schedule: Schedule  # parsed from the declared expression with its %Setting% parts resolved
    run_on_startup: bool
    use_monitor: bool | None  # as declared (None: the host's default); devhost keeps no schedule status either way


def load_function_app(app_dir: Path) -> FunctionRegister:
    """Import DIR/function_app.py with DIR first on sys.path (so blueprint folders import as in Azure)."""
    app_dir = Path(app_dir).resolve()
    if not (app_dir / f"{SCRIPT_MODULE}.py").is_file():
        raise IndexingError(f"{app_dir / SCRIPT_MODULE}.py not found")
    sys.path.insert(0, str(app_dir))
    module = importlib.import_module(SCRIPT_MODULE)
    return find_app(module)


def find_app(module: ModuleType) -> FunctionRegister:
    """The worker requires exactly one FunctionApp (any FunctionRegister) at module level."""
    apps = [value for value in vars(module).values() if isinstance(value, FunctionRegister)]
    if len(apps) != 1:
        raise IndexingError(f"{module.__name__} must define exactly one func.FunctionApp, found {len(apps)}")
    return apps[0]


def index_functions(app: FunctionRegister, environ: Mapping[str, str]) -> list[IndexedFunction]:
    """Describe every function of the app. get_functions() may run only once per app instance."""
    return [_describe(function, environ) for function in app.get_functions()]


def _describe(function: func.decorators.core.Function, environ: Mapping[str, str]) -> IndexedFunction:
    name = function.get_function_name()
    trigger = function.get_trigger()
    outputs = []
    for binding in function.get_bindings():
        if binding is trigger or binding.type == "http":
            continue
        if binding.type != "queue":  # "queue" is only ever an output binding
            raise IndexingError(
                f"function {name!r}: binding {binding.type!r} ({binding.name}) is not supported by devhost "
                "(supported: httpTrigger, queueTrigger, timerTrigger, queue output)"
            )
        outputs.append(
            QueueOutput(
                arg_name=binding.name,
                queue_name=resolve_setting_expressions(binding.queue_name, environ),
                connection=binding.connection or DEFAULT_CONNECTION,
            )
        )
    common = {
        "name": name,
        "trigger_arg": trigger.name,
        "user_function": function.get_user_function(),
        "outputs": tuple(outputs),
    }
    if trigger.type == "httpTrigger":
        described: IndexedFunction = HttpFunction(
            **common,
            route=trigger.route or name,
            methods=tuple(method.value for method in trigger.methods) if trigger.methods else None,
            auth_level=func.AuthLevel(trigger.auth_level).value,
        )
    elif trigger.type == "queueTrigger":
        described = QueueFunction(
            **common,
            queue_name=resolve_setting_expressions(trigger.queue_name, environ),
            connection=trigger.connection or DEFAULT_CONNECTION,
        )
    elif trigger.type == "timerTrigger":
        described = TimerFunction(
            **common,
            schedule=_timer_schedule(name, trigger.schedule, environ),
            run_on_startup=bool(trigger.run_on_startup),
            use_monitor=trigger.use_monitor,
        )
    else:
        raise IndexingError(f"function {name!r}: trigger {trigger.type!r} is not supported by devhost")
    _check_parameters(described)
    return described


def _timer_schedule(function_name: str, declared: str, environ: Mapping[str, str]) -> Schedule:
    """Resolve and parse the schedule now: the host refuses a function whose schedule it cannot read."""
    try:
        return parse_schedule(resolve_setting_expressions(declared, environ), schedule_time_zone(environ))
    except (IndexingError, ScheduleError) as exc:
        raise IndexingError(f"function {function_name!r}: {exc}") from None


def _check_parameters(function: IndexedFunction) -> None:
    """Every parameter must be fed by a binding; the worker would refuse the function otherwise."""
    bound = {function.trigger_arg} | {output.arg_name for output in function.outputs}
    for parameter in inspect.signature(function.user_function).parameters.values():
        if parameter.name not in bound and parameter.default is inspect.Parameter.empty:
            raise IndexingError(
                f"function {function.name!r}: parameter {parameter.name!r} has no binding devhost supports "
                "(the worker's 'context' parameter is not supported by devhost)"
            )


def resolve_setting_expressions(text: str, environ: Mapping[str, str]) -> str:
    """Replace %Name% with the app setting Name, as the host does in binding properties."""

    def lookup(match: re.Match[str]) -> str:
        setting = match.group(1)
        if setting not in environ:
            raise IndexingError(f"app setting {setting!r} (used as %{setting}%) is not set")
        return environ[setting]

    return _SETTING_EXPRESSION.sub(lookup, text)

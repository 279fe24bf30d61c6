"""Loads a v2-model function app and describes its functions from the library's own introspection."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

from devhost.config import DevHostConfigError


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: frozenset[str]
    auth_level: str
    arg_name: str
    user_function: Callable[..., Any]
    pattern: re.Pattern[str] = field(compare=False)


@dataclass(frozen=True)
class QueueFunction:
    name: str
    queue_name: str
    connection: str
    arg_name: str
    user_function: Callable[..., Any]


@dataclass(frozen=True)
class TimerFunction:
    name: str
    schedule: str
    run_on_startup: bool
    arg_name: str
    user_function: Callable[..., Any]


@dataclass
class LoadedApp:
    http: list[HttpFunction]
    queues: list[QueueFunction]
    timers: list[TimerFunction]


_ALL_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"})
_ROUTE_PARAM = re.compile(
    r"\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<constraint>[a-z]+))?(?P<optional>\?)?\}"
)


def route_pattern(route: str) -> re.Pattern[str]:
    """Compile a Functions route template (`items/{id}`, `{id:int}`, `{name?}`) to a regex."""
    out = []
    pos = 0
    for m in _ROUTE_PARAM.finditer(route):
        out.append(re.escape(route[pos : m.start()]))
        body = r"\d+" if m.group("constraint") == "int" else r"[^/]+"
        group = f"(?P<{m.group('name')}>{body})"
        if m.group("optional"):
            # An optional last segment may also drop its preceding slash.
            if out and out[-1].endswith("/"):
                out[-1] = out[-1][:-1]
                group = f"(?:/{group})?"
            else:
                group += "?"
        out.append(group)
        pos = m.end()
    out.append(re.escape(route[pos:]))
    return re.compile("^" + "".join(out).strip("/") + "$", re.IGNORECASE)


def _value(obj: Any) -> str:
    return str(getattr(obj, "value", obj))


def _describe(fn: Any) -> HttpFunction | QueueFunction | TimerFunction:
    name = fn.get_function_name()
    trigger = fn.get_trigger()
    data = trigger.get_dict_repr()
    extra = [b.get_dict_repr() for b in fn.get_bindings() if b is not trigger]
    extra = [b for b in extra if not (b.get("type") == "http" and b.get("name") == "$return")]
    if extra:
        kinds = ", ".join(str(b.get("type")) for b in extra)
        raise DevHostConfigError(f"function {name!r}: bindings not supported by the dev host: {kinds}")
    user_function = fn.get_user_function()
    kind = data["type"]
    if kind == "httpTrigger":
        route = (data.get("route") or name).strip("/")
        methods = data.get("methods")
        method_set = frozenset(_value(m).upper() for m in methods) if methods else _ALL_METHODS
        return HttpFunction(
            name=name,
            route=route,
            methods=method_set,
            auth_level=_value(data.get("authLevel", "function")).lower(),
            arg_name=data["name"],
            user_function=user_function,
            pattern=route_pattern(route),
        )
    if kind == "queueTrigger":
        return QueueFunction(
            name=name,
            queue_name=data["queueName"],
            connection=data.get("connection") or "AzureWebJobsStorage",
            arg_name=data["name"],
            user_function=user_function,
        )
    if kind == "timerTrigger":
        return TimerFunction(
            name=name,
            schedule=data["schedule"],
            run_on_startup=bool(data.get("runOnStartup", False)),
            arg_name=data["name"],
            user_function=user_function,
        )
    raise DevHostConfigError(f"function {name!r}: trigger type {kind!r} is not supported by the dev host")


def find_function_app(module: Any) -> func.FunctionApp:
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionApp)]
    if len(apps) != 1:
        raise DevHostConfigError(f"expected exactly one FunctionApp in {module.__name__}, found {len(apps)}")
    return apps[0]


def load_app(path: Path) -> LoadedApp:
    """Import the app script (its folder on sys.path, as the worker does) and describe its functions."""
    path = path.resolve()
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise DevHostConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    app = find_function_app(module)
    loaded = LoadedApp(http=[], queues=[], timers=[])
    # get_functions() may be called only once per app: it builds and validates the registrations.
    for fn in app.get_functions():
        described = _describe(fn)
        if isinstance(described, HttpFunction):
            loaded.http.append(described)
        elif isinstance(described, QueueFunction):
            loaded.queues.append(described)
        else:
            loaded.timers.append(described)
    return loaded

"""Calls a user function as the Python worker does: coroutines on the loop, plain functions in threads."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def invoke(user_function: Callable[..., Any], arg_name: str, argument: Any) -> Any:
    if inspect.iscoroutinefunction(user_function):
        return await user_function(**{arg_name: argument})
    return await asyncio.to_thread(user_function, **{arg_name: argument})

"""Turning raw queue bodies into typed messages; bad input goes to the poison queue with its reason."""

from __future__ import annotations

from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DeadLetterSink(Protocol):
    async def dead_letter(self, queue: str, body: bytes, reason: str) -> None: ...


async def parse_or_dead_letter(body: bytes, model: type[M], sink: DeadLetterSink, queue: str) -> M | None:
    """The parsed message, or None after dead-lettering it: retrying bad input can never succeed."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '<body>'}: {e['msg']}" for e in exc.errors()[:5]
        )
        await sink.dead_letter(queue, body, f"invalid {model.__name__}: {errors}")
        return None

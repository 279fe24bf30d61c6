"""Booking hooks sent by IBSS (our contract, Standard Webhooks signed).

Body (thin, ids only; receivers fetch the current booking)::

    {"type": "booking.updated", "timestamp": "2030-01-07T08:00:00Z",
     "data": {"Booking_Id": "...", "Node_Id": 1001, "Space_Id": "HQ-1-AURORA", "Booking_Series_Id": null}}

Headers: ``webhook-id`` (stable across retries: use it as the idempotency key), ``webhook-timestamp``
(Unix seconds, real wall-clock time) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` over
``{id}.{timestamp}.{body}``). ``timestamp`` in the body is the platform's (possibly emulated) clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.ibss import fields
from shared.ibss.errors import IbssHookVerificationError
from shared.ibss.models import UtcDatetime


class IbssHookType(StrEnum):
    CREATED = "booking.created"
    UPDATED = "booking.updated"
    CANCELLED = "booking.cancelled"
    CHECKED_IN = "booking.checked_in"
    CHECKED_OUT = "booking.checked_out"
    AUTO_CANCELLED = "booking.auto_cancelled"


class IbssHookData(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    booking_id: str = Field(alias=fields.BOOKING_ID, min_length=1)
    node_id: int = Field(alias=fields.BOOKING_NODE_ID)
    space_id: str = Field(alias=fields.BOOKING_SPACE_ID, min_length=1)
    series_id: str | None = Field(default=None, alias=fields.BOOKING_SERIES_ID)


class IbssHookEvent(BaseModel):
    """The body of a booking hook."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    type: IbssHookType
    timestamp: UtcDatetime
    data: IbssHookData

    def to_json(self) -> str:
        """The exact body text that is signed and sent."""
        return self.model_dump_json(by_alias=True)


def verify_hook(secret: str, body: bytes | str, headers: Mapping[str, str]) -> IbssHookEvent:
    """Verify a delivery's Standard Webhooks signature (and freshness, 5 min) and parse its body.

    Pass the raw body bytes exactly as received. Raises :class:`IbssHookVerificationError` with
    ``reason`` ``"BadSignature"`` (signature, headers or timestamp) or ``"InvalidBody"`` (signed but not
    a valid event).
    """
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except WebhookVerificationError as exc:
        raise IbssHookVerificationError(f"hook signature rejected: {exc}", reason="BadSignature") from exc
    except Exception as exc:  # malformed signature header or secret
        raise IbssHookVerificationError(
            f"hook verification failed: {type(exc).__name__}", reason="BadSignature"
        ) from exc
    try:
        return IbssHookEvent.model_validate_json(body)
    except ValidationError as exc:
        raise IbssHookVerificationError(
            f"hook body is invalid: {exc.error_count()} error(s)", reason="InvalidBody"
        ) from exc


__all__ = ["IbssHookData", "IbssHookEvent", "IbssHookType", "verify_hook"]

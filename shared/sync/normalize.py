"""Normalization, projections and hashing used by the decision core (pure, no I/O)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# Fixed namespace for deterministic Graph transactionIds (never change it: retries must map to the same id).
TRANSACTION_NAMESPACE = uuid.UUID("3b0f6f0e-5a43-4c55-9a57-6a0c1b7d2e11")

_WS = re.compile(r"\s+")
_SEPARATORS = " \t-:–|,;"  # the en dash is a separator some rooms insert


def normalize_email(value: str) -> str:
    """Lowercase, trim and drop an ``SMTP:`` prefix."""
    text = value.strip()
    if text[:5].lower() == "smtp:":
        text = text[5:]
    return text.strip().lower()


def domain_of(email: str) -> str:
    return normalize_email(email).rpartition("@")[2]


def is_internal(email: str, internal_domains: Iterable[str]) -> bool:
    domain = domain_of(email)
    return any(domain == d or domain.endswith("." + d) for d in internal_domains)


def normalize_subject(value: str | None) -> str:
    """Collapse whitespace; ``None`` becomes the empty string."""
    return _WS.sub(" ", value or "").strip()


def room_subject_to_title(
    raw: str | None,
    organizer_name: str,
    *,
    add_organizer_to_subject: bool,
    delete_subject: bool,
) -> str | None:
    """Recover the organizer's subject from a room-mailbox copy, or ``None`` when it is unknowable.

    The Calendar Attendant may replace the subject by the organizer's name (``DeleteSubject``) or
    prefix it with the organizer's name (``AddOrganizerToSubject``). Neither is a user edit, so a
    subject that only carries the organizer's name is reported as unknown.
    """
    subject = normalize_subject(raw)
    name = normalize_subject(organizer_name)
    if delete_subject or not subject:
        return None
    if name and subject.casefold() == name.casefold():
        return None
    if add_organizer_to_subject and name and subject.casefold().startswith(name.casefold()):
        rest = subject[len(name) :]
        if rest and rest[0] not in _SEPARATORS:
            return subject  # "Alice Adamson ..." is not "Alice Adams" plus a subject
        rest = rest.lstrip(_SEPARATORS)
        return rest or None
    return subject


def iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix (microseconds kept only when present)."""
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse_utc(value: str) -> datetime:
    """Parse ISO-8601 (also Graph's 7 fractional digits); the result is aware UTC."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
    if match:
        text = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"not canonical-JSON serializable: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def content_hash(value: Any) -> str:
    """sha256 hex of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def transaction_id(booking_id: str, mailbox: str, generation: int = 0) -> str:
    """Deterministic Graph ``transactionId`` for creating the meeting of ``booking_id`` in ``mailbox``.

    ``generation`` counts re-creations of the same booking's meeting (room moves in room mode), so a
    return to an earlier room never collides with the cancelled first meeting.
    """
    key = f"{booking_id}|{normalize_email(mailbox)}|{generation}"
    return str(uuid.uuid5(TRANSACTION_NAMESPACE, key))

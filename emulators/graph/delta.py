"""calendarView delta: server-side round snapshots behind opaque skip/delta tokens."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.graph import events as evmod
from emulators.graph.errors import GraphError
from emulators.graph.state import EmulatorState, Mailbox


@dataclass
class DeltaToken:
    mailbox_id: str
    window_start: datetime
    window_end: datetime
    start_raw: str
    end_raw: str
    snapshot: dict[str, str]  # instance id -> changeKey the client has seen
    seq: int
    invalid: str | None = None


@dataclass
class SkipState:
    token: DeltaToken  # the state the round ends in
    items: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 10


class DeltaStore:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.tokens: OrderedDict[str, DeltaToken] = OrderedDict()
        self.skips: dict[str, SkipState] = {}

    def clear(self) -> None:
        self.tokens.clear()
        self.skips.clear()

    def invalidate(self, mode: str, mailbox_id: str | None = None) -> int:
        n = 0
        for tok in self.tokens.values():
            if mailbox_id is None or tok.mailbox_id == mailbox_id:
                tok.invalid = mode
                n += 1
        for skip in self.skips.values():
            if mailbox_id is None or skip.token.mailbox_id == mailbox_id:
                skip.token.invalid = mode
        return n

    def _register(self, token: DeltaToken) -> str:
        tid = secrets.token_urlsafe(32)
        self.tokens[tid] = token
        while len(self.tokens) > self.state.config.delta_token_capacity:
            self.tokens.popitem(last=False)  # evicted tokens answer syncStateNotFound
        return tid

    def _not_found(self) -> GraphError:
        return GraphError(
            self.state.config.sync_state_not_found_status,
            "syncStateNotFound",
            "The sync state generation is not found. Please do a full sync.",
        )

    def _gone(self, base: str, tok: DeltaToken) -> GraphError:
        location = (
            f"{base}/users/{tok.mailbox_id}/calendarView/delta?startDateTime={tok.start_raw}"
            f"&endDateTime={tok.end_raw}&$deltatoken="
        )
        return GraphError(
            410,
            "resyncRequired",
            "The delta token is no longer valid. The application must reset the sync state.",
            {"Location": location},
        )

    def begin(  # noqa: PLR0917 - internal helper
        self,
        mb: Mailbox,
        ws: datetime,
        we: datetime,
        start_raw: str,
        end_raw: str,
        tz: str | None,
        page_size: int,
    ) -> SkipState:
        current = evmod.instances(mb, ws, we)
        items = [evmod.to_wire(mb, i, tz) for i in current]
        token = DeltaToken(
            mb.id, ws, we, start_raw, end_raw, {i.id: i.change_key for i in current}, mb.change_seq
        )
        return SkipState(token, items, page_size)

    def resume(self, mb: Mailbox, token_id: str, base: str, tz: str | None, page_size: int) -> SkipState:
        old = self.tokens.get(token_id)
        if old is None or old.mailbox_id != mb.id:
            raise self._not_found()
        if old.invalid == "syncStateNotFound":
            raise self._not_found()
        if old.invalid:
            raise self._gone(base, old)
        self.tokens.move_to_end(token_id)
        current = evmod.instances(mb, old.window_start, old.window_end)
        current_ids = {i.id for i in current}
        items: list[dict[str, Any]] = [
            evmod.to_wire(mb, i, tz) for i in current if old.snapshot.get(i.id) != i.change_key
        ]
        removed = [i for i in old.snapshot if i not in current_ids]
        # Graph quirk [DOC]: changes to items outside the window also come back as @removed.
        in_window_stored = {i.event.id for i in current}
        for seq, event_id in mb.change_log:
            fresh = seq > old.seq and event_id not in removed
            if fresh and event_id not in current_ids and event_id not in in_window_stored:
                removed.append(event_id)
        items += [
            {"@odata.type": "#microsoft.graph.event", "id": i, "@removed": {"reason": "deleted"}}
            for i in removed
        ]
        token = DeltaToken(
            mb.id,
            old.window_start,
            old.window_end,
            old.start_raw,
            old.end_raw,
            {i.id: i.change_key for i in current},
            mb.change_seq,
        )
        return SkipState(token, items, page_size)

    def page(self, skip: SkipState, link_base: str) -> dict[str, Any]:
        if skip.token.invalid:
            raise self._not_found()
        value, rest = skip.items[: skip.page_size], skip.items[skip.page_size :]
        out: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)"
        }
        if rest:
            sid = secrets.token_urlsafe(32)
            self.skips[sid] = SkipState(skip.token, rest, skip.page_size)
            out["@odata.nextLink"] = f"{link_base}?$skiptoken={sid}"
        else:
            out["@odata.deltaLink"] = f"{link_base}?$deltatoken={self._register(skip.token)}"
        out["value"] = value
        return out

    def take_skip(self, skip_id: str) -> SkipState:
        skip = self.skips.pop(skip_id, None)
        if skip is None:
            raise self._not_found()
        return skip

"""In-memory platform state and operations of the IBSS emulator.

All mutations run on the server's event loop (request handlers and the control plane), so no locking
is needed. Every change that the real platform would announce calls ``emit`` (booking hooks).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from emulators.ibss.clock import Clock
from emulators.ibss.rules import (
    EARLY_CHECKIN_WINDOW,
    ApiError,
    check_not_past,
    check_policy,
    check_window,
    conflict_error,
    find_conflict,
)
from shared.ibss import fields
from shared.ibss.hooks import IbssHookType
from shared.ibss.models import (
    ACTIVE_STATUSES,
    BookableHours,
    Booking,
    BookingCreate,
    BookingParty,
    BookingPolicy,
    BookingSeriesCreate,
    BookingSeriesUpdate,
    BookingStatus,
    BookingUpdate,
    Building,
    Floor,
    Space,
    Visit,
    VisitCreate,
    VisitUpdate,
)

EmitFn = Callable[[IbssHookType, Booking], None]

# Statuses in which a booking is not checked in yet and can be edited, cancelled or checked in.
_WAITING = frozenset({BookingStatus.NEW, BookingStatus.AMENDED, BookingStatus.LATE_CHECKIN})
_CHECKED_IN = frozenset({BookingStatus.EARLY_CHECKIN, BookingStatus.IN_PROGRESS})


@dataclass
class Person:
    email: str
    first_name: str
    last_name: str
    company: str | None = None
    visitor: bool = False
    # Roamer/Flex "User Preferences > Synchronise Calendar": bookings go to the person's own calendar.
    calendar_sync: bool = False


def _new_etag() -> str:
    return f'"{uuid.uuid4().hex[:16]}"'


def _norm_etag(value: str) -> str:
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def _parse_hours(raw: Any) -> list[BookableHours]:
    """``{"Monday": ["07:00", "20:00"], ...}`` or ``[{"day", "start", "end"}]`` -> BookableHours."""
    result: list[BookableHours] = []
    if isinstance(raw, dict):
        for day, spans in raw.items():
            span_list = spans if spans and isinstance(spans[0], list) else [spans]
            for start, end in span_list:
                result.append(BookableHours(day=day, start=start, end=end))
    elif isinstance(raw, list):
        for item in raw:
            result.append(BookableHours(day=item["day"], start=item["start"], end=item["end"]))
    return result


class EmulatorState:
    def __init__(self, clock: Clock, emit: EmitFn) -> None:
        self.clock = clock
        self._emit = emit
        self.buildings: dict[int, Building] = {}
        self.spaces: dict[tuple[int, str], Space] = {}
        self.policies: dict[tuple[int, str], BookingPolicy] = {}
        self.people: dict[str, Person] = {}
        self.bookings: dict[str, Booking] = {}
        self.visits: dict[str, Visit] = {}
        self.api_keys: dict[str, frozenset[int] | None] = {}
        # Application users whose bookings skip booking policies (an unconfirmed IBSS capability: the
        # vendor's own Sync Service v2 "disregards any booking policy"); everyone else is checked.
        self.policy_exempt_keys: set[str] = set()

    # ------------------------------------------------------------------------------------------
    # Loading
    # ------------------------------------------------------------------------------------------
    def clear(self) -> None:
        self.buildings.clear()
        self.spaces.clear()
        self.policies.clear()
        self.people.clear()
        self.bookings.clear()
        self.visits.clear()
        self.policy_exempt_keys.clear()

    def load(self, data: dict[str, Any]) -> None:
        """Load buildings (with floors, policies, spaces), people, API keys and seed bookings.

        The file format is documented in ``emulators/ibss/README.md``. Loading adds to the current
        state; call :meth:`clear` first for a fresh start. Seed bookings bypass the rules and send no hooks.
        """
        try:
            self._load(data)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise ApiError(400, "InvalidData", f"cannot load emulator data: {exc}") from exc

    def _load(self, data: dict[str, Any]) -> None:
        for b in data.get("buildings", []):
            node_id = int(b["node_id"])
            self.buildings[node_id] = Building(
                node_id=node_id,
                name=b.get("name", ""),
                time_zone=b.get("time_zone", "UTC"),
                ext_system=int(b.get("bkng_ext_system", 0)),
                sync_enabled=int(b.get("bkng_sync_enabled", 0)),
                floors=[
                    Floor(node_id=int(f["node_id"]), name=f.get("name", "")) for f in b.get("floors", [])
                ],
            )
            ZoneInfo(self.buildings[node_id].time_zone or "UTC")  # validate early
            for p in b.get("policies", []):
                policy = BookingPolicy(
                    id=str(p["policy_id"]),
                    node_id=node_id,
                    name=p.get("name", ""),
                    bookable_hours=_parse_hours(p.get("bookable_hours")),
                    max_duration_min=p.get("max_duration_min"),
                    window_days=p.get("window_days"),
                )
                self.policies[(node_id, policy.id)] = policy
            for s in b.get("spaces", []):
                space = Space(
                    id=str(s["space_id"]),
                    name=s.get("name", s["space_id"]),
                    node_id=node_id,
                    floor_node_id=s.get("floor"),
                    capacity=s.get("capacity"),
                    type=s.get("type", "MeetingRoom"),
                    bookable=int(s.get("bookable", 1)),
                    ext_booking_system=int(s.get("ext_booking_system", 0)),
                    ext_booking_space_id=s.get("ext_booking_space_id"),
                    auto_cancel_threshold_min=s.get("auto_cancel_threshold_min"),
                    policy_id=s.get("policy"),
                )
                if space.policy_id and (node_id, space.policy_id) not in self.policies:
                    raise ValueError(f"space {space.id} refers to unknown policy {space.policy_id}")
                self.spaces[(node_id, space.id)] = space
        for p in data.get("people", []):
            person = Person(
                email=str(p["email"]).lower(),
                first_name=p.get("first_name", ""),
                last_name=p.get("last_name", ""),
                company=p.get("company"),
                visitor=bool(p.get("visitor", False)),
                calendar_sync=bool(p.get("calendar_sync", False)),
            )
            self.people[person.email] = person
        for k in data.get("api_keys", []):
            nodes = k.get("nodes")
            self.api_keys[str(k["key"])] = frozenset(int(n) for n in nodes) if nodes is not None else None
            if k.get("policy_exempt"):
                self.policy_exempt_keys.add(str(k["key"]))
        for seed in data.get("bookings", []):
            self._seed_booking(seed)

    def _seed_booking(self, seed: dict[str, Any]) -> None:
        node_id = int(seed["node_id"])
        building = self.building(node_id)
        space = self.space(node_id, str(seed["space_id"]))
        if "start" in seed:
            start = datetime.fromisoformat(str(seed["start"]).replace("Z", "+00:00"))
            end = datetime.fromisoformat(str(seed["end"]).replace("Z", "+00:00"))
        else:
            tz = ZoneInfo(building.time_zone or "UTC")
            day = self.clock.now().astimezone(tz).date() + timedelta(days=int(seed.get("day_offset", 1)))
            start = datetime.combine(day, time.fromisoformat(seed["start_local"]), tz)
            end = datetime.combine(day, time.fromisoformat(seed["end_local"]), tz)
        req = BookingCreate(
            space_id=space.id,
            name=seed.get("name", ""),
            start=start,
            end=end,
            owner_email=seed["owner"],
            parties=[BookingParty(email=e) for e in seed.get("parties", [])],
        )
        self._insert(node_id, space, req.model_copy(), series_id=None, emit=False)

    # ------------------------------------------------------------------------------------------
    # Lookups
    # ------------------------------------------------------------------------------------------
    def building(self, node_id: int) -> Building:
        b = self.buildings.get(node_id)
        if b is None:
            raise ApiError(404, "NodeNotFound", f"node {node_id} not found")
        return b

    def space(self, node_id: int, space_id: str) -> Space:
        self.building(node_id)
        s = self.spaces.get((node_id, space_id))
        if s is None:
            raise ApiError(404, "SpaceNotFound", f"space {space_id!r} not found in node {node_id}")
        return s

    def booking(self, node_id: int, booking_id: str) -> Booking:
        self.building(node_id)
        b = self.bookings.get(booking_id)
        if b is None or b.node_id != node_id:
            raise ApiError(404, "BookingNotFound", f"booking {booking_id!r} not found in node {node_id}")
        return b

    def series(self, node_id: int, series_id: str) -> list[Booking]:
        self.building(node_id)
        items = [b for b in self.bookings.values() if b.series_id == series_id and b.node_id == node_id]
        if not items:
            raise ApiError(404, "SeriesNotFound", f"booking series {series_id!r} not found in node {node_id}")
        return sorted(items, key=lambda b: (b.start, b.id))

    def person(self, email: str) -> Person:
        p = self.people.get(email.lower())
        if p is None:
            raise ApiError(404, "PersonNotFound", f"person {email!r} not found")
        return p

    def node_spaces(self, node_id: int) -> list[Space]:
        self.building(node_id)
        return [s for (n, _), s in self.spaces.items() if n == node_id]

    def node_policies(self, node_id: int) -> list[BookingPolicy]:
        self.building(node_id)
        return [p for (n, _), p in self.policies.items() if n == node_id]

    def node_bookings(self, node_id: int) -> list[Booking]:
        self.building(node_id)
        return [b for b in self.bookings.values() if b.node_id == node_id]

    def node_visits(self, node_id: int) -> list[Visit]:
        self.building(node_id)
        return [v for v in self.visits.values() if v.node_id == node_id]

    # ------------------------------------------------------------------------------------------
    # Time-driven transitions
    # ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Apply time-driven transitions at the clock's current time.

        * not checked in and the clock passed the start: ``Late CheckIn`` (no hook);
        * not checked in at start + ``Meta_Auto_Cancel_Thld_Min``: ``Auto Cancelled`` (hook
          ``booking.auto_cancelled``; ``Booking_Cancelled_Time`` = start + threshold);
        * checked in and the clock passed the end: ``Completed`` (``Booking_Completed_Time`` = end, no hook).
        """
        now = self.clock.now()
        # Only bookings whose time has come can change; the rest are skipped before the (ordered) pass.
        due = [
            b
            for b in self.bookings.values()
            if (b.status in _WAITING and now >= b.start) or (b.status in _CHECKED_IN and now >= b.end)
        ]
        for b in sorted(due, key=lambda x: (x.start, x.id)):
            if b.status in _WAITING:
                threshold = b.auto_cancel_threshold_min
                if threshold is not None and threshold > 0 and now >= b.start + timedelta(minutes=threshold):
                    b.status = BookingStatus.AUTO_CANCELLED
                    b.is_cancelled = True
                    b.is_active = False
                    b.cancelled_time = b.start + timedelta(minutes=threshold)
                    self._touch(b, now)
                    self._emit(IbssHookType.AUTO_CANCELLED, b)
                elif now >= b.start and b.status != BookingStatus.LATE_CHECKIN:
                    b.status = BookingStatus.LATE_CHECKIN
                    self._touch(b, now)
            elif b.status in _CHECKED_IN and now >= b.end:
                b.status = BookingStatus.COMPLETED
                b.is_completed = True
                b.is_active = False
                b.completed_time = b.end
                self._touch(b, now)

    # ------------------------------------------------------------------------------------------
    # Booking operations
    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _touch(b: Booking, now: datetime) -> None:
        b.modified = now
        b.etag = _new_etag()

    @staticmethod
    def check_if_match(b: Booking, if_match: str | None) -> None:
        if if_match is None:
            return
        wanted = [_norm_etag(v) for v in if_match.split(",")]
        if "*" in wanted or _norm_etag(b.etag or "") in wanted:
            return
        raise ApiError(
            412,
            "EtagMismatch",
            f"booking {b.id!r} was changed by someone else (If-Match does not match the current ETag)",
            details={fields.BOOKING_ETAG: b.etag},
        )

    def _validate_slot(
        self,
        node_id: int,
        space: Space,
        start: datetime,
        end: datetime,
        exclude: set[str],
        *,
        check_past: bool = True,
        apply_policies: bool = True,
    ) -> None:
        now = self.clock.now()
        check_window(start, end)
        if not space.bookable:
            raise ApiError(400, "SpaceNotBookable", f"space {space.id!r} is not bookable")
        if check_past:
            check_not_past(start, now)
        if end <= now:
            raise ApiError(400, "BookingInPast", "bookings cannot end in the past")
        if space.policy_id and apply_policies:
            policy = self.policies[(node_id, space.policy_id)]
            check_policy(policy, self.building(node_id).time_zone or "UTC", start, end, now)
        other = find_conflict(
            self.bookings.values(), node_id=node_id, space_id=space.id, start=start, end=end, exclude=exclude
        )
        if other is not None:
            raise conflict_error(other)

    def _parties(
        self, node_id: int, parties: list[BookingParty], owner: str, start: datetime, end: datetime
    ) -> list[BookingParty]:
        """Fill names of known people and create a visit for each visitor without one."""
        result: list[BookingParty] = []
        for party in parties:
            p = party.model_copy()
            known = self.people.get(p.email.lower())
            if known is not None:
                p.first_name = p.first_name or known.first_name
                p.last_name = p.last_name or known.last_name
                p.company = p.company or known.company
            if p.visit_id is not None:
                visit = self.visits.get(p.visit_id)
                if visit is None or visit.node_id != node_id:
                    raise ApiError(
                        400, "VisitNotFound", f"{fields.PARTY_VISIT_ID} {p.visit_id!r} does not exist"
                    )
            elif p.is_visitor:
                visit = self._new_visit(
                    node_id,
                    VisitCreate(
                        email=p.email,
                        first_name=p.first_name,
                        last_name=p.last_name,
                        company=p.company,
                        host_email=owner,
                        start=start,
                        end=end,
                    ),
                )
                p.visit_id = visit.id
            result.append(p)
        return result

    def _insert(
        self, node_id: int, space: Space, req: BookingCreate, *, series_id: str | None, emit: bool
    ) -> Booking:
        now = self.clock.now()
        booking_id = uuid.uuid4().hex
        parties = self._parties(node_id, req.parties, req.owner_email, req.start, req.end)
        b = Booking(
            id=booking_id,
            node_id=node_id,
            space_id=space.id,
            space_name=space.name,
            name=req.name,
            description=req.description,
            start=req.start,
            end=req.end,
            status=BookingStatus.NEW,
            owner_email=req.owner_email,
            series_id=series_id,
            created=now,
            modified=now,
            etag=_new_etag(),
            online_meeting=req.online_meeting,
            share_loc=req.share_loc,
            ext_ref=req.ext_ref,
            parties=parties,
            party_count=len(parties),
            auto_cancel_threshold_min=space.auto_cancel_threshold_min,
        )
        for p in parties:
            if p.visit_id and self.visits[p.visit_id].booking_id is None:
                self.visits[p.visit_id].booking_id = b.id
        self.bookings[b.id] = b
        if emit:
            self._emit(IbssHookType.CREATED, b)
        return b

    def create_booking(self, node_id: int, req: BookingCreate, *, apply_policies: bool = True) -> Booking:
        space = self.space(node_id, req.space_id)
        self._validate_slot(node_id, space, req.start, req.end, set(), apply_policies=apply_policies)
        return self._insert(node_id, space, req, series_id=None, emit=True)

    def update_booking(
        self,
        node_id: int,
        booking_id: str,
        req: BookingUpdate,
        if_match: str | None,
        *,
        apply_policies: bool = True,
    ) -> Booking:
        b = self.booking(node_id, booking_id)
        self.check_if_match(b, if_match)
        changes = req.model_dump(exclude_unset=True)
        self._apply_update(b, changes, apply_policies=apply_policies)
        self._emit(IbssHookType.UPDATED, b)
        return b

    def _apply_update(self, b: Booking, changes: dict[str, Any], *, apply_policies: bool = True) -> None:
        """Validate and apply an update (attribute names); raises before changing anything."""
        now = self.clock.now()
        if b.status not in ACTIVE_STATUSES:
            raise ApiError(409, "InvalidState", f"booking {b.id!r} is {b.status} and cannot be changed")
        new_space_id = changes.get("space_id") or b.space_id
        new_start: datetime = changes.get("start") or b.start
        new_end: datetime = changes.get("end") or b.end
        started = b.start <= now
        if started and (new_start != b.start or new_space_id != b.space_id):
            raise ApiError(
                409, "BookingStarted", "a booking that has started cannot move to another time or space"
            )
        space = self.space(b.node_id, new_space_id)
        if (new_space_id, new_start, new_end) != (b.space_id, b.start, b.end):
            self._validate_slot(
                b.node_id,
                space,
                new_start,
                new_end,
                {b.id},
                check_past=new_start != b.start,
                apply_policies=apply_policies,
            )
        owner = changes.get("owner_email") or b.owner_email or ""
        parties = (
            self._parties(
                b.node_id,
                [BookingParty.model_validate(p) for p in changes["parties"]],
                owner,
                new_start,
                new_end,
            )
            if changes.get("parties") is not None
            else None
        )
        b.space_id = space.id
        b.space_name = space.name
        b.start = new_start
        b.end = new_end
        b.auto_cancel_threshold_min = space.auto_cancel_threshold_min
        for attr in ("name", "description", "owner_email", "online_meeting", "share_loc"):
            if attr in changes and changes[attr] is not None:
                setattr(b, attr, changes[attr])
        if parties is not None:
            b.parties = parties
            b.party_count = len(parties)
        if b.status in (BookingStatus.NEW, BookingStatus.AMENDED):
            b.status = BookingStatus.AMENDED
        if b.status == BookingStatus.LATE_CHECKIN and b.start > now:
            b.status = BookingStatus.AMENDED
        self._touch(b, now)

    def cancel_booking(
        self, node_id: int, booking_id: str, if_match: str | None, reason: str | None = None
    ) -> Booking:
        b = self.booking(node_id, booking_id)
        self.check_if_match(b, if_match)
        if reason:
            b.cancel_reason = reason[:500]
        self._cancel(b)
        return b

    def purge_booking(self, booking_id: str) -> Booking:
        """A hard delete, as a database clean-up would do it: the booking is gone from the API, no hook."""
        b = self.bookings.pop(booking_id, None)
        if b is None:
            raise ApiError(404, "BookingNotFound", f"booking {booking_id!r} not found")
        return b

    def _cancel(self, b: Booking) -> None:
        if b.status in (BookingStatus.CANCELLED, BookingStatus.AUTO_CANCELLED):
            raise ApiError(409, "AlreadyCancelled", f"booking {b.id!r} is already {b.status}")
        if b.status not in _WAITING:
            raise ApiError(
                409, "InvalidState", f"booking {b.id!r} is {b.status}: check out instead of cancelling"
            )
        now = self.clock.now()
        b.status = BookingStatus.CANCELLED
        b.is_cancelled = True
        b.is_active = False
        b.cancelled_time = now
        self._touch(b, now)
        self._emit(IbssHookType.CANCELLED, b)

    def check_in(self, node_id: int, booking_id: str) -> Booking:
        b = self.booking(node_id, booking_id)
        now = self.clock.now()
        if b.status not in _WAITING:
            raise ApiError(409, "InvalidState", f"booking {b.id!r} is {b.status} and cannot be checked in")
        if now < b.start - EARLY_CHECKIN_WINDOW:
            raise ApiError(
                400,
                "CheckInTooEarly",
                f"check-in opens {int(EARLY_CHECKIN_WINDOW.total_seconds() // 60)} min before start",
            )
        if now >= b.end:
            raise ApiError(409, "BookingEnded", f"booking {b.id!r} has ended")
        b.is_checked_in = True
        b.checkin_time = now
        if now < b.start:
            b.status = BookingStatus.EARLY_CHECKIN
            b.is_early_checkin = True
        else:
            b.status = BookingStatus.IN_PROGRESS
            b.is_late_checkin = now > b.start
        self._touch(b, now)
        self._emit(IbssHookType.CHECKED_IN, b)
        return b

    def check_out(self, node_id: int, booking_id: str) -> Booking:
        b = self.booking(node_id, booking_id)
        now = self.clock.now()
        if b.status not in _CHECKED_IN:
            raise ApiError(409, "InvalidState", f"booking {b.id!r} is {b.status} and cannot be checked out")
        b.status = BookingStatus.COMPLETED
        b.is_completed = True
        b.is_active = False
        b.completed_time = now
        self._touch(b, now)
        self._emit(IbssHookType.CHECKED_OUT, b)
        return b

    # ------------------------------------------------------------------------------------------
    # Series
    # ------------------------------------------------------------------------------------------
    def create_series(self, node_id: int, req: BookingSeriesCreate) -> tuple[str, list[Booking]]:
        """All or nothing: every occurrence must pass the rules, and occurrences must not overlap."""
        space = self.space(node_id, req.space_id)
        occurrences = sorted(req.occurrences, key=lambda o: o.start)
        for i, occ in enumerate(occurrences):
            try:
                self._validate_slot(node_id, space, occ.start, occ.end, set())
                if i > 0 and occ.start < occurrences[i - 1].end:
                    raise ApiError(400, "OverlappingOccurrences", "occurrences of a series must not overlap")
            except ApiError as exc:
                exc.details = {
                    fields.ERROR_DETAIL_OCCURRENCE: i,
                    fields.BOOKING_START: occ.start.isoformat(),
                    **(exc.details or {}),
                }
                raise
        series_id = uuid.uuid4().hex
        created = []
        for occ in occurrences:
            single = BookingCreate(
                space_id=space.id,
                name=req.name,
                description=req.description,
                start=occ.start,
                end=occ.end,
                owner_email=req.owner_email,
                parties=req.parties,
                online_meeting=req.online_meeting,
                share_loc=req.share_loc,
                ext_ref=occ.ext_ref,
            )
            created.append(self._insert(node_id, space, single, series_id=series_id, emit=True))
        return series_id, created

    def _future_of_series(self, node_id: int, series_id: str) -> list[Booking]:
        now = self.clock.now()
        return [b for b in self.series(node_id, series_id) if b.status in _WAITING and b.start > now]

    def update_series(self, node_id: int, series_id: str, req: BookingSeriesUpdate) -> list[Booking]:
        """Apply the changes to every future, not cancelled occurrence (all or nothing)."""
        targets = self._future_of_series(node_id, series_id)
        changes = req.model_dump(exclude_unset=True)
        if changes.get("space_id"):
            space = self.space(node_id, changes["space_id"])
            for b in targets:
                if space.id != b.space_id:
                    self._validate_slot(node_id, space, b.start, b.end, {b.id})
        for b in targets:
            self._apply_update(b, changes)
            self._emit(IbssHookType.UPDATED, b)
        return targets

    def cancel_series(self, node_id: int, series_id: str) -> list[Booking]:
        targets = self._future_of_series(node_id, series_id)
        for b in targets:
            self._cancel(b)
        return targets

    # ------------------------------------------------------------------------------------------
    # Visits
    # ------------------------------------------------------------------------------------------
    def _new_visit(self, node_id: int, req: VisitCreate) -> Visit:
        visit = Visit(
            id=uuid.uuid4().hex,
            node_id=node_id,
            booking_id=req.booking_id,
            email=req.email,
            first_name=req.first_name,
            last_name=req.last_name,
            company=req.company,
            host_email=req.host_email,
            start=req.start,
            end=req.end,
            status="Approved",
        )
        self.visits[visit.id] = visit
        return visit

    def create_visit(self, node_id: int, req: VisitCreate) -> Visit:
        self.building(node_id)
        if req.booking_id is not None:
            self.booking(node_id, req.booking_id)
        return self._new_visit(node_id, req)

    def update_visit(self, node_id: int, visit_id: str, req: VisitUpdate) -> Visit:
        """Visits do not follow their booking here (IBSS is not documented to): a client moves them."""
        v = self.visit(node_id, visit_id)
        start, end = req.start or v.start, req.end or v.end
        if end <= start:
            raise ApiError(400, "InvalidTimes", "a visit must end after it starts")
        v.start, v.end = start, end
        if req.status is not None:
            v.status = req.status
        return v

    def visit(self, node_id: int, visit_id: str) -> Visit:
        v = self.visits.get(visit_id)
        if v is None or v.node_id != node_id:
            raise ApiError(404, "VisitNotFound", f"visit {visit_id!r} not found in node {node_id}")
        return v


__all__ = ["EmulatorState", "Person"]

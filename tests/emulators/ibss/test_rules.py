"""Platform rules of the IBSS emulator, on the wire (raw HTTP, wire field names)."""

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from emulators.ibss.testing import EmulatorControlError, HookReceiver, IbssEmulator

NODE = 1001
TUE = datetime(2030, 1, 8, tzinfo=UTC)  # clock: Monday 2030-01-07 06:00Z = 07:00 Europe/Berlin


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def body(
    space: str, start: datetime, end: datetime, owner: str = "alice@contoso.example", **extra: Any
) -> dict[str, Any]:
    return {
        "Space_Id": space,
        "Booking_Name": "Test",
        "Booking_Start": iso(start),
        "Booking_End": iso(end),
        "Booking_Owner_Email": owner,
        **extra,
    }


def book(api: httpx.Client, space: str, start: datetime, end: datetime, **kw: Any) -> httpx.Response:
    return api.post(f"/v2/{NODE}/bookings", json=body(space, start, end, **kw))


def created(api: httpx.Client, space: str, start: datetime, end: datetime, **kw: Any) -> dict[str, Any]:
    resp = book(api, space, start, end, **kw)
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


def get(api: httpx.Client, booking_id: str) -> dict[str, Any]:
    resp = api.get(f"/v2/{NODE}/bookings/{booking_id}")
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


# ------------------------------------------------------------------------------------------------
# Double booking, past, time range
# ------------------------------------------------------------------------------------------------
def test_space_cannot_be_double_booked(api):
    first = created(api, "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    overlap = book(api, "HQ-2-CIRRUS", TUE.replace(hour=9, minute=30), TUE.replace(hour=10, minute=30))
    assert overlap.status_code == 409
    assert overlap.json()["Reason"] == "SpaceUnavailable"
    assert overlap.json()["Details"]["Booking_Id"] == first["Booking_Id"]
    inside = book(api, "HQ-2-CIRRUS", TUE.replace(hour=9, minute=15), TUE.replace(hour=9, minute=45))
    assert inside.status_code == 409
    # back to back is fine, and so is another space
    assert book(api, "HQ-2-CIRRUS", TUE.replace(hour=10), TUE.replace(hour=11)).status_code == 201
    assert book(api, "HQ-2-DELTA", TUE.replace(hour=9), TUE.replace(hour=10)).status_code == 201
    # cancelling frees the slot
    assert api.delete(f"/v2/{NODE}/bookings/{first['Booking_Id']}").status_code == 200
    assert book(api, "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10)).status_code == 201


def test_update_cannot_double_book(api):
    a = created(api, "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    created(api, "HQ-2-CIRRUS", TUE.replace(hour=11), TUE.replace(hour=12))
    resp = api.patch(
        f"/v2/{NODE}/bookings/{a['Booking_Id']}", json={"Booking_End": iso(TUE.replace(hour=11, minute=30))}
    )
    assert resp.status_code == 409
    assert get(api, a["Booking_Id"])["Booking_End"] == iso(TUE.replace(hour=10))  # unchanged


def test_bookings_cannot_start_in_the_past(api, emu: IbssEmulator):
    now = emu.now()
    resp = book(api, "HQ-2-CIRRUS", now - timedelta(minutes=5), now + timedelta(minutes=30))
    assert resp.status_code == 400
    assert resp.json()["Reason"] == "BookingInPast"
    assert book(api, "HQ-2-CIRRUS", now, now + timedelta(minutes=30)).status_code == 201
    # nor be moved into the past
    b = created(api, "HQ-2-DELTA", TUE.replace(hour=9), TUE.replace(hour=10))
    resp = api.patch(
        f"/v2/{NODE}/bookings/{b['Booking_Id']}", json={"Booking_Start": iso(now - timedelta(hours=1))}
    )
    assert resp.status_code == 400


def test_bookings_cannot_end_in_the_past(api, emu: IbssEmulator):
    now = emu.now()
    # starts within the one-minute grace but is over already
    resp = book(api, "HQ-2-CIRRUS", now - timedelta(seconds=50), now - timedelta(seconds=10))
    assert resp.status_code == 400
    assert resp.json()["Reason"] == "BookingInPast"


def test_a_started_booking_cannot_move_in_time_or_space(api, emu: IbssEmulator):
    b = created(api, "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    url = f"/v2/{NODE}/bookings/{b['Booking_Id']}"
    emu.set_clock(TUE.replace(hour=9, minute=5))  # started (Late CheckIn)
    moved = {"Booking_Start": iso(TUE.replace(hour=11)), "Booking_End": iso(TUE.replace(hour=12))}
    later = api.patch(url, json=moved)
    assert later.status_code == 409
    assert later.json()["Reason"] == "BookingStarted"
    elsewhere = api.patch(url, json={"Space_Id": "HQ-2-DELTA"})
    assert elsewhere.status_code == 409
    assert elsewhere.json()["Reason"] == "BookingStarted"
    assert get(api, b["Booking_Id"])["Space_Id"] == "HQ-2-CIRRUS"
    # what does not move it is still allowed: a new name, a longer end
    assert api.patch(url, json={"Booking_Name": "Renamed"}).status_code == 200
    longer = api.patch(url, json={"Booking_End": iso(TUE.replace(hour=10, minute=30))})
    assert longer.status_code == 200, longer.text


def test_end_must_follow_start_and_body_must_be_valid(api):
    resp = book(api, "HQ-2-CIRRUS", TUE.replace(hour=10), TUE.replace(hour=9))
    assert resp.status_code == 400
    resp = api.post(f"/v2/{NODE}/bookings", json={"Space_Id": "HQ-2-CIRRUS"})
    assert resp.status_code == 400
    assert resp.json()["Reason"] == "ValidationError"
    assert api.post(f"/v2/{NODE}/bookings", content=b"{not json").status_code == 400
    assert book(api, "NOPE", TUE.replace(hour=9), TUE.replace(hour=10)).status_code == 404


# ------------------------------------------------------------------------------------------------
# Booking policies
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("space", "start", "end", "reason"),
    [
        # meeting rooms: weekdays 07:00-20:00 Europe/Berlin (UTC+1 in January)
        (
            "HQ-1-AURORA",
            TUE.replace(hour=5, minute=30),
            TUE.replace(hour=6, minute=30),
            "OutsideBookableHours",
        ),
        (
            "HQ-1-AURORA",
            TUE.replace(hour=18, minute=30),
            TUE.replace(hour=19, minute=30),
            "OutsideBookableHours",
        ),
        (
            "HQ-1-AURORA",
            datetime(2030, 1, 12, 9, tzinfo=UTC),
            datetime(2030, 1, 12, 10, tzinfo=UTC),
            "OutsideBookableHours",
        ),
        ("HQ-1-AURORA", TUE.replace(hour=6), TUE.replace(hour=14, minute=1), "MaxDurationExceeded"),
        (
            "HQ-1-AURORA",
            TUE.replace(hour=9) + timedelta(days=91),
            TUE.replace(hour=10) + timedelta(days=91),
            "OutsideBookingWindow",
        ),
        # desks: 14 days ahead, at most 10 hours
        (
            "HQ-3-DESK-02",
            TUE.replace(hour=9) + timedelta(days=15),
            TUE.replace(hour=10) + timedelta(days=15),
            "OutsideBookingWindow",
        ),
        ("HQ-3-DESK-02", TUE.replace(hour=5), TUE.replace(hour=15, minute=30), "MaxDurationExceeded"),
    ],
)
def test_booking_policies(api, space, start, end, reason):
    resp = book(api, space, start, end)
    assert resp.status_code == 400, resp.text
    assert resp.json()["Reason"] == reason


def test_policy_limits_are_inclusive(api):
    assert (
        book(api, "HQ-1-BOREALIS", TUE.replace(hour=6), TUE.replace(hour=14)).status_code == 201
    )  # 07-15 h, 8 h
    assert (
        book(api, "HQ-2-CIRRUS", TUE.replace(hour=18), TUE.replace(hour=19)).status_code == 201
    )  # until 20:00
    far = TUE.replace(hour=9) + timedelta(days=84)  # within 90 days (a Tuesday, summer time)
    assert book(api, "HQ-2-DELTA", far, far + timedelta(hours=1)).status_code == 201


WEEKDAY_POLICY = {
    "buildings": [
        {
            "node_id": 2002,
            "name": "Annex",
            "time_zone": "Europe/London",  # UTC+0 in January
            "policies": [
                {
                    "policy_id": "annex-rooms",
                    "bookable_hours": {
                        "Monday": ["08:00", "18:00"],
                        "Tuesday": ["08:00", "18:00"],
                        "Wednesday": [["08:00", "12:00"], ["13:00", "18:00"]],  # closed over lunch
                        "Thursday": ["08:00", "18:00"],
                        "Friday": ["08:00", "12:00"],  # short Friday
                    },  # weekend: closed
                }
            ],
            "spaces": [{"space_id": "AX-1", "name": "Annex 1", "policy": "annex-rooms"}],
        }
    ]
}


@pytest.mark.parametrize(
    ("day", "start", "end", "allowed"),
    [
        (10, (14, 0), (15, 0), True),  # Thursday afternoon
        (11, (14, 0), (15, 0), False),  # the same hours on Friday
        (11, (9, 0), (12, 0), True),  # Friday morning, up to the close
        (11, (11, 30), (12, 30), False),  # past Friday's close
        (9, (12, 30), (13, 30), False),  # Wednesday lunch break
        (9, (11, 0), (13, 0), False),  # spans Wednesday's two intervals
        (9, (13, 0), (14, 0), True),  # Wednesday afternoon interval
        (10, (17, 30), (18, 30), False),  # past Thursday's close
        (10, (7, 30), (8, 30), False),  # before Thursday's opening
        (12, (9, 0), (10, 0), False),  # Saturday
        (13, (9, 0), (10, 0), False),  # Sunday
    ],
)
def test_bookable_hours_by_weekday(api, emu: IbssEmulator, day, start, end, allowed):
    emu.load(WEEKDAY_POLICY)
    s = datetime(2030, 1, day, start[0], start[1], tzinfo=UTC)
    e = datetime(2030, 1, day, end[0], end[1], tzinfo=UTC)
    resp = api.post(
        "/v2/2002/bookings",
        json={
            "Space_Id": "AX-1",
            "Booking_Start": iso(s),
            "Booking_End": iso(e),
            "Booking_Owner_Email": "alice@contoso.example",
        },
    )
    if allowed:
        assert resp.status_code == 201, resp.text
    else:
        assert resp.status_code == 400, resp.text
        assert resp.json()["Reason"] == "OutsideBookableHours"
        assert resp.json()["Details"]["Booking_Policy_Id"] == "annex-rooms"


def test_policies_are_listed_and_assigned_to_spaces(api):
    policies = api.get(f"/v2/{NODE}/bookingpolicies").json()["value"]
    rooms = next(p for p in policies if p["Booking_Policy_Id"] == "meeting-rooms")
    assert rooms["Booking_Policy_Max_Duration_Min"] == 480
    assert rooms["Booking_Policy_Window_Days"] == 90
    assert {"Day": "Monday", "Start": "07:00", "End": "20:00"} in rooms["Booking_Policy_Bookable_Hours"]
    assert api.get(f"/v2/{NODE}/spaces/HQ-3-DESK-01").json()["Booking_Policy_Id"] == "desks"


# ------------------------------------------------------------------------------------------------
# Check-in, check-out, auto-cancel
# ------------------------------------------------------------------------------------------------
def test_check_in_and_check_out(api, emu: IbssEmulator):
    b = created(api, "HQ-1-AURORA", TUE.replace(hour=9), TUE.replace(hour=10))
    bid = b["Booking_Id"]
    emu.set_clock(TUE.replace(hour=8))  # an hour early: too early
    resp = api.put(f"/v2/{NODE}/bookings/{bid}/checkin")
    assert resp.status_code == 400
    assert resp.json()["Reason"] == "CheckInTooEarly"
    emu.set_clock(TUE.replace(hour=8, minute=45))
    checked = api.put(f"/v2/{NODE}/bookings/{bid}/checkin").json()
    assert checked["Booking_Status"] == "Early CheckIn"
    assert checked["Booking_IsCheckedIn"] == 1
    assert checked["Booking_IsEarly_CheckIn"] == 1
    assert checked["Booking_Checkin_Time"] == "2030-01-08T08:45:00Z"
    assert api.put(f"/v2/{NODE}/bookings/{bid}/checkin").status_code == 409  # twice
    assert api.delete(f"/v2/{NODE}/bookings/{bid}").status_code == 409  # checked in: check out instead
    emu.set_clock(TUE.replace(hour=9, minute=40))
    out = api.put(f"/v2/{NODE}/bookings/{bid}/checkout").json()
    assert out["Booking_Status"] == "Completed"
    assert out["Booking_IsCompleted"] == 1
    assert out["Booking_Completed_Time"] == "2030-01-08T09:40:00Z"
    assert out["Booking_End"] == "2030-01-08T10:00:00Z"  # scheduled end kept; completed time = check-out
    assert api.put(f"/v2/{NODE}/bookings/{bid}/checkout").status_code == 409
    # the space is free again after check-out
    assert book(api, "HQ-1-AURORA", TUE.replace(hour=9, minute=45), TUE.replace(hour=10)).status_code == 201


def test_late_check_in(api, emu: IbssEmulator):
    b = created(api, "HQ-1-AURORA", TUE.replace(hour=9), TUE.replace(hour=10))
    emu.set_clock(TUE.replace(hour=9, minute=5))
    assert get(api, b["Booking_Id"])["Booking_Status"] == "Late CheckIn"  # started, not checked in
    checked = api.put(f"/v2/{NODE}/bookings/{b['Booking_Id']}/checkin").json()
    assert checked["Booking_Status"] == "In Progress"
    assert checked["Booking_IsLate_CheckIn"] == 1


def test_auto_cancel_driven_by_the_clock(api, emu: IbssEmulator):
    b = created(api, "HQ-1-AURORA", TUE.replace(hour=9), TUE.replace(hour=10))  # threshold 15 min
    kept = created(api, "HQ-1-BOREALIS", TUE.replace(hour=9), TUE.replace(hour=10))
    assert b["Meta_Auto_Cancel_Thld_Min"] == 15
    emu.set_clock(TUE.replace(hour=9))
    api.put(f"/v2/{NODE}/bookings/{kept['Booking_Id']}/checkin")
    emu.advance_clock(minutes=14, seconds=59)
    assert get(api, b["Booking_Id"])["Booking_Status"] == "Late CheckIn"
    emu.advance_clock(seconds=1)  # the clock passes the threshold: evaluated on clock change
    state = {x["Booking_Id"]: x for x in emu.state()["bookings"]}
    assert state[b["Booking_Id"]]["Booking_Status"] == "Auto Cancelled"
    cancelled = get(api, b["Booking_Id"])
    assert cancelled["Booking_IsCancelled"] == 1
    assert cancelled["Booking_Cancelled_Time"] == "2030-01-08T09:15:00Z"
    assert get(api, kept["Booking_Id"])["Booking_Status"] == "In Progress"  # checked in: kept
    # the auto-cancelled room is free for the rest of the slot
    assert book(api, "HQ-1-AURORA", TUE.replace(hour=9, minute=20), TUE.replace(hour=10)).status_code == 201
    # a checked-in booking completes at its end
    emu.advance_clock(hours=1)
    done = get(api, kept["Booking_Id"])
    assert done["Booking_Status"] == "Completed"
    assert done["Booking_Completed_Time"] == "2030-01-08T10:00:00Z"
    hooks = [(d["type"], d["booking_id"]) for d in emu.hook_deliveries()]
    assert ("booking.auto_cancelled", b["Booking_Id"]) in hooks


def test_auto_cancel_when_the_clock_jumps(api, emu: IbssEmulator):
    b = created(api, "HQ-3-DESK-02", TUE.replace(hour=7), TUE.replace(hour=16))  # desk: 30 min threshold
    emu.set_clock(TUE.replace(hour=12))
    assert get(api, b["Booking_Id"])["Booking_Cancelled_Time"] == "2030-01-08T07:30:00Z"


TICKING_DATA = {
    "buildings": [
        {
            "node_id": NODE,
            "name": "Contoso HQ",
            "time_zone": "Europe/Berlin",
            "spaces": [{"space_id": "HQ-1-AURORA", "name": "Aurora", "auto_cancel_threshold_min": 15}],
        }
    ],
    "people": [{"email": "alice@contoso.example", "first_name": "Alice"}],
}


def test_auto_cancel_when_the_running_clock_passes_the_threshold_without_any_request():
    """With a running clock, the background tick auto-cancels and sends the hook on its own."""
    secret = "whsec_" + base64.b64encode(b"ibss-emulator-tick-secret-32-byte").decode()
    with (
        IbssEmulator(data=TICKING_DATA, tick_interval_s=0.05, hook_backoff_s=0.05) as emu,
        HookReceiver() as receiver,
    ):
        emu.set_clock(TUE.replace(hour=8))
        emu.set_hook_target(receiver.url, secret)
        b = emu.act_book("alice@contoso.example", "HQ-1-AURORA", TUE.replace(hour=9), TUE.replace(hour=10))
        assert [json.loads(h.body)["type"] for h in receiver.wait_for(1)] == ["booking.created"]
        # 0.5 s of real time before the threshold, and running: no request is made after this one
        emu.set_clock(TUE.replace(hour=9, minute=14, second=59, microsecond=500_000), frozen=False)
        started = time.monotonic()
        received = receiver.wait_for(2, timeout=10)
        assert time.monotonic() - started >= 0.4  # it was the clock passing, not setting it
        event = json.loads(received[1].body)
        assert event["type"] == "booking.auto_cancelled"
        assert event["data"]["Booking_Id"] == b["Booking_Id"]
        booking = next(x for x in emu.state()["bookings"] if x["Booking_Id"] == b["Booking_Id"])
        assert booking["Booking_Status"] == "Auto Cancelled"
        assert booking["Booking_Cancelled_Time"] == "2030-01-08T09:15:00Z"


# ------------------------------------------------------------------------------------------------
# Series
# ------------------------------------------------------------------------------------------------
def series_body(space: str, days: list[int], hour: int = 9) -> dict[str, Any]:
    occ = [
        {
            "Booking_Start": iso(TUE.replace(hour=hour) + timedelta(days=d)),
            "Booking_End": iso(TUE.replace(hour=hour + 1) + timedelta(days=d)),
        }
        for d in days
    ]
    return {
        "Space_Id": space,
        "Booking_Name": "Series",
        "Booking_Owner_Email": "bob@contoso.example",
        "Booking_Occurrences": occ,
    }


def test_series_one_booking_per_occurrence_sharing_a_series_id(api):
    resp = api.post(f"/v2/{NODE}/bookings/series", json=series_body("HQ-2-DELTA", [0, 7, 14]))
    assert resp.status_code == 201
    data = resp.json()
    sid = data["Booking_Series_Id"]
    assert len(data["value"]) == 3
    assert {b["Booking_Series_Id"] for b in data["value"]} == {sid}
    listed = api.get(f"/v2/{NODE}/bookings", params={"$filter": f"Booking_Series_Id eq '{sid}'"}).json()[
        "value"
    ]
    assert len(listed) == 3
    # cancel one occurrence: the others stay
    api.delete(f"/v2/{NODE}/bookings/{listed[1]['Booking_Id']}")
    # update the whole series: applies to the remaining future occurrences
    upd = api.patch(f"/v2/{NODE}/bookings/series/{sid}", json={"Booking_Name": "Renamed"}).json()
    assert len(upd["value"]) == 2
    assert {b["Booking_Name"] for b in upd["value"]} == {"Renamed"}
    moved = api.patch(f"/v2/{NODE}/bookings/series/{sid}", json={"Space_Id": "HQ-2-CIRRUS"}).json()
    assert {b["Space_Id"] for b in moved["value"]} == {"HQ-2-CIRRUS"}
    gone = api.delete(f"/v2/{NODE}/bookings/series/{sid}").json()
    assert {b["Booking_Status"] for b in gone["value"]} == {"Cancelled"}
    assert len(gone["value"]) == 2
    assert api.delete(f"/v2/{NODE}/bookings/series/unknown").status_code == 404


def test_series_is_all_or_nothing(api):
    created(
        api, "HQ-2-DELTA", TUE.replace(hour=9) + timedelta(days=7), TUE.replace(hour=10) + timedelta(days=7)
    )
    resp = api.post(f"/v2/{NODE}/bookings/series", json=series_body("HQ-2-DELTA", [0, 7, 14]))
    assert resp.status_code == 409
    assert resp.json()["Details"]["Occurrence"] == 1
    assert (
        len(api.get(f"/v2/{NODE}/bookings", params={"$filter": "Space_Id eq 'HQ-2-DELTA'"}).json()["value"])
        == 2
    )
    saturday = api.post(f"/v2/{NODE}/bookings/series", json=series_body("HQ-2-CIRRUS", [0, 4]))
    assert saturday.status_code == 400
    assert saturday.json()["Reason"] == "OutsideBookableHours"


# ------------------------------------------------------------------------------------------------
# Optimistic concurrency
# ------------------------------------------------------------------------------------------------
def test_optimistic_concurrency(api):
    b = created(api, "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    url = f"/v2/{NODE}/bookings/{b['Booking_Id']}"
    resp = api.get(url)
    etag = resp.headers["ETag"]
    assert etag == resp.json()["Booking_Etag"] == b["Booking_Etag"]
    first = api.patch(url, json={"Booking_Name": "One"}, headers={"If-Match": etag})
    assert first.status_code == 200
    assert first.headers["ETag"] != etag
    stale = api.patch(url, json={"Booking_Name": "Two"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["Reason"] == "EtagMismatch"
    assert api.delete(url, headers={"If-Match": etag}).status_code == 412
    assert api.patch(url, json={"Booking_Name": "Three"}, headers={"If-Match": "*"}).status_code == 200
    weak = api.get(url).headers["ETag"]
    assert api.patch(url, json={"Booking_Name": "Four"}, headers={"If-Match": f"W/{weak}"}).status_code == 200
    assert api.patch(url, json={"Booking_Name": "Five"}).status_code == 200  # If-Match is optional
    assert get(api, b["Booking_Id"])["Booking_Status"] == "Amended"


def test_cancelled_booking_cannot_be_changed(api):
    b = created(api, "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    url = f"/v2/{NODE}/bookings/{b['Booking_Id']}"
    assert api.delete(url).json()["Booking_Status"] == "Cancelled"
    assert api.delete(url).status_code == 409
    assert api.patch(url, json={"Booking_Name": "x"}).status_code == 409
    assert api.put(url + "/checkin").status_code == 409


# ------------------------------------------------------------------------------------------------
# Flex (act as a person)
# ------------------------------------------------------------------------------------------------
def test_flex_book_move_edit_cancel(api, emu: IbssEmulator):
    b = emu.act_book(
        "carol@contoso.example",
        "HQ-1-AURORA",
        TUE.replace(hour=13),
        TUE.replace(hour=14),
        name="Planning",
        parties=["dave@contoso.example"],
    )
    assert b["Booking_Owner_Email"] == "carol@contoso.example"
    assert b["Booking_Parties"][0]["First_Name"] == "Dave"
    moved = emu.act_move("carol@contoso.example", b["Booking_Id"], "HQ-1-BOREALIS")
    assert moved["Space_Id"] == "HQ-1-BOREALIS"
    assert moved["Space_Name"] == "Borealis"
    edited = emu.act_edit(
        "carol@contoso.example",
        b["Booking_Id"],
        start=TUE.replace(hour=15),
        end=TUE.replace(hour=16),
        name="Planning v2",
    )
    assert edited["Booking_Start"] == "2030-01-08T15:00:00Z"
    assert edited["Booking_Name"] == "Planning v2"
    assert get(api, b["Booking_Id"])["Booking_Status"] == "Amended"
    with pytest.raises(EmulatorControlError) as err:
        emu.act_cancel("bob@contoso.example", b["Booking_Id"])  # not the owner
    assert err.value.status == 403
    with pytest.raises(EmulatorControlError) as err:
        emu.act_book("nobody@contoso.example", "HQ-1-AURORA", TUE.replace(hour=13), TUE.replace(hour=14))
    assert err.value.status == 404
    assert emu.act_cancel("carol@contoso.example", b["Booking_Id"])["Booking_Status"] == "Cancelled"


def test_flex_rules_apply(api, emu: IbssEmulator):
    emu.act_book("alice@contoso.example", "HQ-2-CIRRUS", TUE.replace(hour=9), TUE.replace(hour=10))
    other = emu.act_book("bob@contoso.example", "HQ-2-DELTA", TUE.replace(hour=9), TUE.replace(hour=10))
    with pytest.raises(EmulatorControlError) as err:
        emu.act_move("bob@contoso.example", other["Booking_Id"], "HQ-2-CIRRUS")
    assert err.value.status == 409
    assert err.value.reason == "SpaceUnavailable"
    with pytest.raises(EmulatorControlError) as err:
        emu.act_book("bob@contoso.example", "HQ-2-DELTA", TUE.replace(hour=3), TUE.replace(hour=4))
    assert err.value.status == 400


def test_flex_check_in_out_and_series(api, emu: IbssEmulator):
    b = emu.act_book("dave@contoso.example", "HQ-3-DESK-02", TUE.replace(hour=8), TUE.replace(hour=16))
    emu.set_clock(TUE.replace(hour=8, minute=5))
    assert emu.act_check_in("dave@contoso.example", b["Booking_Id"])["Booking_Status"] == "In Progress"
    emu.advance_clock(hours=2)
    assert emu.act_check_out("dave@contoso.example", b["Booking_Id"])["Booking_Status"] == "Completed"
    series = emu.act_book(
        "dave@contoso.example",
        "HQ-3-DESK-02",
        occurrences=[
            (TUE.replace(hour=8) + timedelta(days=d), TUE.replace(hour=12) + timedelta(days=d))
            for d in (1, 2)
        ],
    )
    assert len(series["value"]) == 2
    assert series["Booking_Series_Id"]


# ------------------------------------------------------------------------------------------------
# Visitors
# ------------------------------------------------------------------------------------------------
def test_visitors_get_visit_records(api):
    b = created(
        api,
        "HQ-1-AURORA",
        TUE.replace(hour=9),
        TUE.replace(hour=10),
        Booking_Parties=[{"Email": "guest@fabrikam.example", "IsVisitor": 1}],
    )
    party = b["Booking_Parties"][0]
    assert party["First_Name"] == "Grace"
    assert party["Company"] == "Fabrikam"
    assert party["Visit_Id"]
    visit = api.get(f"/v2/{NODE}/visits/{party['Visit_Id']}").json()
    assert visit["Booking_Id"] == b["Booking_Id"]
    assert visit["Visit_Host_Email"] == "alice@contoso.example"
    bad = book(
        api,
        "HQ-1-BOREALIS",
        TUE.replace(hour=9),
        TUE.replace(hour=10),
        Booking_Parties=[{"Email": "x@y.example", "IsVisitor": 1, "Visit_Id": "nope"}],
    )
    assert bad.status_code == 400


def _modified_filter(api: httpx.Client, since: datetime) -> list[str]:
    """Ids of the bookings modified since ``since``, the demo seeds left out (their clock rules run too)."""
    resp = api.get(f"/v2/{NODE}/bookings", params={"$filter": f"Booking_Modified ge {iso(since)}"})
    resp.raise_for_status()
    return [b["Booking_Id"] for b in resp.json()["value"] if b["Booking_Name"] not in _SEED_NAMES]


_SEED_NAMES = {"Team stand-up", "Quarterly review", "Desk"}


def test_booking_modified_moves_on_every_change_the_change_feed_relies_on(
    emu: IbssEmulator, api: httpx.Client
) -> None:
    """Create, edit, cancel, check-in, check-out and auto-cancel each set Booking_Modified to IBSS's clock
    (and a new ETag), so `Booking_Modified ge <watermark>` finds every one of them."""
    start = TUE.replace(hour=9)
    alice = "alice@contoso.example"
    edited = emu.act_book(alice, "HQ-1-AURORA", start, start + timedelta(hours=1), name="Edited")
    cancelled = emu.act_book(alice, "HQ-1-BOREALIS", start, start + timedelta(hours=1), name="Cancelled")
    visited = emu.act_book(alice, "HQ-2-CIRRUS", start, start + timedelta(hours=1), name="Visited")
    no_show = emu.act_book(alice, "HQ-2-DELTA", start, start + timedelta(hours=1), name="No show")
    ids = {b["Booking_Id"] for b in (edited, cancelled, visited, no_show)}

    def step(minutes: float) -> datetime:
        emu.advance_clock(minutes=minutes)
        return emu.now()

    mark = step(1)
    emu.act_edit(alice, edited["Booking_Id"], name="Edited v2")
    emu.act_cancel(alice, cancelled["Booking_Id"])
    assert set(_modified_filter(api, mark)) == {edited["Booking_Id"], cancelled["Booking_Id"]}

    emu.set_clock(start - timedelta(minutes=5))
    mark = emu.now()
    emu.act_check_in(alice, visited["Booking_Id"])
    assert _modified_filter(api, mark) == [visited["Booking_Id"]]

    mark = step(25)  # past the 15-minute threshold: no-shows are auto-cancelled by the clock alone
    assert set(_modified_filter(api, mark)) == {no_show["Booking_Id"], edited["Booking_Id"]}
    mark = step(1)
    emu.act_check_out(alice, visited["Booking_Id"])
    assert _modified_filter(api, mark) == [visited["Booking_Id"]]

    rows = {b["Booking_Id"]: b for b in emu.state()["bookings"] if b["Booking_Id"] in ids}
    assert rows[no_show["Booking_Id"]]["Booking_Status"] == rows[edited["Booking_Id"]]["Booking_Status"]
    assert rows[no_show["Booking_Id"]]["Booking_Status"] == "Auto Cancelled"
    assert rows[visited["Booking_Id"]]["Booking_Status"] == "Completed"
    assert len({b["Booking_Etag"] for b in rows.values()}) == 4

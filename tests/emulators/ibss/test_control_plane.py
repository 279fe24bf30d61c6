"""Control plane: clock, faults, request accounting, data loading, paging/filter surface, standalone start."""

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from emulators.graph.tenant import DEMO_TENANT_PATH, load_tenant
from emulators.ibss.testing import EmulatorControlError, IbssEmulator

NODE = 1001
ROOT = Path(__file__).resolve().parents[3]


def test_clock_set_advance_freeze(emu: IbssEmulator, api):
    assert emu.now() == datetime(2030, 1, 7, 6, tzinfo=UTC)
    emu.advance_clock(hours=1, minutes=30)
    assert emu.now() == datetime(2030, 1, 7, 7, 30, tzinfo=UTC)
    b = api.post(
        f"/v2/{NODE}/bookings",
        json={
            "Space_Id": "HQ-2-CIRRUS",
            "Booking_Start": "2030-01-07T09:00:00Z",
            "Booking_End": "2030-01-07T10:00:00Z",
            "Booking_Owner_Email": "bob@contoso.example",
        },
    ).json()
    assert (
        b["Booking_Created"] == b["Booking_Modified"] == "2030-01-07T07:30:00Z"
    )  # platform time = emulator clock
    emu.set_clock(datetime(2030, 1, 7, 8, tzinfo=UTC), frozen=False)  # running from a new point
    time.sleep(0.05)
    assert emu.now() > datetime(2030, 1, 7, 8, tzinfo=UTC)
    with pytest.raises(EmulatorControlError):
        emu.advance_clock(minutes=-5)


def test_fault_injection_errors_latency_and_counts(emu: IbssEmulator, api):
    emu.inject_fault(status=503, path_regex="/spaces", times=2, retry_after=3)
    first = api.get(f"/v2/{NODE}/spaces")
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "3"
    assert api.get(f"/v2/{NODE}/spaces").status_code == 503
    assert api.get(f"/v2/{NODE}/spaces").status_code == 200  # fault used up
    emu.inject_fault(latency_ms=200, method="GET", path_regex="/buildings$")
    started = time.monotonic()
    assert api.get("/v2/buildings").status_code == 200
    assert time.monotonic() - started >= 0.2
    assert api.post("/v2/buildings").status_code == 405
    counts = emu.request_counts()
    assert counts["by_route"]["GET /v2/{node_id}/spaces"] == 3
    assert counts["by_status"]["503"] == 2
    assert counts["by_route_status"]["GET /v2/{node_id}/spaces 503"] == 2
    assert counts["by_route_status"]["GET /v2/{node_id}/spaces 200"] == 1
    # httpx may resend a GET once when a pooled keep-alive connection was closed under it (seen under load).
    assert 5 <= counts["total"] <= 6
    assert counts["by_route"]["POST /v2/buildings"] == 1
    assert counts["log"][0]["path"] == "/v2/1001/spaces"
    emu.inject_fault(status=500, times=None)
    assert api.get("/v2/buildings").status_code == 500
    emu.clear_faults()
    assert api.get("/v2/buildings").status_code == 200
    emu.clear_request_counts()
    assert emu.request_counts()["total"] == 0


def test_authentication(emu: IbssEmulator):
    with httpx.Client(base_url=emu.base_url) as raw:
        assert raw.get("/v2/buildings").status_code == 401
        assert raw.get("/v2/buildings", headers={"Authorization": "Bearer x"}).status_code == 401
        ok = raw.get("/v2/buildings", headers={"Authorization": f"APIKEY {emu.api_key}"})
        assert ok.status_code == 200
        assert ok.json()["value"][0]["Name"] == "Contoso HQ"
        assert raw.get("/_emulator/health").status_code == 200  # control plane needs no key


def test_paging_surface(api):
    for h in range(7, 19):
        api.post(
            f"/v2/{NODE}/bookings",
            json={
                "Space_Id": "HQ-2-CIRRUS",
                "Booking_Start": f"2030-01-09T{h:02d}:00:00Z",
                "Booking_End": f"2030-01-09T{h:02d}:30:00Z",
                "Booking_Owner_Email": "bob@contoso.example",
            },
        )
    flt = "Space_Id eq 'HQ-2-CIRRUS' and Booking_Start lt 2030-01-09T12:00:00Z"
    page = api.get(f"/v2/{NODE}/bookings", params={"$filter": flt, "$top": 2}).json()
    ids = [b["Booking_Id"] for b in page["value"]]
    while "@odata.nextLink" in page:
        assert "$filter=" in page["@odata.nextLink"]
        assert "$top=2" in page["@odata.nextLink"]
        page = api.get(page["@odata.nextLink"]).json()
        ids += [b["Booking_Id"] for b in page["value"]]
    assert len(ids) == len(set(ids)) == 5
    assert api.get(f"/v2/{NODE}/bookings", params={"$top": 0}).status_code == 400
    assert api.get(f"/v2/{NODE}/bookings", params={"$top": 101}).status_code == 400
    assert api.get(f"/v2/{NODE}/bookings", params={"$skiptoken": "garbage!"}).status_code == 400
    assert (
        api.get(f"/v2/{NODE}/bookings", params={"$filter": "Nope eq 'x'"}).json()["Reason"]
        == "UnsupportedFilter"
    )
    assert (
        api.get(f"/v2/{NODE}/bookings", params={"$filter": "Space_Id eq"}).json()["Reason"] == "InvalidFilter"
    )
    bad_type = api.get(f"/v2/{NODE}/bookings", params={"$filter": "Booking_Start lt 'x'"})
    assert bad_type.status_code == 400
    assert api.get(f"/v2/{NODE}/bookings", params={"$filter": "Booking_Series_Id eq null"}).status_code == 200


def test_load_reset_and_state(emu: IbssEmulator, api):
    emu.load(
        {
            "buildings": [
                {
                    "node_id": 2002,
                    "name": "Annex",
                    "time_zone": "Europe/London",
                    "spaces": [{"space_id": "AX-1", "name": "Annex 1", "capacity": 4}],
                }
            ],
            "people": [{"email": "erin@contoso.example", "first_name": "Erin", "last_name": "Evans"}],
        }
    )
    assert {b["Node_Id"] for b in api.get("/v2/buildings").json()["value"]} == {1001, 2002}
    b = emu.act_book(
        "erin@contoso.example", "AX-1", "2030-01-07T12:00:00Z", "2030-01-07T13:00:00Z", node_id=2002
    )
    assert b["Node_Id"] == 2002  # no policy: any time in the future is fine
    assert len(emu.state()["bookings"]) == 4
    with pytest.raises(EmulatorControlError):
        emu.load({"buildings": [{"node_id": 3003, "spaces": [{"space_id": "X", "policy": "missing"}]}]})
    emu.reset(clock=datetime(2030, 1, 7, 6, tzinfo=UTC))
    assert [b["Node_Id"] for b in api.get("/v2/buildings").json()["value"]] == [1001]
    assert len(emu.state()["bookings"]) == 3  # demo seeds only


def test_demo_data_matches_the_demo_tenant(api):
    spaces = {s["Space_Id"]: s for s in api.get(f"/v2/{NODE}/spaces").json()["value"]}
    expected = {
        "HQ-1-AURORA": ("Aurora", 1011, 8, 1, "aurora@contoso.example"),
        "HQ-1-BOREALIS": ("Borealis", 1011, 12, 1, "borealis@contoso.example"),
        "HQ-2-CIRRUS": ("Cirrus", 1012, 4, 1, "cirrus@contoso.example"),
        "HQ-2-DELTA": ("Delta", 1012, 20, 1, "delta@contoso.example"),
        "HQ-3-ECHO": ("Echo", 1013, 6, 0, "echo@contoso.example"),
        "HQ-3-DESK-01": ("Desk 3.01", 1013, 1, 0, None),
        "HQ-3-DESK-02": ("Desk 3.02", 1013, 1, 0, None),
    }
    got = {
        k: (
            s["Space_Name"],
            s["Floor_Node_Id"],
            s["Space_Capacity"],
            s["Meta_Ext_Booking_System"],
            s["Meta_Ext_Booking_SpaceId"],
        )
        for k, s in spaces.items()
    }
    assert got == expected
    hq = api.get(f"/v2/buildings/{NODE}").json()
    assert (hq["Name"], hq["Bkng_Ext_System"], hq["Bkng_Sync_Enabled"], hq["Node_TimeZone"]) == (
        "Contoso HQ",
        1,
        1,
        "Europe/Berlin",
    )
    assert not any(s["Meta_Ext_Booking_SpaceId"] == "foxtrot@contoso.example" for s in spaces.values())


def test_standalone_start(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators.ibss",
            "--port",
            str(port),
            "--api-key",
            "k1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        deadline = time.monotonic() + 10
        while True:
            try:
                resp = httpx.get(
                    f"http://127.0.0.1:{port}/v2/1001/spaces", headers={"Authorization": "apikey k1"}
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert resp.status_code == 200
        assert len(resp.json()["value"]) == 7
    finally:
        proc.terminate()
        proc.wait(10)


ANNEX_YAML = """
buildings:
  - node_id: 3003
    name: Annex
    time_zone: Europe/London
    bkng_ext_system: 1
    bkng_sync_enabled: 0
    floors: [{node_id: 3031, name: Ground}]
    policies:
      - {policy_id: annex, bookable_hours: {Monday: ["08:00", "18:00"]}, max_duration_min: 60}
    spaces:
      - {space_id: AX-G-1, name: Garden, floor: 3031, capacity: 6, ext_booking_system: 1,
         ext_booking_space_id: garden@contoso.example, auto_cancel_threshold_min: 10, policy: annex}
people:
  - {email: erin@contoso.example, first_name: Erin, last_name: Evans, company: Contoso}
bookings:
  - {node_id: 3003, space_id: AX-G-1, name: Seeded, owner: erin@contoso.example,
     start: "2030-01-07T09:00:00Z", end: "2030-01-07T09:30:00Z"}
"""


def _check_annex(base_url: str, api_key: str) -> None:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"apikey {api_key}"}) as c:
        annex = c.get("/v2/buildings/3003").json()
        assert (annex["Name"], annex["Node_TimeZone"], annex["Bkng_Sync_Enabled"]) == (
            "Annex",
            "Europe/London",
            0,
        )
        assert annex["Floors"] == [{"Node_Id": 3031, "Name": "Ground"}]
        [space] = c.get("/v2/3003/spaces").json()["value"]
        assert (space["Space_Id"], space["Meta_Ext_Booking_SpaceId"], space["Booking_Policy_Id"]) == (
            "AX-G-1",
            "garden@contoso.example",
            "annex",
        )
        [policy] = c.get("/v2/3003/bookingpolicies").json()["value"]
        assert policy["Booking_Policy_Max_Duration_Min"] == 60
        [seed] = c.get("/v2/3003/bookings").json()["value"]
        assert (seed["Booking_Name"], seed["Booking_Owner_Email"]) == ("Seeded", "erin@contoso.example")
        assert seed["Meta_Auto_Cancel_Thld_Min"] == 10


def test_load_from_a_file(tmp_path):
    """Buildings, floors, policies, spaces, people and seed bookings come from a YAML file."""
    data_file = tmp_path / "annex.yaml"
    data_file.write_text(ANNEX_YAML, encoding="utf-8")
    with IbssEmulator(data=data_file, tick_interval_s=0) as emu:
        emu.set_clock(datetime(2030, 1, 7, 7, tzinfo=UTC))
        _check_annex(emu.base_url, emu.api_key)
        listed = httpx.get(f"{emu.base_url}/v2/buildings", headers={"Authorization": f"apikey {emu.api_key}"})
        assert [b["Node_Id"] for b in listed.json()["value"]] == [3003]  # the file replaces the demo building
        # Flex acts as the file's people
        made = emu.act_book(
            "erin@contoso.example", "AX-G-1", "2030-01-07T10:00:00Z", "2030-01-07T11:00:00Z", node_id=3003
        )
        assert made["Space_Name"] == "Garden"


def test_load_a_yaml_document_over_http(emu: IbssEmulator):
    """The control plane takes the same file as a YAML body (``make run`` users: curl --data-binary @file)."""
    resp = httpx.post(
        f"{emu.base_url}/_emulator/load?replace=true",
        content=ANNEX_YAML.encode(),
        headers={"content-type": "application/yaml"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["buildings"] == 1
    _check_annex(emu.base_url, emu.api_key)
    bad = httpx.post(
        f"{emu.base_url}/_emulator/load",
        content=b"buildings: [",
        headers={"content-type": "application/yaml"},
    )
    assert bad.status_code == 400


def test_demo_building_matches_the_graph_emulators_demo_tenant(api, emu: IbssEmulator):
    """`make run` starts both emulators with their demo data: every synced IBSS space is a room mailbox of
    the Graph demo tenant (same name and capacity), every IBSS person a user or external person there."""
    tenant = load_tenant(DEMO_TENANT_PATH)
    rooms = {r.address: r for r in tenant.rooms}
    people = {u.address for u in tenant.users} | {p.address for p in tenant.external_people}
    hq = api.get(f"/v2/buildings/{NODE}").json()
    spaces = api.get(f"/v2/{NODE}/spaces").json()["value"]
    with_mailbox = [s for s in spaces if s["Meta_Ext_Booking_SpaceId"]]
    assert with_mailbox
    for s in with_mailbox:
        room = rooms[s["Meta_Ext_Booking_SpaceId"]]
        expected = (s["Space_Name"], s["Space_Capacity"], hq["Name"])
        assert (room.display_name, room.capacity, room.building) == expected
    # Only Foxtrot is M365-only (an onboarding mismatch on purpose).
    assert set(rooms) - {s["Meta_Ext_Booking_SpaceId"] for s in with_mailbox} == {"foxtrot@contoso.example"}
    ibss_people = {p["email"] for p in emu.state()["people"]}
    assert ibss_people <= people


def test_a_kiosk_books_for_nobody(emu: IbssEmulator, api):
    emu.reset(clock=datetime(2030, 1, 7, 6, tzinfo=UTC))
    made = emu.act_book_at_kiosk(
        "HQ-1-AURORA", datetime(2030, 1, 8, 9, tzinfo=UTC), datetime(2030, 1, 8, 10, tzinfo=UTC)
    )
    got = api.get(f"/v2/{NODE}/bookings/{made['Booking_Id']}").json()
    assert got["Booking_Owner_Email"] in ("", None)  # no owner, as IBSS Unity/Inspire books
    assert got["Booking_Name"] == "Kiosk booking"

"""Contact import and export: row-numbered errors, merges, fields, streaming, suppressions."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc

import pytest

from gatewayd.contacts import importer, suppression
from gatewayd.store.store import Store
from support import AsyncClient, running

from test_campaign_kit import NUMBER, World, make_cfg

CSV = """First Name,Last Name,Phone,Zip Code,Plan
Ann,Lee,(415) 555-0101,94110,gold
Bob,,not a phone,,
,,,,
Cid,Ng,+44 20 7946 0958,,silver
Ann,Lee-Smith,415.555.0101,,platinum
Dee,Fox,555-0101,,
"""


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def import_csv(w: World, text: str, list_name: str = "L", size: int = 2) -> dict:
    total = None
    for header, first, rows in importer.read_chunks(io.StringIO(text), size):
        total = importer.merge_results(total, w.run(importer.import_rows, list_name, header, rows, first, "US"))
    return total


def test_invalid_rows_are_reported_with_row_number_and_reason_and_duplicates_merge(world):
    res = import_csv(world, CSV)
    assert (res["imported"], res["merged"]) == (2, 1)
    assert [b["row"] for b in res["invalid"]] == [3, 4, 7]
    reasons = {b["row"]: b["reason"] for b in res["invalid"]}
    assert "not a phone" in reasons[3] and reasons[4] == "empty row" and "555-0101" in reasons[7]
    ann = world.db().execute("SELECT * FROM contacts WHERE phone = '+14155550101'").fetchone()
    assert (ann["first_name"], ann["last_name"]) == ("Ann", "Lee-Smith")
    assert json.loads(ann["fields"]) == {"zip_code": "94110", "plan": "platinum"}   # merged, newest wins
    assert world.db().execute("SELECT count(*) FROM list_members").fetchone()[0] == 2


def test_reimport_into_another_list_merges_and_keeps_created_time(world):
    import_csv(world, CSV)
    created = world.db().execute("SELECT created_at FROM contacts WHERE phone = '+14155550101'").fetchone()[0]
    world.now += 100
    res = import_csv(world, "phone,first_name\n+14155550101,Annie\n", list_name="VIP")
    assert (res["imported"], res["merged"]) == (0, 1)
    row = world.db().execute("SELECT first_name, created_at FROM contacts WHERE phone = '+14155550101'").fetchone()
    assert tuple(row) == ("Annie", created)
    lists = {r["name"]: r["contacts"] for r in importer.lists_overview(world.db())}
    assert lists == {"L": 2, "VIP": 1}


def test_a_file_without_a_phone_column_is_refused():
    with pytest.raises(ValueError, match="no phone column"):
        list(importer.read_chunks(io.StringIO("name,email\nA,a@x\n")))


def test_export_round_trips_fields(world):
    import_csv(world, CSV)
    out = io.StringIO()
    fields = importer.list_fields(world.db(), "L")
    n = importer.write_csv(out, fields, importer.contact_page(world.db(), "L"))
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert n == 2 and fields == ["plan", "zip_code"]
    assert rows[0]["phone"] == "+14155550101" and rows[0]["zip_code"] == "94110" and rows[1]["plan"] == "silver"


def test_reading_a_large_file_streams_in_constant_memory():
    def big():   # 30,000 rows generated lazily: the reader must not hold them
        yield "first_name,last_name,phone\n"
        for i in range(30_000):
            yield f"F{i},L{i},+1415555{i % 10000:04d}\n"

    class Lines(io.TextIOBase):
        def __init__(self):
            self.it = big()

        def __iter__(self):
            return self.it

        def __next__(self):
            return next(self.it)

    tracemalloc.start()
    rows = 0
    for _header, _first, chunk in importer.read_chunks(Lines(), 500):
        rows += len(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rows == 30_000
    assert peak < 1_500_000        # one chunk at a time, not 30k rows (~7 MB as lists)


@pytest.mark.trio
async def test_import_export_and_manual_opt_out_over_the_socket(tmp_path):
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        header, rows = ["phone", "first name"], [["4155550102", "Eve"], ["bad", "Zed"]]
        res = await c.call("contacts_import", list="L", header=header, rows=rows, first_row=2)
        assert res["imported"] == 1 and res["invalid"][0]["row"] == 3
        assert (await c.request("contacts_import", list="L", header=["name"], rows=[]))["error"]["code"] == "bad_header"
        page = await c.call("contacts_list", list="L", search="Eve")
        assert [p["phone"] for p in page] == ["+14155550102"]
        out = await c.call("opt_out", phone="(415) 555-0102", scope="number", number=NUMBER, reason="asked by phone")
        assert out == {"phone": "+14155550102", "scope": "number", "created": True}
        supp = await c.call("suppressions", phone="+14155550102")
        assert supp[0]["source"] == "operator" and supp[0]["reason"] == "asked by phone"
        assert (await c.call("opt_in", phone="+14155550102", number=NUMBER))["lifted"] == 1


def test_opt_out_requires_a_target_for_narrow_scopes(tmp_path):
    store = Store(tmp_path / "s.db")
    store.open()
    with pytest.raises(ValueError):
        store.run_sync(suppression.opt_out, "+14155550101", "campaign")
    assert store.run_sync(suppression.opt_out, "+14155550101", "all") is True
    assert store.run_sync(suppression.opt_out, "+14155550101", "all") is False
    assert suppression.suppression_of(store.db, "+14155550101", 5, NUMBER) == "opted out (all)"
    store.close()


@pytest.mark.trio
async def test_an_unknown_region_is_refused_before_anything_is_created_and_lookups_normalise(tmp_path):
    """Issue 18.4 and 18.5, at the socket (other clients than gatewayctl)."""
    async with running(make_cfg(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        r = await c.request("contacts_import", list="L", header=["phone"], rows=[["4155550102"]], region="ZZ")
        assert r["error"]["code"] == "bad_region" and "ZZ" in r["error"]["message"]
        assert await c.call("lists") == []
        res = await c.call("contacts_import", list="L", header=["phone", "first name"],
                           rows=[["020 7946 0958", "Ann"]], region="gb")
        assert res["imported"] == 1
        await c.call("script_create", name="s", steps=[{"text": "Hi {first_name}"}])
        for typed in ("+44 20 7946 0958", "0044 20 7946 0958", "+442079460958"):   # any format finds it
            prev = await c.call("script_preview", contact=typed, script="s")
            assert prev["phone"] == "+442079460958" and prev["text"] == "Hi Ann"
        assert [p["phone"] for p in await c.call("contacts_list", search="20 7946")] == ["+442079460958"]
        r = await c.request("script_preview", contact="(202) 555-0199", script="s")
        assert r["error"]["code"] == "not_found" and "+12025550199" in r["error"]["message"]
        r = await c.request("contacts_list", list="nosuch")
        assert r["error"]["code"] == "not_found"

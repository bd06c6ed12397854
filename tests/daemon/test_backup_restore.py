"""Backups: a path the caller can mean, a clear refusal, a private file; and a restore that does
not resend unflagged what may already have gone out."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat

import msgspec
import pytest

from gatewayd import ctl
from support import AsyncClient, make_config, query, running, states, wait_until

FROM = "+14155550100"


@pytest.mark.trio
async def test_backup_refuses_relative_and_missing_paths_with_bad_request(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        rel = await c.request("backup", path="backups/x.db")
        assert rel["error"]["code"] == "bad_request" and "relative" in rel["error"]["message"]
        missing = await c.request("backup", path=str(tmp_path / "nope" / "x.db"))
        assert missing["error"]["code"] == "bad_request"
        assert f"directory {tmp_path / 'nope'} does not exist" in missing["error"]["message"]
        assert (await c.call("hello"))["role"] == "admin"       # the connection is fine


@pytest.mark.trio
async def test_backup_file_is_private_whatever_the_umask_and_never_overwritten(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        dest = tmp_path / "b.db"
        old = os.umask(0)
        try:
            res = await c.call("backup", path=str(dest))
        finally:
            os.umask(old)
        assert res["bytes"] > 0 and stat.S_IMODE(dest.stat().st_mode) == 0o600
        again = await c.request("backup", path=str(dest))
        assert again["error"]["code"] == "exists"
        live = sqlite3.connect(gw.store.path)
        try:   # the mark is in the copy only
            assert not live.execute("SELECT 1 FROM sqlite_master WHERE name = 'backup_origin'").fetchall()
        finally:
            live.close()


def test_gatewayctl_resolves_a_relative_backup_path_in_its_own_directory(tmp_path, monkeypatch):
    sent = {}

    class Fake:
        def call(self, op, **fields):
            sent.update(fields)
            return {"path": fields["path"], "bytes": 1}

    monkeypatch.chdir(tmp_path)
    args = ctl.build_parser().parse_args(["backup", "nightly.db"])
    ctl.cmd_backup(Fake(), args)
    assert sent["path"] == str(tmp_path / "nightly.db")


@pytest.mark.trio
async def test_a_restored_backup_flags_what_it_held_unfinished(tmp_path):
    cfg = make_config(tmp_path)
    backup = tmp_path / "backup.db"
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        done = await c.call("send", **{"from": FROM, "to": "+14155550123", "text": "delivered before"})
        await wait_until(gw, lambda: states(gw).get("delivered") == 1)
        lane = gw.dispatcher.lanes[FROM]
        number = lane.number
        lane.number = msgspec.structs.replace(number, enabled=False)    # hold the next ones queued
        later = [await c.call("send", **{"from": FROM, "to": f"+1415555{130 + i:04d}", "text": f"m{i}"})
                 for i in range(5)]
        await c.call("backup", path=str(backup))
        assert states(gw).get("queued") == 5
        lane.number = number                             # ...they go out after the backup
        gw.dispatcher.kick()
        await wait_until(gw, lambda: states(gw).get("delivered") == 6)
    state = tmp_path / "state"
    for f in state.glob("gatewayd.db*"):
        if not f.name.endswith(".lock"):
            f.unlink()
    shutil.copy(backup, state / "gatewayd.db")
    async with running(cfg) as gw:
        rows = dict(query(gw, "SELECT id, possible_duplicate FROM messages"))
        assert rows[done["id"]] == 0                      # final in the backup: untouched
        assert all(rows[m["id"]] == 1 for m in later)     # queued in the backup: flagged
        await wait_until(gw, lambda: states(gw).get("delivered") == 6)
        hist = query(gw, "SELECT detail FROM message_history WHERE message_id = ? ORDER BY rowid", (later[0]["id"],))
        assert any("restored from a backup taken" in h[0] for h in hist)
    async with running(cfg) as gw:                        # once only: the mark is gone
        assert not query(gw, "SELECT 1 FROM sqlite_master WHERE name = 'backup_origin'")


@pytest.mark.trio
async def test_a_restored_backup_under_crash_policy_fail_fails_them_for_review(tmp_path):
    from support import SIM_CONFIG

    cfg = make_config(tmp_path, text=SIM_CONFIG + '\n[queue]\ncrash_policy = "fail"\n')
    backup = tmp_path / "backup.db"
    async with running(cfg) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        lane = gw.dispatcher.lanes[FROM]
        lane.number = msgspec.structs.replace(lane.number, enabled=False)
        held = await c.call("send", **{"from": FROM, "to": "+14155550123", "text": "held"})
        await c.call("backup", path=str(backup))
    state = tmp_path / "state"
    for f in state.glob("gatewayd.db*"):
        if not f.name.endswith(".lock"):
            f.unlink()
    shutil.copy(backup, state / "gatewayd.db")
    async with running(cfg) as gw:
        [(st, dup, code)] = query(gw, "SELECT state, possible_duplicate, error_code FROM messages WHERE id = ?",
                                  (held["id"],))
        assert (st, dup, code) == ("failed", 1, "restored")
        c = await AsyncClient.connect(gw.socket_path)
        assert (await c.call("retry", message_id=held["id"]))["state"] == "queued"   # the operator's choice
        await wait_until(gw, lambda: states(gw).get("delivered") == 1)

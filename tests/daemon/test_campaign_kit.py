"""Shared helpers for the campaign tests (imported by the other test_campaign_* modules).

``World`` drives the campaign rules synchronously against a real store with a hand-set clock:
a carrier is simulated by claiming queued messages and marking them accepted, so each test
states exactly when what was sent. ``running`` starts a whole gateway in-process on the sim link.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import trio

from gatewayd import config
from gatewayd.campaigns import attribution, expand, lifecycle, scripts, steps
from gatewayd.contacts import importer
from gatewayd.links.base import Inbound
from gatewayd.store import inbound, messages as mq, receipts
from gatewayd.store.store import Store

NUMBER = "+14155550100"
OTHER = "+14155550199"
T0 = 1_790_000_000.0   # a fixed wall time for the hand-driven tests


def cfg_text(tmp: Path, *, sim: str = "", number: str = "", optout: str = "") -> str:
    return f"""
state_dir = "{tmp}/state"
default_region = "US"
[control]
socket = "{tmp}/gw.sock"
[[links]]
name = "sim"
kind = "sim"
dlr_delay_s = 0.2
delivered = 1.0
undelivered = 0.0
rejected = 0.0
seed = 1
{sim}
[[numbers]]
address = "{NUMBER}"
links = ["sim"]
rate = 1000
burst = 1000
office = "main"
{number}
[[numbers]]
address = "{OTHER}"
links = ["sim"]
rate = 1000
burst = 1000
office = "other"
[optout]
{optout}
"""


def make_cfg(tmp: Path, **kw) -> config.Config:
    return config.parse(cfg_text(tmp, **kw))


class World:
    """A store plus the campaign hooks, with a clock the test moves by hand."""

    def __init__(self, tmp: Path, cfg: config.Config | None = None) -> None:
        self.now = T0
        self.cfg = cfg or make_cfg(tmp)
        self.store = Store(tmp / "w.db", clock=lambda: self.now)
        self.store.open()
        steps.RUNTIME.cfg = self.cfg
        if steps.on_final not in mq.FINAL_HOOKS:
            mq.FINAL_HOOKS.append(steps.on_final)
        if attribution.on_inbound not in inbound.INBOUND_HOOKS:
            inbound.INBOUND_HOOKS.insert(0, attribution.on_inbound)
        self._carrier = 0

    def run(self, fn, *args):
        return self.store.run_sync(fn, *args)

    def db(self):
        return self.store.db

    def contacts(self, list_name: str, rows: list[list[str]], header=("first_name", "last_name", "phone")):
        return self.run(importer.import_rows, list_name, list(header), rows, 2, "US")

    def script(self, name: str, steps_: list[dict], type_: str = "nudge", defaults=None) -> int:
        return self.run(scripts.create, name, type_, steps_, defaults or {}, "tester")

    def campaign(self, name: str, script: int, list_name: str, number: str = NUMBER, launch: bool = True,
                 **fields) -> int:
        list_id = self.db().execute("SELECT id FROM lists WHERE name = ?", (list_name,)).fetchone()[0]
        cid = self.run(lifecycle.create, {"name": name, "script_id": script, "list_id": list_id, "number": number,
                                          "office": "main", **fields}, "tester")
        if launch:
            self.run(lifecycle.launch, cid, "tester", self.cfg, lambda a: {"known": True, "enabled": True})
        return cid

    def pump(self, cid: int) -> None:
        """Expand and feed one campaign until nothing more is due right now."""
        while self.run(expand.expand_batch, cid):
            pass
        while self.run(expand.feed_batch, cid, 10_000):
            pass

    def carrier_accepts(self, sender: str = NUMBER) -> list[int]:
        """Every claimable message from ``sender`` is accepted by the carrier (state sent)."""
        def op(tx):
            ids = []
            while True:
                claimed = mq.claim(tx, sender, 10_000)
                if not claimed:
                    return ids
                for m in claimed:
                    for seg_id, _idx, _text in m.pending:
                        self._carrier += 1
                        receipts.segment_sent(tx, mq.SegResult(seg_id, m.id, "sim", True, f"c{self._carrier}"))
                    mq.message_submitted(tx, m.id, "sim")
                    ids.append(m.id)
        return self.run(op)

    def carrier_rejects(self, sender: str = NUMBER) -> list[int]:
        def op(tx):
            ids = []
            for m in mq.claim(tx, sender, 10_000):
                mq.segment_failed(tx, mq.SegResult(m.pending[0][0], m.id, "sim", False, None, "ESME_RINVDSTADR",
                                                   "invalid destination", False), retry_at=None, give_up=False,
                                  duplicate_risk=False)
                ids.append(m.id)
            return ids
        return self.run(op)

    def reply(self, phone: str, text: str, to: str = NUMBER) -> dict:
        rid = self.run(inbound.record, Inbound(link="sim", sender=phone, recipient=to, text=text,
                                               received_at=self.now))
        return dict(self.db().execute("SELECT * FROM inbound WHERE id = ?", (rid,)).fetchone())

    def messages(self, **where) -> list[dict]:
        cond = " AND ".join(f"{k} = ?" for k in where) or "1=1"
        return [dict(r) for r in self.db().execute(f"SELECT * FROM messages WHERE {cond} ORDER BY id",
                                                   tuple(where.values()))]

    def cc(self, cid: int, phone: str) -> dict:
        return dict(self.db().execute(
            "SELECT cc.* FROM campaign_contacts cc JOIN contacts c ON c.id = cc.contact_id"
            " WHERE cc.campaign_id = ? AND c.phone = ?", (cid, phone)).fetchone())

    def status(self, cid: int) -> str:
        return self.db().execute("SELECT status FROM campaigns WHERE id = ?", (cid,)).fetchone()[0]

    def close(self) -> None:
        self.store.close()


@contextlib.asynccontextmanager
async def running(cfg: config.Config):
    """A whole gateway in-process; stops when the block ends."""
    from gatewayd.daemon import serve

    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        gw = await nursery.start(serve, cfg, shutdown)
        try:
            yield gw
        finally:
            shutdown.set()


def loads(value):
    return json.loads(value) if isinstance(value, str) else value

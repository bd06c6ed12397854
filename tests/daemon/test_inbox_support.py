"""Helpers for the inbox tests: an in-process gateway (store writer only, no links), principals,
requests through the real dispatcher, and campaign rows written by SQL per the shared contract."""

from __future__ import annotations

import importlib
import json
from contextlib import asynccontextmanager

import msgspec
import trio

from gatewayd import config as config_mod
from gatewayd import extensions
from gatewayd import protocol as P
from gatewayd.control.access import Principal
from gatewayd.control.handlers import dispatch
from gatewayd.daemon import Gateway
from gatewayd.links.base import Inbound
from gatewayd.models import MsgState, Priority, Role
from gatewayd.store import inbound as inbound_store
from gatewayd.store import messages as mq

MAIN = "+14155550100"        # reusable, office main, unsolicited -> office:main with an intro reply
SINGLE = "+14155550199"      # single-use, office main
PERSONAL = "+14155550177"    # reusable, unsolicited -> carol's personal inbox and office north

CONFIG = f"""
state_dir = "{{state}}"
[control]
socket = "{{state}}/gw.sock"
[[links]]
name = "sim"
kind = "sim"
[[numbers]]
address = "{MAIN}"
links = ["sim"]
office = "main"
[numbers.unsolicited]
inbox = ["office:main"]
intro_reply = "Thanks! An agent will get back to you."
[[numbers]]
address = "{SINGLE}"
links = ["sim"]
office = "main"
reusable = false
[[numbers]]
address = "{PERSONAL}"
links = ["sim"]
office = "main"
[numbers.unsolicited]
inbox = ["agent:carol", "office:north"]
[access]
admins = ["root"]
agents = ["alice", "bob", "carol", "lim"]
viewers = ["vic"]
limited = ["lim"]
[access.offices]
main = ["alice", "lim", "vic"]
north = ["bob"]
"""

_ROLES = {"root": Role.ADMIN, "vic": Role.VIEWER}


def make_config(tmp_path, text: str = CONFIG) -> config_mod.Config:
    return config_mod.parse(text.replace("{state}", str(tmp_path)))


def who(gw, user: str) -> Principal:
    offices = tuple(o for o, m in gw.cfg.access.offices.items() if user in m)
    return Principal(user, 1000, _ROLES.get(user, Role.AGENT), offices, user in gw.cfg.access.limited)


def _attribute(tx, row) -> None:
    """Stand-in for the campaigns hook (seed 000's rule) when that package is not installed."""
    r = tx.db.execute("SELECT campaign_id FROM messages WHERE sender = ? AND recipient = ? AND campaign_id IS NOT NULL"
                      " ORDER BY id DESC LIMIT 1", (row["recipient"], row["sender"])).fetchone()
    if r is not None:
        row["campaign_id"] = r[0]


def _campaigns_importable() -> bool:
    try:
        importlib.import_module("gatewayd.campaigns.extension")
    except ImportError:      # absent, or mid-way in the shared tree: test the inbox alone
        return False
    return True


@asynccontextmanager
async def gateway(tmp_path, cfg=None):
    modules = list(extensions.MODULES)
    if not _campaigns_importable():
        extensions.MODULES[:] = [m for m in modules if not m.startswith("gatewayd.campaigns")]
    try:
        gw = Gateway(cfg or make_config(tmp_path))
    finally:
        extensions.MODULES[:] = modules
    hooks = inbound_store.INBOUND_HOOKS
    stand_in = not any(h.__module__.startswith("gatewayd.campaigns") for h in hooks)
    if stand_in:
        hooks.insert(0, _attribute)
    gw.store.open()
    _contract_tables(gw.store.db)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(gw.store.writer)
            yield gw
            nursery.cancel_scope.cancel()
    finally:
        if stand_in:
            hooks.remove(_attribute)
        gw.store.close()


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


async def call(gw, _as: str, op: str, **fields):
    """``op`` as user ``_as`` through the real dispatcher (role checks, audit); raises Refused."""
    req = P.decode_request(msgspec.json.encode({"op": op, **fields}))
    reply = await dispatch(gw, who(gw, _as), req)
    if not reply.ok:
        raise Refused(reply.error.code, reply.error.message)
    return msgspec.to_builtins(reply.result)


async def receive(gw, phone: str, text: str, to: str = MAIN) -> dict:
    """A contact's SMS arrives; returns the stored inbound row."""
    iid = await gw.store.run(inbound_store.record, Inbound(link="sim", sender=phone, recipient=to, text=text,
                                                           received_at=gw.store.clock()))
    return await gw.store.read(lambda db: dict(db.execute("SELECT * FROM inbound WHERE id = ?", (iid,)).fetchone()))


async def sql(gw, query: str, *args):
    return await gw.store.read(lambda db: [dict(r) for r in db.execute(query, args)])


# ---- campaign rows (the campaigns package owns these tables; tests write them per the contract) ----


def _contract_tables(db) -> None:
    db.executescript("""
CREATE TABLE IF NOT EXISTS contacts (id INTEGER PRIMARY KEY, phone TEXT UNIQUE, first_name TEXT, last_name TEXT,
  fields TEXT NOT NULL DEFAULT '{}', created_at REAL, updated_at REAL);
CREATE TABLE IF NOT EXISTS scripts (id INTEGER PRIMARY KEY, name TEXT UNIQUE, type TEXT, steps TEXT,
  created_at REAL, updated_at REAL);
CREATE TABLE IF NOT EXISTS campaigns (id INTEGER PRIMARY KEY, name TEXT, script_id INTEGER, list_id INTEGER,
  number TEXT, office TEXT, operated_by TEXT, status TEXT, stop_on_reply INTEGER, created_by TEXT,
  created_at REAL, updated_at REAL, launched_at REAL);
CREATE TABLE IF NOT EXISTS campaign_contacts (campaign_id INTEGER, contact_id INTEGER, step INTEGER,
  state TEXT, replied_at REAL, PRIMARY KEY (campaign_id, contact_id));
CREATE TABLE IF NOT EXISTS suppressions (phone TEXT, scope TEXT, campaign_id INTEGER, number TEXT, reason TEXT,
  source TEXT, created_at REAL, created_by TEXT);
""")


YES_NO_THEN_CHOICE = [
    {"text": "Hi {first_name}, are you coming on Friday?", "delay_s": 0, "question": "yes_no", "choices": []},
    {"text": "Which session?", "delay_s": 0, "question": "choice", "choices": ["Morning", "Afternoon", "Evening"]},
    {"text": "Anything we should know?", "delay_s": 0, "question": "open", "choices": []},
    {"text": "Thanks, see you then!", "delay_s": 0, "question": None, "choices": []},
]


async def campaign(gw, *, number: str = MAIN, office: str = "main", operated_by: str = "agent",
                   steps: list | None = None, status: str = "sending") -> int:
    steps = steps if steps is not None else [{"text": "Hello {first_name}", "delay_s": 0, "question": None}]

    def op(tx):
        kind = "interactive" if any(s.get("question") for s in steps) else "nudge"
        sid = tx.db.execute("INSERT INTO scripts(name, type, steps, created_at, updated_at) VALUES (?,?,?,?,?)",
                            (f"s{tx.now}-{id(steps)}", kind, json.dumps(steps), tx.now, tx.now)).lastrowid
        return tx.db.execute(
            "INSERT INTO campaigns(name, script_id, number, office, operated_by, status, stop_on_reply, created_by,"
            " created_at, updated_at, launched_at) VALUES (?,?,?,?,?,?,0,'alice',?,?,?)",
            (f"c{sid}", sid, number, office, operated_by, status, tx.now, tx.now, tx.now)).lastrowid

    return await gw.store.run(op)


async def contact(gw, phone: str, first: str = "John", last: str = "Doe") -> int:
    def op(tx):
        return tx.db.execute("INSERT INTO contacts(phone, first_name, last_name, fields, created_at, updated_at)"
                             " VALUES (?,?,?,'{}',?,?)", (phone, first, last, tx.now, tx.now)).lastrowid

    return await gw.store.run(op)


async def sent_step(gw, campaign_id: int, contact_id: int, phone: str, step: int = 1, number: str = MAIN) -> int:
    """The campaign sent ``step`` (1-based) to the contact: a sent message and the recipient cursor."""

    def op(tx):
        tx.db.execute("INSERT INTO campaign_contacts(campaign_id, contact_id, step, state) VALUES (?,?,?,'active')"
                      " ON CONFLICT(campaign_id, contact_id) DO UPDATE SET step = excluded.step",
                      (campaign_id, contact_id, step))
        [(mid, _)] = mq.enqueue(tx, [mq.NewMessage(
            sender=number, recipient=phone, text=f"step {step}", priority=Priority.BULK, source="campaign",
            campaign_id=campaign_id, contact_id=contact_id, step=step, state=MsgState.SENT)])
        return mid

    return await gw.store.run(op)


async def set_status(gw, campaign_id: int, status: str) -> None:
    """What the campaigns package does on stop/archive: the status and its ``campaign.status`` event."""

    def op(tx):
        tx.db.execute("UPDATE campaigns SET status = ? WHERE id = ?", (status, campaign_id))
        tx.emit("campaign.status", id=campaign_id, status=status, office="main")

    await gw.store.run(op)
    await gw.store.run(lambda tx: None)    # the listener's follow-up op is committed by now


class Events:
    """Collects conversation events as the bus publishes them (what the event stream carries)."""

    def __init__(self, gw) -> None:
        self.items: list = []
        gw.bus.listeners.append(lambda ev: self.items.append(ev) if ev.type.startswith("conversation.") else None)

    def types(self) -> list[str]:
        return [e.type for e in self.items]

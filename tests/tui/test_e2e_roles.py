"""End to end as an agent and as a viewer: the TUI on sockets connected by the ``nobody`` user to a
real gatewayd, so the daemon's SO_PEERCRED identity and role checks are the real ones.

The UI must hide what the role may not do (and then nothing reaches the daemon: refused requests
are audited, so the audit log proves it), and a request the daemon refuses must come back as a
readable notification. Root runs the daemon and sets the scene through ``gatewayctl``.
"""

from __future__ import annotations

import asyncio
import grp
import json
import pwd

import pytest
from daemon import Daemon
from helpers import cells, notes, until
from peer import PeerConnector, can_switch_user
from textual.widgets import DataTable, OptionList, Select

from gatewayd import protocol as P
from gatewaytui.app import GatewayApp
from gatewaytui.client import SocketClient
from gatewaytui.widgets.inbox_panel import InboxPanel


def _has_nobody() -> bool:
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return False
    return True


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not can_switch_user(), reason="needs root: the test connects as the 'nobody' user "
                       "(setuid in a child), because root and the daemon's own user are always admin"),
    pytest.mark.skipif(not _has_nobody(), reason="no 'nobody' user on this system"),
]

MAIN, NORTH = "+14155550100", "+14155550199"
CONTACT = "+14155550201"
# Unsolicited replies go to office "default"; bob works another office, so the agent cannot assign to him.
OTHER_OFFICE = f"""
[[numbers]]
address = "{NORTH}"
links = ["sim"]
rate = 50
burst = 50
office = "north"
"""
AGENT = """agents = ["nobody", "alice", "bob"]
offices = { default = ["nobody", "alice"], main = ["nobody", "alice"], north = ["bob"] }"""
VIEWER = """agents = ["alice"]
viewers = ["nobody"]
offices = { default = ["nobody", "alice"], main = ["nobody", "alice"], north = [] }"""


@pytest.fixture
def scene(request):
    """A daemon whose [access] makes ``nobody`` the parametrised role, a conversation in the
    inbox (root sends, the sim contact answers), and a connector that connects as ``nobody``."""
    group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name   # nobody reaches the socket as its group
    d = Daemon(reply_share=1.0, access=request.param, socket_group=group, extra=OTHER_OFFICE)
    d.open_to_others().start()
    peer = None
    try:
        d.ctl("send", "--from", MAIN, "--to", CONTACT, "--text", "Are you coming?")
        peer = PeerConnector(d.socket, "nobody")
        yield d, peer
    finally:
        if peer is not None:
            peer.close()
        d.cleanup()


def app_as_nobody(d: Daemon, peer: PeerConnector) -> GatewayApp:
    return GatewayApp(SocketClient(d.socket, connect=peer), tick_s=0.05, status_every_s=0.5)


def actions(app) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}


def audit_by_nobody(d: Daemon) -> list[dict]:
    return [a for a in json.loads(d.ctl("--json", "audit", "--user", "nobody")) if a["user"] == "nobody"]


async def connected_as(pilot, app, role: str) -> None:
    await until(pilot, lambda: app.identity is not None and app.status is not None, 15, "connected")
    assert (app.identity.user, app.identity.role.value) == ("nobody", role)
    await until(pilot, lambda: "nobody·" + role in str(app.screen.query_one("TopBar").render()), 5, "top bar")


async def open_conversation(pilot, app) -> InboxPanel:
    await pilot.press("i")
    await until(pilot, lambda: type(app.screen).__name__ == "InboxScreen")
    panel = app.screen.query_one(InboxPanel)
    await until(pilot, lambda: panel.detail is not None, 20, "the contact's reply, as a conversation")
    assert panel.detail.conversation.phone == CONTACT
    panel.query_one("#ib-list").focus()
    return panel


@pytest.mark.asyncio
@pytest.mark.parametrize("scene", [AGENT], indirect=True, ids=["agent"])
async def test_agent_works_the_inbox_assigns_within_the_office_and_is_refused_another_offices_number(scene):
    d, peer = scene
    app = app_as_nobody(d, peer)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected_as(pilot, app, "agent")
        await pilot.press("l")
        await until(pilot, lambda: type(app.screen).__name__ == "LinksScreen")
        assert "toggle" not in actions(app)                   # enabling links and numbers is an admin's

        panel = await open_conversation(pilot, app)
        assert panel.query_one("#ib-reply").display
        assert {"reply", "assign", "tag", "opt_out"} <= actions(app)
        await pilot.press("a")
        await until(pilot, lambda: type(app.screen).__name__ == "PickScreen", 10, "assign picker")
        options = app.screen.query_one("#pick-list", OptionList)
        rows = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert rows == ["me (nobody)  agent · default · main", "alice  agent · default · main"]   # no bob
        await pilot.press("enter")
        await until(pilot, lambda: "assigned to nobody" in str(panel.query_one("#ib-thread").render()), 10,
                    "assigned to me")
        await pilot.press("r", *"On my way", "enter")
        await until(pilot, lambda: "On my way" in str(panel.query_one("#ib-thread").render()), 10, "reply shown")

        await pilot.press("escape", "n")
        await until(pilot, lambda: type(app.screen).__name__ == "ComposeScreen")
        assert app.screen.numbers == [MAIN]                   # another office's number is not offered
        assert app.screen.query_one("#compose-from", Select).value == MAIN
        await pilot.press("escape")
        app._send(P.Send(sender=NORTH, to="+14155550777", text="Hello north"))   # a stale UI would
        await until(pilot, lambda: any(n.startswith("Forbidden: ") for n in notes(app)), 10, "refusal")
        assert f"Forbidden: number {NORTH} belongs to office 'north'" in notes(app)

    done = {(a["op"], a["ok"]) for a in await asyncio.to_thread(audit_by_nobody, d)}
    assert {("inbox_assign", True), ("inbox_reply", True), ("send", False)} <= done


@pytest.mark.asyncio
@pytest.mark.parametrize("scene", [VIEWER], indirect=True, ids=["viewer"])
async def test_viewer_sees_but_every_change_is_hidden_and_a_forced_one_is_refused_readably(scene):
    d, peer = scene
    app = app_as_nobody(d, peer)
    async with app.run_test(size=(120, 40)) as pilot:
        await connected_as(pilot, app, "viewer")
        assert "compose" not in actions(app)
        await pilot.press("n")
        await pilot.pause()
        assert type(app.screen).__name__ != "ComposeScreen"

        panel = await open_conversation(pilot, app)
        assert "Are you coming?" in str(panel.query_one("#ib-thread").render())   # reading is allowed
        assert not panel.query_one("#ib-reply").display
        assert not ({"reply", "assign", "tag", "untag", "operated_by", "attention", "opt_out", "unread"}
                    & actions(app))
        await pilot.press("r", "a", "t", "b", "exclamation_mark", "x", "u")
        await pilot.pause()
        assert type(app.screen).__name__ == "InboxScreen"

        await pilot.press("c")
        await until(pilot, lambda: type(app.screen).__name__ == "CampaignsScreen")
        assert not ({"new", "clone", "pause_resume", "stop_archive", "launch"} & actions(app))
        await pilot.press("o")
        await until(pilot, lambda: type(app.screen).__name__ == "ContactsScreen")
        assert "import" not in actions(app)

        # nothing was sent: a refused request would be in the audit log
        assert await asyncio.to_thread(audit_by_nobody, d) == []

        # what a stale or bypassed UI would send: the daemon refuses it and the operator can read why
        cid = panel.detail.conversation.id
        assert await app.do(P.InboxAssign(conversation_id=cid, user="alice")) is False
        await until(pilot, lambda: "Forbidden: nobody is viewer: inbox_assign needs agent" in notes(app), 5,
                    "readable refusal")
    assert [(a["op"], a["ok"]) for a in await asyncio.to_thread(audit_by_nobody, d)] == [("inbox_assign", False)]

"""gatewaytui: the operators' console. One App, an injected client, one event-stream worker.

The App owns what every screen shares: who we are (``hello``), the latest ``status`` snapshot,
whether the daemon is reachable, and the live event stream. The stream worker only collects events;
a timer flushes them as one :class:`LiveBatch` per tick to the visible screen, so a campaign that
emits thousands of events a second costs a few repaints. Screens own their handlers and fetch
their own pages through :meth:`GatewayApp.call`, which turns error replies into notifications.
"""

from __future__ import annotations

import argparse
import time
from typing import TypeVar

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.worker import Worker, WorkerState

from gatewayd import protocol as P
from gatewayd.models import Role

from .client import Client, Connection, RequestError, SocketClient, socket_path
from .live import Batch, Throughput
from .views import Campaign
from .screens.campaigns import CampaignsScreen
from .screens.contacts import ContactsScreen
from .screens.dashboard import DashboardScreen
from .screens.modals import HelpScreen
from .screens.inbox import InboxScreen
from .screens.links import LinksScreen
from .screens.messages import MessagesScreen
from .screens.palette import CampaignsProvider, ContactsProvider, ScreensProvider

T = TypeVar("T")
_RANK = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2}

#: (mode, key, label) in navigation order; the footer and help screen show these keys.
NAV = [
    ("dashboard", "d", "Dashboard"),
    ("messages", "m", "Messages"),
    ("links", "l", "Links"),
    ("campaigns", "c", "Campaigns"),
    ("inbox", "i", "Inbox"),
    ("contacts", "o", "Contacts"),
]


class LiveBatch(Message):
    """Events since the last tick (coalesced: at most one of these per tick is in flight)."""

    def __init__(self, batch: Batch) -> None:
        super().__init__()
        self.batch = batch


class GatewayApp(App[None]):
    TITLE = "gatewaytui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ScreensProvider, CampaignsProvider, ContactsProvider}
    MODES = {
        "dashboard": DashboardScreen,
        "messages": MessagesScreen,
        "links": LinksScreen,
        "campaigns": CampaignsScreen,
        "inbox": InboxScreen,
        "contacts": ContactsScreen,
    }
    BINDINGS = [
        *[Binding(key, f"switch_mode('{mode}')", label, show=False) for mode, key, label in NAV],
        Binding("n", "compose", "New SMS"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    connected: reactive[bool] = reactive(False)
    identity: reactive[P.Identity | None] = reactive(None, always_update=True)
    status: reactive[P.StatusView | None] = reactive(None, always_update=True)
    banner: reactive[str] = reactive("")
    suspended: reactive[list] = reactive(list, always_update=True)

    def __init__(self, client: Client, *, tick_s: float = 0.25, status_every_s: float = 2.0,
                 clock=time.time, reply_toast_every_s: float = 5.0) -> None:
        super().__init__()
        self.client = client
        self.tick_s = tick_s
        # A live campaign brings a reply every second or two: one toast each would cover an
        # 80x24 screen. After a toast, the replies of the next few seconds make one summary.
        self.reply_toast_every_s = reply_toast_every_s
        self._reply_toast_at = float("-inf")
        self._replies_held: list = []
        self.status_every_s = status_every_s
        self.clock = clock
        self.throughput = Throughput()
        self.link_throughput: dict[str, Throughput] = {}
        self.unmatched_seen = 0
        self._pending = Batch()
        self._ever_connected = False

    # ---- lifecycle ------------------------------------------------------------------------

    async def on_mount(self) -> None:
        await self.switch_mode("dashboard")
        self.set_interval(self.tick_s, self._flush)
        self.set_interval(self.status_every_s, self.refresh_status)
        self.follow_events()
        self.refresh_status()

    async def on_unmount(self) -> None:
        await self.client.close()

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def follow_events(self) -> None:
        """The one long-lived worker: follow the event log, reconnecting forever."""
        async for item in self.client.stream(None):
            if isinstance(item, Connection):
                self._on_connection(item)
            else:
                self._pending.add(item)

    def _on_connection(self, c: Connection) -> None:
        if c.up:
            was_down = self._ever_connected and not self.connected
            self.connected = True
            self._ever_connected = True
            self.banner = ""
            self.load_identity()
            self.refresh_status()
            if was_down:
                self.notify("Reconnected to gatewayd; live updates resumed.", title="Connected")
        else:
            self.connected = False
            if c.code == "forbidden":
                self.banner = (f"gatewayd refused this user: {c.detail}. Ask an admin to add you to [access] "
                               f"in the daemon's config. Retrying (attempt {c.attempt})…")
                return
            self.banner = (f"gatewayd unreachable — {c.detail}. Reconnecting (attempt {c.attempt})…"
                           if c.detail else f"Reconnecting to gatewayd (attempt {c.attempt})…")

    def _flush(self) -> None:
        self._toast_replies()
        if not self._pending:
            return
        batch, self._pending = self._pending, Batch()
        for at in batch.sent_times():
            self.throughput.add(at)
        for link, at in batch.sent_by_link():
            self.link_throughput.setdefault(link, Throughput()).add(at)
        for alert in batch.alerts:
            self.notify(alert, title="Alert", severity="warning")
        self._replies_held.extend(batch.inbound)
        self._toast_replies()
        if batch.link_changed or batch.unmatched_receipts:
            self.refresh_status()
        self.screen.post_message(LiveBatch(batch))

    def _toast_replies(self) -> None:
        now = time.monotonic()
        if not self._replies_held or now - self._reply_toast_at < self.reply_toast_every_s:
            return
        held, self._replies_held = self._replies_held, []
        self._reply_toast_at = now
        if len(held) == 1:
            d = held[0].data
            self.notify(f"{d.get('sender')}: {str(d.get('text', ''))[:60]}", title="New reply")
        else:
            self.notify(f"{len(held)} new replies; see the inbox (i).", title="New replies")

    @work(exclusive=True, group="hello", exit_on_error=False)
    async def load_identity(self) -> None:
        ident = await self.call(P.Hello(), P.Identity)
        if ident is not None:
            self.identity = ident
            self.screen.refresh_bindings()

    @work(exclusive=True, group="status", exit_on_error=False)
    async def refresh_status(self) -> None:
        if not self.connected and self.status is not None:
            return
        st = await self.call(P.Status(), P.StatusView, quiet=True)
        if st is None:
            return
        try:   # an alert source, never an error of its own (older daemons lack campaign ops)
            self.suspended = await self.client.call(P.CampaignList(status=["suspended"], limit=20), list[Campaign])
        except RequestError:
            self.suspended = []
        self.status = st

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_failed(event)

    def worker_failed(self, event: Worker.StateChanged) -> None:
        """The one boundary for bugs in workers (screens forward theirs): report, keep running."""
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            self.notify(f"{type(err).__name__}: {err}", title=f"Internal error in {event.worker.name or 'a task'}",
                        severity="error", timeout=10)
            self.log.error(f"worker {event.worker.name} failed: {err!r}")
            if event.worker.group == "stream":
                self.follow_events()      # the event stream must never stay dead

    # ---- helpers for screens --------------------------------------------------------------

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = False) -> None:
        """Notifications carry daemon text (names, reasons) verbatim: no markup unless asked for."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    async def call(self, req: P.Request, result_type: type[T] | None = None, *, quiet: bool = False) -> T | None:
        """Send a request; on an error reply show a readable notification and return None."""
        try:
            return await self.client.call(req, result_type)
        except RequestError as exc:
            if not (quiet and exc.code in ("unavailable", "timeout")):
                self.notify(exc.message, title=exc.title, severity="error", timeout=8)
            return None

    async def do(self, req: P.Request) -> bool:
        """Send a state-changing request; True when the daemon accepted it (errors are notified)."""
        try:
            await self.client.call(req)
            return True
        except RequestError as exc:
            self.notify(exc.message, title=exc.title, severity="error", timeout=8)
            return False

    def can(self, role: Role) -> bool:
        ident = self.identity
        return ident is not None and _RANK[ident.role] >= _RANK[role]

    # ---- actions ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "compose":
            return True if self.can(Role.AGENT) else False
        return True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_compose(self) -> None:
        from .screens.compose import ComposeScreen

        if not self.can(Role.AGENT):
            self.notify("Your role may not send messages.", severity="warning")
            return
        ident = self.identity
        # The daemon refuses a non-admin sending from another office's number: do not offer those.
        mine = None if ident is None or ident.role is Role.ADMIN else set(ident.offices)
        numbers = [n.address for n in (self.status.numbers if self.status else [])
                   if mine is None or not n.office or n.office in mine]
        self.push_screen(ComposeScreen(numbers), self._send_composed)

    def _send_composed(self, req: P.Send | None) -> None:
        if req is not None:
            self._send(req)

    @work(group="send", exit_on_error=False)
    async def _send(self, req: P.Send) -> None:
        msg = await self.call(req, P.MessageView)
        if msg is not None:
            self.notify(f"Message {msg.id} to {msg.recipient} queued: {msg.segments} segment(s), {msg.encoding}.",
                        title="Queued")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gatewaytui", description="Admin console for gatewayd.")
    ap.add_argument("--socket", help="control socket (default: $GATEWAYD_SOCKET or /run/gatewayd/gatewayd.sock)")
    args = ap.parse_args(argv)
    GatewayApp(SocketClient(socket_path(args.socket))).run()
    return 0

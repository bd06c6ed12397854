"""Command palette providers: screens by name, campaigns and contacts by what the daemon finds.

Campaign and contact searches ask the daemon (``campaign_list``/``contacts_list`` with the typed
text, a handful of hits), so the palette stays instant on a gateway with a million contacts.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from gatewayd import protocol as P

from ..views import Campaign, Contact


class ScreensProvider(Provider):
    def _items(self):
        from ..app import NAV

        for mode, key, label in NAV:
            yield f"Go to {label}", partial(self.app.switch_mode, mode), f"key {key}"
        yield "New message", self.app.action_compose, "key n"  # type: ignore[attr-defined]

    async def discover(self) -> Hits:
        for name, cb, help_text in self._items():
            yield DiscoveryHit(name, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, cb, help_text in self._items():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), cb, help=help_text)


class CampaignsProvider(Provider):
    """``spring`` finds campaigns named like it; choosing one opens its detail."""

    async def search(self, query: str) -> Hits:
        if len(query.strip()) < 2:
            return
        found = await self.app.call(P.CampaignList(search=query.strip(), limit=8), list[Campaign], quiet=True)  # type: ignore[attr-defined]
        matcher = self.matcher(query)
        for c in found or []:
            name = f"Campaign: {c.name}"
            yield Hit(max(matcher.match(name), 0.5), matcher.highlight(name), partial(self._open, c.id),
                      help=f"#{c.id} · {c.status} · {c.number or '—'}")

    def _open(self, campaign_id: int) -> None:
        from .campaign_detail import CampaignDetailScreen

        self.app.switch_mode("campaigns")
        self.app.push_screen(CampaignDetailScreen(campaign_id))


class ContactsProvider(Provider):
    """A name or phone finds contacts; choosing one opens the inbox searched for them."""

    async def search(self, query: str) -> Hits:
        if len(query.strip()) < 3:
            return
        found = await self.app.call(P.ContactsList(search=query.strip(), limit=8), list[Contact], quiet=True)  # type: ignore[attr-defined]
        matcher = self.matcher(query)
        for c in found or []:
            name = f"Contact: {c.first_name} {c.last_name} {c.phone}"
            yield Hit(max(matcher.match(name), 0.5), matcher.highlight(name), partial(self._open, c.phone),
                      help="open their conversations in the inbox")

    def _open(self, phone: str) -> None:
        async def go() -> None:
            from ..widgets.inbox_panel import InboxPanel

            await self.app.switch_mode("inbox")
            panel = self.app.screen.query_one(InboxPanel)
            panel.query_one("#ib-search").value = phone
            panel.search, panel.section, panel.auto_section, panel.pages = phone, None, False, [None]
            panel.detail = None
            panel.load_list()

        self.app.call_later(go)

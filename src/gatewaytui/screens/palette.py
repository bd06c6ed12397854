"""Command palette provider: jump to any screen by name (campaigns and contacts add theirs)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


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

"""Campaign, script and contact requests (issue 5). Filled in by the campaigns work."""

from __future__ import annotations

__all__: list[str] = []

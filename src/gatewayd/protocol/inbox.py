"""Inbox and conversation requests (issue 6). Filled in by the inbox work."""

from __future__ import annotations

__all__: list[str] = []

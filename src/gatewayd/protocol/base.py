"""Envelope types shared by every request and reply."""

from __future__ import annotations

from typing import Any

import msgspec


class Request(msgspec.Struct, tag_field="op", kw_only=True):
    """Base of all requests. ``id`` is echoed in the reply so clients may pipeline."""

    id: int | str | None = None


class ErrorBody(msgspec.Struct):
    code: str
    message: str


class Reply(msgspec.Struct, kw_only=True, omit_defaults=True):
    ok: bool
    id: int | str | None = None
    result: Any = None
    error: ErrorBody | None = None


class Event(msgspec.Struct, kw_only=True):
    """One entry of the durable event log. ``cursor`` is strictly increasing; resume with it."""

    cursor: int
    at: float
    type: str          # message.state, receipt, inbound, link.state, campaign.*, conversation.* ...
    data: dict[str, Any]


class EventLine(msgspec.Struct):
    event: Event


def ok_reply(result: Any, id: int | str | None = None) -> Reply:
    return Reply(ok=True, id=id, result=result)


def error_reply(code: str, message: str, id: int | str | None = None) -> Reply:
    return Reply(ok=False, id=id, error=ErrorBody(code, message))

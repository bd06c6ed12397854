"""The control-socket wire schema: newline-delimited JSON, one request -> one reply.

A request is a JSON object tagged by ``op``; every request struct subclasses :class:`Request`, and
the set of subclasses *is* the protocol (domain modules add theirs in ``protocol/<domain>.py``).
Unknown fields are ignored (old clients must keep working with a newer daemon), unknown ops are a
typed error. Replies are ``{"ok": true, "id": ..., "result": ...}`` or ``{"ok": false, "id": ...,
"error": {"code": ..., "message": ...}}``. After a ``subscribe`` request the connection carries
only event lines ``{"event": {...}}``.

Only msgspec and the standard library here: the TUI imports this package.
"""

from __future__ import annotations

import functools
from typing import Any, Union

import msgspec

from .base import ErrorBody, Event, Reply, Request, error_reply, ok_reply
from .core import *  # noqa: F401,F403
from .campaigns import *  # noqa: F401,F403
from .inbox import *  # noqa: F401,F403
from .compliance import *  # noqa: F401,F403
from .sim import *  # noqa: F401,F403
from .consent import *  # noqa: F401,F403

MAX_LINE = 1_048_576


def _all_requests(cls: type = Request) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        if sub.__struct_config__.tag is not None:
            out.append(sub)
        out.extend(_all_requests(sub))
    return out


@functools.cache
def request_decoder() -> msgspec.json.Decoder:
    types = tuple(_all_requests())
    return msgspec.json.Decoder(Union[types])  # type: ignore[valid-type]


def ops() -> list[str]:
    return sorted(str(t.__struct_config__.tag) for t in _all_requests())


_encoder = msgspec.json.Encoder()


def encode(obj: Any) -> bytes:
    """One wire line, newline included."""
    return _encoder.encode(obj) + b"\n"


def decode_request(line: bytes) -> Request:
    return request_decoder().decode(line)


def decode_result(result: Any, type_: type) -> Any:
    """Clients turn a reply's ``result`` into the typed struct they expect."""
    return msgspec.convert(result, type_)


__all__ = [
    "ErrorBody", "Event", "Reply", "Request", "error_reply", "ok_reply", "encode", "decode_request",
    "decode_result", "request_decoder", "ops", "MAX_LINE",
]

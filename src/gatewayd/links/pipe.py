"""Frames between the daemon and a link that runs in a process of its own (links/process.py is
the daemon's side, links/host.py the child's).

A frame is a 4-byte big-endian length and a msgpack list of tagged messages. Each side queues
messages with :meth:`Pipe.put` from sync code (a submit, a result callback) and one writer task
sends everything queued since its last write as one frame: one syscall and one encode for a burst,
which is what keeps the hop cheap next to the SMPP work it moves off the daemon's event loop.
"""

from __future__ import annotations

import msgspec
import trio

from .base import Inbound, LinkStatus, OutSegment, Receipt, SubmitResult

MAX_FRAME = 64 * 1024 * 1024


class Start(msgspec.Struct, array_like=True, tag=1):
    """First frame to the child: the link's config (JSON of its ``[[links]]`` entry) and log level."""

    config: bytes
    log_level: str


class Submit(msgspec.Struct, array_like=True, tag=2):
    token: int
    seg: OutSegment


class Result(msgspec.Struct, array_like=True, tag=3):
    token: int
    result: SubmitResult


class Receipts(msgspec.Struct, array_like=True, tag=4):
    """A burst for one commit; answered by :class:`Answer` with one error (or None) per receipt."""

    req: int
    receipts: list[Receipt]


class Deliver(msgspec.Struct, array_like=True, tag=5):
    """One receipt or inbound message the child waits on (answered after the commit)."""

    req: int
    receipt: Receipt | None = None
    inbound: Inbound | None = None


class Answer(msgspec.Struct, array_like=True, tag=6):
    req: int
    errors: list[str | None]


class State(msgspec.Struct, array_like=True, tag=7):
    """The link's reported status (None: unchanged) and whether it can submit now."""

    status: LinkStatus | None
    up: bool


class Stop(msgspec.Struct, array_like=True, tag=8):
    """Unbind and exit."""


class Level(msgspec.Struct, array_like=True, tag=9):
    """The daemon's log level changed (SIGHUP)."""

    level: str


Message = Start | Submit | Result | Receipts | Deliver | Answer | State | Stop | Level


class PipeError(Exception):
    pass


class Pipe:
    def __init__(self, send: trio.abc.SendStream, receive: trio.abc.ReceiveStream) -> None:
        self._stream_out = send
        self._stream_in = receive
        self._outbox: list[Message] = []
        self._ready = trio.Event()
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(list[Message])
        self._buf = bytearray()
        self._frames: list[list[Message]] = []

    def put(self, message: Message) -> None:
        self._outbox.append(message)
        self._ready.set()

    def frame(self, messages: list[Message]) -> bytes:
        body = self._encoder.encode(messages)
        return len(body).to_bytes(4, "big") + body

    async def writer(self) -> None:
        """Send what is queued, a frame per wake-up; returns when the other side is gone."""
        while True:
            await self._ready.wait()
            await trio.lowlevel.checkpoint()     # let whoever is runnable now add to this frame
            self._ready = trio.Event()
            messages, self._outbox = self._outbox, []
            try:
                await self._stream_out.send_all(self.frame(messages))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return

    async def receive(self) -> list[Message] | None:
        """The next frame's messages; None when the other side closed its end."""
        while not self._frames:
            try:
                data = await self._stream_in.receive_some(1 << 16)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
            if not data:
                return None
            self._buf += data
            while len(self._buf) >= 4:
                size = int.from_bytes(self._buf[:4], "big")
                if size > MAX_FRAME:
                    raise PipeError(f"frame of {size} bytes")
                if len(self._buf) < 4 + size:
                    break
                try:
                    self._frames.append(self._decoder.decode(bytes(self._buf[4:4 + size])))
                except msgspec.DecodeError as exc:
                    raise PipeError(f"undecodable frame: {exc}") from None
                del self._buf[:4 + size]
        return self._frames.pop(0)

"""A fake SMSC on Trio, speaking SMPP 3.4 through gatewayd's own codec.

It misbehaves on request like real carriers do: throttles above a TPS (token bucket, fixed or
sliding one-second window: tests/fakes/carrier.py), limits submits in flight (ESME_RMSGQFUL), has
throttling "storms", leaves submits unanswered, delays or reorders
responses, sends receipts in hex or decimal (and before the submit_sm_resp), sends MO messages
(long, UCS-2, UDH 8/16-bit or SAR), drops connections, stalls, refuses binds, sends garbage and
unknown TLVs, and unbinds. Receipts and MO are store-and-forward: they wait for a receiving bind,
and are redelivered when the ESME answers with an error or the connection drops unanswered.

In tests: ``await nursery.start(smsc.run)``, then either ``smsc.connect`` (memory streams, for
``autojump_clock``) as the link's ``connect=``, or ``await nursery.start(smsc.serve_tcp, 0)``.
Standalone (e2e, benchmark): ``python tests/fakes/smsc.py --port 0 --dlr-delay 0.5`` prints the
port on stdout and serves until killed.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import trio
import trio.testing

try:
    from gatewayd.links.smpp import codec
except ImportError:  # standalone from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    from gatewayd.links.smpp import codec
try:
    from tests.fakes.carrier import MODELS, RateLimit, Storms
except ImportError:  # run as a script: tests/fakes is the script's own directory
    from carrier import MODELS, RateLimit, Storms  # type: ignore[no-redef]
from gatewayd.config import SmppConfig
from gatewayd.links.base import Inbound, LinkStatus, OutSegment, Receipt
from gatewayd.links.reassembly import build_udh
from gatewayd.links.smpp.link import SmppLink
from gatewayd.models import Encoding, LinkState
from gatewayd.sending import gsm7

STATES = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7, "REJECTD": 8}


@dataclass
class Behaviour:
    """What the SMSC does; tests change fields while it runs."""

    bind_status: int = codec.ROK          # refuse binds with this status (e.g. RINVPASWD, RALYBND)
    tps: float | None = None              # answer ``throttle_status`` above this rate...
    limit: str = "bucket"                 # ...counted as "bucket" | "fixed" | "sliding" (carrier.py)
    burst: float | None = None            # bucket: how many may come at once (default: tps)
    throttle_status: int = codec.RTHROTTLED
    max_in_flight: int | None = None      # per bind: answer ESME_RMSGQFUL beyond this many unanswered
    storm: bool = False                   # throttle everything now (tests flip it)
    storm_every: float | None = None      # periodic storms: every this many seconds...
    storm_s: float = 3.0                  # ...this long, everything throttled
    silent: bool = False                  # take submits (they count as received) and never answer them
    response_delay: float = 0.0           # seconds before each submit_sm_resp
    reorder: float = 0.0                  # extra random delay 0..reorder: responses out of order
    resp_ids: str = "hex"                 # submit_sm_resp message_id: "hex" | "dec"
    dlr_ids: str = "hex"                  # id in receipts: "hex" | "dec"
    dlr_delay: float | None = 0.0         # None: never send receipts
    dlr_stat: str = "DELIVRD"
    dlr_err: str = "000"
    dlr_tlvs: bool = True                 # receipted_message_id + message_state TLVs
    dlr_style: str = "kannel"             # "kannel" | "upper" (ID:, Stat:, Text:)
    receipts_first: bool = False          # receipt before the submit_sm_resp
    unknown_tlvs: bool = False            # vendor TLV 0x1401 on receipts and MO
    reject: dict[str, int] = field(default_factory=dict)   # destination prefix -> status
    stall: bool = False                   # read everything, answer nothing
    redeliver_after: float = 1.0          # retry of a deliver_sm answered with an error
    echo: bool = False                    # a submit whose text starts with "ECHO" gets an MO reply
    nack_submits: int | None = None       # answer submit_sm with generic_nack(status) instead
    journal: str | None = None            # append each accepted submit's text, a line each (unbuffered)
    timeline: str | None = None           # append "monotonic-time status" for every submit_sm (benchmarks)


@dataclass
class _Conn:
    stream: trio.abc.Stream
    mode: str = ""
    system_id: str = ""
    seq: codec.Sequencer = field(default_factory=codec.Sequencer)
    outstanding: dict[int, bytes] = field(default_factory=dict)   # deliver_sm seq -> build args
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    in_flight: int = 0                                             # submits not yet answered
    buf: bytearray = field(default_factory=bytearray)
    flushing: bool = False

    async def send(self, raw: bytes) -> None:
        """Whoever finds no write in progress writes everything queued (one syscall per batch)."""
        self.buf += raw
        if self.flushing:
            return
        self.flushing = True
        try:
            while self.buf:
                data = bytes(self.buf)
                self.buf.clear()
                await self.stream.send_all(data)
        finally:
            self.flushing = False


class FakeSmsc:
    def __init__(self, behaviour: Behaviour | None = None, *, seed: int = 1) -> None:
        self.b = behaviour or Behaviour()
        self.rng = random.Random(seed)
        self.conns: list[_Conn] = []
        self.submits: list[codec.Pdu] = []
        self.submit_times: list[float] = []              # when each submit_sm arrived
        self.binds: list[codec.Pdu] = []
        self.deliver_resps: list[tuple[int, int]] = []   # (status, deliver_sm seq)
        self.nacks: list[codec.Pdu] = []
        self.enquire_links = 0
        self.received: list[codec.Pdu] = []               # every PDU decoded, in order
        self.bind_times: list[float] = []
        self.ids_by_dest: dict[str, str] = {}             # destination -> message_id given
        self.unanswered = 0
        self.max_unanswered = 0
        self.unbinds = 0
        self.receipts_sent = 0
        self._ids = itertools.count(0x1F000)
        self._queue: deque[dict] = deque()                # deliver_sm params waiting for a receiver
        self._queued = trio.Event()
        self._changed = trio.Event()
        self.throttled = 0                                # throttle / queue-full answers given
        self.accepted_times: list[float] = []             # when each accepted submit arrived
        self._limit: tuple[tuple, RateLimit] | None = None
        self._timeline = None
        self._storms: tuple[tuple, Storms] | None = None
        self._nursery: trio.Nursery | None = None

    # --- running --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._deliverer)
            task_status.started()

    async def connect(self, host: str = "", port: int = 0) -> trio.abc.Stream:
        """A ``connect=`` for SmppLink: an in-memory connection to this SMSC."""
        client, server = trio.testing.memory_stream_pair()
        assert self._nursery is not None
        self._nursery.start_soon(self.serve_stream, server)
        return client

    async def serve_tcp(self, port: int = 0, *, host: str = "127.0.0.1",
                        task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self.serve_stream, listeners)

    async def wait_for(self, predicate) -> None:
        """Wait until ``predicate()`` holds; re-checked on every SMSC event (no polling)."""
        while not predicate():
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    @property
    def bound(self) -> list[_Conn]:
        return [c for c in self.conns if c.mode]

    # --- faults ---------------------------------------------------------------------------

    async def drop(self) -> None:
        """Close every connection without a word."""
        for conn in list(self.conns):
            conn.scope.cancel()
            await conn.stream.aclose()

    async def send_raw(self, data: bytes) -> None:
        for conn in list(self.bound):
            await conn.send(data)

    async def unbind(self) -> None:
        for conn in list(self.bound):
            await conn.send(codec.empty("unbind", conn.seq.next()))

    def send_mo(self, text: str, *, sender: str = "+15550001111", recipient: str = "+15559990000",
                split: str = "udh8", per_part: int | None = None, ref: int = 0x42,
                only: tuple[int, ...] = ()) -> None:
        """Queue an MO message; long texts are cut into parts (``udh8``, ``udh16``, ``sar``,
        ``payload``), GSM-7 when it fits, else UCS-2. ``only``: send just these part numbers."""
        ucs2 = not gsm7.is_gsm7(text)
        dc = 0x08 if ucs2 else 0x00
        size = per_part or (67 if ucs2 else 153)
        chunks = [text] if split == "payload" else [text[i:i + size] for i in range(0, len(text), size)] or [""]
        enc = (lambda t: t.encode("utf-16-be")) if ucs2 else gsm7.encode
        for i, chunk in enumerate(chunks, 1):
            if only and i not in only:
                continue
            p = dict(source_addr=sender.lstrip("+"), source_addr_ton=1, source_addr_npi=1,
                     destination_addr=recipient.lstrip("+"), dest_addr_ton=1, dest_addr_npi=1,
                     esm_class=0, data_coding=dc)
            data = enc(chunk)
            if split == "payload":
                p["message_payload"] = data
            elif len(chunks) > 1 and split in ("udh8", "udh16"):
                r = ref if split == "udh8" else 0x100 | ref
                p.update(esm_class=0x40, short_message=build_udh(r, len(chunks), i) + data)
            elif len(chunks) > 1:
                p.update(short_message=data, sar_msg_ref_num=ref, sar_total_segments=len(chunks),
                         sar_segment_seqnum=i)
            else:
                p["short_message"] = data
            self._enqueue(p)

    def _enqueue(self, params: dict) -> None:
        self._queue.append(params)
        self._queued.set()

    # --- serving --------------------------------------------------------------------------

    async def serve_stream(self, stream: trio.abc.Stream) -> None:
        conn = _Conn(stream)
        self.conns.append(conn)
        self._notify()
        framer = codec.Framer()
        try:
            with conn.scope:
                async with trio.open_nursery() as nursery:
                    while True:
                        data = await stream.receive_some(65536)
                        if not data:
                            break
                        for raw in framer.feed(data):
                            await self._on_pdu(conn, raw, nursery)
                    nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError, codec.FramingError):
            pass      # a peer that resets (a killed ESME) ends its connection, not the SMSC
        finally:
            self.conns.remove(conn)
            for params in conn.outstanding.values():   # never answered: store and forward again
                self._enqueue(params)
            conn.outstanding.clear()
            self._notify()
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _on_pdu(self, conn: _Conn, raw: bytes, nursery: trio.Nursery) -> None:
        try:
            pdu = codec.decode(raw)
        except codec.DecodeError as exc:
            await conn.send(codec.generic_nack(exc.sequence, exc.status))
            return
        self.received.append(pdu)
        if self.b.stall:
            return
        cmd = pdu.command
        if cmd.startswith("bind_"):
            self.binds.append(pdu)
            self.bind_times.append(trio.current_time())
            ok = self.b.bind_status == codec.ROK
            await conn.send(codec.bind_resp(cmd, pdu.sequence, status=self.b.bind_status, system_id="fakesmsc"))
            if ok:
                conn.mode = cmd[len("bind_"):]
                conn.system_id = pdu.get("system_id", "")
                self._queued.set()
        elif cmd == "submit_sm" and self.b.nack_submits is not None:
            self.submits.append(pdu)
            await conn.send(codec.generic_nack(pdu.sequence, self.b.nack_submits))
        elif cmd == "submit_sm":
            self.submits.append(pdu)
            self.submit_times.append(trio.current_time())
            await self._on_submit(conn, pdu, nursery)
        elif cmd == "enquire_link":
            self.enquire_links += 1
            await conn.send(codec.empty("enquire_link_resp", pdu.sequence))
        elif cmd == "unbind":
            self.unbinds += 1
            await conn.send(codec.empty("unbind_resp", pdu.sequence))
            conn.mode = ""
        elif cmd in ("deliver_sm_resp", "data_sm_resp"):
            params = conn.outstanding.pop(pdu.sequence, None)
            self.deliver_resps.append((pdu.status, pdu.sequence))
            if params is not None and pdu.status != codec.ROK:
                nursery.start_soon(self._redeliver, params)
        elif cmd == "generic_nack":
            self.nacks.append(pdu)
            params = conn.outstanding.pop(pdu.sequence, None)
            if params is not None:
                nursery.start_soon(self._redeliver, params)
        elif not pdu.is_response:
            await conn.send(codec.generic_nack(pdu.sequence, codec.RINVCMDID))
        self._notify()

    def _throttled(self, conn: _Conn) -> int:
        """The status a submit arriving now is refused with (ROK: not throttled)."""
        b, now = self.b, trio.current_time()
        if b.max_in_flight is not None and conn.in_flight >= b.max_in_flight:
            return codec.RMSGQFUL
        if b.storm:
            return b.throttle_status
        if b.storm_every is not None:
            key = (b.storm_every, b.storm_s)
            if self._storms is None or self._storms[0] != key:
                self._storms = (key, Storms(b.storm_every, b.storm_s, start=now))
            if self._storms[1].raging(now):
                return b.throttle_status
        if b.tps is None:
            return codec.ROK
        key = (b.tps, b.limit, b.burst)
        if self._limit is None or self._limit[0] != key:
            self._limit = (key, RateLimit(b.tps, b.limit, b.burst))
        return codec.ROK if self._limit[1].admit(now) else b.throttle_status

    async def _on_submit(self, conn: _Conn, pdu: codec.Pdu, nursery: trio.Nursery) -> None:
        b = self.b
        dest = pdu.get("destination_addr", "")
        status = codec.ROK
        if conn.mode not in ("transmitter", "transceiver"):
            status = codec.RINVBNDSTS
        elif throttled := self._throttled(conn):
            status = throttled
            self.throttled += 1
        else:
            for prefix, st in b.reject.items():
                if dest.startswith(prefix.lstrip("+")):
                    status = st
        if status == codec.ROK:
            self.accepted_times.append(trio.current_time())
        if b.timeline:
            if self._timeline is None:
                self._timeline = open(b.timeline, "a", buffering=1)
            self._timeline.write(f"{time.monotonic():.6f} {status}\n")
        if status == codec.ROK and b.silent:
            conn.in_flight += 1          # taken, never answered: the ESME's response timeout runs
            return
        if status == codec.ROK and b.echo:
            self._echo(pdu)
        if status == codec.ROK and b.journal:
            with open(b.journal, "ab", buffering=0) as f:
                f.write((pdu.get("short_message") or b"").replace(b"\n", b" ") + b"\n")
        n = next(self._ids)
        mid = (format(n, "X") if b.resp_ids == "hex" else str(n)) if not status else ""
        self.ids_by_dest[dest] = mid
        resp = codec.resp_with_id("submit_sm", pdu.sequence, status=status, message_id=mid)
        dlr = None
        if status == codec.ROK and pdu.get("registered_delivery", 0) & 1 and b.dlr_delay is not None:
            dlr = self._receipt(pdu, n)
            dlr["_to"] = conn.system_id
        delay = b.response_delay + (self.rng.uniform(0, b.reorder) if b.reorder else 0.0)
        if status in (codec.RTHROTTLED, codec.RMSGQFUL):
            delay = 0.0                  # refusals are answered at once, as carriers do
        if dlr is not None and b.receipts_first:
            self._enqueue(dlr)
            dlr = None
        self.unanswered += 1
        self.max_unanswered = max(self.max_unanswered, self.unanswered)
        if delay:
            conn.in_flight += 1
            nursery.start_soon(self._respond_later, conn, resp, delay, dlr)
        else:
            self.unanswered -= 1
            await conn.send(resp)
            if dlr is not None:
                self._schedule(dlr)

    def _echo(self, pdu: codec.Pdu) -> None:
        data = pdu.get("short_message") or pdu.tlvs.get("message_payload") or b""
        if pdu.get("esm_class", 0) & 0x40:
            data = data[1 + data[0]:]
        text = data.decode("utf-16-be", "replace") if pdu.get("data_coding") == 8 else gsm7.decode(data)
        if text.startswith("ECHO"):
            self.send_mo(f"re: {text}"[:150], sender="+" + pdu.get("destination_addr", ""),
                         recipient=pdu.get("source_addr", ""))

    async def _respond_later(self, conn: _Conn, resp: bytes, delay: float, dlr: dict | None) -> None:
        await trio.sleep(delay)
        self.unanswered -= 1
        conn.in_flight -= 1
        await conn.send(resp)
        if dlr is not None:
            self._schedule(dlr)

    def _schedule(self, dlr: dict) -> None:
        if not self.b.dlr_delay:
            self._enqueue(dlr)
        else:
            assert self._nursery is not None
            self._nursery.start_soon(self._redeliver, dlr, self.b.dlr_delay)

    async def _redeliver(self, params: dict, delay: float | None = None) -> None:
        await trio.sleep(self.b.redeliver_after if delay is None else delay)
        self._enqueue(params)

    def _receipt(self, pdu: codec.Pdu, n: int) -> dict:
        b = self.b
        mid = format(n, "X") if b.dlr_ids == "hex" else str(n)
        sm = pdu.get("short_message") or pdu.tlvs.get("message_payload") or b""
        dlvrd = "001" if b.dlr_stat == "DELIVRD" else "000"
        if b.dlr_style == "upper":
            text = (f"ID:{mid} Sub:001 Dlvrd:{dlvrd} Submit_Date:2311221200 Done_Date:231122120100 "
                    f"Stat:{b.dlr_stat} Err:{b.dlr_err} Text:{sm[:20].decode('latin-1')}")
        else:
            text = (f"id:{mid} sub:001 dlvrd:{dlvrd} submit date:2311221200 done date:2311221201 "
                    f"stat:{b.dlr_stat} err:{b.dlr_err} text:{sm[:20].decode('latin-1')}")
        params = dict(source_addr=pdu.get("destination_addr", ""), destination_addr=pdu.get("source_addr", ""),
                      esm_class=0x04, data_coding=0, short_message=text.encode("latin-1"))
        if b.dlr_tlvs:
            params.update(receipted_message_id=mid, message_state=STATES.get(b.dlr_stat, 7))
        return params

    async def _deliverer(self) -> None:
        """Store and forward: each deliver_sm to a receiving bind of the system_id it belongs to
        (receipts: the submitter's; MO: anyone's), round robin, while one is bound."""
        rr = itertools.count()
        while True:
            found = None
            if not self.b.stall:
                for i, params in enumerate(self._queue):
                    receivers = [c for c in self.conns if c.mode in ("receiver", "transceiver")
                                 and params.get("_to") in (None, c.system_id)]
                    if receivers:
                        found = i, params, receivers[next(rr) % len(receivers)]
                        break
            if found is None:
                self._queued = trio.Event()
                await self._queued.wait()
                continue
            i, params, conn = found
            del self._queue[i]
            seq = conn.seq.next()
            extra = ((0x1401, b"vendor-x"),) if self.b.unknown_tlvs else ()
            conn.outstanding[seq] = params
            try:
                await conn.send(codec.encode("deliver_sm", seq, extra_tlvs=extra,
                                             **{k: v for k, v in params.items() if k != "_to"}))
                if params.get("esm_class", 0) & 0x04:
                    self.receipts_sent += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                conn.outstanding.pop(seq, None)
                self._queue.appendleft(params)
                await trio.sleep(0)


# --- test harness: a recording LinkSink and a link wired to this SMSC ------------------------


class RecordingSink:
    """Collects what a link reports; ``fail_receipts``/``fail_inbound`` make the next N calls
    raise, as a store that cannot commit would."""

    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.messages: list[Inbound] = []
        self.statuses: list[LinkStatus] = []
        self.fail_receipts = 0
        self.fail_inbound = 0
        self._changed = trio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def receipt(self, receipt: Receipt) -> None:
        await trio.sleep(0)
        if self.fail_receipts:
            self.fail_receipts -= 1
            raise RuntimeError("database is locked")
        self.receipts.append(receipt)
        self._notify()

    async def receipt_batch(self, receipts: list[Receipt], done) -> None:
        await trio.sleep(0)
        if self.fail_receipts:
            self.fail_receipts -= 1
            done([RuntimeError("database is locked")] * len(receipts))
            return
        self.receipts.extend(receipts)
        self._notify()
        done([None] * len(receipts))

    async def inbound(self, message: Inbound) -> None:
        await trio.sleep(0)
        if self.fail_inbound:
            self.fail_inbound -= 1
            raise RuntimeError("database is locked")
        self.messages.append(message)
        self._notify()

    def status(self, status: LinkStatus) -> None:
        self.statuses.append(status)
        self._notify()

    @property
    def states(self) -> list[LinkState]:
        return [s.state for s in self.statuses]

    async def wait_for(self, predicate) -> None:
        while not predicate():
            await self._changed.wait()


def cfg(**kw) -> SmppConfig:
    base = dict(name="carrier", host="smsc.test", port=2775, system_id="esme", password="secret",
                enquire_link_s=30.0, response_timeout_s=10.0, reconnect_min_s=1.0, reconnect_max_s=60.0)
    base.update(kw)
    return SmppConfig(**base)


_ids = iter(range(1, 1_000_000))


def seg(text: str = "Hello", *, to: str = "+15551230001", sender: str = "+15559990000", index: int = 1,
        count: int = 1, ref: int = 7, encoding: Encoding = Encoding.GSM7, validity_s: int | None = None) -> OutSegment:
    n = next(_ids)
    return OutSegment(segment_id=n, message_id=n, sender=sender, recipient=to, index=index, count=count,
                      ref=ref, encoding=encoding, text=text, validity_s=validity_s)


@asynccontextmanager
async def running_link(config: SmppConfig | None = None, behaviour: Behaviour | None = None,
                       *, wait_up: bool = True):
    """A fake SMSC and an SmppLink connected to it over memory streams; cancelled on exit."""
    smsc = FakeSmsc(behaviour or Behaviour())
    sink = RecordingSink()
    link = SmppLink(config or cfg(), sink, connect=smsc.connect)
    async with trio.open_nursery() as nursery:
        await nursery.start(smsc.run)
        await nursery.start(link.run)
        if wait_up:
            await sink.wait_for(lambda: link.is_up)
        yield smsc, link, sink
        nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="fake SMSC for gatewayd tests and benchmarks")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dlr-delay", type=float, default=0.0, help="seconds; negative: no receipts")
    ap.add_argument("--tps", type=float, default=None, help="throttle above this many submits per second")
    ap.add_argument("--limit", choices=MODELS, default="bucket", help="how --tps is counted")
    ap.add_argument("--burst", type=float, default=None, help="bucket: burst size (default: tps)")
    ap.add_argument("--max-in-flight", type=int, default=None, help="ESME_RMSGQFUL beyond this many unanswered")
    ap.add_argument("--storm-every", type=float, default=None, help="seconds between throttling storms")
    ap.add_argument("--storm-s", type=float, default=3.0, help="length of each storm")
    ap.add_argument("--response-delay", type=float, default=0.0)
    ap.add_argument("--reorder", type=float, default=0.0)
    ap.add_argument("--resp-ids", choices=("hex", "dec"), default="hex")
    ap.add_argument("--dlr-ids", choices=("hex", "dec"), default="hex")
    ap.add_argument("--dlr-stat", default="DELIVRD")
    ap.add_argument("--bind-status", type=lambda s: int(s, 0), default=0)
    ap.add_argument("--reject", action="append", default=[], metavar="PREFIX=STATUS",
                    help="refuse destinations with this prefix, e.g. +1555666=0x0B")
    ap.add_argument("--echo", action="store_true", help='answer texts starting "ECHO" with an MO')
    ap.add_argument("--journal", help="append the text of every accepted submit_sm to this file")
    ap.add_argument("--timeline", help='append "monotonic-seconds status" for every submit_sm to this file')
    args = ap.parse_args(argv)
    reject = {p: int(st, 0) for p, st in (r.split("=", 1) for r in args.reject)}
    b = Behaviour(bind_status=args.bind_status, tps=args.tps, limit=args.limit, burst=args.burst,
                  max_in_flight=args.max_in_flight, storm_every=args.storm_every, storm_s=args.storm_s,
                  response_delay=args.response_delay,
                  reorder=args.reorder, resp_ids=args.resp_ids, dlr_ids=args.dlr_ids,
                  dlr_delay=None if args.dlr_delay < 0 else args.dlr_delay, dlr_stat=args.dlr_stat,
                  reject=reject, echo=args.echo, journal=args.journal, timeline=args.timeline)
    smsc = FakeSmsc(b)

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(smsc.run)
            port = await nursery.start(partial(smsc.serve_tcp, args.port, host=args.host))
            print(port, flush=True)

    try:
        trio.run(serve)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

"""The ``smpp`` link kind: an ESME bound to a carrier SMSC, supervised and reconnecting.

``run`` keeps one session per bind role alive (a transceiver, or a transmitter + receiver pair,
each reconnecting on its own with exponential backoff and jitter; refused binds such as
ESME_RALYBND back off the same way). ``submit`` turns a segment into one submit_sm on the
transmitting session and its answer into a :class:`SubmitResult`; it never raises for network
trouble. Receipts and MO messages go to the sink before the SMSC gets its deliver_sm_resp.

Link state reported through ``sink.status``: the worst of the roles (down > binding > up), with
``throttled`` while the SMSC answers ESME_RTHROTTLED/ESME_RMSGQFUL (cleared after
``THROTTLE_CLEAR_S`` without one). ``is_up`` follows the transmitting session only: a pair whose
receiver is reconnecting can still send (the SMSC keeps the receipts for us).

The dispatcher paces; the link keeps the SMPP window itself: at most ``window`` submit_sm are
on the wire (fewer while the SMSC answers ESME_RMSGQFUL: window.py, per bind), and submits beyond it wait in the link's backlog (in order) for a response to free a
slot. That is what lets the dispatcher claim a little ahead: a freed slot is refilled from the
backlog in the reader's callback, not after a claim's round trip through the store. Backlogged
submits that never reached the wire fail as ``link_down`` when the session goes (no duplicate risk).
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial

import trio

from ...config import SmppConfig, read_secret
from ...models import LinkState
from ..base import Inbound, LinkSink, LinkStatus, OutSegment, SubmitResult, submit_by_callback
from ..reassembly import Reassembler
from . import codec, message, receipt
from .session import BindRefused, Session, SessionClosed
from .window import WindowProbe

log = logging.getLogger("gatewayd.links.smpp")

Connect = Callable[[str, int], Awaitable[trio.abc.Stream]]

UNBIND_TIMEOUT_S = 2.0
STABLE_S = 30.0              # a session bound this long resets the reconnect backoff
THROTTLE_CLEAR_S = 5.0
REASSEMBLY_TIMEOUT_S = 300.0
DEDUP_WINDOW_S = 180.0       # an identical MO PDU within this window is an SMSC redelivery
DEDUP_MAX = 20_000

_LINK_DOWN = SubmitResult(ok=False, transient=True, error_code="link_down", error_text="not bound to the SMSC")
_SEVERITY = {LinkState.DOWN: 3, LinkState.STARTING: 2, LinkState.BINDING: 2, LinkState.UP: 1}


async def tcp_connect(host: str, port: int) -> trio.abc.Stream:
    return await trio.open_tcp_stream(host, port)


class SmppLink:
    kind = "smpp"
    whole_messages = False
    queues_submits = True    # takes more than ``window`` submits and holds the excess itself

    def __init__(self, cfg: SmppConfig, sink: LinkSink, *, connect: Connect | None = None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.window = cfg.window
        self.whole_messages = cfg.long_messages == "payload"
        self._sink = sink
        self._connect = connect or tcp_connect
        self._roles = ("transceiver",) if cfg.bind == "transceiver" else ("transmitter", "receiver")
        self._role_state = {role: (LinkState.STARTING, "") for role in self._roles}
        self._tx: Session | None = None
        self._backlog: deque[tuple[Callable[[int], bytes], Callable[[SubmitResult], None]]] = deque()
        self.outstanding = 0     # submit_sm written and not answered (<= the window in force)
        self._window = WindowProbe(cfg.window)
        self._stopped = False
        self._throttled_at: float | None = None
        self._reported: tuple[LinkState, str, int] | None = None
        self._reassembler = Reassembler(REASSEMBLY_TIMEOUT_S)
        self._parts_added = trio.Event()
        self._seen: dict[str, tuple[float, str]] = {}    # MO digest -> (first seen, dedup key)

    @property
    def is_up(self) -> bool:
        tx = self._tx
        return tx is not None and tx.bound and not tx.closed.is_set()

    # --- supervision ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        if not self.cfg.enabled:
            self._sink.status(LinkStatus(self.name, self.kind, LinkState.DISABLED, "disabled in config"))
            task_status.started()
            await trio.sleep_forever()
        async with trio.open_nursery() as nursery:
            for role in self._roles:
                nursery.start_soon(self._supervise, role)
            nursery.start_soon(self._expire_parts)
            task_status.started()

    async def _supervise(self, role: str) -> None:
        delay = self.cfg.reconnect_min_s
        while True:
            bound_for = 0.0
            try:
                reason, bound_for = await self._connection(role)
            except BindRefused as exc:
                reason = f"bind refused: {exc}"
            except SessionClosed as exc:
                reason = exc.reason
            except trio.TooSlowError:
                reason = f"no answer within {self.cfg.response_timeout_s:g}s while connecting/binding"
            except OSError as exc:
                reason = f"cannot connect to {self.cfg.host}:{self.cfg.port}: {exc.strerror or exc}"
            except Exception as exc:  # the boundary: a bug must not end the link for good
                log.exception("%s/%s: session failed", self.name, role)
                reason = f"internal error: {exc!r}"
            if bound_for >= STABLE_S:
                delay = self.cfg.reconnect_min_s
            pause = random.uniform(delay / 2, delay)
            log.warning("%s/%s: %s; reconnecting in %.1fs", self.name, role, reason, pause)
            self._set_role(role, LinkState.DOWN, reason)
            await trio.sleep(pause)
            delay = min(delay * 2, self.cfg.reconnect_max_s)

    async def _connection(self, role: str) -> tuple[str, float]:
        """One connection's life: connect, bind, serve until it ends; (reason, seconds bound)."""
        try:
            return await self._connection_inner(role)
        except BaseExceptionGroup as group:   # a nursery wraps what the body raised: unwrap one
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise

    async def _connection_inner(self, role: str) -> tuple[str, float]:
        cfg = self.cfg
        self._set_role(role, LinkState.BINDING, f"connecting to {cfg.host}:{cfg.port}")
        with trio.fail_after(cfg.response_timeout_s):
            stream = await self._connect(cfg.host, cfg.port)
        async with stream:
            session = Session(stream, name=f"{self.name}/{role}", on_deliver=self._on_deliver,
                              enquire_link_s=cfg.enquire_link_s, response_timeout_s=cfg.response_timeout_s,
                              take=self._take_receipt, on_batch=self._on_receipts)
            async with trio.open_nursery() as nursery:
                await nursery.start(session.run)
                try:
                    with trio.fail_after(cfg.response_timeout_s):
                        smsc = await session.bind(role, system_id=cfg.system_id,
                                                  password=read_secret(cfg.password, cfg.password_file),
                                                  system_type=cfg.system_type)
                    bound_at = trio.current_time()
                    if role != "receiver":
                        self._tx = session
                        self._window = WindowProbe(cfg.window)   # a new bind starts with the whole window
                    log.info("%s/%s: bound to %s", self.name, role, smsc or "SMSC")
                    self._set_role(role, LinkState.UP, f"bound as {role}")
                    await session.closed.wait()
                    return session.close_reason, trio.current_time() - bound_at
                finally:
                    if self._tx is session:
                        self._tx = None
                        self._pump()     # the backlog fails as link_down: none of it was written
                    if session.bound and not session.closed.is_set():
                        await session.unbind(UNBIND_TIMEOUT_S)
                    session.close("connection finished")

    # --- state ----------------------------------------------------------------------------

    def _set_role(self, role: str, state: LinkState, reason: str) -> None:
        self._role_state[role] = (state, reason)
        self._report()

    def _report(self) -> None:
        role, (state, reason) = max(self._role_state.items(), key=lambda kv: _SEVERITY[kv[1][0]])
        if state is LinkState.UP and self._throttled_at is not None:
            state, reason = LinkState.THROTTLED, "SMSC throttling: submits slowed down"
        if len(self._roles) > 1 and reason:
            reason = f"{role}: {reason}"
        window = self._window.size
        if self._reported == (state, reason, window):
            return
        self._reported = (state, reason, window)
        self._sink.status(LinkStatus(self.name, self.kind, state, reason, detail={
            "host": f"{self.cfg.host}:{self.cfg.port}", "bind": self.cfg.bind, "window": window,
            "max_window": self.window}))

    # --- submitting -----------------------------------------------------------------------

    async def submit(self, seg: OutSegment) -> SubmitResult:
        """One segment, awaited (multipart messages): the same window and backlog as
        :meth:`submit_nowait`; never raises for network trouble."""
        return await submit_by_callback(self.submit_nowait, seg)

    def submit_nowait(self, seg: OutSegment, done: Callable[[SubmitResult], None]) -> bool:
        """Submit without a task per segment: ``done(result)`` is called exactly once, from the
        session's reader (or its timer, or its close), or at once when the link is down. Beyond
        ``window`` the submit waits in the backlog. Always True (the dispatcher's fallback to a
        task is for link kinds that cannot answer by callback)."""
        if not self.is_up:
            done(_LINK_DOWN)
            return True
        try:
            params = message.submit_params(seg, self.cfg)
        except (ValueError, UnicodeError) as exc:
            done(SubmitResult(ok=False, error_code="invalid_segment", error_text=str(exc)))
            return True
        self._backlog.append((partial(codec.encode, "submit_sm", **params), done))
        self._pump()
        return True

    def stop_submitting(self) -> None:
        """Put nothing more on the wire (the owner is going away): the backlog fails as
        ``link_down`` at once instead of trickling out behind the responses still to come."""
        self._stopped = True
        self._pump()

    def _pump(self) -> None:
        """Move backlogged submits onto the wire while the window has room; with no live
        transmitting session they fail as ``link_down`` (never written, so safe to route again)."""
        while self._backlog:
            session = self._tx
            if session is None or not session.bound or session.closed.is_set() or self._stopped:
                self._backlog.popleft()[1](_LINK_DOWN)
                continue
            if self.outstanding >= self._window.size:
                return
            build, done = self._backlog.popleft()
            before = self.outstanding
            self.outstanding += 1
            if not session.request_nowait(build, partial(self._answered, done, before)):
                self.outstanding -= 1
                done(_LINK_DOWN)

    def _answered(self, done: Callable[[SubmitResult], None], before: int, pdu: codec.Pdu | None,
                  failure: str) -> None:
        self.outstanding -= 1
        try:
            if pdu is not None:
                done(self._result(pdu, before))
            elif failure == "timeout":
                # No answer in time: maybe sent (a possible duplicate), and a congested SMSC's
                # sign as much as a throttle answer is: the dispatcher slows the link down.
                done(SubmitResult(ok=False, transient=True, throttle=True, error_code="timeout",
                                  error_text=f"no submit_sm_resp within {self.cfg.response_timeout_s:g}s"))
            else:
                done(SubmitResult(ok=False, transient=True, error_code="timeout",
                                  error_text=f"connection lost before submit_sm_resp: {failure}"))
        finally:
            self._pump()

    def _result(self, pdu: codec.Pdu, before: int = 0) -> SubmitResult:
        now = trio.current_time()
        if pdu.status == codec.RMSGQFUL:
            if self._window.queue_full(before, now):
                log.info("%s: ESME_RMSGQFUL with %d in flight: window %d", self.name, before, self._window.size)
        elif self._window.accepted(now):
            self._report()
        if pdu.command == "generic_nack" or pdu.status != codec.ROK:
            transient, throttle = codec.classify(pdu.status)
            if throttle:
                self._throttled_at = now
                self._report()
            return SubmitResult(ok=False, error_code=codec.status_name(pdu.status),
                                error_text=codec.status_text(pdu.status), transient=transient, throttle=throttle)
        if self._throttled_at is not None and now - self._throttled_at >= THROTTLE_CLEAR_S:
            self._throttled_at = None
            self._report()
        raw_id = pdu.get("message_id", "")
        if not raw_id:
            log.warning("%s: submit_sm_resp without message_id: receipts cannot match", self.name)
            return SubmitResult(ok=True)
        return SubmitResult(ok=True, carrier_id=receipt.normalise_id(raw_id, self.cfg.msg_id_format)[0])

    # --- receiving ------------------------------------------------------------------------

    def _receipt(self, pdu: codec.Pdu):
        text = message.receipt_text(message.user_data(pdu), pdu.get("data_coding", 0))
        return receipt.build(pdu, self.name, self.cfg.msg_id_format, text)

    def _take_receipt(self, pdu: codec.Pdu):
        """Receipts are committed in bulk (one commit per read from the SMSC, answered together
        afterwards); one we cannot read goes the one-by-one way, which logs and answers it."""
        if not receipt.is_receipt(pdu):
            return None
        try:
            return self._receipt(pdu)
        except Exception:
            return None

    async def _on_receipts(self, receipts: list, answer: Callable[[list[int]], None]) -> None:
        def done(errors: list[BaseException | None]) -> None:
            failed = [e for e in errors if e is not None]
            if failed:
                log.error("%s: %d of %d receipts not stored (%s); answering them ESME_RX_T_APPN so the "
                          "SMSC redelivers", self.name, len(failed), len(errors), failed[0])
            answer([codec.ROK if e is None else codec.RX_T_APPN for e in errors])

        await self._sink.receipt_batch(receipts, done)

    async def _on_deliver(self, pdu: codec.Pdu) -> int | None:
        """deliver_sm / data_sm: commit through the sink, then the session answers ROK."""
        if pdu.command == "alert_notification":
            log.info("%s: alert_notification for %s", self.name, pdu.get("source_addr"))
            return None
        if receipt.is_receipt(pdu):
            await self._sink.receipt(self._receipt(pdu))
            return codec.ROK
        try:
            part = message.mo_part(pdu, self.cfg.default_coding)
        except ValueError as exc:
            log.warning("%s: unreadable MO %s seq=%d: %s", self.name, pdu.command, pdu.sequence, exc)
            return codec.RX_P_APPN
        now = trio.current_time()
        self._forget_old(now)
        if part.ref is None:
            seen = self._seen.get(part.digest)
            if seen is not None:
                log.info("%s: MO from %s redelivered by the SMSC; acknowledged again", self.name, part.sender)
                return codec.ROK
            text = part.text
        else:
            text = self._reassembler.add((part.sender, part.recipient), part.ref, part.total, part.index,
                                         part.text, now)
            self._parts_added.set()
            if text is None:
                return codec.ROK   # held in memory until the rest arrives (or the timeout)
        key = self._dedup_key(part.sender, part.recipient, text, part.ref)
        await self._sink.inbound(Inbound(self.name, part.sender, part.recipient, text, time.time(), key))
        if part.ref is None:
            self._seen[part.digest] = (now, key)
        return codec.ROK

    def _dedup_key(self, sender: str, recipient: str, text: str, ref: int | None) -> str:
        """Stable for redeliveries within the same DEDUP_WINDOW_S bucket of wall time."""
        digest = hashlib.blake2b(f"{sender}\0{recipient}\0{ref}\0{text}".encode(), digest_size=12).hexdigest()
        return f"smpp:{self.name}:{digest}:{int(time.time() // DEDUP_WINDOW_S)}"

    def _forget_old(self, now: float) -> None:
        seen = self._seen
        while seen:
            digest, (at, _key) = next(iter(seen.items()))
            if now - at < DEDUP_WINDOW_S and len(seen) <= DEDUP_MAX:
                break
            del seen[digest]

    async def _expire_parts(self) -> None:
        """Concatenated MO whose parts never all arrived: deliver what came, logged as partial."""
        while True:
            deadline = self._reassembler.next_deadline()
            with trio.move_on_at(math.inf if deadline is None else deadline):
                await self._parts_added.wait()
            self._parts_added = trio.Event()
            for (sender, recipient), text, missing in self._reassembler.expire(trio.current_time()):
                log.warning("%s: MO from %s incomplete after %gs, parts %s missing; delivering the rest",
                            self.name, sender, REASSEMBLY_TIMEOUT_S, missing)
                try:
                    await self._sink.inbound(Inbound(self.name, sender, recipient, text, time.time(),
                                                     self._dedup_key(sender, recipient, text, -1)))
                except Exception:
                    log.exception("%s: could not store an incomplete MO from %s", self.name, sender)

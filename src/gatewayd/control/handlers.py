"""Request handlers: a registry keyed by request type, and the core ones (queue, status, ops).

Domain modules register theirs with ``@handles(RequestType, Role.X)``. Errors are caught at one
place, ``dispatch``: a ``GatewayError`` becomes a typed reply; anything else is logged and
answered as ``internal`` so the connection survives.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .. import protocol as P
from ..errors import BadRequest, GatewayError, NotFound
from ..models import MsgState, Priority, Role
from ..phones import as_filter, normalise
from ..sending import segments
from ..store import actions
from ..store import messages as mq
from ..store import views
from ..store.store import Tx
from .access import Principal

log = logging.getLogger(__name__)
Handler = Callable[[Any, Principal, Any], Awaitable[Any]]
_REGISTRY: dict[type, tuple[Handler, Role]] = {}


def handles(req_type: type, role: Role = Role.VIEWER) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _REGISTRY[req_type] = (fn, role)
        return fn

    return deco


async def dispatch(gw, principal: Principal, req: P.Request) -> P.Reply:
    entry = _REGISTRY.get(type(req))
    op = type(req).__struct_config__.tag
    if entry is None:
        return P.error_reply("unknown_op", f"no handler for {op!r}", req.id)
    fn, role = entry
    changes = role is not Role.VIEWER     # state-changing requests are audited, refused ones too
    try:
        principal.require(role, str(op))
        reply = P.ok_reply(await fn(gw, principal, req), req.id)
    except GatewayError as exc:
        reply = P.error_reply(exc.code, exc.message, req.id)
    except Exception:
        log.exception("handler %s failed", op)
        reply = P.error_reply("internal", f"internal error handling {op!r} (see the daemon log)", req.id)
    if changes:
        await gw.store.post(_audit_op, principal.user, principal.role.value, str(op), _target(req),
                            reply.ok, None if reply.ok else f"{reply.error.code}: {reply.error.message}")
    return reply


_BULKY = {"messages", "rows", "csv", "steps"}


def _target(req: P.Request) -> str:
    """A short, human summary of what the request touched (not the payload)."""
    import msgspec

    data = msgspec.to_builtins(req)
    parts = []
    for k, v in data.items():
        if k in ("op", "id") or v is None:
            continue
        if k in _BULKY and isinstance(v, list):
            parts.append(f"{k}=[{len(v)}]")
            marked = sum(1 for x in v if isinstance(x, dict) and x.get("transactional"))
            if marked:   # sends that override opt-outs are named in the audit log
                parts.append(f"transactional={marked}")
        else:
            text = str(v)
            parts.append(f"{k}={text[:60] + '…' if len(text) > 60 else text}")
    return " ".join(parts)[:400]


def _audit_op(tx: Tx, user: str, role: str, op: str, target: str, ok: bool, error: str | None) -> None:
    tx.db.execute("INSERT INTO audit(at, user, role, op, target, ok, error) VALUES (?,?,?,?,?,?,?)",
                  (tx.now, user, role, op, target, int(ok), error))
    tx.emit("audit", user=user, op=op, target=target, ok=ok)


async def audit_refusal(gw, user: str, op: str, error: str, role: str = "none") -> None:
    """Refusals that never reach a handler (unknown user, oversized line) are audited too."""
    await gw.store.post(_audit_op, user, role, op, "", False, error)


def install(gw) -> None:
    gw.handlers = _REGISTRY


# ---- identity and status ----------------------------------------------------------------------


@handles(P.Hello)
async def hello(gw, who: Principal, req: P.Hello) -> P.Identity:
    return P.Identity(who.user, who.uid, who.role, list(who.offices), who.limited, gw.version,
                      gw.cfg.control.max_line_bytes)


@handles(P.Status)
async def status(gw, who: Principal, req: P.Status) -> P.StatusView:
    counts, usage = await gw.store.read(views.status_counts, _today(gw))
    now = trio.current_time()
    links = []
    for name, lr in gw.links.items():
        links.append(P.LinkView(
            name=name, kind=lr.link.kind, state=lr.status.state if lr.enabled else "disabled",
            reason=lr.status.reason, enabled=lr.enabled, window=lr.current_window, in_flight=lr.on_wire,
            rate=lr.flow.rate, max_window=lr.window, max_rate=lr.flow.cap, detail=dict(lr.status.detail), sent_last_min=lr.sent_last(now),
            price_per_segment=getattr(lr.cfg, "price_per_segment", 0.0)))
    numbers = []
    for n in gw.cfg.numbers:
        lane = gw.dispatcher.lanes.get(n.address)
        numbers.append(P.NumberView(
            address=n.address, links=list(n.links), rate=n.rate, burst=n.burst, daily_cap=n.daily_cap,
            used_today=lane.used_today if lane else usage.get(n.address, 0),
            enabled=lane.enabled if lane else n.enabled, reusable=n.reusable, office=n.office))
    sent = sum(lr.sent_last(now) for lr in gw.links.values())
    return P.StatusView(
        version=gw.version, started_at=gw.started_at, links=links, numbers=numbers,
        queue={k[4:]: v for k, v in counts.items() if k.startswith("msg:")},
        segments={k[4:]: v for k, v in counts.items() if k.startswith("seg:")},
        sent_per_s=sent / 60.0, delivered_per_s=gw.delivered_rate(),
        inbound_total=counts.get("inbound", 0), unmatched_receipts=counts.get("unmatched", 0),
        last_cursor=gw.bus.last_cursor,
        budgets=[P.BudgetView(**v) for v in gw.dispatcher.budgets.views(now, gw.store.clock())])


def _today(gw) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(gw.store.clock(), dt.timezone.utc).strftime("%Y-%m-%d")


@handles(P.Analyse)
async def analyse(gw, who: Principal, req: P.Analyse):
    return segments.analyse(req.text)


# ---- sending ----------------------------------------------------------------------------------


def _new_message(gw, who: Principal, item: P.SendItem, *, source: str = "api") -> mq.NewMessage:
    """Validate one send; raises BadRequest with a reason a script author can act on."""
    number = gw.cfg.number(item.sender)
    if number is None:
        raise BadRequest(f"unknown sender number {item.sender!r}: not in [[numbers]]", "unknown_number")
    if not who.in_office(number.office) and who.role is not Role.ADMIN:
        raise GatewayError(f"number {item.sender} belongs to office {number.office!r}", "forbidden")
    if not item.text:
        raise BadRequest("text is empty", "empty_text")
    if len(item.text) > gw.cfg.queue.max_text_chars:
        raise BadRequest(f"text is {len(item.text)} characters; the limit is {gw.cfg.queue.max_text_chars}",
                         "text_too_long")
    if item.ttl_s is not None and item.ttl_s <= 0:
        raise BadRequest("ttl_s must be positive")
    recipient = normalise(item.to, gw.cfg.default_region)
    state, reason = MsgState.QUEUED, None
    lane = gw.dispatcher.lanes.get(number.address)
    if not number.enabled or (lane is not None and not lane.enabled):
        state, reason = MsgState.IGNORED, f"sender {number.address} is disabled"
    elif not any(gw.links[n].enabled for n in number.links if n in gw.links):
        state, reason = MsgState.IGNORED, f"every link of {number.address} is disabled"
    return mq.NewMessage(sender=number.address, recipient=recipient, text=item.text,
                         priority=Priority.parse(item.priority), ttl_s=item.ttl_s or gw.cfg.queue.default_ttl_s,
                         key=item.key, source=source, created_by=who.user, state=state, error_text=reason)


#: Sync callbacks ``(tx, new_messages, transactional_flags)`` run in the transaction of a ``send``
#: or ``send_batch`` before it enqueues; they may mark a message not to be sent (state and
#: error_text). The campaigns domain applies opt-outs here (:mod:`gatewayd.contacts.sendgate`).
SEND_GATES: list[Callable[[Tx, list[mq.NewMessage], list[bool]], None]] = []


def _gated(tx: Tx, news: list[mq.NewMessage], flags: list[bool]) -> list[mq.NewMessage]:
    for gate in SEND_GATES:
        gate(tx, news, flags)
    return news


@handles(P.Send, Role.AGENT)
async def send(gw, who: Principal, req: P.Send) -> P.MessageView:
    new = _new_message(gw, who, req.item())

    def op(tx: Tx) -> P.MessageView:
        [(mid, dup)] = mq.enqueue(tx, _gated(tx, [new], [bool(req.transactional)]))
        view = views.message_views(tx.db, [mid])[0]   # the state as committed, not as raced since
        view.duplicate_of_key = dup
        return view

    view = await gw.store.run(op)
    gw.dispatcher.kick(new.sender)
    return view


@handles(P.SendBatch, Role.AGENT)
async def send_batch(gw, who: Principal, req: P.SendBatch) -> P.BatchResult:
    items: list[P.BatchItemResult] = []
    good: list[tuple[int, mq.NewMessage]] = []
    for i, item in enumerate(req.messages):
        try:
            good.append((i, _new_message(gw, who, item)))
        except GatewayError as exc:
            items.append(P.BatchItemResult(index=i, error=exc.message, code=exc.code))
    flags = [bool(req.messages[i].transactional) for i, _ in good]
    ids = await gw.store.run(lambda tx: mq.enqueue(tx, _gated(tx, [m for _, m in good], flags))) if good else []
    for (i, _), (mid, dup) in zip(good, ids):
        items.append(P.BatchItemResult(index=i, message_id=mid, duplicate=dup))
    for sender in {m.sender for _, m in good}:
        gw.dispatcher.kick(sender)
    items.sort(key=lambda r: r.index)
    dups = sum(1 for r in items if r.duplicate)
    rejected = sum(1 for r in items if r.error)
    return P.BatchResult(accepted=len(items) - rejected - dups, duplicates=dups, rejected=rejected, items=items)


@handles(P.GetMessage)
async def get_message(gw, who: Principal, req: P.GetMessage) -> P.MessageDetail:
    detail = await gw.store.read(views.message_detail, req.message_id)
    if detail is None:
        raise NotFound(f"no message {req.message_id}")
    return detail


@handles(P.ListMessages)
async def list_messages(gw, who: Principal, req: P.ListMessages) -> P.MessagePage:
    if not 1 <= req.limit <= 1000:
        raise BadRequest("limit must be between 1 and 1000")
    region = gw.cfg.default_region   # phones as people type them find the stored E.164 (issue 18.5)
    req.recipient, req.sender = as_filter(req.recipient, region), as_filter(req.sender, region)
    return await gw.store.read(views.list_messages, req)


@handles(P.Cancel, Role.AGENT)
async def cancel(gw, who: Principal, req: P.Cancel) -> dict:
    return {"message_id": req.message_id, "state": await gw.store.run(actions.cancel, req.message_id, who.user)}


@handles(P.Retry, Role.AGENT)
async def retry(gw, who: Principal, req: P.Retry) -> dict:
    state = await gw.store.run(actions.retry, req.message_id, who.user, gw.cfg.queue.default_ttl_s)
    gw.dispatcher.kick()
    return {"message_id": req.message_id, "state": state}


@handles(P.ListReceipts)
async def list_receipts(gw, who: Principal, req: P.ListReceipts) -> list[P.ReceiptView]:
    return await gw.store.read(views.receipts, req.unmatched, min(max(req.limit, 1), 1000))


@handles(P.AuditQuery)
async def audit(gw, who: Principal, req: P.AuditQuery) -> list[P.AuditEntry]:
    user = req.user if who.role is Role.ADMIN else who.user
    return await gw.store.read(views.audit, req.since, user, min(max(req.limit, 1), 1000))


# ---- operations -------------------------------------------------------------------------------


@handles(P.Backup, Role.ADMIN)
async def backup(gw, who: Principal, req: P.Backup) -> dict:
    # The daemon's working directory means nothing to the caller: clients resolve the path in
    # theirs (gatewayctl does) and send it absolute.
    if not os.path.isabs(req.path):
        raise BadRequest(f"{req.path!r} is relative: give an absolute path")
    path = os.path.normpath(req.path)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise BadRequest(f"cannot write {path}: directory {directory} does not exist"
                         f"{' or is not a directory' if os.path.exists(directory) else ''}")
    try:
        size = await gw.store.backup(path)
    except FileExistsError:
        raise GatewayError(f"{path} exists; refusing to overwrite a backup", "exists") from None
    except OSError as exc:
        raise BadRequest(f"cannot write {path}: {exc.strerror or exc}") from None
    return {"path": path, "bytes": size}


@handles(P.SetEnabled, Role.ADMIN)
async def set_enabled(gw, who: Principal, req: P.SetEnabled) -> dict:
    if req.kind == "link" and req.name not in gw.links:
        raise NotFound(f"no link {req.name!r}")
    if req.kind == "number" and req.name not in gw.dispatcher.lanes:
        raise NotFound(f"no number {req.name!r}")

    def op(tx: Tx) -> int:
        tx.db.execute("INSERT INTO overrides(kind, name, enabled) VALUES (?, ?, ?)"
                      " ON CONFLICT(kind, name) DO UPDATE SET enabled = excluded.enabled",
                      (req.kind, req.name, int(req.enabled)))
        tx.emit(f"{req.kind}.enabled", name=req.name, enabled=req.enabled, by=who.user)
        if req.enabled:
            return 0
        if req.kind == "number":
            return actions.ignore_queued(tx, "sender = ?", (req.name,), f"sender {req.name} disabled by {who.user}")
        n = 0
        for number in gw.cfg.numbers:
            others = [x for x in number.links if x != req.name and gw.links[x].enabled]
            if req.name in number.links and not others:
                n += actions.ignore_queued(tx, "sender = ?", (number.address,),
                                      f"every link of {number.address} is disabled")
        return n

    ignored = await gw.store.run(op)
    gw.apply_overrides([(req.kind, req.name, int(req.enabled))])
    gw.dispatcher.kick()
    for lr in gw.links.values():
        lr.notify()
    return {"kind": req.kind, "name": req.name, "enabled": req.enabled, "ignored": ignored}

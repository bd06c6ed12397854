"""The wizard's review text: every choice, then each step rendered for a sample contact.

Rendering, encoding and segment counts come from the daemon (``script_preview`` per step), never
from a copy of the segmenter here; so do the content checks (``campaign_check``: shorteners,
opt-out language, blocked terms, segments and cost per recipient), shown last. The segment total is an upper bound (every step to every
contact: stop on reply, opt-outs and failures only lower it); with A/B variants each script's
steps are counted for its share of the list, and only the main script is shown in full.
"""

from __future__ import annotations

from rich.text import Text

from gatewayd import protocol as P

from ..views import Contact, Preview, Script
from .wizard_schedule import check, next_runs
from .wizard_script import describe_delay

ENCODINGS = {"gsm7": "GSM-7", "ucs2": "UCS-2 (Unicode)"}


def schedule_line(f: P.CampaignFields, now: float) -> str:
    if f.cron:
        if check(f.cron, f.tz or "UTC") is None:
            first = next_runs(f.cron, f.tz or "UTC", now, 1)[0]
            return f"recurring {f.cron} ({f.tz}), next {first:%a %Y-%m-%d %H:%M}"
        return f"recurring {f.cron} ({f.tz})"
    return f.at and f"at {f.at} ({f.tz})" or "now"


def ab_line(f: P.CampaignFields) -> str:
    if not f.variants:
        return "no"
    rest = 100 - sum(float(v["weight"]) for v in f.variants)
    return " · ".join([f"{f.script} {rest:g}%"] + [f"{v['script']} {float(v['weight']):g}%" for v in f.variants])


def step_label(i: int, step: dict) -> str:
    when = "at launch" if i == 1 else f"after {describe_delay(float(step.get('delay_s') or 0))}"
    asks = step.get("question")
    return f"Step {i} ({when}{', asks ' + asks.replace('_', '/') if asks else ''})"


async def previews(app, phone: str, script: Script) -> list[Preview | None]:
    return [await app.call(P.ScriptPreview(contact=phone, script=script.name, step=i), Preview)
            for i in range(1, max(1, len(script.steps)) + 1)]


async def review_text(app, f: P.CampaignFields, scripts: list[Script], size: int, price: float) -> Text:
    """The whole review for the fields ``f`` (``size`` contacts in the list, ``price`` per segment)."""
    t = Text()
    for label, value in (("Title", f.name), ("Script", f.script), ("Contact list", f.list_name),
                         ("Number", f.number), ("Office", f.office or "(the number's)"),
                         ("Operated by", f.operated_by), ("Tags", ", ".join(f.tags or []) or "—"),
                         ("Schedule", schedule_line(f, app.clock())),
                         ("Stop on reply", "yes" if f.stop_on_reply else "no"),
                         ("Quiet hours", f"{f.quiet_start}-{f.quiet_end}" if f.quiet_start else "none"),
                         ("Sending hours", f.hours or "the gateway's default"),
                         ("A/B test", ab_line(f))):
        t.append(f"{label:>14}  ", style="bold")
        t.append(f"{value or '—'}\n", style="" if value else "red")
    by_name = {s.name: s for s in scripts}
    main = by_name.get(f.script or "")
    if main is None or not f.list_name:
        t.append("\nChoose a script and a contact list to see a preview.", style="yellow")
        return t
    sample = await app.call(P.ContactsList(list_name=f.list_name, limit=1), list[Contact])
    if not sample:
        t.append("\nThe list has no contact to preview with.", style="yellow")
        return t
    who = sample[0]
    t.append(f"\nPreview for {who.first_name} {who.last_name} ({who.phone}):\n", style="bold")
    pvs = await previews(app, who.phone, main)
    for i, pv in enumerate(pvs, 1):
        step = main.steps[i - 1] if i <= len(main.steps) else {}
        if len(pvs) > 1:
            t.append(step_label(i, step) + "\n", style="bold")
        if pv is None:
            continue
        if pv.text is None:
            t.append(f"missing field {pv.missing_field!r}\n", style="red")
            continue
        t.append(pv.text + "\n", style="italic")
        t.append(f"  {ENCODINGS.get(pv.encoding or '', pv.encoding)} · {pv.segments} segment(s)\n", style="dim")
    per_contact = sum(pv.segments for pv in pvs if pv is not None)
    shares = {f.script: 100.0 - sum(float(v["weight"]) for v in f.variants or [])}
    total = size * per_contact * shares[f.script] / 100
    for v in f.variants or []:
        var = by_name.get(v["script"])
        if var is None:
            continue
        segs = sum(pv.segments for pv in await previews(app, who.phone, var) if pv is not None)
        t.append(f"variant {var.name} ({float(v['weight']):g}%): {len(var.steps)} step(s), "
                 f"{segs} segment(s) per contact\n", style="dim")
        total += size * segs * float(v["weight"]) / 100
    steps = f" over {len(pvs)} steps" if len(pvs) > 1 else " per message"
    t.append(f"\n{per_contact} segment(s){steps} · {size} contacts · ≈{total:g} segments · "
             f"≈{total * price:.4f} cost", style="bold")
    if len(pvs) > 1 or f.variants:
        t.append("\n(at most: stop on reply, opt-outs and failures send fewer)", style="dim")
    await checks_text(app, f, t)
    return t


STYLES = {"blocker": ("✗ blocks launch: ", "bold red"), "warning": ("! warning: ", "yellow"), "info": ("· ", "dim")}


async def checks_text(app, f: P.CampaignFields, t: Text) -> None:
    """The daemon's content checks (``campaign_check``): blockers, warnings, cost per recipient."""
    res = await app.call(P.CampaignCheck(fields=f), quiet=True)
    if not res or not res.get("checks"):
        return
    t.append(f"\n\nChecks (sending hours: {res.get('hours') or 'none'}):\n", style="bold")
    for c in res["checks"]:
        prefix, style = STYLES.get(c["severity"], ("", ""))
        t.append(f"{prefix}{c['message']}\n", style=style)


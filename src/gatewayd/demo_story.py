"""The story ``make demo`` seeds: lists, scripts, campaigns and people texting us (conf/demo/story.toml).

Everything goes through the daemon's socket with the requests gatewayctl sends (CSV chunks of
``contacts_import``, ``script_create`` from script files, ``campaign_create``, ``sim_inbound``),
so the demo shows what an operator's own scripts would produce, nothing written behind the
daemon's back.

Idempotent by content, decided so that a second ``make demo`` on the same state neither
duplicates the story nor throws away what the user did in it: a list that has contacts, a script
or campaign whose name exists, a message whose phone already said that text, is left alone
(``make demo-reset`` starts over from an empty state directory). A seeding that was interrupted
(the TUI quit after two seconds) is completed by the next run.

Two phases: :meth:`Story.prepare` creates what exists at once (a second or so; the demo prints
its report before the TUI opens), :meth:`Story.play` then runs the timeline: people answering and
writing in, and archiving a campaign once it finished and its replies came in.
"""

from __future__ import annotations

import datetime as dt
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import phones
from .campaigns.commands import _load_script
from .config import Config, SimConfig
from .contacts import importer
from .ctl import Client, CtlError

CAMPAIGN_FIELDS = ("name", "script", "list", "number", "office", "operated_by", "tags", "stop_on_reply", "cron",
                   "tz", "ttl_s", "quiet_start", "quiet_end", "defaults", "description")


class StoryError(Exception):
    """The story file or its data is wrong (a path, a row, a campaign name)."""


class Story:
    def __init__(self, path: str | Path, socket: str, *, region: str = "US", reply_wait_s: float = 8.0,
                 pace: float = 1.0, log: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.dir = self.path.parent
        try:
            self.spec = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise StoryError(f"{self.path}: {exc}") from None
        self.socket = socket
        self.region = region
        self.reply_wait_s = reply_wait_s      # how long after a campaign finished its replies may still come
        self.pace = pace                      # timeline speed-up (tests); the daemon's own timing is untouched
        self.log = log
        self.clock = clock
        self.started = clock()
        self.campaign_ids: dict[str, int] = {}
        self.report: dict[str, Any] = {"lists": [], "scripts": [], "campaigns": [], "messages": []}
        self._csv: dict[str, tuple[list[str], list[list[str]]]] = {}

    # ---- plumbing ------------------------------------------------------------------------

    def _call(self, op: str, **fields: Any) -> Any:
        c = Client(self.socket, timeout=30)
        try:
            return c.call(op, **fields)
        finally:
            c.close()

    def _file(self, name: str) -> tuple[list[str], list[list[str]]]:
        """(header, data rows) of a CSV next to the story; data row i is file row i + 2."""
        if name not in self._csv:
            try:
                with open(self.dir / name, encoding="utf-8-sig", newline="") as f:
                    chunks = list(importer.read_chunks(f, 100_000))
            except OSError as exc:
                raise StoryError(f"cannot read {self.dir / name}: {exc.strerror}") from None
            header = chunks[0][0] if chunks else []
            self._csv[name] = (header, [r for _, _, rows in chunks for r in rows])
        return self._csv[name]

    def _phone_of_row(self, row: int, file: str = "patients.csv") -> str:
        header, rows = self._file(file)
        cols = importer.map_header(header)
        if not 2 <= row < len(rows) + 2:
            raise StoryError(f"{file} has no row {row}")
        return phones.normalise(rows[row - 2][cols["phone"]], self.region)

    # ---- prepare: lists, scripts, campaigns ------------------------------------------------

    def prepare(self) -> dict[str, Any]:
        self._lists()
        self._scripts()
        self._campaigns()
        return self.report

    def _lists(self) -> None:
        existing = {x["name"]: x["contacts"] for x in self._call("lists")}
        for spec in self.spec.get("lists", []):
            name = spec["name"]
            if existing.get(name):
                self.report["lists"].append({"list": name, "existing": existing[name]})
                continue
            header, rows = self._file(spec["file"])
            first, last = spec.get("rows", [2, len(rows) + 1])
            part = rows[first - 2: last - 1]
            if not 2 <= first <= last or not part:
                raise StoryError(f"list {name!r}: rows {first}-{last} are not rows of {spec['file']}")
            total: dict[str, Any] | None = None
            for start in range(0, len(part), importer.CHUNK_ROWS):
                res = self._call("contacts_import", list=name, header=header, first_row=first + start,
                                 rows=part[start: start + importer.CHUNK_ROWS], region=self.region)
                total = importer.merge_results(total, res)
            assert total is not None
            self.report["lists"].append(total)
            self.log(f"list {name!r}: imported {total['imported']}, merged {total['merged']},"
                     f" invalid {len(total['invalid'])}")
            for b in total["invalid"]:
                self.log(f"  row {b['row']}: {b['reason']}")

    def _scripts(self) -> None:
        existing = {s["name"] for s in self._call("script_list")}
        for spec in self.spec.get("scripts", []):
            try:
                script = _load_script(str(self.dir / spec["file"]))
            except CtlError as exc:
                raise StoryError(exc.message) from None
            if script.get("name") in existing:
                continue
            self._call("script_create", name=script.get("name"), type=script.get("type", "nudge"),
                       steps=script.get("steps", []), defaults=script.get("defaults", {}))
            self.report["scripts"].append(script["name"])

    def _find_campaign(self, name: str) -> dict | None:
        for c in self._call("campaign_list", search=name, limit=1000):
            if c["name"] == name:
                return c
        return None

    def _campaigns(self) -> None:
        for spec in self.spec.get("campaigns", []):
            name = spec["name"]
            found = self._find_campaign(name)
            if found is not None:
                self.campaign_ids[name] = found["id"]
                continue
            fields = {k: spec[k] for k in CAMPAIGN_FIELDS if k in spec}
            if "at_in_days" in spec:
                zone = ZoneInfo(spec.get("tz", "UTC"))
                day = dt.datetime.fromtimestamp(self.clock(), zone).date() + dt.timedelta(days=int(spec["at_in_days"]))
                fields["at"] = f"{day.isoformat()}T{spec.get('at_time', '09:00')}"
            c = self._call("campaign_create", fields=fields, launch=bool(spec.get("launch")))
            self.campaign_ids[name] = c["id"]
            self.report["campaigns"].append({"name": name, "id": c["id"], "status": c["status"]})
            reasons = c.get("not_ready") or []
            short = "; ".join(r if len(r) <= 70 else r[:67] + "..." for r in reasons)
            self.log(f"campaign {c['id']} {name!r}: {c['status']}"
                     f"{' (not ready: ' + short + ')' if c['status'] == 'draft' and reasons else ''}")

    # ---- play: the timeline ----------------------------------------------------------------

    def play(self, *, timeout: float = 120.0, stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
        """Run the timed part until everything happened (or ``timeout``, or ``stop()``)."""
        pending: list[Callable[[], bool]] = []
        for spec in sorted(self.spec.get("messages", []), key=lambda m: m.get("after_s", 0)):
            try:
                if self._told_before(spec):
                    continue          # an earlier run played it: no waiting for its time again
                pending.append(self._message_task(spec))
            except (StoryError, phones.InvalidNumber) as exc:
                self.log(f"demo story: message {spec.get('text')!r} left out: {exc}")
        for spec in self.spec.get("campaigns", []):
            if spec.get("then") == "archive":
                pending.append(self._archive_task(spec["name"]))
        deadline = self.clock() + timeout
        while pending and self.clock() < deadline and not stop():
            pending = [task for task in pending if not self._step(task)]
            if pending:
                time.sleep(0.25)
        if pending:
            self.log(f"demo story: {len(pending)} item(s) did not happen within {timeout:.0f}s")
        return self.report

    def _step(self, task: Callable[[], bool]) -> bool:
        """Run one task; True when it is done. A refusal is logged and ends the task; a daemon
        that cannot be reached (restarting) is retried on the next round."""
        try:
            return task()
        except StoryError as exc:
            self.log(f"demo story: {exc}")
            return True
        except CtlError as exc:
            if exc.exit_code == 3:
                return False
            self.log(f"demo story: the daemon refused: {exc.code}: {exc.message}")
            return True

    def _message_task(self, spec: dict) -> Callable[[], bool]:
        text = spec["text"]
        sender = spec.get("from") or self._phone_of_row(int(spec["row"]))
        sender = phones.normalise(sender, self.region)
        campaign = spec.get("campaign")
        to = spec.get("to")

        def task() -> bool:
            nonlocal to
            if self.clock() < self.started + float(spec.get("after_s", 0)) / self.pace:
                return False
            if campaign is not None:
                cid = self.campaign_ids.get(campaign)
                if cid is None:
                    raise StoryError(f"message from {sender}: no campaign {campaign!r} in the story")
                reached = self._call("list_messages", recipient=sender, campaign_id=cid, limit=5)["items"]
                if not any(m["state"] in ("sent", "delivered") for m in reached):
                    return False          # the campaign has not reached them yet
                to = reached[0]["sender"]
            if self._already_said(sender, text):
                return True
            res = self._call("sim_inbound", **{"from": sender, "to": to, "text": text})
            self.report["messages"].append(res)
            return True

        return task

    def _told_before(self, spec: dict) -> bool:
        sender = phones.normalise(spec.get("from") or self._phone_of_row(int(spec["row"])), self.region)
        return self._already_said(sender, spec["text"])

    def _already_said(self, phone: str, text: str) -> bool:
        page = self._call("inbox_list", search=phone.lstrip("+"), status="all", limit=50, counts=False)
        for conv in page["items"]:
            if conv["phone"] != phone:
                continue
            detail = self._call("inbox_show", conversation_id=conv["id"], limit=200)
            if any(m["direction"] == "in" and m["text"] == text for m in detail["messages"]):
                return True
        return False

    def _archive_task(self, name: str) -> Callable[[], bool]:
        finished_at: list[float] = []

        def task() -> bool:
            cid = self.campaign_ids.get(name)
            if cid is None:
                return True
            c = self._call("campaign_show", campaign_id=cid)
            if c["status"] == "archived":
                return True
            if c["status"] not in ("finished", "stopped"):
                return False
            if not finished_at:
                finished_at.append(self.clock())
            if self.clock() < finished_at[0] + self.reply_wait_s:
                return False              # let the last replies come in: they are its analytics
            self._call("campaign_action", campaign_id=cid, action="archive")
            self.log(f"campaign {cid} {name!r}: archived")
            return True

        return task


def reply_wait(cfg: Config) -> float:
    """How long replies to a finished campaign may still come on the config's sim links."""
    return max((lk.reply_delay_s for lk in cfg.links if isinstance(lk, SimConfig)), default=0.0) + 2.0

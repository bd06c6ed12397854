"""Throughput of a pool of GSM modems: aggregate messages/min against the pool's capacity.

N fake modems (tests/fakes/modem.py on ptys) each take a fixed time per send, so the pool can at
best do N x 60/S messages per minute; the link's own overhead (AT+CMGS round trip, prompt, PDU,
status-report handling, health checks) shows as the shortfall. Target: >= 95% with N = 8.

    python bench/modem_pool.py [--modems 8] [--send-time 1.0] [--per-modem 20] [--mode direct|daemon]

``direct`` drives ModemLink objects with a minimal dispatcher (one queue, one worker per modem,
like the core's per-link window of 1). ``daemon`` runs the real gatewayd with N modem links and
N numbers, feeds it with ``gatewayctl send --batch`` and times from the batch's acceptance until
every message is ``sent`` (status polled over the control socket).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gatewayd.config import ModemConfig  # noqa: E402
from gatewayd.ctl import Client  # noqa: E402
from gatewayd.links.base import OutSegment  # noqa: E402
from gatewayd.links.modem.link import ModemLink  # noqa: E402
from gatewayd.models import Encoding  # noqa: E402
from tests.fakes.modem import FakeModem  # noqa: E402


class NullSink:
    def __init__(self) -> None:
        self.receipts = 0

    async def receipt(self, r) -> None:
        self.receipts += 1

    async def inbound(self, m) -> None:
        pass

    def status(self, s) -> None:
        pass


async def run_direct(n: int, send_time: float, per_modem: int, tmp: Path) -> float:
    fakes = [FakeModem(str(tmp / f"modem{i}"), send_time=send_time).start() for i in range(n)]
    sink = NullSink()
    links = [ModemLink(ModemConfig(name=f"m{i}", device=f.path, number=f"+1555000{i:04d}"), sink)
             for i, f in enumerate(fakes)]
    total = n * per_modem
    send, recv = trio.open_memory_channel[OutSegment](total)
    for k in range(total):
        send.send_nowait(OutSegment(segment_id=k, message_id=k, sender="pool", recipient=f"+1555123{k:04d}",
                                    index=1, count=1, ref=0, encoding=Encoding.GSM7, text=f"bench message {k}"))
    send.close()
    ok = 0

    async def worker(link: ModemLink) -> None:
        nonlocal ok
        async for seg in recv.clone():
            result = await link.submit(seg)
            ok += result.ok

    try:
        async with trio.open_nursery() as nursery:
            for link in links:
                await nursery.start(link.run)
            with trio.fail_after(30):
                while not all(link.is_up for link in links):
                    await trio.sleep(0.01)
            start = trio.current_time()
            async with trio.open_nursery() as workers:
                for link in links:
                    workers.start_soon(worker, link)
            elapsed = trio.current_time() - start
            nursery.cancel_scope.cancel()
    finally:
        for f in fakes:
            f.stop()
    if ok != total:
        print(f"warning: {total - ok} sends failed", file=sys.stderr)
    return ok / elapsed * 60


def run_daemon(n: int, send_time: float, per_modem: int, tmp: Path, window: int = 1) -> float:
    bindir = Path(sys.executable).parent
    gatewayd = shutil.which("gatewayd", path=str(bindir)) or "gatewayd"
    gatewayctl = shutil.which("gatewayctl", path=str(bindir)) or "gatewayctl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen] = []
    conf = [f"[access]\nadmins = [{getpass.getuser()!r}]\n"]
    for i in range(n):
        dev = tmp / f"modem{i}"
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "tests/fakes/modem.py"), "--link", str(dev),
                                       "--send-time", str(send_time)], env=env, stdout=subprocess.DEVNULL))
        conf.append(f'[[links]]\nname = "m{i}"\nkind = "modem"\ndevice = "{dev}"\nnumber = "+1555000{i:04d}"\n'
                    f"window = {window}\n")
        conf.append(f'[[numbers]]\naddress = "+1555000{i:04d}"\nlinks = ["m{i}"]\nrate = 1000\nburst = 1000\n')
    (tmp / "gw.toml").write_text("\n".join(conf))
    sock = tmp / "gw.sock"
    try:
        deadline = time.monotonic() + 10
        while not all((tmp / f"modem{i}").exists() for i in range(n)):
            if time.monotonic() > deadline:
                raise SystemExit("fake modems did not start")
            time.sleep(0.05)
        procs.append(subprocess.Popen([gatewayd, "--config", str(tmp / "gw.toml"), "--state-dir", str(tmp / "state"),
                                       "--socket", str(sock)], stderr=open(tmp / "gw.log", "w")))

        def ctl(*args: str) -> dict:
            out = subprocess.run([gatewayctl, "--socket", str(sock), "--json", *args], capture_output=True, text=True)
            return json.loads(out.stdout) if out.stdout.strip() else {}

        deadline = time.monotonic() + 60
        while True:
            links = ctl("status").get("links", []) if sock.exists() else []
            if links and all(lk.get("state") == "up" for lk in links):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"links did not come up; see {tmp / 'gw.log'}")
            time.sleep(0.2)
        total = n * per_modem
        batch = "".join(json.dumps({"from": f"+1555000{k % n:04d}", "to": f"+1202555{1000 + k:04d}",
                                    "text": f"bench {k}", "key": f"b{k}"}) + "\n" for k in range(total))
        (tmp / "batch.jsonl").write_text(batch)
        subprocess.run([gatewayctl, "--socket", str(sock), "send", "--batch", str(tmp / "batch.jsonl")],
                       check=True, capture_output=True)
        start = time.monotonic()      # every message is committed and claimable from here
        client = Client(str(sock))
        done = 0
        while done < total:
            time.sleep(0.02)
            queue = client.call("status")["queue"]
            done = sum(queue.get(s, 0) for s in ("sent", "delivered", "undelivered", "failed"))
        client.close()
        return total / (time.monotonic() - start) * 60
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modems", type=int, default=8)
    ap.add_argument("--send-time", type=float, default=1.0, help="seconds each fake modem takes per send")
    ap.add_argument("--per-modem", type=int, default=20, help="messages per modem")
    ap.add_argument("--mode", choices=("direct", "daemon"), default="direct")
    ap.add_argument("--window", type=int, default=1, help="daemon mode: the modem links' window (1 or 2)")
    args = ap.parse_args()
    capacity = args.modems * 60 / args.send_time
    with tempfile.TemporaryDirectory(prefix="modem-pool-") as tmp:
        if args.mode == "direct":
            rate = trio.run(run_direct, args.modems, args.send_time, args.per_modem, Path(tmp))
        else:
            rate = run_daemon(args.modems, args.send_time, args.per_modem, Path(tmp), args.window)
    share = rate / capacity
    print(f"mode={args.mode} window={args.window} modems={args.modems} send_time={args.send_time}s "
          f"messages={args.modems * args.per_modem}")
    print(f"aggregate: {rate:,.0f} msg/min   capacity: {capacity:,.0f} msg/min   "
          f"= {share:.1%} of capacity ({'meets' if share >= 0.95 else 'BELOW'} the 95% target)")


if __name__ == "__main__":
    main()

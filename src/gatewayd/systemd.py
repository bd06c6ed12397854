"""systemd readiness and watchdog notifications (the sd_notify protocol, by hand).

The protocol is one datagram of newline-separated ``KEY=VALUE`` lines sent to the AF_UNIX socket
named by ``$NOTIFY_SOCKET`` (a leading ``@`` means the Linux abstract namespace). Implementing it
here avoids a C dependency for twenty lines of socket code, and a missing ``$NOTIFY_SOCKET``
(foreground runs, tests, other init systems) turns every call into a no-op, so the daemon calls
the notifier unconditionally.

Notifications are best effort: a full or vanished socket is logged once and never stops the
daemon, because a gateway that keeps sending SMS beats one that dies over a status line.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

import trio

log = logging.getLogger(__name__)


def _address(path: str) -> str | bytes:
    """``@name`` is an abstract socket: the kernel wants a leading NUL byte instead."""
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    return path


class Notifier:
    """Sends state lines to systemd; every method is a cheap no-op when not run under systemd.

    ``environ`` defaults to ``os.environ`` and exists so tests need not mutate the process env.
    """

    def __init__(self, socket_path: str | None = None, *, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.socket_path = socket_path if socket_path is not None else env.get("NOTIFY_SOCKET") or None
        self._watchdog_s = self._parse_watchdog(env)
        self._sock: socket.socket | None = None
        self._warned = False

    @staticmethod
    def _parse_watchdog(env: Mapping[str, str]) -> float | None:
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if pid and pid != str(os.getpid()):
            return None  # the watchdog is meant for another process (e.g. our parent)
        try:
            value = int(usec)
        except ValueError:
            return None
        # Ping at half the deadline, as sd_watchdog_enabled(3) recommends.
        return value / 2 / 1_000_000 if value > 0 else None

    @property
    def enabled(self) -> bool:
        return self.socket_path is not None

    def notify(self, *lines: str) -> None:
        """Send all ``lines`` in ONE datagram (systemd applies a datagram atomically)."""
        if self.socket_path is None or not lines:
            return
        payload = "\n".join(lines).encode()
        try:
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                sock.setblocking(False)  # never stall the Trio loop on a full socket buffer
                self._sock = sock
            self._sock.sendto(payload, _address(self.socket_path))
        except OSError as exc:
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", self.socket_path, exc)
                self._warned = True
        else:
            self._warned = False

    def ready(self, status: str = "") -> None:
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> None:
        # MONOTONIC_USEC lets systemd (Type=notify-reload) tie this to the reload it asked for.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")

    def extend_timeout(self, seconds: float) -> None:
        """Ask for more start/stop time (long migrations, a slow drain) than the unit allows."""
        self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of ``WATCHDOG_USEC``), or None when no watchdog is set."""
        return self._watchdog_s if self.enabled else None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


async def watchdog_pinger(
    notifier: Notifier,
    healthy: Callable[[], bool] = lambda: True,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Ping ``WATCHDOG=1`` every interval while ``healthy()`` holds.

    Running as a task of the main loop is the point: if the loop wedges, pings stop and systemd
    restarts us. ``healthy`` lets the core add its own liveness (e.g. the store writer answers);
    while it is false we skip pings, so a stuck component also leads to a restart.
    Returns at once when systemd set no watchdog.
    """
    interval = notifier.watchdog_interval()
    task_status.started()
    if interval is None:
        return
    was_healthy = True
    while True:
        ok = healthy()
        if ok:
            notifier.watchdog()
            if not was_healthy:
                log.warning("healthy again: watchdog pings resumed")
        elif was_healthy:
            log.error("unhealthy: withholding watchdog pings, systemd will restart the service")
        was_healthy = ok
        await trio.sleep(interval)

"""What one local user may cost the daemon: connections, buffered bytes, log lines.

The socket is reachable by the operators' group only, but a script gone wrong (or a member who
means harm) could open hundreds of connections that each send a megabyte without a newline.
Measured before these limits: 400 such connections took the daemon from 61 MB to 478 MB, and
it stayed at 470 MB after they closed. Now:

* at most ``[control] max_connections`` connections; one more is answered ``busy`` and closed;
* a connection buffers at most ``max_line_bytes + 1`` bytes of an unfinished line (it reads no
  more than that before deciding the line is too long), so the worst case is
  ``max_connections x max_line_bytes``;
* when a connection that buffered a lot closes, freed heap is handed back to the kernel
  (glibc keeps it otherwise: large reads raise its mmap threshold and then live in the heap);
* refusals are logged, but at most ``LOG_BURST`` lines per kind a minute, so a loop cannot
  flood the journal.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time

log = logging.getLogger("gatewayd.control")

#: a connection that buffered this much gives memory back when it closes
TRIM_AFTER_BYTES = 256 * 1024
LOG_BURST = 20
LOG_WINDOW_S = 60.0


class Connections:
    """Counts open connections against the configured cap (read at each accept: live on reload)."""

    def __init__(self) -> None:
        self.open = 0
        self.refused = 0

    def try_enter(self, cap: int) -> bool:
        if self.open >= cap:
            self.refused += 1
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


class RateLimitedLog:
    """At most ``LOG_BURST`` lines per kind per minute; the next line says how many were skipped."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[float, int, int]] = {}   # kind -> (start, logged, skipped)

    def warning(self, kind: str, msg: str, *args: object) -> bool:
        """Log unless over the burst; True when logged (callers audit only then, for the same reason)."""
        now = self.clock()
        start, logged, skipped = self._windows.get(kind, (now, 0, 0))
        if now - start >= LOG_WINDOW_S:
            if skipped:
                log.warning("%d more %s line(s) were not logged in the last minute", skipped, kind)
            start, logged, skipped = now, 0, 0
        ok = logged < LOG_BURST
        if ok:
            log.warning(msg, *args)
            logged += 1
        else:
            skipped += 1
        self._windows[kind] = (start, logged, skipped)
        return ok


_libc = None


def release_memory() -> None:
    """Return free heap pages to the kernel (glibc's malloc_trim); a no-op elsewhere."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except Exception:   # no glibc (musl), or a sandbox that refuses ctypes: keep running
            _libc = False
    if _libc:
        _libc.malloc_trim(0)

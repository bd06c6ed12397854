"""Connections to gatewayd made as another Unix user, for role tests against a real daemon.

The daemon knows a peer by SO_PEERCRED, read when it accepts; tests run as root, which is always
admin. So a forked child drops to the user for good (supplementary groups, gid, then uid) and, each
time it is asked over a SEQPACKET socketpair, connects to the daemon socket and passes the
connected fd back with SCM_RIGHTS. The credentials stay those of the child, so the daemon sees
that user, and nothing in the daemon is weakened for the test. The TUI's ``SocketClient`` uses a
:class:`PeerConnector` as its ``connect``, once per (re)connection.

A fork rather than a helper program: the interpreter may live where the user cannot read it
(pyenv under /root). The child only makes socket calls and leaves with ``os._exit``.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import socket
import threading


def can_switch_user() -> bool:
    return os.geteuid() == 0


class PeerConnector:
    """``await connector()`` -> a socket connected to ``path`` by ``user``."""

    def __init__(self, path: str, user: str = "nobody") -> None:
        pw = pwd.getpwnam(user)
        self.path, self.user, self.uid = path, user, pw.pw_uid
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:                                  # the child: never returns into pytest
            code = 1
            try:
                ours.close()
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
                _serve(theirs, path)
                code = 0
            finally:
                os._exit(code)
        theirs.close()
        self.pid, self.ctl = pid, ours
        self._lock = threading.Lock()

    async def __call__(self) -> socket.socket:
        return await asyncio.to_thread(self._ask)

    def _ask(self) -> socket.socket:
        with self._lock:
            self.ctl.send(b"connect")
            msg, fds, _flags, _addr = socket.recv_fds(self.ctl, 4096, 1)
        if not fds:
            raise ConnectionRefusedError(f"connecting as {self.user}: {msg.decode() or 'helper exited'}")
        return socket.socket(fileno=fds[0])

    def close(self) -> None:
        """Closing our end makes the child's ``recv`` return empty: it exits; reap it."""
        self.ctl.close()
        os.waitpid(self.pid, 0)


def _serve(ctl: socket.socket, path: str) -> None:
    while ctl.recv(64):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
            socket.send_fds(ctl, [b"ok"], [conn.fileno()])
        except OSError as exc:
            ctl.send((exc.strerror or str(exc)).encode())
        finally:
            conn.close()

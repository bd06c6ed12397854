"""File modes: what only the daemon's user may touch, and what the operators' group may reach.

Two groups, two purposes. The daemon's own group (``gatewayd``) has the daemon as its only member;
the state directory, the database, the lock and the secrets are private to that user. Operators
join a separate group (``gatewayd-operators`` in systemd/, ``[control] socket_group``), which
owns only the control socket and the directory it sits in. Being in that group lets a user
*reach* the socket; what they may do there is still decided by ``[access]``. (Before, operators
joined ``gatewayd`` itself and could read message texts with sqlite3, read the carrier password
and hold the lock file to keep the daemon from starting.)
"""

from __future__ import annotations

import grp
import logging
import os
import stat
from pathlib import Path

from .errors import GatewayError

log = logging.getLogger(__name__)

#: The daemon's own files (the unit sets the same ``UMask=``; outside the unit we set it here).
PRIVATE_UMASK = 0o077
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SOCKET_DIR = 0o750


def group_id(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise GatewayError(f"[control] socket_group {group!r}: no such group", code="config") from None


def private_dir(path: Path) -> None:
    """Create the state directory 0700; tighten one we own that group or others could enter."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
        os.chmod(path, PRIVATE_DIR)
        log.warning("%s was %o: made it 0700 (the database holds phone numbers and texts)", path,
                    stat.S_IMODE(st.st_mode))


def open_private(path: Path) -> int:
    """Open (create) a file only the daemon's user may open, whatever the umask; an older,
    group-readable one of ours is tightened (a group member holding the lock file kept the daemon
    from starting)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    st = os.fstat(fd)
    if st.st_uid == os.geteuid() and st.st_mode & 0o077:
        os.fchmod(fd, PRIVATE_FILE)
    return fd


#: the operators' group systemd/gatewayd.sysusers.conf creates; used when it exists and
#: ``[control] socket_group`` is not set
OPERATORS_GROUP = "gatewayd-operators"


def socket_group(configured: str | None) -> str | None:
    """The group to give the socket: the configured one, else the operators' group if this host
    has it (installed with the unit), else none (the socket keeps the daemon's own group)."""
    if configured is not None:
        return configured
    try:
        grp.getgrnam(OPERATORS_GROUP)
    except KeyError:
        return None
    return OPERATORS_GROUP


def warn_if_exposed(path: str | Path) -> None:
    """A secret (carrier password, SIM PIN) readable by anyone but the daemon gets a warning
    naming who can read it: every user, or the members of its group."""
    try:
        st = os.stat(path)
    except OSError:
        return      # the read that follows reports it
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o004:
        log.warning("%s is readable by every local user (%o): chmod 0640, owner root, group gatewayd", path, mode)
        return
    if mode & 0o040:
        try:
            members = set(grp.getgrgid(st.st_gid).gr_mem)
            me = pwd_name(os.geteuid())
        except KeyError:
            return
        others = sorted(members - {me})
        if others:
            log.warning("%s is readable by group %s, whose members %s are not the daemon: keep secrets in "
                        "a group of the daemon's own", path, grp.getgrgid(st.st_gid).gr_name, ", ".join(others))


def pwd_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def give_group(socket_path: str, group: str) -> None:
    """Hand the socket, and the directory that holds it, to the operators' group.

    The directory is changed only when the daemon owns it and it holds nothing but the socket
    (/run/gatewayd under the unit): a socket put beside the database, the configuration or
    anything else must not open those to the group.
    """
    gid = group_id(group)
    try:
        os.chown(socket_path, -1, gid)
    except PermissionError:
        raise GatewayError(f"cannot give {socket_path} to group {group}: the daemon's user must be a member "
                           f"(SupplementaryGroups={group})", code="config") from None
    directory = os.path.dirname(os.path.abspath(socket_path))
    st = os.stat(directory)
    if st.st_uid != os.geteuid():
        return
    if set(os.listdir(directory)) - {os.path.basename(socket_path)}:
        log.info("%s holds more than the socket: its mode and group are left as they are", directory)
        return
    os.chown(directory, -1, gid)
    os.chmod(directory, SOCKET_DIR)

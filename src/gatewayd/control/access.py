"""Who is on the other end of the socket, and what they may do.

Identity is the peer's Unix user (SO_PEERCRED), never something the client claims. Roles come from
``[access]``; root and the daemon's own user are admins (they can read the database anyway).
"""

from __future__ import annotations

import os
import pwd
import socket
import struct

import msgspec

from ..config import AccessConfig
from ..errors import Forbidden
from ..models import Role

_RANK = {Role.VIEWER: 0, Role.AGENT: 1, Role.ADMIN: 2}


class Principal(msgspec.Struct, frozen=True):
    user: str
    uid: int
    role: Role
    offices: tuple[str, ...] = ()
    limited: bool = False

    def can(self, needed: Role) -> bool:
        return _RANK[self.role] >= _RANK[needed]

    def require(self, needed: Role, what: str = "this") -> None:
        if not self.can(needed):
            raise Forbidden(f"{self.user} is {self.role.value}: {what} needs {needed.value}")

    def in_office(self, office: str | None) -> bool:
        return self.role is Role.ADMIN or office is None or office in self.offices


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def resolve(uid: int, access: AccessConfig) -> Principal | None:
    """The principal for ``uid``, or None when the user is unknown (refused)."""
    return resolve_name(uid, user_name(uid), access)


def resolve_name(uid: int, name: str, access: AccessConfig) -> Principal | None:
    """:func:`resolve` for a name already looked up (a connection re-checks it per request)."""
    offices = tuple(o for o, members in access.offices.items() if name in members)
    limited = name in access.limited
    if uid == 0 or uid == os.getuid() or name in access.admins:
        role = Role.ADMIN
    elif name in access.agents:
        role = Role.AGENT
    elif name in access.viewers:
        role = Role.VIEWER
    else:
        return None
    return Principal(name, uid, role, offices, limited)


def assignees(access: AccessConfig, who: Principal) -> list[tuple[str, Role, tuple[str, ...], bool]]:
    """``(user, role, offices, limited)`` of everyone ``who`` may assign conversations to.

    The same rule ``inbox_assign`` applies: admins and agents named in ``[access]``, plus the
    caller when they may operate conversations (root is an admin without being named). Non-admins
    see only people sharing one of their offices, and only those shared offices (other offices'
    names are not theirs to learn); a limited user may only take conversations, so sees only
    themselves.
    """
    names = dict.fromkeys([*access.admins, *access.agents])
    if who.can(Role.AGENT):
        names.setdefault(who.user)
    mine = set(who.offices)
    out = []
    for name in sorted(names):
        role = who.role if name == who.user else (Role.ADMIN if name in access.admins else Role.AGENT)
        offices = tuple(o for o, members in access.offices.items() if name in members)
        if who.role is not Role.ADMIN:
            if name != who.user and (who.limited or not mine.intersection(offices)):
                continue
            offices = tuple(o for o in offices if o in mine)
        out.append((name, role, offices, name in access.limited))
    return out

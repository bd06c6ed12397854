"""One error hierarchy: the ``code`` travels on the wire, the message is for humans."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error we raise on purpose. Caught only at boundaries."""

    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(GatewayError):
    """Bad configuration; ``path`` is the key path (e.g. ``links[0].window``). Exit code 2."""

    code = "config"

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class BadRequest(GatewayError):
    code = "bad_request"


class NotFound(GatewayError):
    code = "not_found"


class Forbidden(GatewayError):
    code = "forbidden"


class Conflict(GatewayError):
    """The request is valid but the object's state does not allow it."""

    code = "conflict"


class LinkError(GatewayError):
    """A link-level failure. ``transient`` errors are retried; others fail the message."""

    code = "link"

    def __init__(self, message: str, code: str = "link", transient: bool = True) -> None:
        super().__init__(message, code)
        self.transient = transient

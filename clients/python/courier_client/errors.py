"""The API's error codes as exceptions, mirroring the Go client's errors.go.

Catch the class the code names (``except courier_client.Conflict``); an
answer without a known code is classed by its HTTP status, and no answer at
all (a connection error, a timeout) is :class:`Unavailable`.
"""

from __future__ import annotations


class CourierError(Exception):
    """An error answer of the gateway, or no answer.

    ``op`` is the call ("POST /v1/messages/m-1/confirm"), ``status`` the HTTP
    status (0 when no answer came), ``code`` the API's error code ("" when
    the body had none) and ``message`` the gateway's explanation.
    """

    def __init__(self, op: str, status: int = 0, code: str = "", message: str = "") -> None:
        self.op = op
        self.status = status
        self.code = code
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.status == 0:
            return f"courier: {self.op}: {self.message}"
        if not self.code:
            return f"courier: {self.op}: HTTP {self.status}: {self.message}"
        return f"courier: {self.op}: HTTP {self.status} {self.code}: {self.message}"


class InvalidRequest(CourierError):
    """The request broke a rule (invalid_request, invalid_json, ...). Fix
    the request; retrying cannot help."""


class PayloadTooLarge(CourierError):
    """The payload or body is over the gateway's limit."""


class Unauthorized(CourierError):
    """No API key, or one the gateway does not know."""


class Forbidden(CourierError):
    """The key may not do this: another role, topic, producer or consumer."""


class NotFound(CourierError):
    """No message has the id."""


class Conflict(CourierError):
    """The message's state makes the request impossible (confirm after
    cancel, complete before it was sent, ...)."""


class IdConflict(CourierError):
    """A message with the id exists with different content."""


class Unavailable(CourierError):
    """Courier or one of its dependencies did not answer, after every retry.
    The call's outcome is unknown; it is safe to retry."""


class InternalError(CourierError):
    """The gateway failed in a way retrying will not fix."""


# The API's error codes; declared once, as client/errors.go declares them.
_CODES: dict[str, type[CourierError]] = {
    "invalid_request": InvalidRequest,
    "invalid_json": InvalidRequest,
    "unsupported_media_type": InvalidRequest,
    "payload_too_large": PayloadTooLarge,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "method_not_allowed": InvalidRequest,
    "conflict": Conflict,
    "id_conflict": IdConflict,
    "unavailable": Unavailable,
    "internal": InternalError,
}


def error_for(op: str, status: int, code: str = "", message: str = "") -> CourierError:
    """The exception for an answer: by its code, else by its status class,
    as the Go client's Error.Is decides."""
    cls = _CODES.get(code)
    if cls is None:
        if status in (0, 429, 502, 503, 504):
            cls = Unavailable
        elif status >= 500:
            cls = InternalError
        elif status == 404:
            cls = NotFound
        else:
            cls = InvalidRequest
    return cls(op, status, code, message)

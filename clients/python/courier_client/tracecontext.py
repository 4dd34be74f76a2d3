"""W3C Trace Context (``traceparent``, ``tracestate``) carried through the
client without an OpenTelemetry SDK, which Debian does not package.

The trace context in effect (a context variable, so per thread and per
asyncio task) goes out with every :class:`~courier_client.Client` call; the
consumer puts a record's in effect while its handler and its complete run,
so the handler can continue the message's trace (read :func:`current`) and
the complete joins it. A service with an OpenTelemetry SDK puts its
current span's context in effect with :func:`use`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# version 00: 32 hex trace id, 16 hex parent id, 2 hex flags; all-zero ids
# are invalid.
_TRACEPARENT = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")

_current: ContextVar[dict[str, str]] = ContextVar("courier_trace_context", default={})


def current() -> dict[str, str]:
    """The trace context in effect: ``traceparent`` and, when set,
    ``tracestate``; empty when there is none."""
    return dict(_current.get())


def extract(headers: Mapping[str, str]) -> dict[str, str]:
    """The valid W3C trace context among headers (names compared
    case-insensitively); empty when there is none."""
    lower = {k.lower(): v for k, v in headers.items()}
    parent = lower.get(TRACEPARENT, "").strip()
    if not _TRACEPARENT.match(parent):
        return {}
    out = {TRACEPARENT: parent}
    if lower.get(TRACESTATE):
        out[TRACESTATE] = lower[TRACESTATE]
    return out


@contextmanager
def use(headers: Mapping[str, str]) -> Iterator[None]:
    """Put the trace context in headers in effect for the block."""
    token = _current.set(extract(headers))
    try:
        yield
    finally:
        _current.reset(token)
